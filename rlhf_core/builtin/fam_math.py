"""Number families: arithmetic, fraction."""

from __future__ import annotations

import math
import random
import re
import unicodedata
from typing import Any

from .base import Content, Family, make_row
from .claims import NEGATORS
from .text import SCRIPT_DIGITS, UNIT_WORDS, Doc, numbers_at

# ---------------------------------------------------------------- arithmetic

ARITH_TEMPLATES = {
    "+": ["What is {a} + {b}?", "Calculate {a} + {b}.", "Add {a} and {b}.", "What is the sum of {a} and {b}?"],
    "-": ["What is {a} - {b}?", "Calculate {a} - {b}.", "Subtract {b} from {a}.", "What is {a} minus {b}?"],
    "x": [
        "What is {a} x {b}?",
        "Calculate {a} times {b}.",
        "Multiply {a} by {b}.",
        "What is the product of {a} and {b}?",
    ],
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


_STREAM = re.compile(r"\d+(?:\.\d+)?|[a-z]+|[-+*/=\u00d7\u00f7()\[\],;]")
_OPS = {
    "+": "+",
    "plus": "+",
    "add": "+",
    "-": "-",
    "minus": "-",
    "x": "x",
    "*": "x",
    "\u00d7": "x",
    "times": "x",
    "multiplied": "x",
    "/": "/",
    "\u00f7": "/",
    "divided": "/",
    "over": "/",
}
_RELS = {"=", "equals", "equal", "is", "makes", "gives", "get", "gets", "are", "results", "yields"}
_SKIP = {"by", "to", "in", "the", "a"}
_RETRACTIONS = {"wait", "actually", "oops", "correction", "sorry", "mean"}  # "multiplied by", "equal to", "results in"


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
            value = float(w)
            if out and out[-1] == ("op", "-") and (len(out) == 1 or out[-2][0] in ("rel", "paren")):
                out.pop()  # "= -852": a negative number, not a subtraction
                value = -value
            out.append(("num", value))
            i += 1
            continue
        if w in _SCALES and out and out[-1][0] == "num":
            out[-1] = ("num", out[-1][1] * _SCALES[w])  # "170 thousand"
            i += 1
            continue
        if w in _NUMBER_WORDS:
            j = i
            while j < len(words) and (
                words[j] in _NUMBER_WORDS
                or (
                    words[j] == "and"
                    and j + 1 < len(words)
                    and words[j + 1] in _NUMBER_WORDS
                    and j > i
                    and words[j - 1] == "hundred"
                )
            ):
                j += 1
            out += [("num", float(v)) for _, v in numbers_at(words[i:j])]
            i = j
            continue
        if w in "()[],;":
            out.append(("paren", w))  # stops an expression: bracketed ones are not evaluated, "= 450, plus 27" ends
        elif w in _OPS:
            out.append(("op", _OPS[w]))
        elif w in _RELS:
            out.append(("rel", w))
        elif w in NEGATORS:
            out.append(("neg", w))
        elif w not in _SKIP:
            out.append(("word", w))
        i += 1
    return out


_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9}
_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred".split()
)


def normalize_math(raw: str) -> str:
    text = unicodedata.normalize("NFKC", (raw or "").translate(SCRIPT_DIGITS)).lower()
    text = re.sub(r"['\u2019]", "", text)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    text = re.sub(r"(?<=\d),(?=\d)", ".", text)  # what is left between digits is a decimal comma: "199,48"
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


Equation = tuple[list[float], list[str], float, bool, set[int], bool]


def equations(stream: list[tuple[str, Any]]) -> list[Equation]:
    """(operands, operators, stated value, negated, stream indices, value is a single number) of every
    "a op b [op c ...] rel [not] r [op s ...]" ("23 + 45 = 68", "4/16 = 1/4")."""
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
                rnums, rops, m = [stream[k][1]], [], k + 1
                while m + 1 < len(stream) and stream[m][0] == "op" and stream[m + 1][0] == "num":
                    rops.append(stream[m][1])
                    rnums.append(stream[m + 1][1])
                    m += 2
                result = _evaluate(rnums, rops) if rops else rnums[0]
                if result is not None:
                    out.append((nums, ops, result, negated, set(range(i, m)), not rops))
                i = m
                continue
        i = max(j, i + 1)
    return out


