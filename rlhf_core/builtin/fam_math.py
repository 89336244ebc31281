"""Number families: arithmetic, fraction."""

from __future__ import annotations

import math
import random
import re
import unicodedata
from typing import Any

from .base import Content, Family, make_row
from .claims import NEGATORS
from .text import Doc, numbers_at

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


_STREAM = re.compile(r"\d+(?:\.\d+)?|[a-z]+|[-+*/=\u00d7\u00f7]")
_OPS = {"+": "+", "plus": "+", "add": "+", "-": "-", "minus": "-", "x": "x", "*": "x", "\u00d7": "x",
        "times": "x", "multiplied": "x", "/": "/", "\u00f7": "/", "divided": "/", "over": "/"}
_RELS = {"=", "equals", "equal", "is", "makes", "gives", "get", "gets", "are", "results", "yields"}
_SKIP = {"by", "to", "in", "the", "a"}  # "multiplied by", "equal to", "results in"


def math_stream(raw: str) -> list[tuple[str, Any]]:
    """The response as ("num", value) / ("op", op) / ("rel", word) / ("neg", word) / ("word", word) items:
    digits and number words become numbers ("eighty-four" -> 84), operator words become operators."""
    text = normalize_math(raw)
    words = _STREAM.findall(text)
    out: list[tuple[str, Any]] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w[0].isdigit():
            out.append(("num", float(w)))
            i += 1
            continue
        if w in _NUMBER_WORDS:
            j = i
            while j < len(words) and (words[j] in _NUMBER_WORDS or (words[j] == "and" and j + 1 < len(words)
                                                                    and words[j + 1] in _NUMBER_WORDS and j > i
                                                                    and words[j - 1] == "hundred")):
                j += 1
            out += [("num", float(v)) for _, v in numbers_at(words[i:j])]
            i = j
            continue
        if w in _OPS:
            out.append(("op", _OPS[w]))
        elif w in _RELS:
            out.append(("rel", w))
        elif w in NEGATORS:
            out.append(("neg", w))
        elif w not in _SKIP:
            out.append(("word", w))
        i += 1
    return out


_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred".split())


def normalize_math(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw or "").lower()
    text = re.sub(r"['\u2019]", "", text)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # "eighty-four"
    return text.replace("\u2212", "-").replace("\u2013", "-")


def _evaluate(nums: list[float], ops: list[str]) -> float | None:
    """Left-to-right with x and / before + and -."""
    vals, pend = [nums[0]], []
    for op, n in zip(ops, nums[1:]):
        if op == "x":
            vals[-1] *= n
        elif op == "/":
            if n == 0:
                return None
            vals[-1] /= n
        else:
            pend.append(op)
            vals.append(n)
    total = vals[0]
    for op, v in zip(pend, vals[1:]):
        total = total + v if op == "+" else total - v
    return total


def equations(stream: list[tuple[str, Any]]) -> list[tuple[list[float], list[str], float, bool, set[int]]]:
    """(operands, operators, stated result, negated, stream indices) of every "a op b [op c] rel [not] r"."""
    out = []
    i = 0
    while i < len(stream):
        if stream[i][0] != "num":
            i += 1
            continue
        nums, ops, j = [stream[i][1]], [], i + 1
        while j + 1 < len(stream) and stream[j][0] == "op" and stream[j + 1][0] == "num":
            ops.append(stream[j][1])
            nums.append(stream[j + 1][1])
            j += 2
        if ops and j < len(stream) and stream[j][0] == "rel":
            k, negated = j + 1, False
            while k < len(stream) and stream[k][0] in ("neg", "rel"):
                negated = negated or stream[k][0] == "neg"
                k += 1
            if k < len(stream) and stream[k][0] == "num":
                out.append((nums, ops, stream[k][1], negated, set(range(i, k + 1))))
                i = k + 1
                continue
        i = max(j, i + 1)
    return out


def arithmetic_content(row: dict, doc: Doc) -> Content:
    """The result must be stated and nothing else offered as the result: every equation written out must be
    true ("23 + 45 = 68" and working steps like "10 x 7 = 70"), a false one is a false claim; a number that
    is neither an operand nor part of a true equation is an offered result, so "68 or 69" hedges; a
    negated result ("is not 68") is no answer."""
    meta = row["meta"]
    a, b, answer = meta["a"], meta["b"], meta["answer"]
    stream = math_stream(doc.raw)
    accounted: set[int] = set()
    false_eq: list[str] = []
    stated = False
    negated_answer = False
    for nums, ops, result, negated, idx in equations(stream):
        value = _evaluate(nums, ops)
        true = value is not None and abs(value - result) < 1e-9
        text = " ".join(f"{n:g} {o}" for n, o in zip(nums, ops)) + f" {nums[-1]:g} = {result:g}"
        if true == negated:
            false_eq.append(("not " if negated else "") + text)
        accounted |= idx
        if result == answer and sorted(nums) == sorted([a, b]):
            stated = stated or not negated
            negated_answer = negated_answer or negated
    offered: list[float] = []
    for i, (kind, v) in enumerate(stream):
        if kind != "num" or i in accounted or v in (a, b):
            continue
        if any(k == "neg" for k, _ in stream[max(0, i - 3) : i]):
            negated_answer = negated_answer or v == answer
            continue
        if v == answer:
            stated = True
        else:
            offered.append(v)
    why: dict[str, str] = {}
    if false_eq:
        right, why["right_number"] = 0.0, f"false equation: {false_eq[0]}"
    elif offered:
        right, why["right_number"] = 0.0, "competing results: " + ", ".join(
            f"{x:g}" for x in ([answer] if stated else []) + offered)
    elif stated:
        right, why["right_number"] = 1.0, f"states {answer}"
    else:
        right, why["right_number"] = 0.0, f"{answer} negated" if negated_answer else f"{answer} not stated"
    return right, 1.0, {"right_number": right}, why


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
