"""Typed, validated params.

`params.yaml` is parsed into frozen dataclasses. Every field carries its help text and its allowed
range in `metadata`, so validation and error messages come from one place:

    params.yaml: tokenizer.vocab_size = -1 is not allowed: must be an integer >= 300 and <= 1000000
    (vocabulary size of the BPE tokenizer)

Unknown keys, wrong types and out-of-range values are all `RlhfError`s naming the key.

Phases (docs/pipeline.md): the top-level sections hold the base (Phase 1) values; `phases:` maps a phase
name to sparse overrides of those sections. `resolve_phase` deep-merges one phase's overrides onto the
base and validates the result with the same rules, so an override gets the same error messages.
"""

from __future__ import annotations

import dataclasses
import math
import re
import reprlib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlhf_core.errors import RlhfError


def knob(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    gt: float | None = None,
    choices: tuple | None = None,
) -> Any:
    """A dataclass field with its help text and allowed range."""
    meta = {"help": help, "min": min, "max": max, "gt": gt, "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class DataParams:
    source: str = knob(
        "builtin",
        "'builtin' (offline suite with a gold judge), a Hugging Face dataset id "
        "(e.g. tatsu-lab/alpaca), or a path to a json/jsonl/parquet/csv file",
    )
    n_train: int = knob(50_000, "builtin: number of training rows", min=16)
    n_heldout: int = knob(512, "held-out evaluation prompts (never trained on)", min=16)
    split: str = knob("train", "hub datasets: the split to load")
    max_rows: int = knob(0, "hub/local: keep at most this many rows after cleaning (0 = all)", min=0)


@dataclass(frozen=True)
class TokenizerParams:
    vocab_size: int = knob(8000, "vocabulary size of the BPE tokenizer", min=300, max=1_000_000)
    min_frequency: int = knob(2, "a merge must be seen at least this many times", min=1)


@dataclass(frozen=True)
class ModelParams:
    n_layer: int = knob(2, "transformer blocks", min=1, max=64)
    n_head: int = knob(2, "attention heads (must divide d_model)", min=1, max=64)
    d_model: int = knob(128, "embedding width", min=8, max=8192)
    block_size: int = knob(256, "context length in tokens (prompt + response)", min=16, max=16384)
    ffn_hidden: int = knob(0, "SwiGLU hidden width (0 = 8/3 * d_model rounded up to a multiple of 8)", min=0)
    rope_theta: float = knob(10000.0, "RoPE base frequency", gt=0)


@dataclass(frozen=True)
class SFTParams:
    max_steps: int = knob(1500, "optimiser steps (the run stops earlier if `epochs` is reached)", min=1)
    epochs: float = knob(1.0, "upper bound on passes over the training rows", gt=0)
    batch_size: int = knob(32, "sequences per optimiser step", min=1)
    lr: float = knob(2e-3, "peak AdamW learning rate", gt=0, max=1.0)
    min_lr_ratio: float = knob(0.1, "cosine decay floor as a fraction of lr", min=0, max=1)
    warmup_steps: int = knob(100, "linear warmup steps", min=0)
    weight_decay: float = knob(0.1, "AdamW weight decay (matrices only; norms and embeddings excluded)", min=0)
    beta1: float = knob(0.9, "AdamW beta1", min=0, max=0.9999)
    beta2: float = knob(0.95, "AdamW beta2", min=0, max=0.9999)
    grad_clip: float = knob(1.0, "max gradient norm (0 = no clipping)", min=0)
    eval_every: int = knob(250, "steps between held-out loss evaluations", min=1)
    log_every: int = knob(10, "steps between logged training metrics", min=1)
    eval_rows: int = knob(512, "held-out rows for the held-out loss", min=1)
    gold_prompts: int = knob(512, "held-out prompts answered (greedy) for the gold score; 0 = skip", min=0)
    gold_max_new_tokens: int = knob(64, "new tokens per answer when measuring the gold score", min=1)
    gen_batch_size: int = knob(128, "prompts per batch when generating", min=1)


@dataclass(frozen=True)
class RMParams:
    # the reward model: a bidirectional encoder with a scalar head
    n_layer: int = knob(4, "encoder blocks", min=1, max=64)
    n_head: int = knob(4, "attention heads (must divide d_model)", min=1, max=64)
    d_model: int = knob(256, "embedding width", min=8, max=8192)
    ffn_hidden: int = knob(0, "SwiGLU hidden width (0 = 8/3 * d_model rounded up to a multiple of 8)", min=0)
    block_size: int = knob(
        256, "max tokens of prompt + response + EOS (longer responses are cut, EOS kept)", min=16, max=16384
    )
    pooling: str = knob(
        "eos",
        "what the scalar head reads: 'eos' (the final EOS token's state, which attends "
        "to every token) or 'mean' (masked mean of all real tokens)",
        choices=("eos", "mean"),
    )
    # preference pairs
    pair_prompts: int = knob(4000, "training prompts used to build pairs (0 = all)", min=0)
    samples_per_prompt: int = knob(4, "builtin: SFT samples per prompt, ranked by the gold judge", min=2, max=64)
    gold_margin: float = knob(0.2, "builtin: keep a pair only if its gold scores differ by at least this", gt=0, max=1)
    sft_pairs_per_prompt: int = knob(3, "builtin: at most this many SFT-vs-SFT pairs per prompt", min=0)
    ref_pairs_per_prompt: int = knob(
        2,
        "reference answer vs a corrupted or mismatched answer: pairs per prompt "
        "(builtin: of truncated, shuffled, mismatched, repeated; hub/local: an SFT "
        "sample and another prompt's answer)",
        min=0,
        max=4,
    )
    heldout_prompts: int = knob(256, "held-out prompts used to build the held-out pairs (0 = all)", min=0)
    sample_temperature: float = knob(1.0, "SFT sampling temperature for pairs and trust samples", gt=0)
    sample_top_k: int = knob(50, "SFT sampling top-k (0 = no filter)", min=0)
    sample_max_new_tokens: int = knob(64, "new tokens per SFT sample", min=1)
    gen_batch_size: int = knob(128, "prompts per batch when sampling", min=1)
    # training (Bradley-Terry)
    max_steps: int = knob(400, "optimiser steps (the run stops earlier if `epochs` is reached)", min=1)
    epochs: float = knob(2.0, "upper bound on passes over the training pairs", gt=0)
    batch_size: int = knob(32, "pairs per optimiser step", min=1)
    lr: float = knob(3e-4, "peak AdamW learning rate", gt=0, max=1.0)
    min_lr_ratio: float = knob(0.1, "cosine decay floor as a fraction of lr", min=0, max=1)
    warmup_steps: int = knob(50, "linear warmup steps", min=0)
    weight_decay: float = knob(0.1, "AdamW weight decay (matrices only)", min=0)
    beta1: float = knob(0.9, "AdamW beta1", min=0, max=0.9999)
    beta2: float = knob(0.95, "AdamW beta2", min=0, max=0.9999)
    grad_clip: float = knob(1.0, "max gradient norm (0 = no clipping)", min=0)
    margin: float = knob(
        0.0,
        "Llama-2 margin: the loss wants r_chosen - r_rejected > margin x pair strength "
        "(builtin: the gold gap; hub/local: 1); 0 = plain Bradley-Terry",
        min=0,
    )
    center_coef: float = knob(
        0.01, "reward centring: + center_coef * mean((r_chosen + r_rejected)^2), keeps rewards near 0", min=0
    )
    log_every: int = knob(1, "steps between logged training metrics", min=1)
    eval_every: int = knob(100, "steps between held-out pair evaluations", min=1)
    score_batch_size: int = knob(128, "sequences per batch when scoring", min=1)
    # trust: agreement with the gold judge (builtin)
    trust_prompts: int = knob(
        512, "builtin: held-out prompts answered with fresh SFT samples for RM-vs-gold agreement (0 = skip)", min=0
    )
    trust_samples: int = knob(4, "builtin: fresh SFT samples per trust prompt", min=2, max=64)


@dataclass(frozen=True)
class PPOParams:
    steps: int = knob(200, "PPO iterations (rollout + updates)", min=1)
    batch_size: int = knob(16, "rollouts (prompts) per iteration", min=1)
    mini_batch_size: int = knob(8, "rollouts per gradient step (must divide batch_size)", min=1)
    epochs: int = knob(4, "passes over each rollout batch", min=1)
    lr: float = knob(1e-5, "AdamW learning rate of the policy", gt=0, max=1.0)
    vf_lr: float = knob(1e-3, "AdamW learning rate of the value head (its own parameter group)", gt=0, max=1.0)
    value_time: bool = knob(
        True,
        "time-aware value head: it also sees how many tokens are left before resp_len (Pardo et al. 2018)",
    )
    value_hidden: int = knob(128, "hidden width of the value head's MLP (0 = a linear head)", min=0)
    kl_coef: float = knob(0.01, "KL penalty in the shaped reward r - kl_coef * (log pi - log pi_ref)", min=0)
    reward_placement: str = knob(
        "every",
        "where the RM score goes: 'every' response token (the study) or the 'last' one",
        choices=("every", "last"),
    )
    resp_len: int = knob(64, "max new tokens per rollout", min=1)
    temperature: float = knob(1.0, "rollout sampling temperature", gt=0)
    top_k: int = knob(0, "rollout top-k (0 = full distribution)", min=0)
    gamma: float = knob(1.0, "GAE discount", min=0, max=1)
    lam: float = knob(0.95, "GAE lambda", min=0, max=1)
    clip_eps: float = knob(0.2, "policy ratio clip range", gt=0)
    vf_clip: float = knob(0.2, "value clip range around the rollout's values (0 = unclipped)", min=0)
    vf_coef: float = knob(0.1, "value-loss coefficient", min=0)
    weight_decay: float = knob(0.0, "AdamW weight decay", min=0)
    grad_clip: float = knob(1.0, "max gradient norm (0 = no clipping)", min=0)


@dataclass(frozen=True)
class GRPOParams:
    steps: int = knob(200, "GRPO steps", min=1)
    prompts_per_step: int = knob(4, "prompts (groups) per step", min=1)
    group_size: int = knob(4, "samples per prompt k (group statistics need at least 2)", min=2)
    gen_temperature: float = knob(0.8, "sampling temperature of the group's responses", gt=0)
    gen_top_k: int = knob(0, "top-k of the group's responses (0 = full distribution)", min=0)
    resp_len: int = knob(64, "max new tokens per response", min=1)
    lr: float = knob(1e-5, "AdamW learning rate", gt=0, max=1.0)
    kl_coef: float = knob(0.04, "weight of the k3 KL(pi || pi_ref) term (DeepSeekMath's beta)", min=0)
    clip_eps: float = knob(0.2, "ratio clip range", gt=0)
    epochs: int = knob(1, "gradient steps per batch of groups (1 = on-policy, ratio 1)", min=1)
    collapse_threshold: float = knob(0.1, "a group whose reward std is below this counts as collapsed", min=0)
    weight_decay: float = knob(0.0, "AdamW weight decay", min=0)
    grad_clip: float = knob(1.0, "max gradient norm (0 = no clipping)", min=0)


@dataclass(frozen=True)
class DPOParams:
    steps: int = knob(200, "optimiser steps", min=1)
    batch_size: int = knob(1, "pairs per micro-batch (the study used 1)", min=1)
    grad_accum: int = knob(1, "micro-batches per optimiser step", min=1)
    lr: float = knob(1e-5, "AdamW learning rate", gt=0, max=1.0)
    beta: float = knob(0.1, "DPO beta: strength of the implicit KL to the reference", gt=0)
    rej_temperature: float = knob(0.9, "temperature of the reference model's rejected samples", gt=0)
    rej_top_k: int = knob(50, "top-k of the rejected samples (0 = full distribution)", min=0)
    void_redraws: int = knob(
        3,
        "resamples of a rejected answer identical to the chosen one before the pair is "
        "skipped (an identical pair has no gradient)",
        min=0,
    )
    rej_max_new_tokens: int = knob(64, "max new tokens of a rejected sample", min=1)
    weight_decay: float = knob(0.0, "AdamW weight decay", min=0)
    grad_clip: float = knob(1.0, "max gradient norm (0 = no clipping)", min=0)


@dataclass(frozen=True)
class EvalParams:
    temperature: float = knob(0.7, "sampling temperature of every evaluated answer", gt=0)
    top_k: int = knob(50, "top-k of every evaluated answer (0 = full distribution)", min=0)
    max_new_tokens: int = knob(64, "max new tokens per answer", min=1)
    heldout_prompts: int = knob(128, "held-out prompts answered (beyond the 16 study prompts); 0 = none", min=0)
    samples_per_prompt: int = knob(4, "answers per held-out prompt", min=1)
    batch_size: int = knob(64, "prompts per generation / scoring batch", min=1)
    bootstrap: int = knob(1000, "bootstrap resamples (over prompts) for confidence intervals", min=100)
    ci: float = knob(0.95, "confidence level of the intervals", gt=0, max=0.999)


@dataclass(frozen=True)
class ReportParams:
    sample_prompts: int = knob(4, "study prompts whose answers are shown per phase (0 = all)", min=0)
    answer_chars: int = knob(160, "sample answers are cut to this many characters", min=20)
    bootstrap: int = knob(2000, "bootstrap resamples for the CI of a phase-to-phase difference", min=100)
    ci: float = knob(0.95, "confidence level of that interval", gt=0, max=0.999)
    smooth: int = knob(0, "moving-average window of training curves (0 = about 1/20 of the steps)", min=0)


@dataclass(frozen=True)
class Params:
    seed: int = knob(0, "seed of the data, tokenizer, SFT and RM stages and of the report's bootstrap", min=0)
    rl_seeds: tuple = knob(
        (0, 1, 2),
        "RL seeds: every (phase, algorithm) trains once per seed from the same SFT and RM, and eval "
        "answers with each seed's random stream",
    )
    device: str = knob("auto", "'auto' (cuda when available), 'cpu' or 'cuda'", choices=("auto", "cpu", "cuda"))
    data: DataParams = field(default_factory=DataParams)
    tokenizer: TokenizerParams = field(default_factory=TokenizerParams)
    model: ModelParams = field(default_factory=ModelParams)
    sft: SFTParams = field(default_factory=SFTParams)
    rm: RMParams = field(default_factory=RMParams)
    ppo: PPOParams = field(default_factory=PPOParams)
    grpo: GRPOParams = field(default_factory=GRPOParams)
    dpo: DPOParams = field(default_factory=DPOParams)
    eval: EvalParams = field(default_factory=EvalParams)
    report: ReportParams = field(default_factory=ReportParams)
    phases: dict = field(
        default_factory=dict, metadata={"help": "phase name -> sparse overrides of the sections above"}
    )

    def __post_init__(self) -> None:
        if not self.rl_seeds:
            _fail("rl_seeds", list(self.rl_seeds), "must name at least one seed, e.g. [0, 1, 2]")
        if len(set(self.rl_seeds)) < len(self.rl_seeds):
            _fail("rl_seeds", list(self.rl_seeds), "must not repeat a seed (each names its own DVC stages)")
        for name in self.phases:
            if not isinstance(name, str) or not PHASE_NAME.fullmatch(name):
                raise RlhfError(
                    f"params.yaml: phase name {_name(name)} is not allowed: use up to 40 letters, digits, "
                    "'-' or '_' (it names folders and DVC stages)"
                )
        if self.model.d_model % self.model.n_head:
            _fail("model.n_head", self.model.n_head, f"must divide model.d_model ({self.model.d_model})")
        if (self.model.d_model // self.model.n_head) % 2:
            _fail("model.d_model", self.model.d_model, "d_model / n_head must be even (RoPE rotates pairs)")
        if self.rm.d_model % self.rm.n_head:
            _fail("rm.n_head", self.rm.n_head, f"must divide rm.d_model ({self.rm.d_model})")
        if (self.rm.d_model // self.rm.n_head) % 2:
            _fail("rm.d_model", self.rm.d_model, "d_model / n_head must be even (RoPE rotates pairs)")
        if self.ppo.batch_size % self.ppo.mini_batch_size:
            _fail(
                "ppo.mini_batch_size", self.ppo.mini_batch_size, f"must divide ppo.batch_size ({self.ppo.batch_size})"
            )
        # every knob that makes the SFT-sized policy generate must leave room for a prompt in its block
        budgets = [
            ("ppo.resp_len", self.ppo.resp_len),
            ("grpo.resp_len", self.grpo.resp_len),
            ("dpo.rej_max_new_tokens", self.dpo.rej_max_new_tokens),
            ("eval.max_new_tokens", self.eval.max_new_tokens),
            ("rm.sample_max_new_tokens", self.rm.sample_max_new_tokens),
        ]
        if self.sft.gold_prompts:
            budgets.append(("sft.gold_max_new_tokens", self.sft.gold_max_new_tokens))
        for key, n in budgets:
            if n + 16 > self.model.block_size:
                _fail(key, n, f"must leave at least 16 prompt tokens in model.block_size ({self.model.block_size})")


MAX_INT = 2**53
PHASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")


class _ShortRepr(reprlib.Repr):
    """repr for messages: one line, bounded in length and in work (a YAML alias bomb shares one list
    a billion times; a 5000-digit integer has no repr at all under Python's int-to-str limit)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxlist, self.maxtuple, self.maxdict, self.maxset = 3, 4, 4, 4, 4
        self.maxstring, self.maxother = 60, 60

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() <= 128:
            return super().repr_int(x, level)
        return f"<an integer of about {int(x.bit_length() * 0.30103)} digits>"


_short_repr = _ShortRepr()


def _show(value: Any) -> str:
    try:
        text = _short_repr.repr(value)
    except Exception:  # a value whose repr itself fails: name its type
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def _name(key: Any) -> str:
    """A key as written in messages: bare when it is plain text, else repr (keeps errors one line)."""
    if isinstance(key, str) and key and key.isprintable() and key.strip() == key:
        return key if len(key) <= 60 else key[:57] + "..."
    return _show(key)


def _fail(key: str, value: Any, rule: str) -> typing.NoReturn:
    raise RlhfError(f"params.yaml: {key} = {_show(value)} is not allowed: {rule}")


def _describe(f: dataclasses.Field, kind: type) -> str:
    m = f.metadata
    parts = [{int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(kind, kind.__name__)]
    if m.get("choices"):
        parts = ["one of " + ", ".join(repr(c) for c in m["choices"])]
    if m.get("min") is not None:
        parts.append(f">= {m['min']}")
    if m.get("gt") is not None:
        parts.append(f"> {m['gt']}")
    if m.get("max") is not None:
        parts.append(f"<= {m['max']}")
    bounds = " and ".join(parts[1:])
    return "must be " + parts[0] + (f" {bounds}" if bounds else "") + (f" ({m['help']})" if m.get("help") else "")


def _coerce(key: str, value: Any, f: dataclasses.Field, kind: type) -> Any:
    rule = _describe(f, kind)
    if kind is bool:
        if not isinstance(value, bool):
            _fail(key, value, rule)
        return value
    if kind in (int, float) and isinstance(value, str):
        # PyYAML (YAML 1.1) reads 1e-5 and 5.0e4 as strings; take them as the numbers they spell.
        try:
            value = float(value)
        except ValueError:
            _fail(key, value, rule)
    if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        _fail(key, value, rule)  # bool is an int subclass: true/false never pass as a number
    if kind is int:
        # accept integral floats (5.0e4), refuse 2.5 and nan; a huge int stays exact (and fails its max)
        if isinstance(value, float):
            if not math.isfinite(value) or value != int(value):
                _fail(key, value, rule)
            value = int(value)
    elif kind is float:
        try:
            value = float(value)
        except OverflowError:  # an integer beyond float range
            _fail(key, value, rule)
        if not math.isfinite(value):
            _fail(key, value, rule)
    elif kind is str:
        if not isinstance(value, str) or not value.strip():
            _fail(key, value, rule)
    m = f.metadata
    if m.get("choices") and value not in m["choices"]:
        _fail(key, value, rule)
    if m.get("min") is not None and value < m["min"]:
        _fail(key, value, rule)
    if m.get("gt") is not None and value <= m["gt"]:
        _fail(key, value, rule)
    if m.get("max") is not None and value > m["max"]:
        _fail(key, value, rule)
    if kind is int and value > MAX_INT:  # keeps every value exact in JSON and in a float
        _fail(key, value, f"{rule}, at most 2**53")
    return value


def build(cls: type, raw: Any, prefix: str = "") -> Any:
    """Build dataclass `cls` from a mapping, validating every key; errors name the dotted key."""
    where = prefix.rstrip(".") or "params.yaml"
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise RlhfError(f"params.yaml: {where} must be a mapping of keys to values, got {_show(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields), key=str)  # YAML keys need not be strings
    if unknown:
        raise RlhfError(
            f"params.yaml: unknown key {prefix}{_name(unknown[0])} (allowed in {where}: {', '.join(fields)})"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        kind = hints[name]
        key = prefix + name
        if dataclasses.is_dataclass(kind):
            values[name] = build(kind, value, key + ".")
        elif kind is tuple:
            if not isinstance(value, (list, tuple)):
                _fail(key, value, "must be a list of integers >= 0, e.g. [0, 1, 2]")
            item = field(metadata={"min": 0, "help": fields[name].metadata["help"]})
            values[name] = tuple(_coerce(f"{key}[{i}]", v, item, int) for i, v in enumerate(value))
        elif kind is dict or typing.get_origin(kind) is dict:
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise RlhfError(f"params.yaml: {key} must be a mapping, got {_show(value)}")
            values[name] = dict(value)
        else:
            if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
                kind = next(a for a in typing.get_args(kind) if a is not type(None))
            values[name] = _coerce(key, value, fields[name], kind)
    return cls(**values)


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """Override leaves of `base` with those of `override` (mappings merge, everything else replaces)."""
    out = dict(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def load_raw(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise RlhfError(f"params file '{path}' not found; run from the project root or pass --params PATH")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RlhfError(f"params file '{path}' is not UTF-8 text; re-encode it as UTF-8") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        at = f" (line {line + 1})" if line is not None else ""
        raise RlhfError(f"params file '{path}' is not valid YAML{at}; fix the syntax") from None
    except ValueError as e:  # an integer of more than 4300 digits, a date like 2024-13-45
        first = (str(e).splitlines() or [type(e).__name__])[0][:80]
        raise RlhfError(f"params file '{path}' holds a value that cannot be read ({first}); fix that value") from None
    except RecursionError:
        raise RlhfError(f"params file '{path}' is nested too deeply to be a params file; fix the syntax") from None
    return raw or {}


def load_params(path: str | Path = "params.yaml", phase: str | None = None) -> Params:
    """Load and validate params; with `phase`, apply that phase's overrides first."""
    raw = load_raw(path)
    params = build(Params, raw)
    for name in params.phases:  # validate every phase up front
        resolve_phase(raw, name)
    return resolve_phase(raw, phase) if phase else params


def resolve_phase(raw: Mapping, phase: str) -> Params:
    if not isinstance(raw, Mapping):
        raise RlhfError(f"params.yaml must be a mapping of keys to values, got {_show(raw)}")
    phases = raw.get("phases") or {}
    if not isinstance(phases, Mapping):
        raise RlhfError(f"params.yaml: phases must be a mapping of phase names to overrides, got {_show(phases)}")
    if phase not in phases:
        known = ", ".join(map(_name, list(phases)[:12])) or "none"
        raise RlhfError(f"params.yaml: unknown phase {_show(phase)} (phases defined: {known})")
    overrides = phases[phase] or {}
    if not isinstance(overrides, Mapping):
        raise RlhfError(f"params.yaml: phases.{_name(phase)} must be a mapping of overrides, got {_show(overrides)}")
    for shared in ("phases", "rl_seeds"):
        if shared in overrides:
            raise RlhfError(
                f"params.yaml: phases.{_name(phase)} cannot override '{shared}' (it is shared by every phase)"
            )
    try:
        return build(Params, deep_merge(raw, overrides))
    except RlhfError as e:
        raise RlhfError(str(e).replace("params.yaml: ", f"params.yaml (phase {phase}): ", 1)) from None


def to_dict(params: Any) -> dict:
    return dataclasses.asdict(params)


# Which sections each stage reads. `rlhf resolve` writes one JSON of exactly these per stage, and
# stages depend on that file rather than on params.yaml, so DVC reruns a stage only when a value it
# reads changed, and a bad value anywhere stops the run in `config`/`resolve`, before DVC removes the
# outputs of any later stage (their own config files are removed). A failed `dvc exp run -S key=bad`
# also leaves the bad value in params.yaml: docs/reproducibility.md has the one-line recovery.
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "download": ("seed", "data"),
    "bpe": ("tokenizer",),
    "sft": ("seed", "device", "model", "sft"),
    "rm": ("seed", "device", "rm"),
}
RL_ALGOS = ("ppo", "grpo", "dpo")  # trained from the SFT model in every phase
ALGOS = ("sft", *RL_ALGOS)  # every checkpoint a phase evaluates

# ... and each phase's stages (resolve@PHASE writes reports/configs/PHASE/<stage>.json). Their seed
# is not in the file: it is one of `rl_seeds`, given on the command line (`--seed`) by the stage of
# that seed, so one config serves every seed and `seed` reruns only what it seeds.
PHASE_SECTIONS: dict[str, tuple[str, ...]] = {
    "ppo": ("device", "ppo"),
    "grpo": ("device", "grpo"),
    "dpo": ("device", "dpo"),
    "eval": ("device", "eval"),
}


def with_seed(params: Params, seed: int | None) -> Params:
    """`params` with its seed replaced by an RL seed given on the command line (None keeps it)."""
    return params if seed is None else dataclasses.replace(params, seed=seed)


def stage_config(params: Params, stage: str, sections: dict[str, tuple[str, ...]] = STAGE_SECTIONS) -> dict:
    full = to_dict(params)
    return {key: full[key] for key in sections[stage]}
