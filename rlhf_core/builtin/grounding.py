"""Grounding: an answer to a closed question may only use words that can be accounted for.

The family rules read claims (the city, the number, the category of each item) and their stance. What
they cannot read is a word that changes the meaning without naming a fact they know: "65 dozen",
"100 in binary", "Sixty-five it ain't", "Oak tree: plant (false)". Every such word is a new rule, and a
reader of the rules finds the next one. So for the families whose answer is a value, a list or a
correction, the judge grades only what it can verify: a word the row, the family's task vocabulary or
plain framing cannot account for quarters the score, and so does a sign it cannot read ("65 ✗").

A word is accounted for when it is a core function word, plain framing or a number, or occurs in the row
(instruction, input, reference, facts and accepted keys), in the references of the family's generated rows,
or in the family's short task vocabulary below (synonyms and the words of its usual phrasings). The cost: a
correct answer that adds a fact the row does not hold ("Paris, the seat of government for centuries") is
graded as one that adds an unverifiable claim. That is the choice of a gold judge: what it cannot verify it
does not credit (README: "Grounding").
"""

from __future__ import annotations

import random
import re
import unicodedata
from functools import cache, lru_cache
from typing import Any

from .base import FACTS_DIR, load_facts
from .claims import NEGATORS
from .text import Doc, number_spans, parse_numbers, tokens

STRAY_FACTOR = 0.25  # each unaccounted word or sign quarters the score
VOCAB_ROWS = 2000  # generated rows whose references make up a family's vocabulary

# The function words any answer may use: articles, pronouns, forms of be / have / do, modals, plain prepositions
# and conjunctions. The other function words ("if", "like", "other", "some", "anything", "means", "whether",
# "without") change what a sentence claims ("by no means", "or some other city", "as if", "anything but"); an
# answer may use them only where the family's references or task words do.
CORE = """
a an the and or but so because since as while also too very just only i me my mine we us our you your he him
his she her it its they them their theirs this that these those there here who whom whose which what when where
why how is are was were be been being am do does did done doing have has had having will would shall should can
could may might must of in on at to for from by with about into onto over under after before between through
during than not no nor yes all both each sure certainly absolutely definitely indeed well okay ok great good
nice happy glad thank thanks please hello hi dear sorry let lets im ive id youre thats theres heres whats its
dont doesnt answer question response reply
""".split()

# Framing any answer may use: politeness, "the answer is", "hope this helps", hedges of form not of fact.
FRAMING = """
hope helps help helpful ask asked asking question answer answers here is the result final correct right
exactly true indeed sure certainly happy glad of course welcome let me know great good
please thanks thank you short has also called known often usually
mainly mostly main include includes including among example instance
cannot cant isnt arent wasnt werent doesnt didnt wont wouldnt couldnt youd youll youre youve ill hes shes
theyre weve wed number numbers
""".split()

NUMBER_WORDS = """
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million
billion first second third fourth fifth sixth seventh eighth ninth tenth
""".split()

