"""Number families: arithmetic, fraction."""

from __future__ import annotations

import math
import random
import re
from typing import Any

from .base import Content, Family, make_row
from .text import Doc

# ---------------------------------------------------------------- arithmetic

ARITH_TEMPLATES = {
    "+": ["What is {a} + {b}?", "Calculate {a} + {b}.", "Add {a} and {b}.", "What is the sum of {a} and {b}?"],
    "-": ["What is {a} - {b}?", "Calculate {a} - {b}.", "Subtract {b} from {a}.", "What is {a} minus {b}?"],
    "x": ["What is {a} x {b}?", "Calculate {a} times {b}.", "Multiply {a} by {b}.",
          "What is the product of {a} and {b}?"],
}


def make_arithmetic(op: str, a: int, b: int, template: str) -> dict[str, Any]:
    c = {"+": a + b, "-": a - b, "x": a * b}[op]
    output = f"{a} {op} {b} = {c}."
    return make_row("arithmetic", template.format(a=a, b=b), "", output, {"op": op, "a": a, "b": b, "answer": c})


def _operand(rng: random.Random) -> int:
    digits = rng.choice([1, 2, 2, 3])
    return rng.randint(10 ** (digits - 1) if digits > 1 else 2, 10**digits - 1)


def gen_arithmetic(rng: random.Random) -> dict[str, Any]:
    op = rng.choice(["+", "-", "x"])
    while True:
        if op == "x":
            a, b = rng.randint(2, rng.choice([12, 20, 99])), rng.randint(2, 9)
        else:
            a, b = _operand(rng), _operand(rng)
            if op == "-" and a < b:
                a, b = b, a
        c = {"+": a + b, "-": a - b, "x": a * b}[op]
        if c not in (a, b):  # an answer equal to an operand could be "found" by echoing the question
            break
    return make_arithmetic(op, a, b, rng.choice(ARITH_TEMPLATES[op]))


def arithmetic_content(row: dict, doc: Doc) -> Content:
    meta = row["meta"]
    numbers = doc.numbers()
    correct = float(meta["answer"] in numbers)
    wrong = [x for x in numbers if x not in (meta["a"], meta["b"], meta["answer"])]
    penalty = 0.5 if (correct and wrong) else 1.0
    return correct, penalty, {"right_number": correct, "wrong_numbers": penalty}


# ---------------------------------------------------------------- fraction

FRACTION_TEMPLATES = [
    ("Explain why the following fraction is equivalent to {p}/{q}", "{a}/{b}"),
    ("Why is {a}/{b} equal to {p}/{q}?", ""),
    ("Show that {a}/{b} is equivalent to {p}/{q}.", ""),
    ("Explain why {a}/{b} and {p}/{q} are equivalent fractions.", ""),
]
FRACTION_ANSWERS = [
    "{a}/{b} is equivalent to {p}/{q} because both the numerator and the denominator can be divided by {k}: "
    "{a} divided by {k} is {p} and {b} divided by {k} is {q}.",
    "If you divide the numerator and the denominator of {a}/{b} by {k}, you get {p}/{q}, "
    "so both fractions have the same value.",
    "Multiplying the numerator and the denominator of {p}/{q} by {k} gives {a}/{b}, so the fractions are equivalent.",
]
_FRACTION = re.compile(r"(\d+)\s*/\s*(\d+)|(\d+)\s+(?:over|out of)\s+(\d+)")
OPERATION_WORDS = [
    "divide", "divided", "dividing", "divisible", "simplify", "simplified", "simplifies", "simplest",
    "multiply", "multiplied", "multiplying", "factor", "reduce", "reduced", "cancel",
]
NUM_DEN_WORDS = ["numerator", "denominator", "top", "bottom"]
DENIALS = ["not equivalent", "not equal", "isnt equivalent", "isnt equal", "arent equivalent", "are not the same"]


def make_fraction(p: int, q: int, k: int, template: tuple[str, str], answer: str) -> dict[str, Any]:
    a, b = p * k, q * k
    fmt = dict(a=a, b=b, p=p, q=q, k=k)
    instruction, input = (t.format(**fmt) for t in template)
    meta = {"a": a, "b": b, "p": p, "q": q, "k": k}
    return make_row("fraction", instruction, input, answer.format(**fmt), meta)


def gen_fraction(rng: random.Random) -> dict[str, Any]:
    while True:
        q = rng.randint(2, 12)
        p = rng.randint(1, q - 1)
        if math.gcd(p, q) == 1:
            break
    k = rng.randint(2, 9)
    return make_fraction(p, q, k, rng.choice(FRACTION_TEMPLATES), rng.choice(FRACTION_ANSWERS))


def _fractions_and_rest(raw: str) -> tuple[list[tuple[int, int]], str]:
    fracs = [(int(m[1] or m[3]), int(m[2] or m[4])) for m in _FRACTION.finditer(raw)]
    return fracs, _FRACTION.sub(" ", raw)


def fraction_content(row: dict, doc: Doc) -> Content:
    m = row["meta"]
    fracs, rest = _fractions_and_rest(doc.raw.lower())
    both = ((m["a"], m["b"]) in fracs) + ((m["p"], m["q"]) in fracs)
    loose = [int(x) for x in re.findall(r"\d+", rest)]  # digits outside the fractions
    factor = float(m["k"] in loose)
    num_den = float(doc.has_any(NUM_DEN_WORDS))
    operation = float(doc.has_any(OPERATION_WORDS))
    content = 0.4 * both / 2 + 0.3 * factor + 0.15 * num_den + 0.15 * operation
    if both == 0:
        content *= 0.3  # an explanation that never names either fraction is off-topic
    allowed = (m["a"], m["b"], m["p"], m["q"], m["k"])
    stray = sum(1 for x in loose if x not in allowed)
    # A wrong fraction is a wrong claimed result, so it weighs twice a stray number.
    wrong_fracs = sum(1 for f in fracs if f not in ((m["a"], m["b"]), (m["p"], m["q"])))
    penalty = 1.0 / (1.0 + stray + 2 * wrong_fracs)
    if doc.has_any(DENIALS):
        penalty *= 0.3
    parts = {"fractions": both / 2, "common_factor": factor, "numerator_denominator": num_den,
             "operation": operation, "wrong_numbers": penalty}
    return content, penalty, parts


FAMILIES = [
    Family(
        "arithmetic",
        "One addition, subtraction or multiplication with 1-3 digit numbers.",
        "Full content when the right result appears.",
        "Other numbers besides the operands halve the score; a missing result scores 0.",
        gen_arithmetic,
        arithmetic_content,
    ),
    Family(
        "fraction",
        "Explain why a/b equals its reduced form p/q.",
        "40% both fractions named, 30% the common factor, 15% numerator/denominator, 15% divide/multiply.",
        "Stray numbers or fractions divide the score; saying they are not equal multiplies it by 0.3.",
        gen_fraction,
        fraction_content,
    ),
]
