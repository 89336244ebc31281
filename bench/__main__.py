"""`python -m bench`: the benchmark command (the same as `rlhf bench`)."""

from bench.cli import run

run()