def _expr_value(seg: list[tuple[str, Any]]) -> float | None:
    """The value of a bracketed expression ("(30 + 40) + (5 + 4)"), None when it is not one."""
    pos = 0

    def term() -> float | None:
        nonlocal pos
        if pos < len(seg) and seg[pos] == ("paren", "("):
            pos += 1
            v = expr()
            if v is None or pos >= len(seg) or seg[pos] != ("paren", ")"):
                return None
            pos += 1
            return v
        if pos < len(seg) and seg[pos][0] == "num":
            pos += 1
            return seg[pos - 1][1]
        return None

    def expr() -> float | None:
        nonlocal pos
        vals, ops = [term()], []
        while vals[-1] is not None and pos < len(seg) and seg[pos][0] == "op":
            ops.append(seg[pos][1])
            pos += 1
            vals.append(term())
        return None if None in vals else _evaluate(vals, ops)  # type: ignore[arg-type]

    v = expr()
    return v if pos == len(seg) else None


def bracket_chains(stream: list[tuple[str, Any]]) -> list[tuple[list[float], set[int], list[float]]]:
    """Chains "e1 = e2 = ... = en" where some expression has brackets ("35 + 44 = (30 + 40) + (5 + 4) = 79"):
    (the values of the expressions, the stream indices, the numbers of the first expression)."""
    out, i = [], 0
    while i < len(stream):
        j = i
        while j < len(stream) and (stream[j][0] in ("num", "op", "rel") or stream[j][1] in ("(", ")")):
            j += 1
        run = stream[i:j]
        if any(t[1] == "(" for t in run):
            segs: list[list[tuple[str, Any]]] = [[]]
            for t in run:
                if t[0] == "rel":
                    segs.append([])
                else:
                    segs[-1].append(t)
            values = [_expr_value(sg) for sg in segs]
            if len(segs) > 1 and all(v is not None for v in values):
                first = [v for k, v in segs[0] if k == "num"]
                out.append((values, set(range(i, j)), first))  # type: ignore[arg-type]
        i = j + 1
    return out


def _counting(stream: list[tuple[str, Any]], a: float, b: float, answer: float) -> set[int]:
    """Indices of counting steps that end at the result ("from 82: 83, 84, 85"): numbers with a fixed step,
    commas only between them, starting at or one step after an operand and ending at the answer."""
    out: set[int] = set()
    run: list[int] = []
    for i in range(len(stream) + 1):
        if i < len(stream) and stream[i][0] == "num":
            run.append(i)
            continue
        if i < len(stream) and stream[i] == ("paren", ",") and run:
            continue
        vals = [stream[k][1] for k in run]
        if len(vals) >= 3 and vals[-1] == answer:
            d = vals[1] - vals[0]
            steps_ok = d != 0 and all(y - x == d for x, y in zip(vals, vals[1:]))
            if steps_ok and (vals[0] in (a, b) or vals[0] - d in (a, b)):
                out |= set(run)
        run = []
    return out


_OPERATION_VERBS = frozenset("add subtract multiply divide".split())


def _is_operand(stream: list[tuple[str, Any]], i: int) -> bool:
    """Whether the number at i is an operand of an operation that no "=" or "is" takes to a value: "968 - 32",
    "17 minus 10", "subtract 199 from 247" (an instruction echoed with the result put in as a number)."""
    nxt = [k for k, _ in stream[i + 1 : i + 3]]
    prev = [k for k, _ in stream[max(0, i - 2) : i]]
    before = stream[i - 1] if i else ("", "")
    return nxt == ["op", "num"] or prev == ["num", "op"] or (before[0] == "word" and before[1] in _OPERATION_VERBS)


