"""Checkpoints: `model.safetensors` (weights, never pickle) + `config.json` (model config, tokenizer
fingerprint, provenance). Loading checks the tokenizer and the config before touching the weights.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model, save_model

from rlhf_core import io
from rlhf_core.errors import RlhfError
from rlhf_core.model import GPT, GPTConfig
from rlhf_core.tokenizer import TextTokenizer

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
FLOAT_DTYPES = ("F32", "F16", "BF16", "F64")
# What a config.json may claim (the params' own ranges, a little wider): a hand-edited or foreign
# config must not make us allocate a model of any size before its weights are looked at.
CONFIG_LIMITS = {
    "vocab_size": (1, 1_000_000),
    "block_size": (1, 16384),
    "n_layer": (1, 64),
    "n_head": (1, 64),
    "d_model": (2, 8192),
    "ffn_hidden": (0, 65536),
}


def save_checkpoint(
    out_dir: str | Path, model: torch.nn.Module, cfg: GPTConfig, tokenizer: TextTokenizer, kind: str, **meta: Any
) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with io.atomic_path(out_dir / WEIGHTS) as tmp:
        save_model(model, str(tmp))  # handles the tied embedding / lm_head weight
    io.write_json(
        out_dir / CONFIG, {"kind": kind, "model": cfg.to_dict(), "tokenizer_fingerprint": tokenizer.fingerprint, **meta}
    )


def read_config(ckpt_dir: str | Path) -> dict:
    path = Path(ckpt_dir) / CONFIG
    if not path.is_file():
        raise RlhfError(f"checkpoint '{ckpt_dir}' has no {CONFIG}; point at a folder written by a training stage")
    try:
        conf = io.read_json(path)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise RlhfError(f"checkpoint config '{path}' is not valid JSON; rerun the stage that wrote it") from None
    if not isinstance(conf, dict):
        raise RlhfError(
            f"checkpoint config '{path}' holds a JSON {type(conf).__name__}, not an object; "
            "rerun the stage that wrote it"
        )
    return conf


def _first_line(e: BaseException, limit: int = 160) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:limit]


def model_config(conf: dict, ckpt_dir: str | Path) -> GPTConfig:
    """The GPTConfig of a checkpoint's config, refusing wrong types and sizes no stage can have written."""
    raw = conf.get("model")
    problem = None
    if not isinstance(raw, dict):
        problem = "no 'model' object"
    else:
        types = {f.name: f.type for f in fields(GPTConfig)}
        for key, value in raw.items():
            if key not in types:
                problem = f"unknown key {key!r}"
            elif key in CONFIG_LIMITS:
                low, high = CONFIG_LIMITS[key]
                if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                    problem = f"{key} = {str(value)[:40]!r}, expected an integer in [{low}, {high}]"
            elif key in ("rope_theta", "dropout"):
                if (
                    isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or not math.isfinite(value)
                    or value < 0
                    or (key == "rope_theta" and value == 0)
                    or (key == "dropout" and value >= 1)
                ):
                    problem = f"{key} = {str(value)[:40]!r} is out of range"
            elif key == "tie_embeddings" and not isinstance(value, bool):
                problem = f"tie_embeddings = {str(value)[:40]!r}, expected true or false"
            if problem:
                break
    if problem is None:
        try:
            return GPTConfig.from_dict(raw)
        except (TypeError, ValueError) as e:
            problem = _first_line(e)
    raise RlhfError(f"checkpoint '{ckpt_dir}' has an invalid model config ({problem}); rerun the stage that wrote it")


def load_policy(ckpt_dir: str | Path, tokenizer: TextTokenizer, device: torch.device | str = "cpu") -> GPT:
    """Load a causal LM checkpoint, refusing one trained with another tokenizer."""
    ckpt_dir = Path(ckpt_dir)
    conf = read_config(ckpt_dir)
    if conf.get("tokenizer_fingerprint") != tokenizer.fingerprint:
        raise RlhfError(
            f"checkpoint '{ckpt_dir}' was trained with a different tokenizer than the one given; "
            "retrain it (dvc repro) or pass the tokenizer it was trained with"
        )
    cfg = model_config(conf, ckpt_dir)
    if cfg.vocab_size != tokenizer.vocab_size:
        raise RlhfError(
            f"checkpoint '{ckpt_dir}' has vocab_size {cfg.vocab_size} but the tokenizer has "
            f"{tokenizer.vocab_size}; retrain the checkpoint with this tokenizer"
        )
    _check_size(cfg, ckpt_dir / WEIGHTS)  # before allocating what the config claims
    model = GPT(cfg)
    load_weights(model, ckpt_dir / WEIGHTS)
    return model.to(device).eval()