# Task words per grounded family: synonyms of its keys and the words of its usual phrasings.
TASK_WORDS: dict[str, str] = {
    "arithmetic": """plus minus times multiplied multiply multiplying divided divide dividing by add added adding
        subtract subtracted subtracting take taking away left leave leaves sum total difference product quotient
        remainder equal equals make makes give gives gave result comes come get gets count counting step work
        working x then so if up out first next finally""",
    "capital": "capital city seat government country nation located",
    "classify": """category categories class classification classified classify belong belongs group kind type living
        thing
        animal plant mineral kingdom rock stone metal ore gem gemstone crystal mammal bird fish insect reptile
        amphibian tree flower herb shrub grass cereal grain crop respectively none""",
    "fact_qa": """colour colours c f celsius fahrenheit degree degrees metre metres meter meters kilometre kilometres km
        mile miles percent per cent about around roughly approximately nearly almost exactly called known named
        x times divided bigger biggest larger largest smaller smallest longer longest shorter shortest higher
        highest taller tallest heavier heaviest faster fastest pair pairs much last lasts long""",
    "fraction": """fraction fractions numerator denominator top bottom divide divided dividing division divisible
        multiply multiplied multiplying multiple x times common factor factors greatest highest hcf gcd gcf
        divisor cancel cancels cancelling canceling simplify simplifies simplified simplifying reduce reduces
        reduced reducing lowest terms simplest form equivalent equal equals same value share shares give gives
        giving get leave leaves leaving turn turns halve halving halved both each go goes into value change
        changes never half cross product products decimal""",
    "list_items": """need needs needed bring pack take want useful essential essentials item items thing things
        list youll you will forget remember dont camp camping spare portable some any might bring""",
    "odd_one_out": """odd out one whereas unlike rest others other two three fit fits belong belongs stand stands
        different differ because since while group category platform platforms service app apps use used single
        misfit like rather instead""",
    "ordering": """sorted sort order ordered list ascending descending alphabetical alphabetically smallest largest
        then finally next last after""",
    "spelling": """correct corrected correction corrections fixed fix fixes version sentence should read spelled
        spelt spelling misspelled misspelt mistake mistakes error errors typo typos word words wrong incorrect
        instead grammar grammatical verb subject agree agrees plural singular person tense past present simple
        form letter letters double doubled missing extra use change changed match irregular agreement need needs
        take takes ending""",
}
GROUNDED = frozenset(TASK_WORDS)
# A fact answer restates its own question: the words of other facts ("the second smallest planet", "the primary
# colours of the Moon", "Mercury's moon") and numbers ("2 of which are primary", "only three of the nine") are
# claims its row cannot verify, so a fact row accounts for the words and numbers of its own fact only (every
# question the table asks for it, its answer, keys and wrong answers).
OWN_FACT = frozenset({"fact_qa"})
FACT_TABLES = {"capital": "capitals"}  # a family's fact table, where its name is not the family's

# The adjective of a capital row's country ("the French capital"): accounted on that row only, so "the German
# capital" on France's row is not.
DEMONYMS = {
    "France": "French",
    "Germany": "German",
    "Italy": "Italian",
    "Spain": "Spanish",
    "Portugal": "Portuguese",
    "the United Kingdom": "British UK",
    "Ireland": "Irish",
    "the Netherlands": "Dutch",
    "Belgium": "Belgian",
    "Austria": "Austrian",
    "Switzerland": "Swiss",
    "Poland": "Polish",
    "the Czech Republic": "Czech",
    "Hungary": "Hungarian",
    "Greece": "Greek",
    "Sweden": "Swedish",
    "Norway": "Norwegian",
    "Denmark": "Danish",
    "Finland": "Finnish",
    "Iceland": "Icelandic",
    "Russia": "Russian",
    "Ukraine": "Ukrainian",
    "Romania": "Romanian",
    "Bulgaria": "Bulgarian",
    "Serbia": "Serbian",
    "Croatia": "Croatian",
    "Turkey": "Turkish",
    "Egypt": "Egyptian",
    "Kenya": "Kenyan",
    "Nigeria": "Nigerian",
    "Ghana": "Ghanaian",
    "Ethiopia": "Ethiopian",
    "Morocco": "Moroccan",
    "South Africa": "South African",
    "Tanzania": "Tanzanian",
    "Senegal": "Senegalese",
    "Japan": "Japanese",
    "China": "Chinese",
    "South Korea": "South Korean",
    "India": "Indian",
    "Pakistan": "Pakistani",
    "Bangladesh": "Bangladeshi",
    "Thailand": "Thai",
    "Vietnam": "Vietnamese",
    "Indonesia": "Indonesian",
    "the Philippines": "Philippine Filipino",
    "Malaysia": "Malaysian",
    "Nepal": "Nepali Nepalese",
    "Iran": "Iranian",
    "Iraq": "Iraqi",
    "Saudi Arabia": "Saudi",
    "Jordan": "Jordanian",
    "Lebanon": "Lebanese",
    "Afghanistan": "Afghan",
    "Australia": "Australian",
    "New Zealand": "New Zealand",
    "Canada": "Canadian",
    "the United States": "American US USA",
    "Cuba": "Cuban",
    "Jamaica": "Jamaican",
    "Argentina": "Argentine Argentinian",
    "Brazil": "Brazilian",
    "Chile": "Chilean",
    "Peru": "Peruvian",
    "Colombia": "Colombian",
    "Venezuela": "Venezuelan",
    "Ecuador": "Ecuadorian",
    "Uruguay": "Uruguayan",
    "Paraguay": "Paraguayan",
    "Mongolia": "Mongolian",
    "Scotland": "Scottish",
    "Wales": "Welsh",
    "Estonia": "Estonian",
    "Latvia": "Latvian",
    "Lithuania": "Lithuanian",
    "Slovakia": "Slovak Slovakian",
    "Slovenia": "Slovenian Slovene",
    "Cyprus": "Cypriot",
}

