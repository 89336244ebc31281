"""The builtin instruction suite: offline, deterministic task families mirroring the study's 16
prompts, each with a gold judge that scores any response in [0, 1].

    suite = build_suite(n_train=50_000, n_heldout=512, seed=0)
    gold_score(suite.study[11], "The capital of France is Paris.")  # -> 1.0
"""

from ..tokenizer import prompt_key
from .base import Family
from .families import FAMILIES
from .judge import JudgeResult, gold_score, judge, verifiable
from .suite import Suite, build_suite

__all__ = [
    "FAMILIES",
    "Family",
    "JudgeResult",
    "Suite",
    "build_suite",
    "gold_score",
    "judge",
    "prompt_key",
    "verifiable",
]