def _check_size(cfg: GPTConfig, path: Path) -> None:
    """The config's width and depth against the file's header: a config that claims a bigger model than
    its weights must not make us allocate that model first (64 x 8192 is 200 GB of float32)."""
    header = _header(path)
    emb = header.get("lm_head.weight") or header.get("wte.weight")
    if emb is None:
        raise RlhfError(
            f"weights '{path}' do not fit this model (no 'lm_head.weight' or 'wte.weight' tensor); "
            "the file is not a checkpoint of this pipeline: rerun the stage that writes it"
        )
    layers = {k.split(".")[1] for k in header if k.startswith("blocks.")}
    if emb[1] != (cfg.vocab_size, cfg.d_model) or len(layers) != cfg.n_layer:
        raise RlhfError(
            f"weights '{path}' do not fit this model (the file holds {len(layers)} blocks and a "
            f"{list(emb[1])} embedding, the config {cfg.n_layer} blocks and "
            f"{[cfg.vocab_size, cfg.d_model]}); the checkpoint is from another model size"
        )


def _header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype, shape) from the safetensors header, without reading any tensor."""
    if not path.is_file():
        raise RlhfError(f"weights '{path}' not found; rerun the stage that writes them")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise RlhfError(
            f"weights '{path}' are corrupted or unreadable ({_first_line(e, 120)}); rerun the stage that writes them"
        ) from None


def check_weights(model: torch.nn.Module, path: Path) -> None:
    """Refuse a weights file whose header does not match `model`: integer tensors, other shapes
    (another model size), tensors missing or unknown. Reads the header only."""
    header = _header(path)
    odd = [(k, dtype) for k, (dtype, _) in header.items() if dtype not in FLOAT_DTYPES]
    if odd:  # load_model would silently cast integer tensors into the float parameters
        raise RlhfError(
            f"weights '{path}' hold a {odd[0][1]} tensor ('{odd[0][0]}'), not floating-point weights; "
            "the file is not a checkpoint of this pipeline: rerun the stage that writes it"
        )
    expected = model.state_dict(keep_vars=True)
    wrong = [
        (k, shape, tuple(expected[k].shape))
        for k, (_, shape) in header.items()
        if k in expected and shape != tuple(expected[k].shape)
    ]
    if wrong:
        k, theirs, ours = wrong[0]
        raise RlhfError(
            f"weights '{path}' do not fit this model ('{k}' is {list(theirs)} in the file, {list(ours)} "
            f"in the model); the checkpoint is from another model size"
        )
    names = defaultdict(list)  # tied weights (one tensor under two names) are stored once
    for k, v in expected.items():
        names[id(v)].append(k)
    missing = sorted(ks[0] for ks in names.values() if not any(k in header for k in ks))
    unexpected = sorted(set(header) - set(expected))
    if missing or unexpected:
        raise RlhfError(
            f"weights '{path}' do not fit this model (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}); the checkpoint is from another model size or architecture"
        )


def load_weights(model: torch.nn.Module, path: Path) -> None:
    check_weights(model, path)
    try:
        missing, unexpected = load_model(model, str(path), strict=False)
    except (SafetensorError, OSError, ValueError) as e:
        raise RlhfError(
            f"weights '{path}' are corrupted or unreadable ({_first_line(e, 120)}); rerun the stage that writes them"
        ) from None
    except RuntimeError as e:  # shape mismatch: a checkpoint of another model size
        last = (str(e).strip().splitlines() or [type(e).__name__])[-1].strip()[:160]
        raise RlhfError(
            f"weights '{path}' do not fit this model ({last}); the checkpoint is from another model size"
        ) from None
    if missing or unexpected:
        raise RlhfError(
            f"weights '{path}' do not fit this model (missing {sorted(missing)[:3]}, unexpected "
            f"{sorted(unexpected)[:3]}); the checkpoint is from another model size or architecture"
        )