def arithmetic_content(row: dict, doc: Doc) -> Content:
    """The result must be stated and nothing else offered as the result: every equation written out must be
    true ("23 + 45 = 68" and working steps like "10 x 7 = 70"), a false one is a false claim; a number that
    is neither an operand nor part of a true equation is an offered result, so "68 or 69" hedges; a
    negated result ("is not 68") is no answer; a slip taken back ("67, no wait, 68") halves."""
    meta = row["meta"]
    a, b, answer = meta["a"], meta["b"], meta["answer"]
    stream = math_stream(doc.raw)
    accounted: set[int] = set()
    false_eq: list[str] = []
    stated = False
    negated_answer = False
    for values, idx, first in bracket_chains(stream):
        accounted |= idx  # working in brackets: every expression of the chain must have the same value
        if any(abs(v - values[0]) > 1e-9 for v in values):
            false_eq.append(" = ".join(f"{v:g}" for v in values))
        elif values[-1] == answer and sorted(first) == sorted([a, b]):
            stated = True
    accounted |= _counting(stream, a, b, answer)
    for nums, ops, result, negated, idx, single in equations(stream):
        value = _evaluate(nums, ops)
        true = value is not None and abs(value - result) < 1e-9
        text = " ".join(f"{n:g} {o}" for n, o in zip(nums, ops)) + f" {nums[-1]:g} = {result:g}"
        if true == negated:
            false_eq.append(("not " if negated else "") + text)
        accounted |= idx
        if single and result == answer and sorted(nums) == sorted([a, b]):
            stated = stated or not negated
            negated_answer = negated_answer or negated
    offered: list[float] = []
    retracted: list[float] = []
    for i, (kind, v) in enumerate(stream):
        if kind != "num" or i in accounted or v in (a, b):
            continue
        if any(
            stream[j][0] == "neg" and not (j + 1 < len(stream) and stream[j + 1][1] in _RETRACTIONS)
            for j in range(max(0, i - 3), i)
        ):
            negated_answer = negated_answer or v == answer
            continue
        if v == answer:
            stated = stated or not _is_operand(stream, i)  # "Calculate 968 - 32.": the result as an operand
        elif any(k == "word" and w in _RETRACTIONS for k, w in stream[i + 1 : i + 4]):
            retracted.append(v)  # "67, no wait, 68": a slip taken back
        else:
            offered.append(v)
    why: dict[str, str] = {}
    if false_eq:
        right, why["right_number"] = 0.0, f"false equation: {false_eq[0]}"
    elif offered:
        right, why["right_number"] = (
            0.0,
            "competing results: " + ", ".join(f"{x:g}" for x in ([answer] if stated else []) + offered),
        )
    elif stated and retracted:
        right, why["right_number"] = 0.5, f"states {answer} after taking back " + ", ".join(f"{x:g}" for x in retracted)
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
NUM_DEN_WORDS = ["numerator", "denominator", "top", "bottom"]
# "(1 x 4)/(4 x 4)" or "(4 / 4)/(16 / 4)": both parts written with the shared factor.
_FACTORED = re.compile(
    r"\(\s*(\d+)\s*([x*\u00d7\u00b7/\u00f7]|times|divided by)\s*(\d+)\s*\)\s*(?:/|over)\s*"
    r"\(\s*(\d+)\s*([x*\u00d7\u00b7/\u00f7]|times|divided by)\s*(\d+)\s*\)"
)


def _factored(text: str, a: int, b: int, p: int, q: int, k: int) -> tuple[bool, bool]:
    """(a factored form of a/b = p/q by k is shown, a factored form of another value is written)."""
    shown = wrong = False
    for m in _FACTORED.finditer(text):
        n1, o1, n2, d1, o2, d2 = int(m[1]), m[2], int(m[3]), int(m[4]), m[5], int(m[6])
        divide = o1 in ("/", "\u00f7", "divided by")
        if divide != (o2 in ("/", "\u00f7", "divided by")) or (divide and not (n2 and d2)):
            wrong = True
            continue
        top, bottom = (n1 / n2, d1 / d2) if divide else (n1 * n2, d1 * d2)
        if not bottom or abs(top / bottom - p / q) > 1e-9:
            wrong = True
        elif divide:
            shown |= (n1, d1, n2, d2) == (a, b, k, k)
        else:
            shown |= {n1, n2} == {p, k} and {d1, d2} == {q, k}
    return shown, wrong


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


