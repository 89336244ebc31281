"""rlhf rm: build preference pairs, train the Bradley-Terry reward model, and measure how far it can be trusted."""

import random
import time
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rlhf_core import io
from rlhf_core.checkpoint import load_policy, read_config
from rlhf_core.data import has_gold, read_split
from rlhf_core.errors import RlhfError
from rlhf_core.evaluate import fitting_rows
from rlhf_core.pairs import (builtin_pairs, prompt_key, reference_only_pairs, sample_responses, source_counts,
                             without_leaks)
from rlhf_core.params import load_params, to_dict
from rlhf_core.reward import (RewardModel, encode_pairs, gold_agreement, model_config, pair_accuracy,
                              save_reward_model, scale_summary, score, train_rm)
from rlhf_core.resume import Resume
from rlhf_core.runtime import pick_device, seed_everything
from rlhf_core.tokenizer import load_tokenizer
from stages._common import PARAMS_OPT, TIMING_OPT, console, user_errors, write_timing


@user_errors
def main(
    params: Path = PARAMS_OPT,
    data: Path = typer.Option(Path("data/raw"), help="folder written by `rlhf download`"),
    tokenizer: Path = typer.Option(Path("data/tokenizer"), help="folder written by `rlhf bpe`"),
    sft: Path = typer.Option(Path("data/sft"), help="SFT checkpoint (samples for the pairs and trust metrics)"),
    out: Path = typer.Option(Path("data/rm"), help="reward model (model.safetensors, config.json), pairs, trust samples"),
    live: Path = typer.Option(Path("reports/live/rm"), help="dvclive folder: per-step logs and final metrics"),
    timing: Optional[Path] = TIMING_OPT,
) -> None:
    """Preference pairs from SFT samples (+ reference vs corrupted answers), a Bradley-Terry reward model,
    and its held-out accuracy and agreement with the gold judge."""
    t_stage = time.perf_counter()
    p = load_params(params)
    r = p.rm
    generator = seed_everything(p.seed)
    device = pick_device(p.device)
    tok = load_tokenizer(tokenizer)
    kind = read_config(sft).get("kind")
    if kind != "policy":
        raise RlhfError(f"'{sft}' is a {kind!r} checkpoint, not the SFT policy; pass --sft data/sft")
    policy = load_policy(sft, tok, device)
    train_rows, heldout_rows = read_split(data, "train"), read_split(data, "heldout")
    study_rows = read_split(data, "study")
    gold = has_gold(heldout_rows) and has_gold(train_rows)
    sampling = dict(temperature=r.sample_temperature, top_k=r.sample_top_k or None,
                    max_new_tokens=r.sample_max_new_tokens, batch_size=r.gen_batch_size, generator=generator)
    block = policy.cfg.block_size
    resume = Resume.for_stage("rm", out, to_dict(p), [data, tokenizer, sft], log=console.print)

    # 1. pairs: training prompts only for training, held-out prompts only for the held-out split
    t = time.perf_counter()
    train_rows, leaked = without_leaks(train_rows, heldout_rows, study_rows)
    pair_rows = fitting_rows(tok, pick_prompts(train_rows, r.pair_prompts, p.seed), block, r.sample_max_new_tokens)
    held_rows = fitting_rows(tok, heldout_rows[: r.heldout_prompts or None], block, r.sample_max_new_tokens)
    if not pair_rows:
        raise RlhfError(f"no training prompt leaves room for {r.sample_max_new_tokens} new tokens in the SFT "
                        f"model's block ({block}); lower rm.sample_max_new_tokens")
    console.print(f"[bold]rm[/]: sampling SFT answers for {len(pair_rows)} training and {len(held_rows)} held-out "
                  f"prompts ({'gold-ranked' if gold else 'reference-vs-sample'} pairs)")
    if gold:
        from rlhf_core.builtin import gold_score

        def make(rows, split):
            samples = sample_responses(policy, tok, rows, r.samples_per_prompt, **sampling)
            return builtin_pairs(rows, samples, gold=gold_score, margin=r.gold_margin, sft_pairs=r.sft_pairs_per_prompt,
                                 ref_pairs=r.ref_pairs_per_prompt, seed=p.seed, split=split), samples
    else:
        def make(rows, split):
            samples = sample_responses(policy, tok, rows, 1, **sampling)
            return reference_only_pairs(rows, [s[0] for s in samples], n=r.ref_pairs_per_prompt, seed=p.seed,
                                        split=split), samples
    train_pairs, _ = make(pair_rows, "train")
    heldout_pairs, held_samples = make(held_rows, "heldout")
    pair_seconds = time.perf_counter() - t
    counts = {"train": {**source_counts(train_pairs), "total": len(train_pairs)},
              "heldout": {**source_counts(heldout_pairs), "total": len(heldout_pairs)},
              "train_prompts": len(pair_rows), "heldout_prompts": len(held_rows), "dropped_leaked_prompts": leaked}
    console.print(f"  pairs: train {counts['train']}, held-out {counts['heldout']} ({pair_seconds:.0f}s)")

    # 2. the reward model
    model = RewardModel(model_config(r, tok.vocab_size), r.pooling).to(device)
    train_ids = encode_pairs(tok, train_pairs, r.block_size)
    held_ids = encode_pairs(tok, heldout_pairs, r.block_size)
    held_sources = [q["source"] for q in heldout_pairs]

    def heldout_eval() -> dict:
        return pair_accuracy(model, held_ids, held_sources, pad_id=tok.pad_id, batch_size=r.score_batch_size)

    from dvclive import Live

    with Live(dir=str(live), dvcyaml=False, save_dvc_exp=False, report=None) as lv:
        lv.log_params({"n_params": model.num_params(), "train_pairs": len(train_pairs),
                       "heldout_pairs": len(heldout_pairs)})

        def log_live(step: int, metrics: dict) -> None:
            lv.step = step
            for k, v in metrics.items():
                lv.log_metric(k, v)

        log = resume.recorded("log", log_live)  # a resumed run replays what the killed one logged

        def evaluate(step: int) -> dict:
            m = heldout_eval()
            if m["pairs"]:
                log(step, {"eval/heldout_accuracy": m["accuracy"], "eval/heldout_loss": m["loss"],
                           "eval/heldout_margin": m["margin"]})
            return m

        console.print(f"[bold]rm[/]: {model.num_params():,} parameters ({r.n_layer} layers, d_model {r.d_model}, "
                      f"{r.pooling} pooling), {len(train_pairs):,} training pairs, device {device}")
        with Progress(TextColumn("[bold]rm"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("rm", total=None)
            speed = train_rm(model, train_ids, r, pad_id=tok.pad_id, seed=p.seed, on_log=log, on_eval=evaluate,
                             on_progress=lambda done, total: bar.update(task, completed=done, total=total),
                             resume=resume)
        held = heldout_eval()

        # 3. trust: fresh SFT samples of held-out prompts, RM vs gold (builtin); where the rewards lie
        t = time.perf_counter()
        trust_out, agreement = [], None
        if gold and r.trust_prompts:
            from rlhf_core.builtin import gold_score

            trust_rows = fitting_rows(tok, heldout_rows[: r.trust_prompts], block, r.sample_max_new_tokens)
            trust_samples = sample_responses(policy, tok, trust_rows, r.trust_samples, **sampling)
        else:
            trust_rows, trust_samples = held_rows, held_samples
        flat_rows = [row for row, outs in zip(trust_rows, trust_samples) for _ in outs]
        flat = [s for outs in trust_samples for s in outs]
        rm_flat = score(model, tok, flat_rows, flat, r.score_batch_size).tolist()
        ref_scores = score(model, tok, trust_rows, [row["output"] for row in trust_rows], r.score_batch_size).tolist()
        if gold and r.trust_prompts:
            gold_flat = [gold_score(row, s) for row, s in zip(flat_rows, flat)]
            k = r.trust_samples
            agreement = gold_agreement([row["family"] for row in trust_rows],
                                       [rm_flat[i * k : (i + 1) * k] for i in range(len(trust_rows))],
                                       [gold_flat[i * k : (i + 1) * k] for i in range(len(trust_rows))])
        else:
            gold_flat = [None] * len(flat)
        trust_out = [{"prompt_id": row.get("id"), "family": row.get("family"), "instruction": row["instruction"],
                      "input": row.get("input") or "", "response": s, "rm": v, "gold": g}
                     for row, s, v, g in zip(flat_rows, flat, rm_flat, gold_flat)]
        trust_seconds = time.perf_counter() - t

        metrics = {"heldout": held, "pairs": counts, "steps": speed["steps"], "epochs": speed["epochs"],
                   "scale": {"sft_samples": scale_summary(rm_flat), "references": scale_summary(ref_scores)}}
        if agreement:
            metrics["gold"] = agreement
        # metrics.json holds only what is deterministic for the seed; wall-clock figures go beside it
        lv.summary.pop("train", None)
        lv.summary.pop("eval", None)
        lv.summary.update(metrics)
    write_timing(timing, {"pairs_seconds": pair_seconds, "train_seconds": speed["train_seconds"],
                          "train_tokens_per_s": speed["tokens_per_s"], "resumed_from_step": speed["resumed_from"],
                          "trust_seconds": trust_seconds, "stage_seconds": time.perf_counter() - t_stage})

    save_reward_model(out, model, tok, stage="rm", params=to_dict(r), metrics=metrics)
    io.write_jsonl(out / "pairs_train.jsonl", train_pairs)
    io.write_jsonl(out / "pairs_heldout.jsonl", heldout_pairs)
    io.write_jsonl(out / "trust_samples.jsonl", trust_out)
    resume.finish()
    report(held, agreement, metrics["scale"], speed)


def pick_prompts(rows: list[dict], n: int, seed: int) -> list[dict]:
    """Up to n distinct training prompts, a seeded sample in file order (0 = all distinct prompts)."""
    seen, distinct = set(), []
    for row in rows:
        key = prompt_key(row)
        if key not in seen:
            seen.add(key)
            distinct.append(row)
    if not n or n >= len(distinct):
        return distinct
    keep = sorted(random.Random(f"rm-prompts-{seed}").sample(range(len(distinct)), n))
    return [distinct[i] for i in keep]


def report(held: dict, agreement: dict | None, scale: dict, speed: dict) -> None:
    def f(v, fmt=".3f"):
        return "n/a" if v is None else format(v, fmt)

    console.print(f"[bold]rm[/]: held-out pairwise accuracy {f(held['accuracy'])} on {held['pairs']} pairs "
                  f"({', '.join(f'{s} {v:.2f}' for s, v in held['accuracy_per_source'].items())}); "
                  f"{speed['steps']} steps in {speed['train_seconds']:.0f}s")
    if agreement:
        console.print(f"  vs gold on fresh held-out samples: pairwise accuracy {f(agreement['pairwise_accuracy'])} "
                      f"({agreement['pairs']} pairs), Spearman {f(agreement['spearman'])} over {agreement['samples']} samples, "
                      f"{f(agreement['spearman_within_prompt'])} within prompts")
        console.print("  per family (pairwise acc / Spearman): " + "  ".join(
            f"{fam} {f(a['pairwise_accuracy'], '.2f')}/{f(a['spearman'], '.2f')}"
            for fam, a in agreement["per_family"].items()))
    s = scale["sft_samples"]
    if s:
        console.print(f"  reward scale on SFT samples: mean {s['mean']:.2f}, std {s['std']:.2f}, "
                      f"[{s['min']:.2f}, {s['max']:.2f}]; references mean {scale['references']['mean']:.2f}")
