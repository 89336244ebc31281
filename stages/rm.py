"""rlhf rm: build preference pairs, train the Bradley-Terry reward model, and measure how far it can be trusted."""

import functools
import time
from pathlib import Path

import typer

from rlhf_core import io
from rlhf_core.builtin import gold_score
from rlhf_core.checkpoint import load_policy, read_config
from rlhf_core.data import has_gold, read_split
from rlhf_core.errors import RlhfError
from rlhf_core.evaluate import fitting_rows
from rlhf_core.pairs import pick_prompts, preference_pairs, rm_sampling, sample_responses, source_counts, without_leaks
from rlhf_core.params import load_params, to_dict
from rlhf_core.reward import (
    RewardModel,
    encode_pairs,
    model_config,
    pair_accuracy,
    save_reward_model,
    train_rm,
    trust_records,
)
from rlhf_core.tokenizer import load_tokenizer
from stages._common import PARAMS_OPT, TIMING_OPT, console, user_errors
from stages._run import StageRun


@user_errors
def main(
    params: Path = PARAMS_OPT,
    data: Path = typer.Option(Path("data/raw"), help="folder written by `rlhf download`"),
    tokenizer: Path = typer.Option(Path("data/tokenizer"), help="folder written by `rlhf bpe`"),
    sft: Path = typer.Option(Path("data/sft"), help="SFT checkpoint (samples for the pairs and trust metrics)"),
    out: Path = typer.Option(
        Path("data/rm"), help="reward model (model.safetensors, config.json), pairs, trust samples"
    ),
    live: Path = typer.Option(Path("reports/live/rm"), help="dvclive folder: per-step logs and final metrics"),
    timing: Path | None = TIMING_OPT,
) -> None:
    """Preference pairs from SFT samples (+ reference vs corrupted answers), a Bradley-Terry reward model,
    and its held-out accuracy and agreement with the gold judge."""
    p = load_params(params)
    r = p.rm
    run = StageRun("rm", p, out=out, inputs=[data, tokenizer, sft], live=live, timing=timing)
    tok = load_tokenizer(tokenizer)
    kind = read_config(sft).get("kind")
    if kind != "policy":
        raise RlhfError(f"'{sft}' is a {kind!r} checkpoint, not the SFT policy; pass --sft data/sft")
    policy = load_policy(sft, tok, run.device)
    train_rows, heldout_rows = read_split(data, "train"), read_split(data, "heldout")
    study_rows = read_split(data, "study")
    gold = gold_score if has_gold(heldout_rows) and has_gold(train_rows) else None
    block = policy.cfg.block_size

    # 1. pairs: training prompts only for training, held-out prompts only for the held-out split
    t = time.perf_counter()
    train_rows, leaked = without_leaks(train_rows, heldout_rows, study_rows)
    pair_rows = fitting_rows(tok, pick_prompts(train_rows, r.pair_prompts, p.seed), block, r.sample_max_new_tokens)
    held_rows = fitting_rows(tok, heldout_rows[: r.heldout_prompts or None], block, r.sample_max_new_tokens)
    if not pair_rows:
        raise RlhfError(
            f"no training prompt leaves room for {r.sample_max_new_tokens} new tokens in the SFT "
            f"model's block ({block}); lower rm.sample_max_new_tokens"
        )
    console.print(
        f"[bold]rm[/]: sampling SFT answers for {len(pair_rows)} training and {len(held_rows)} held-out "
        f"prompts ({'gold-ranked' if gold else 'reference-vs-sample'} pairs)"
    )
    make = functools.partial(preference_pairs, policy, tok, r=r, gold=gold, seed=p.seed, generator=run.generator)
    train_pairs, _ = make(pair_rows, split="train")
    heldout_pairs, held_samples = make(held_rows, split="heldout")
    pair_seconds = time.perf_counter() - t
    counts = {
        "train": {**source_counts(train_pairs), "total": len(train_pairs)},
        "heldout": {**source_counts(heldout_pairs), "total": len(heldout_pairs)},
        "train_prompts": len(pair_rows),
        "heldout_prompts": len(held_rows),
        "dropped_leaked_prompts": leaked,
    }
    console.print(f"  pairs: train {counts['train']}, held-out {counts['heldout']} ({pair_seconds:.0f}s)")

    # 2. the reward model
    model = RewardModel(model_config(r, tok.vocab_size), r.pooling).to(run.device)
    train_ids = encode_pairs(tok, train_pairs, r.block_size)
    held_ids = encode_pairs(tok, heldout_pairs, r.block_size)
    held_sources = [q["source"] for q in heldout_pairs]

    def heldout_eval() -> dict:
        return pair_accuracy(model, held_ids, held_sources, pad_id=tok.pad_id, batch_size=r.score_batch_size)

    with run.live() as (lv, log):
        lv.log_params(
            {"n_params": model.num_params(), "train_pairs": len(train_pairs), "heldout_pairs": len(heldout_pairs)}
        )

        def evaluate(step: int) -> dict:
            m = heldout_eval()
            if m["pairs"]:
                log(
                    step,
                    {
                        "eval/heldout_accuracy": m["accuracy"],
                        "eval/heldout_loss": m["loss"],
                        "eval/heldout_margin": m["margin"],
                    },
                )
            return m

        console.print(
            f"[bold]rm[/]: {model.num_params():,} parameters ({r.n_layer} layers, d_model {r.d_model}, "
            f"{r.pooling} pooling), {len(train_pairs):,} training pairs, device {run.device}"
        )
        with run.progress() as on_progress:
            speed = train_rm(
                model,
                train_ids,
                r,
                pad_id=tok.pad_id,
                seed=p.seed,
                on_log=log,
                on_eval=evaluate,
                on_progress=on_progress,
                resume=run.resume,
            )
        held = heldout_eval()

        # 3. trust: fresh SFT samples of held-out prompts, RM vs gold (builtin); where the rewards lie
        t = time.perf_counter()
        trust_rows, trust_samples, trust_gold = held_rows, held_samples, None
        if gold and r.trust_prompts:
            trust_rows = fitting_rows(tok, heldout_rows[: r.trust_prompts], block, r.sample_max_new_tokens)
            trust_samples = sample_responses(policy, tok, trust_rows, r.trust_samples, **rm_sampling(r, run.generator))
            trust_gold = gold
        trust_out, agreement, scale = trust_records(
            model, tok, trust_rows, trust_samples, batch_size=r.score_batch_size, gold=trust_gold
        )
        trust_seconds = time.perf_counter() - t

        metrics = {"heldout": held, "pairs": counts, "steps": speed["steps"], "epochs": speed["epochs"], "scale": scale}
        if agreement:
            metrics["gold"] = agreement
        # metrics.json holds only what is deterministic for the seed; wall-clock figures go beside it
        lv.summary.pop("train", None)
        lv.summary.pop("eval", None)
        lv.summary.update(metrics)

    save_reward_model(out, model, tok, stage="rm", params=to_dict(r), metrics=metrics)
    io.write_jsonl(out / "pairs_train.jsonl", train_pairs)
    io.write_jsonl(out / "pairs_heldout.jsonl", heldout_pairs)
    io.write_jsonl(out / "trust_samples.jsonl", trust_out)
    run.finish(
        {
            "pairs_seconds": pair_seconds,
            "train_seconds": speed["train_seconds"],
            "train_tokens_per_s": speed["tokens_per_s"],
            "resumed_from_step": speed["resumed_from"],
            "trust_seconds": trust_seconds,
        }
    )
    report(held, agreement, metrics["scale"], speed)