DENIALS = [
    "not equivalent",
    "not equal",
    "isnt equivalent",
    "isnt equal",
    "arent equivalent",
    "arent equal",
    "are not the same",
    "not the same",
    "isnt the same",
    "arent the same",
    "are different",
    "is different",
    "cannot be simplified",
    "cant be simplified",
]
# "by 4" (divide/multiply by), and "factor/divisor ... 4" (a common factor named).
_BY = re.compile(r"\bby\s+(?:the\s+(?:same\s+)?(?:number|factor)\s+)?(\d+)\b")
_FACTOR_NAMED = re.compile(r"\b(?:factor|divisor|gcd|gcf|hcf)\b(?:\W+\w+){0,4}?\W+(\d+)\b(?!\s*/)")
_COMPUTATION = re.compile(r"\s*(?:=|is|equals|gives)\s*\d+(?:\.\d+)?(?!\s*/|\d|\.\d)")
_DECIMAL = re.compile(r"\d*\.\d+|\d+\s*%")


_SMALL = {w: v for w, v in UNIT_WORDS.items() if v <= 12}  # "by three": the factors a fraction is reduced by
_SMALL_NUMBER = re.compile(r"\b(?:" + "|".join(_SMALL) + r")\b")


_SCALE_BY_ONE = re.compile(r"(?:\bby|\btimes|[x*\u00d7\u00b7])\s*(\d+)\s*/\s*(\d+)")


def _fraction_claims(text: str, keep: tuple[tuple[int, int], ...] = ()) -> list[tuple[int, int]]:
    """Fractions the response names, leaving out those that are the left side of a computation ("16/4 = 4"),
    unless they are one of `keep` (the row's own fractions: "4/16 = 0.25" names 4/16 by its value)."""
    out = []
    for m in _FRACTION.finditer(text):
        f = (int(m[1] or m[3]), int(m[2] or m[4]))
        if _COMPUTATION.match(text, m.end()) and f not in keep:
            continue
        out.append(f)
    return out


def _rounding(x: float) -> float:
    """Half a unit in the last decimal written: "1/7 = 0.142857" is true to the digits it gives."""
    digits = len(f"{x:.10g}".partition(".")[2])
    return 1e-9 if not digits else 0.5 * 10.0**-digits * (1 - 1e-6)  # a tie ("1/4 = 0.3") is not rounding


def _evaluated(text: str) -> set[tuple[int, int]]:
    """Fractions written equal to their own value as a decimal ("4/16 = 0.25")."""
    out = set()
    for m in _FRACTION.finditer(text):
        x, y = int(m[1] or m[3]), int(m[2] or m[4])
        c = _COMPUTATION.match(text, m.end())
        written = float(re.findall(r"\d+(?:\.\d+)?", c[0])[0]) if c else math.nan
        if y and abs(written - x / y) < _rounding(written):
            out.add((x, y))
    return out


def _cross_products(eqs: list, a: int, b: int, p: int, q: int) -> bool:
    """Cross-multiplication written out: a x q and b x p, both true and equal ("4 x 4 = 16 and 16 x 1 = 16")."""
    products = {frozenset(e[0]) for e in eqs if not e[3] and e[1] == ["x"] and abs(e[0][0] * e[0][1] - e[2]) < 1e-9}
    return a * q == b * p and frozenset((a, q)) in products and frozenset((b, p)) in products


# "multiply ... 6/16 by 2 ... 3/8": a stated operation must turn the first fraction into the next other one.
_OPERATION = re.compile(r"\b(multipl|divid)\w*\b[^.;]*?(\d+)\s*/\s*(\d+)[^.;]*?\bby\s+(\d+)(?:\s*/\s*(\d+))?\b([^.;]*)")
_FRACTION = re.compile(r"(\d+)\s*/\s*(\d+)")