# Signs an answer may use: arithmetic, fractions, currency, list and layout marks. Not "?": a question asserts
# nothing ("Is it 26?", "Paris. Or is it?"); not "!=" or "\u2260"; "%" and degrees only where facts have them.
_SIGNS = set(
    "+-=*/<>()[]{}:;,.!'\"&#@$|~^_`\\"
    "\u00a3\u20ac\u00d7\u00f7\u2212\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026"
    "\u2192\u2190\u21d2\u2248\u2264\u2265\u2713\u2714"  # arrows, approx, <=, >=, check marks
)
FAMILY_SIGNS = {"fact_qa": set("%\u00b0\u00ba")}
_NOT_EQUAL = re.compile(r"!=|=/=|<>")
_STRUCK = re.compile("~~|[\u0334-\u0338]")  # strikethrough the judge did not strip (an unpaired "~~")

# A denial with nothing after it in its sentence but a tail that names nothing denies the answer itself:
# "21 + 5 = 26 - not true.", "Not really.", "..., I do not think.", "you will need none.", "Not one of these is
# right." ("Paris, not Lyon" and "He doesn't know the answer" name what they deny; "Animals: none" is a label.)
DENIALS = frozenset(NEGATORS) - {"false", "wrong", "incorrect", "untrue"}
_TAIL = """true so really at all i do did think believe suppose guess know remember right correct quite exactly it that
this them these those is are was were be sure one of any either way whatsoever even close"""
_SENTENCE = re.compile(r"[.!?;\n]+")
_NUMBER = re.compile(r"\d+(?:st|nd|rd|th|s)?$")  # 12, 1st, 1990s; not "set1", "ten8"
_LIST_MARKER = re.compile(r"(?m)^\s*\d{1,2}[.)]\s+")  # "1. Blue": a list marker, not a number claimed