def report(held: dict, agreement: dict | None, scale: dict, speed: dict) -> None:
    def f(v, fmt=".3f"):
        return "n/a" if v is None else format(v, fmt)

    console.print(
        f"[bold]rm[/]: held-out pairwise accuracy {f(held['accuracy'])} on {held['pairs']} pairs "
        f"({', '.join(f'{s} {v:.2f}' for s, v in held['accuracy_per_source'].items())}); "
        f"{speed['steps']} steps in {speed['train_seconds']:.0f}s"
    )
    if agreement:
        console.print(
            f"  vs gold on fresh held-out samples: pairwise accuracy {f(agreement['pairwise_accuracy'])} "
            f"({agreement['pairs']} pairs), Spearman {f(agreement['spearman'])} "
            f"over {agreement['samples']} samples, "
            f"{f(agreement['spearman_within_prompt'])} within prompts"
        )
        console.print(
            "  per family (pairwise acc / Spearman): "
            + "  ".join(
                f"{fam} {f(a['pairwise_accuracy'], '.2f')}/{f(a['spearman'], '.2f')}"
                for fam, a in agreement["per_family"].items()
            )
        )
    s = scale["sft_samples"]
    if s:
        console.print(
            f"  reward scale on SFT samples: mean {s['mean']:.2f}, std {s['std']:.2f}, "
            f"[{s['min']:.2f}, {s['max']:.2f}]; references mean {scale['references']['mean']:.2f}"
        )