def _wrong_operations(text: str) -> list[str]:
    """Each "multiply/divide X/Y by n ... U/V" whose operation does not give U/V (the next fraction that is
    not X/Y itself); "by 2/3" is no whole-number factor and is left alone."""
    out = []
    for m in _OPERATION.finditer(text):
        if m.group(5) is not None and m.group(5) != m.group(4):
            continue
        op, x, y, n = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
        target = next(((int(a), int(b)) for a, b in _FRACTION.findall(m.group(6)) if (int(a), int(b)) != (x, y)), None)
        if not n or target is None:
            continue
        if (x * n, y * n) != target if op == "multipl" else (x, y) != (target[0] * n, target[1] * n):
            verb = "multiplying" if op == "multipl" else "dividing"
            out.append(f"{verb} {x}/{y} by {n} does not give {target[0]}/{target[1]}")
    return out


_PARTS = frozenset(
    "fraction fractions number numbers part parts side sides way ways step steps halving halvings doubling "
    "doublings division divisions".split()
)


def _counts_of_parts(toks: list[str]) -> set[float]:
    """Numbers that count the pieces of the explanation ("the two fractions", "both parts"), not values."""
    return {v for pos, v in numbers_at(toks) if toks[pos + 1 : pos + 2] and toks[pos + 1] in _PARTS}


