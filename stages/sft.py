"""rlhf sft: train the GPT from scratch on the training split, response tokens only."""

import time
from pathlib import Path

import typer

from rlhf_core import io
from rlhf_core.checkpoint import save_checkpoint
from rlhf_core.data import has_gold, read_split
from rlhf_core.evaluate import answer, fitting_rows, gold_summary
from rlhf_core.model import GPT, GPTConfig
from rlhf_core.params import load_params, to_dict
from rlhf_core.sft import encode_examples, heldout_loss, train_sft
from rlhf_core.tokenizer import load_tokenizer
from stages._common import PARAMS_OPT, TIMING_OPT, console, user_errors
from stages._run import StageRun


@user_errors
def main(
    params: Path = PARAMS_OPT,
    data: Path = typer.Option(Path("data/raw"), help="folder written by `rlhf download`"),
    tokenizer: Path = typer.Option(Path("data/tokenizer"), help="folder written by `rlhf bpe`"),
    out: Path = typer.Option(Path("data/sft"), help="checkpoint folder (model.safetensors, config.json, answers)"),
    live: Path = typer.Option(Path("reports/live/sft"), help="dvclive folder: per-step logs and final metrics"),
    timing: Path | None = TIMING_OPT,
) -> None:
    """Supervised fine-tuning with AdamW, warmup + cosine decay, length-bucketed batches."""
    p = load_params(params)
    s = p.sft
    tok = load_tokenizer(tokenizer)  # first: a missing input is a one-line error before any state is made
    run = StageRun("sft", p, out=out, inputs=[data, tokenizer], live=live, timing=timing)
    train_rows, heldout_rows = read_split(data, "train"), read_split(data, "heldout")
    cfg = GPTConfig(
        vocab_size=tok.vocab_size,
        block_size=p.model.block_size,
        n_layer=p.model.n_layer,
        n_head=p.model.n_head,
        d_model=p.model.d_model,
        ffn_hidden=p.model.ffn_hidden,
        rope_theta=p.model.rope_theta,
    )
    model = GPT(cfg).to(run.device)

    train, train_counts = encode_examples(tok, train_rows, cfg.block_size)
    evals, _ = encode_examples(tok, heldout_rows[: s.eval_rows], cfg.block_size)
    if not train:
        raise_no_rows(train_counts, cfg.block_size)
    gold_rows = []
    if has_gold(heldout_rows) and s.gold_prompts:
        gold_rows = fitting_rows(tok, heldout_rows[: s.gold_prompts], cfg.block_size, s.gold_max_new_tokens)

    def gold(step: int) -> tuple[dict, list[str]]:
        t = time.perf_counter()
        answers = answer(
            model, tok, gold_rows, max_new_tokens=s.gold_max_new_tokens, batch_size=s.gen_batch_size, greedy=True
        )
        summary = gold_summary(gold_rows, answers)
        console.print(
            f"  step {step}: gold {summary['mean']:.3f} on {len(gold_rows)} held-out prompts "
            f"({time.perf_counter() - t:.1f}s)"
        )
        return summary, answers

    with run.live() as (lv, log):
        lv.log_params({"n_params": model.num_params(), **train_counts})

        def evaluate(step: int) -> dict:
            loss = heldout_loss(model, evals, tok.pad_id, s.gen_batch_size)
            log(step, {"eval/heldout_loss": loss})
            return {"heldout_loss": loss}

        console.print(
            f"[bold]sft[/]: {model.num_params():,} parameters, {len(train):,} training rows "
            f"({train_counts['truncated_response']} truncated, {train_counts['dropped_prompt_too_long']} "
            f"dropped), device {run.device}"
        )
        resume = run.resume
        if "start" not in resume.meta:  # the untrained model's numbers, computed once per run
            resume.meta["start"] = evaluate(0)
            resume.meta["untrained_gold"] = gold(0)[0] if gold_rows else None
        start, untrained_gold = resume.meta["start"], resume.meta["untrained_gold"]

        with run.progress() as on_progress:
            speed = train_sft(
                model,
                train,
                s,
                pad_id=tok.pad_id,
                seed=p.seed,
                on_log=log,
                on_eval=evaluate,
                on_progress=on_progress,
                resume=resume,
            )
        final = evaluate(speed["steps"])

        final_metrics = {
            "heldout_loss": final["heldout_loss"],
            "heldout_loss_untrained": start["heldout_loss"],
            "steps": speed["steps"],
        }
        answers_out = []
        if gold_rows:
            trained_gold, answers = gold(speed["steps"])
            final_metrics.update(
                {
                    "gold_mean": trained_gold["mean"],
                    "gold_mean_untrained": untrained_gold["mean"],
                    "gold_per_family": trained_gold["per_family"],
                    "gold_per_family_untrained": untrained_gold["per_family"],
                }
            )
            answers_out = [
                {
                    "id": r["id"],
                    "family": r["family"],
                    "instruction": r["instruction"],
                    "input": r["input"],
                    "answer": a,
                    "gold": g,
                }
                for r, a, g in zip(gold_rows, answers, trained_gold["scores"])
            ]
        # metrics.json holds only what is deterministic for the seed; wall-clock figures go beside it
        lv.summary.pop("train", None)
        lv.summary.update({k: v for k, v in final_metrics.items() if not k.startswith("gold")})
        if gold_rows:
            lv.summary["gold"] = {k: v for k, v in final_metrics.items() if k.startswith("gold")}

    save_checkpoint(out, model, cfg, tok, kind="policy", stage="sft", params=to_dict(p.sft), metrics=final_metrics)
    io.write_jsonl(out / "heldout_answers.jsonl", answers_out)
    run.finish(
        {
            "train_seconds": speed["train_seconds"],
            "train_tokens_per_s": speed["tokens_per_s"],
            "resumed_from_step": speed["resumed_from"],
        }
    )
    console.print(
        f"[bold]sft[/]: held-out loss {start['heldout_loss']:.3f} -> {final['heldout_loss']:.3f}"
        + (f", gold {untrained_gold['mean']:.3f} -> {final_metrics['gold_mean']:.3f}" if gold_rows else "")
        + f"; {speed['steps']} steps in {speed['train_seconds']:.0f}s ({speed['tokens_per_s']:.0f} tokens/s)"
    )
    if gold_rows:
        per_family = "  ".join(
            f"{f} {untrained_gold['per_family'][f]:.2f}->{v:.2f}" for f, v in final_metrics["gold_per_family"].items()
        )
        console.print(f"  gold per family (untrained -> sft): {per_family}")


def raise_no_rows(counts: dict, block_size: int) -> None:
    from rlhf_core.errors import RlhfError

    raise RlhfError(
        f"no training row fits model.block_size {block_size} ({counts['dropped_prompt_too_long']} "
        "prompts too long); raise model.block_size"
    )
