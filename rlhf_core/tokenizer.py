"""Byte-level BPE tokenizer (Hugging Face `tokenizers`) and the one prompt template used everywhere.

Every stage formats a prompt with `format_prompt` and appends the response followed by EOS, so the
SFT data, RL rollouts, DPO pairs, reward-model inputs and evaluation all see the same layout.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from rlhf_core import io
from rlhf_core.errors import RlhfError

EOS = "<|endoftext|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = [EOS, PAD]

# Alpaca's layout, as the study used it; the Input section is left out when there is no input.
_WITH_INPUT = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
_NO_INPUT = "### Instruction:\n{instruction}\n\n### Response:\n"


def format_prompt(instruction: str, input: str = "") -> str:
    instruction, input = instruction.strip(), (input or "").strip()
    if input:
        return _WITH_INPUT.format(instruction=instruction, input=input)
    return _NO_INPUT.format(instruction=instruction)


def row_prompt(row: dict) -> str:
    return format_prompt(row["instruction"], row.get("input", ""))


def prompt_key(row: dict) -> str:
    """The identity of a prompt: instruction + newline + input, stripped (used to dedupe and to keep
    held-out and study prompts out of training)."""
    return row["instruction"].strip() + "\n" + (row.get("input") or "").strip()


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """Train a byte-level BPE (GPT-2 style: every byte is in the alphabet, so no unknown tokens)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def training_texts(rows: Iterable[dict]) -> Iterator[str]:
    for row in rows:
        yield row_prompt(row) + row["output"]


@dataclass
class TextTokenizer:
    """The trained tokenizer plus the ids and the fingerprint that checkpoints are checked against."""

    tok: Tokenizer
    fingerprint: str

    @property
    def eos_id(self) -> int:
        return self.tok.token_to_id(EOS)

    @property
    def pad_id(self) -> int:
        return self.tok.token_to_id(PAD)

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)

    def decode_batch(self, batch: list[list[int]]) -> list[str]:
        return self.tok.decode_batch(batch, skip_special_tokens=True)

    def encode_prompts(self, rows: list[dict]) -> list[list[int]]:
        return self.encode_batch([row_prompt(r) for r in rows])


TOKENIZER_FILE = "tokenizer.json"


def save_tokenizer(tok: Tokenizer, out_dir: str | Path) -> str:
    """Write tokenizer.json atomically; return its fingerprint (sha256 of the file's bytes)."""
    text = tok.to_str(pretty=True)
    io.write_text(Path(out_dir) / TOKENIZER_FILE, text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_tokenizer(path: str | Path) -> TextTokenizer:
    """Load from a tokenizer folder (or its tokenizer.json)."""
    path = Path(path)
    file = path / TOKENIZER_FILE if path.is_dir() else path
    if not file.is_file():
        raise RlhfError(f"tokenizer '{file}' not found; run `rlhf bpe` (or `dvc repro bpe`) first")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RlhfError(f"tokenizer '{file}' is not UTF-8 text (not a tokenizer.json); rerun `rlhf bpe`") from None
    try:
        tok = Tokenizer.from_str(text)
    except Exception as e:  # tokenizers raises a plain Exception on malformed JSON
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise RlhfError(f"tokenizer '{file}' is unreadable ({first}); rerun `rlhf bpe`") from None
    if tok.token_to_id(EOS) is None or tok.token_to_id(PAD) is None:
        raise RlhfError(f"tokenizer '{file}' lacks the special tokens {SPECIAL_TOKENS}; rerun `rlhf bpe`")
    return TextTokenizer(tok, hashlib.sha256(text.encode("utf-8")).hexdigest())
