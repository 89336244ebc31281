"""Checkpoints: `model.safetensors` (weights, never pickle) + `config.json` (model config, tokenizer
fingerprint, provenance). Loading checks the tokenizer and the config before touching the weights.
"""

from __future__ import annotations

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


def save_checkpoint(out_dir: str | Path, model: torch.nn.Module, cfg: GPTConfig, tokenizer: TextTokenizer,
                    kind: str, **meta: Any) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with io.atomic_path(out_dir / WEIGHTS) as tmp:
        save_model(model, str(tmp))  # handles the tied embedding / lm_head weight
    io.write_json(out_dir / CONFIG, {"kind": kind, "model": cfg.to_dict(),
                                     "tokenizer_fingerprint": tokenizer.fingerprint, **meta})


def read_config(ckpt_dir: str | Path) -> dict:
    path = Path(ckpt_dir) / CONFIG
    if not path.is_file():
        raise RlhfError(f"checkpoint '{ckpt_dir}' has no {CONFIG}; point at a folder written by a training stage")
    try:
        return io.read_json(path)
    except (ValueError, UnicodeDecodeError):
        raise RlhfError(f"checkpoint config '{path}' is not valid JSON; rerun the stage that wrote it") from None


def load_policy(ckpt_dir: str | Path, tokenizer: TextTokenizer, device: torch.device | str = "cpu") -> GPT:
    """Load a causal LM checkpoint, refusing one trained with another tokenizer."""
    ckpt_dir = Path(ckpt_dir)
    conf = read_config(ckpt_dir)
    if conf.get("tokenizer_fingerprint") != tokenizer.fingerprint:
        raise RlhfError(f"checkpoint '{ckpt_dir}' was trained with a different tokenizer than the one given; "
                        "retrain it (dvc repro) or pass the tokenizer it was trained with")
    try:
        cfg = GPTConfig.from_dict(conf["model"])
    except (KeyError, TypeError, ValueError) as e:
        raise RlhfError(f"checkpoint '{ckpt_dir}' has an invalid model config ({e}); rerun the stage that wrote it") from None
    if cfg.vocab_size != tokenizer.vocab_size:
        raise RlhfError(f"checkpoint '{ckpt_dir}' has vocab_size {cfg.vocab_size} but the tokenizer has "
                        f"{tokenizer.vocab_size}; retrain the checkpoint with this tokenizer")
    model = GPT(cfg)
    load_weights(model, ckpt_dir / WEIGHTS)
    return model.to(device).eval()


def load_weights(model: torch.nn.Module, path: Path) -> None:
    if not path.is_file():
        raise RlhfError(f"weights '{path}' not found; rerun the stage that writes them")
    try:
        with safe_open(str(path), framework="pt") as f:
            # load_model would silently cast integer tensors into the float parameters
            odd = [(k, f.get_slice(k).get_dtype()) for k in f.keys() if f.get_slice(k).get_dtype() not in FLOAT_DTYPES]
        if odd:
            raise RlhfError(f"weights '{path}' hold a {odd[0][1]} tensor ('{odd[0][0]}'), not floating-point weights; "
                            "the file is not a checkpoint of this pipeline: rerun the stage that writes it")
        missing, unexpected = load_model(model, str(path), strict=False)
    except (SafetensorError, OSError, ValueError) as e:
        raise RlhfError(f"weights '{path}' are corrupted or unreadable ({str(e).splitlines()[0][:120]}); "
                        "rerun the stage that writes them") from None
    except RuntimeError as e:  # shape mismatch: a checkpoint of another model size
        raise RlhfError(f"weights '{path}' do not fit this model ({str(e).splitlines()[-1].strip()[:160]}); "
                        "the checkpoint is from another model size") from None
    if missing or unexpected:
        raise RlhfError(f"weights '{path}' do not fit this model (missing {sorted(missing)[:3]}, unexpected "
                        f"{sorted(unexpected)[:3]}); the checkpoint is from another model size or architecture")
