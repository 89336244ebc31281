"""rlhf eval: every checkpoint of a phase answers the study prompts and the held-out prompts."""

import time
from pathlib import Path

import torch
import typer

from rlhf_core import io
from rlhf_core.checkpoint import load_policy, read_config
from rlhf_core.data import read_split
from rlhf_core.evaluate import fitting_rows
from rlhf_core.params import ALGOS, load_params, to_dict, with_seed
from rlhf_core.phase_eval import answer_records, did_it_train, summarize_answers
from rlhf_core.runtime import pick_device, seed_everything
from rlhf_core.tokenizer import load_tokenizer
from stages._common import DATA_OPT, PARAMS_OPT, RM_OPT, SEED_OPT, SFT_OPT, TOKENIZER_OPT, console, user_errors
from stages._rl import reward_fn_from


@user_errors
def main(
    params: Path = PARAMS_OPT,
    data: Path = DATA_OPT,
    tokenizer: Path = TOKENIZER_OPT,
    sft: Path = SFT_OPT,
    rm: Path = RM_OPT,
    models: Path = typer.Option(Path("data/phase1/seed0"), help="one seed's ppo/, grpo/, dpo/ checkpoints"),
    out: Path = typer.Option(Path("data/eval/phase1/seed0"), help="folder for answers.jsonl"),
    metrics: Path = typer.Option(Path("reports/metrics/phase1/seed0.json"), help="the phase's metrics at this seed"),
    seed: int | None = SEED_OPT,
) -> None:
    """SFT, PPO, GRPO and DPO answer with this phase's sampling settings; each answer gets its RM
    score, gold score (builtin), KL to SFT, length and EOS; held-out means get bootstrap CIs."""
    t0 = time.perf_counter()
    p = with_seed(load_params(params), seed)
    e = p.eval
    seed_everything(p.seed)
    device = pick_device(p.device)
    tok = load_tokenizer(tokenizer)
    sft_model = load_policy(sft, tok, device)
    reward = reward_fn_from(rm, tok, device)
    # study prompts too long for the block (hub/local data) are left out, like held-out ones
    study = fitting_rows(tok, read_split(data, "study"), sft_model.cfg.block_size, e.max_new_tokens)
    held = fitting_rows(tok, read_split(data, "heldout"), sft_model.cfg.block_size, e.max_new_tokens)[
        : e.heldout_prompts
    ]
    rows = [dict(r, set="study", sample=0) for r in study] + [
        dict(r, set="heldout", sample=s) for r in held for s in range(e.samples_per_prompt)
    ]
    records, summary = [], {}
    for algo in ALGOS:
        model = sft_model if algo == "sft" else load_policy(models / algo, tok, device)
        # the same random stream for every algorithm (common random numbers): differences between
        # algorithms are then less noisy than with independent streams
        generator = torch.Generator().manual_seed(p.seed)
        recs = answer_records(
            model,
            sft_model,
            tok,
            rows,
            reward,
            max_new_tokens=e.max_new_tokens,
            temperature=e.temperature,
            top_k=e.top_k or None,
            batch_size=e.batch_size,
            generator=generator,
        )
        recs = [
            dict(
                rec,
                algo=algo,
                seed=p.seed,
                set=r["set"],
                prompt_id=r["id"],
                name=r.get("name"),
                family=r.get("family"),
                sample=r["sample"],
                instruction=r["instruction"],
                input=r.get("input", ""),
                # the study prompts' reference answers travel with them, for the report's sample answers
                reference=r.get("output") if r["set"] == "study" else None,
            )
            for r, rec in zip(rows, recs)
        ]
        summary[algo] = summarize_answers(recs, n_boot=e.bootstrap, ci=e.ci, seed=p.seed)
        training = None if algo == "sft" else read_config(models / algo).get("metrics")
        summary[algo]["trained"] = did_it_train(algo, recs, records[: len(recs)], training)
        records += recs
        s = summary[algo]
        gold = (
            f", gold {s['heldout_gold']:.3f} [{s['heldout_gold_lo']:.3f}, {s['heldout_gold_hi']:.3f}]"
            if s["heldout_gold"] is not None
            else ""
        )
        rm_txt = (
            f"RM {s['heldout_rm']:.3f} [{s['heldout_rm_lo']:.3f}, {s['heldout_rm_hi']:.3f}]"
            if s["heldout_rm"] is not None
            else f"RM {s['study_rm']:.3f} (study)"
        )
        differs = s["trained"]["differs_from_sft"]
        moved = f", {100 * differs:.0f}% of answers differ from SFT's" if differs is not None and algo != "sft" else ""
        console.print(f"[bold]eval[/] {algo}: {rm_txt}{gold}, KL {s['kl']:.4f}, length {s['length']:.1f}{moved}")
    summary["settings"] = dict(to_dict(e), seed=p.seed, n_study=len(study), n_heldout_prompts=len(held))
    io.write_jsonl(out / "answers.jsonl", records)
    io.write_json(metrics, summary)
    console.print(f"[bold]eval[/]: {len(records)} answers in {time.perf_counter() - t0:.0f}s")