def fraction_content(row: dict, doc: Doc) -> Content:
    """Claims about a/b = p/q. Named (10%): both fractions (or p/q and both numbers of a/b), not denied.
    Reason (60%): the common factor k shown: "by k", a factor/divisor k, a true division or
    multiplication by k written out, or the shared decimal value; steps by divisors of k count when the
    fraction in between is shown. Both parts (30% of the reason's weight): numerator and denominator
    (in words, or both divisions shown). False claims zero the content: a denial, a fraction of another
    value, a false equation, a "by n" that does not take a/b to p/q. Stray numbers divide the score."""
    m = row["meta"]
    a, b, p, q, k = m["a"], m["b"], m["p"], m["q"], m["k"]
    text = normalize_math(doc.raw)
    value = p / q
    fracs = _fraction_claims(text, keep=((a, b), (p, q)))
    # a fraction of another value is a false claim, but not a form of 1 used to scale ("multiply by 5/5")
    scale = {(int(m[1]), int(m[1])) for m in _SCALE_BY_ONE.finditer(text) if m[1] == m[2]}
    other = [f for f in fracs if f[1] == 0 or (abs(f[0] / f[1] - value) > 1e-9 and f not in scale)]
    middle = [f for f in fracs if f not in other and f not in ((a, b), (p, q))]
    stream = math_stream(doc.raw)
    eqs = equations(stream)
    false_eq = [
        e
        for e in eqs
        if (_evaluate(e[0], e[1]) is not None and abs(_evaluate(e[0], e[1]) - e[2]) > _rounding(e[2])) != e[3]
    ]
    nums = [v for kind, v in stream if kind == "num"]
    named = (p, q) in fracs and ((a, b) in fracs or (a in nums and b in nums))
    by = [int(x) for x in _BY.findall(_SMALL_NUMBER.sub(lambda m: str(_SMALL[m[0]]), text))]  # "by three"
    bad_by = [n for n in by if n != k and not (k % n == 0 and middle)]
    steps = [e for e in eqs if not e[3] and len(e[1]) == 1 and e[1][0] in ("/", "x") and k in e[0] and e[5]]
    step_pairs = {(e[0][0], e[2]) for e in steps} | {(e[2], e[0][0]) for e in steps}
    both_steps = ((a, p) in step_pairs or (p, a) in step_pairs) and ((b, q) in step_pairs or (q, b) in step_pairs)
    decimal = any(
        abs(float(x.rstrip("%").strip()) / (100 if "%" in x else 1) - value) < 1e-6 for x in _DECIMAL.findall(text)
    )
    factor_named = [int(x) for x in _FACTOR_NAMED.findall(text)]
    factored, factored_wrong = _factored(text, a, b, p, q, k)
    # both fractions shown equal to the same decimal, or the cross products: a whole proof without naming k
    crossed = _cross_products(eqs, a, b, p, q)
    whole = {(a, b), (p, q)} <= _evaluated(text) or crossed
    factor = float(
        k in by
        or k in factor_named
        or bool(steps)
        or decimal
        or factored
        or whole
        or (bool(middle) and bool(by) and not bad_by)
    )
    # "dividing both 4 and 44 by 4": the two parts named by their numbers
    parts_by = re.search(rf"\b(?:{a:d}\s+and\s+{b:d}|{b:d}\s+and\s+{a:d})\b(?:\s+[a-z]+){{0,3}}?\s+by\s+{k:d}\b", text)
    num_den = float(
        doc.has_any(NUM_DEN_WORDS) or both_steps or factored or whole or doc.has("both numbers") or bool(parts_by)
    )
    denied = doc.has_any(DENIALS)
    why: dict[str, str] = {}
    false = []
    if denied:
        false.append("denies the equivalence")
    if other:
        false.append("fractions of another value: " + ", ".join(f"{x}/{y}" for x, y in other))
    if false_eq:
        e = false_eq[0]
        false.append(
            "false equation: " + " ".join(f"{n:g} {o}" for n, o in zip(e[0], e[1])) + f" {e[0][-1]:g} = {e[2]:g}"
        )
    if bad_by:
        false.append(f"'by {bad_by[0]}' does not turn {a}/{b} into {p}/{q} (the factor is {k})")
    false += _wrong_operations(text)
    if re.search(r"\bcross\b", text) and not crossed:
        false.append(f"cross-multiplication without the true products {a} x {q} and {b} x {p}")
    if factored_wrong:
        false.append(f"a factored form that is not {a}/{b}")
    content = 0.0 if false else (0.1 * named + factor * (0.6 + 0.3 * num_den)) * (1.0 if named else 0.3)
    accounted = {i for e in eqs if e not in false_eq for i in e[4]}
    allowed = {a, b, p, q, k, a * q} | {x for f in middle for x in f} | set(by) | set(factor_named)
    allowed |= _counts_of_parts(doc.tokens)
    stray = sorted(
        {
            v
            for i, (kind, v) in enumerate(stream)
            if kind == "num" and i not in accounted and v not in allowed and not (v < 1 or "." in f"{v:g}")
        }
    )
    penalty = 1.0 / (1.0 + len(stray))
    why["fractions"] = f"{a}/{b} = {p}/{q} named" if named else f"{a}/{b} and {p}/{q} not both named"
    why["common_factor"] = f"factor {k} shown" if factor else f"no reason: the factor {k} is not shown"
    why["numerator_denominator"] = "both parts addressed" if num_den else "numerator/denominator not addressed"
    if false:
        why["false_claims"] = "; ".join(false)
    if stray:
        why["stray_numbers"] = ", ".join(f"{x:g}" for x in stray)
    parts = {
        "fractions": float(named),
        "common_factor": factor,
        "numerator_denominator": num_den,
        "false_claims": float(bool(false)),
        "stray_numbers": penalty,
    }
    return content, penalty, parts, why


FAMILIES = [
    Family(
        "arithmetic",
        "One addition, subtraction or multiplication with 1-3 digit numbers.",
        "Full content when the right result is stated (digits or words; true working steps allowed).",
        "A false equation, another number offered as the result, or a negated result: 0; a slip taken back x0.5.",
        gen_arithmetic,
        arithmetic_content,
    ),
    Family(
        "fraction",
        "Explain why a/b equals its reduced form p/q.",
        "10% both fractions named; 60% the common factor shown, 30% more for numerator and denominator.",
        "A denial, a fraction of another value, a false equation or a wrong 'by n': 0; stray numbers divide.",
        gen_fraction,
        fraction_content,
    ),
]