def _strings(value: Any) -> list[str]:
    """Every string in a (nested) meta value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return [str(value)] if value is not None else []


@lru_cache(maxsize=1 << 12)
def _text_words(text: str) -> frozenset[str]:
    return frozenset(tokens(text))


def row_words(row: dict[str, Any], own: bool = True) -> frozenset[str]:
    """The words of a row; with `own`, also those accounted on this row only (its country's adjective)."""
    meta = row.get("meta") or {}
    parts = [row.get("instruction", ""), row.get("input", ""), row.get("output", ""), *_strings(meta)]
    if own and row.get("family") == "capital" and isinstance(meta, dict):
        parts.append(DEMONYMS.get(str(meta.get("country", "")), ""))
    if row.get("family") in OWN_FACT:
        parts += own_fact(row.get("output", ""))
    return _text_words("\n".join(parts))


@cache
def _fact_questions() -> dict[str, list[str]]:
    return {fact["a"]: list(fact["q"]) for fact in load_facts("fact_qa")}


def own_fact(reference: str) -> list[str]:
    """Every question the fact table asks for this reference answer."""
    return _fact_questions().get(reference, [])


@cache
def _common() -> frozenset[str]:
    return _text_words(" ".join(CORE + FRAMING + NUMBER_WORDS))


@cache
def family_words(family: str) -> frozenset[str]:
    """The references of VOCAB_ROWS generated rows of the family, its task words and the common words."""
    from .families import FAMILIES  # the family modules import this one through the judge

    generate = FAMILIES[family].generate
    words = set(_common() | _text_words(TASK_WORDS.get(family, "")))
    if family in OWN_FACT:
        return frozenset(words - _text_words(" ".join(NUMBER_WORDS)))
    if family == "capital":  # the large cities the capital rules know as rivals ("Paris, not Lyon")
        from .fam_facts import OTHER_CITIES

        words |= _text_words("\n".join(OTHER_CITIES))
    table = FACT_TABLES.get(family, family)
    if (FACTS_DIR / f"{table}.json").exists():  # every key, synonym and listed wrong answer of the family's facts
        words |= _text_words("\n".join(_strings(load_facts(table))))
    for seed in range(VOCAB_ROWS):
        row = generate(random.Random(f"grounding-{family}-{seed}"))
        words |= row_words(row, own=False)
    return frozenset(words)


def stray_signs(raw: str, family: str = "") -> list[str]:
    """Symbols no rule reads ("\u2717", "\u274c", emoji, "?", strikethrough): each one once."""
    allowed = _SIGNS | FAMILY_SIGNS.get(family, set())
    out: list[str] = [m.group(0) for m in _NOT_EQUAL.finditer(raw)][:1]
    out += ["strikethrough"] if _STRUCK.search(raw) else []
    for ch in _NOT_EQUAL.sub(" ", raw):
        if ch in allowed or ch.isspace() or ch.isalnum():
            continue
        if unicodedata.category(ch)[0] in "SP" and ch not in out:
            out.append(ch)
    return out


def dangling_denials(raw: str) -> list[str]:
    """Denials followed by nothing but a tail that names nothing, in their sentence; each word once."""
    out: list[str] = []
    tail = _text_words(_TAIL)
    for sentence in _SENTENCE.split(raw):
        toks = tokens(sentence)
        for i, t in enumerate(toks):
            label = t == "none" and re.search(r":\s*none\b", sentence.lower())
            if t in DENIALS and not label and all(u in tail or u in NEGATORS for u in toks[i + 1 :]):
                if (shown := f"'{t}' (denies nothing named)") not in out:
                    out.append(shown)
                break
    return out


def _own_values(row: dict[str, Any]) -> set[int]:
    """The numbers a fact row's own texts state (its questions, answer and keys), by value."""
    meta = row.get("meta") or {}
    texts = [row.get("instruction", ""), row.get("output", ""), *_strings(meta), *own_fact(row.get("output", ""))]
    return {v for text in texts for v in parse_numbers(tokens(text))}


def unaccounted(row: dict[str, Any], doc: Doc) -> list[str]:
    """The answer's distinct words (and signs, and bare denials) that neither the row, the family nor framing
    accounts for."""
    known = family_words(row["family"])
    own = row_words(row)
    if row["family"] in OWN_FACT:  # a fact row's numbers are its own values, in digits or words
        toks = tokens(_LIST_MARKER.sub("", doc.raw))
        values = _own_values(row)
        free = {t for a, b, v in number_spans(toks) if v in values for t in toks[a:b]}
        words = [t for t in dict.fromkeys(toks) if t not in free and t not in known and t not in own]
    else:
        words = [t for t in dict.fromkeys(doc.tokens) if not _NUMBER.match(t) and t not in known and t not in own]
    return words + stray_signs(doc.raw, row["family"]) + dangling_denials(doc.raw)


def grounding(row: dict[str, Any], doc: Doc) -> tuple[float, str]:
    """STRAY_FACTOR per unaccounted word or sign, for the grounded families; 1 for the others."""
    factor, why, _ = grounding_with_strays(row, doc)
    return factor, why


def grounding_with_strays(row: dict[str, Any], doc: Doc) -> tuple[float, str, list[str]]:
    """`grounding`, and the unaccounted words and signs themselves (phrasing does not charge them twice)."""
    if row.get("family") not in GROUNDED or (row.get("meta") or {}).get("unverifiable"):
        return 1.0, "", []  # a row that gives no gold keeps the rules' score, for a person to read
    stray = unaccounted(row, doc)
    if not stray:
        return 1.0, "every word accounted for by the row, the task or framing", []
    shown = ", ".join(w if w.startswith("'") else f"'{w}'" for w in stray[:6]) + (", ..." if len(stray) > 6 else "")
    return STRAY_FACTOR ** len(stray), f"{len(stray)} unaccounted word(s) or sign(s): {shown}", stray
