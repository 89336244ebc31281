"""The registry of task families, in the order the suite and the report list them."""

from __future__ import annotations

from . import fam_facts, fam_lists, fam_math, fam_text
from .base import Family

ORDER = [
    "tips",
    "list_items",
    "fact_qa",
    "capital",
    "odd_one_out",
    "classify",
    "fraction",
    "spelling",
    "explain",
    "story",
    "decision",
    "refusal",
    "arithmetic",
    "ordering",
]

_ALL = {f.name: f for mod in (fam_lists, fam_facts, fam_math, fam_text) for f in mod.FAMILIES}
assert sorted(_ALL) == sorted(ORDER), "every family module must be listed in ORDER"

FAMILIES: dict[str, Family] = {name: _ALL[name] for name in ORDER}
