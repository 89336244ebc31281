"""rlhf bpe: train the byte-level BPE tokenizer on the training split."""

import time
from pathlib import Path

import typer

from rlhf_core.data import read_split
from rlhf_core.params import load_params
from rlhf_core.tokenizer import save_tokenizer, train_bpe, training_texts
from stages._common import PARAMS_OPT, console, user_errors


@user_errors
def main(
    params: Path = PARAMS_OPT,
    data: Path = typer.Option(Path("data/raw"), help="folder written by `rlhf download`"),
    out: Path = typer.Option(Path("data/tokenizer"), help="folder for tokenizer.json"),
) -> None:
    """Train a BPE tokenizer (vocab tokenizer.vocab_size) with EOS and padding tokens."""
    p = load_params(params)
    rows = read_split(data, "train")
    t0 = time.perf_counter()
    tok = train_bpe(training_texts(rows), p.tokenizer.vocab_size, p.tokenizer.min_frequency)
    fingerprint = save_tokenizer(tok, out)
    console.print(
        f"[bold]bpe[/]: vocab {tok.get_vocab_size()} trained on {len(rows)} rows in "
        f"{time.perf_counter() - t0:.1f}s (fingerprint {fingerprint[:12]})"
    )
