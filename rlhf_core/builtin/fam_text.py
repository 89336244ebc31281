"""Free-text families: spelling, explain, story, decision, refusal."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from functools import cache, lru_cache
from typing import Any

from .base import Content, Family, capitalize, load_facts, make_row
from .claims import HEDGE_PHRASES, HEDGES, NEGATORS, content_tokens
from .claims import STOP_WORDS as FUNCTION_WORDS
from .stance import advice_clauses, copied_count, find, first_sentence, key_tokens, sentence_segments
from .text import Doc, normalize, phrase, stem, tokens

STOPWORDS = {
    "a",
    "an",
    "the",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "at",
    "for",
    "with",
    "by",
    "from",
    "is",
    "was",
    "were",
    "are",
    "be",
    "it",
    "its",
    "he",
    "she",
    "his",
    "her",
    "they",
    "their",
    "we",
    "our",
    "i",
    "my",
    "me",
    "you",
    "your",
    "this",
    "that",
    "some",
    "am",
    "very",
    "every",
    "about",
    "after",
    "before",
}

# ---------------------------------------------------------------- spelling

SPELLING_TEMPLATES = [
    "Evaluate this sentence for spelling and grammar mistakes",
    "Correct the spelling mistakes in this sentence.",
    "Fix the errors in the following sentence.",
    "Rewrite this sentence with correct spelling.",
    "Find and correct the mistakes in this sentence.",
]
GRAMMAR_TEMPLATES = [
    "Evaluate this sentence for spelling and grammar mistakes",
    "Correct the grammar in this sentence.",
    "Fix the errors in the following sentence.",
    "Find and correct the mistakes in this sentence.",
]
SPELLING_ANSWERS = ["The corrected sentence is: {s}", "Corrected: {s}", "It should read: {s}"]
VOWELS = set("aeiou")


def make_spelling(wrong: str, right: str, template: str, answer: str, context: bool = False) -> dict[str, Any]:
    """errors: [wrong, right] word pairs; with context=True (grammar errors, whose wrong word is a real
    word like "is") each pair carries its neighbours, so "is" elsewhere in the answer is not an error."""
    bad, good = normalize(wrong).split(), normalize(right).split()
    errors = []
    for j, (w, r) in enumerate(zip(bad, good)):
        if w != r:
            lo, hi = (max(0, j - 1), j + 2) if context else (j, j + 1)
            errors.append([" ".join(bad[lo:hi]), " ".join(good[lo:hi])])
    meta = {"errors": errors, "correct": right}
    return make_row("spelling", template, wrong, answer.format(s=right), meta)


def _misspell(word: str, rng: random.Random) -> str:
    """A plausible misspelling: a doubled consonant, a dropped vowel or two swapped letters."""
    low = word.lower()
    n = len(low)
    edits = {
        "double": [i for i in range(1, n - 1) if low[i] not in VOWELS and low[i] not in (low[i - 1], low[i + 1])],
        "drop": [i for i in range(1, n - 1) if low[i] in VOWELS],
        "swap": [i for i in range(1, n - 2) if low[i] != low[i + 1]],
    }
    kind = rng.choice([k for k in ("double", "drop", "swap") if edits[k]])
    i = rng.choice(edits[kind])
    if kind == "double":
        out = low[: i + 1] + low[i] + low[i + 1 :]
    elif kind == "drop":
        out = low[:i] + low[i + 1 :]
    else:
        out = low[:i] + low[i + 1] + low[i] + low[i + 2 :]
    return word[0] + out[1:]  # keep the original first letter (and its case)


def gen_spelling(rng: random.Random) -> dict[str, Any]:
    table = load_facts("spelling")
    if rng.random() < 0.25:
        wrong, right = rng.choice(table["grammar"])
        return make_spelling(wrong, right, rng.choice(GRAMMAR_TEMPLATES), rng.choice(SPELLING_ANSWERS), context=True)
    right = rng.choice(table["sentences"])
    words = right.split(" ")
    core = [w.strip(".,") for w in words]
    candidates = [i for i, w in enumerate(core) if w.isalpha() and len(w) >= 5]
    picks = rng.sample(candidates, min(len(candidates), rng.choice([1, 2, 2, 3])))
    wrong_words = list(words)
    for i in sorted(picks):
        for _ in range(10):
            bad = _misspell(core[i], rng)
            # The misspelling must stay distinguishable from the word after normalising and stemming.
            if phrase(bad) != phrase(core[i]) and bad.lower() not in (w.lower() for w in core):
                wrong_words[i] = words[i].replace(core[i], bad)
                break
    wrong = " ".join(wrong_words)
    if wrong == right:  # no usable misspelling found (very rare): draw another sentence
        return gen_spelling(rng)
    if rng.random() < 0.5:
        wrong = wrong.rstrip(".")
    return make_spelling(wrong, right, rng.choice(SPELLING_TEMPLATES), rng.choice(SPELLING_ANSWERS))


CALLED_WRONG = frozenset("misspelled misspelt mispelled misspelling wrong incorrect incorrectly typo".split())
PAIR_GAP = 4  # "finnished -> finished", "finnished should be spelled finished": the fix within 4 tokens


def _in_order_share(want: list[str], toks: list[str]) -> float:
    """Share of `want` found in `toks` in the same order (longest common subsequence): how much of a
    sentence is restated. O(len(want) x len(toks)); `want` is one short sentence."""
    if not want:
        return 0.0
    best = [0] * (len(want) + 1)
    for t in toks:
        prev = 0
        for j, w in enumerate(want):
            cur = best[j + 1]
            if t == w:
                best[j + 1] = prev + 1
            elif best[j] > cur:
                best[j + 1] = best[j]
            prev = cur
    return best[-1] / len(want)


_FIX_CUES = frozenset("should spelled spelt corrected correction".split())


def _quoted(toks: list[str], bad_at: int, bad_len: int, good_spots: list[int], good_len: int) -> bool:
    """The error is quoted next to its fix ("finnished -> finished", "finished (not finnished)"), not asserted."""
    end = bad_at + bad_len
    if toks[end : end + 1] in (["is"], ["was"]) and any(t in CALLED_WRONG for t in toks[end + 1 : end + 3]):
        return bool(good_spots)  # "'cnocert' is misspelled; it should be 'concert'"
    for q in good_spots:
        if end <= q <= end + PAIR_GAP:
            return True
        if end <= q <= end + 3 * PAIR_GAP and any(t in _FIX_CUES for t in toks[max(end, q - 3) : q]):
            return True  # "'pllanted' has a doubled l and should be 'planted'"
        if q + good_len <= bad_at <= q + good_len + 3 and any(
            t in NEGATORS or t in ("instead", "rather") for t in toks[q + good_len : bad_at]
        ):
            return True
    return False


# "doesn't" and "does not" are the same correction: both sides are compared with contractions written out.
CONTRACTIONS = {
    w: [stem(x) for x in full.split()]  # compared with stemmed tokens ("does" -> "doe")
    for w, full in {
        "doesnt": "does not",
        "dont": "do not",
        "didnt": "did not",
        "isnt": "is not",
        "arent": "are not",
        "wasnt": "was not",
        "werent": "were not",
        "cant": "can not",
        "cannot": "can not",
        "wont": "will not",
        "hasnt": "has not",
        "havent": "have not",
        "hadnt": "had not",
        "couldnt": "could not",
        "shouldnt": "should not",
        "wouldnt": "would not",
        "im": "i am",
        "theyre": "they are",
        "youre": "you are",
    }.items()
}


def _uncontract(toks: list[str]) -> list[str]:
    return [u for t in toks for u in CONTRACTIONS.get(t, (t,))]


# Words that call a spelling acceptable: "buyed is also acceptable" asserts the error.
_ENDORSE = frozenset("acceptable correct fine ok okay right valid allowed possible also standard".split())
# Hedges between spellings: the shared hedge words and phrases, and "hard to tell".
SPELLING_HEDGES = (*sorted(HEDGES), *HEDGE_PHRASES, "hard to tell")
HEDGED_FIX = 0.25  # credit kept by a correction hedged between spellings


# British and American spellings of the same fix: favourite / favorite, realise / realize, centre / center.
_VARIANTS = (("our", "or"), ("ise", "ize"), ("isa", "iza"), ("tre", "ter"), ("lled", "led"), ("lling", "ling"))


def spelling_variants(words: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The fix as written and with one British spelling pattern turned American in each word."""
    out = [words]
    for uk, us in _VARIANTS:
        alt = tuple(w.replace(uk, us) if len(w) > len(uk) + 2 else w for w in words)
        if alt not in out:
            out.append(alt)
    return out


def _endorsed(toks: list[str], error_words: list[str]) -> int:
    """How often a word only the error has is called acceptable ("buyed is also acceptable", "buyed is fine
    too"), not wrong."""
    n = 0
    for i, t in enumerate(toks):
        if t in error_words:
            after = toks[i + 1 : i + 4]
            if after[:1] in (["is"], ["was"]) and any(a in _ENDORSE for a in after[1:]):
                n += not any(a in NEGATORS or a in CALLED_WRONG for a in after)
    return n


_QUOTES = "'\"\u2018\u2019\u201c\u201d`*"
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|\n+")


def _mentions(raw: str, bad: str) -> int:
    """How often the error is written in quotes ("'mounttain' had an extra letter"): named, not used."""
    return len(re.findall(rf"(?i)[{_QUOTES}]{re.escape(bad)}[{_QUOTES}]", raw))


def _clean_restatement(raw: str, correct: list[str], error_toks: set[str]) -> bool:
    """Some sentence of the answer is the corrected sentence, with none of the errors in it."""
    for seg in _SENTENCE_END.split(raw):
        toks = _uncontract(tokens(seg))
        if toks and not set(toks) & error_toks and _in_order_share(correct, toks) >= 0.9:
            return True
    return False


def spelling_content(row: dict, doc: Doc) -> Content:
    meta = row["meta"]
    errors = meta["errors"]
    toks = _uncontract(doc.tokens)
    correct_doc = Doc(meta["correct"])
    correct = _uncontract(correct_doc.tokens)
    restated = _in_order_share(correct, toks)  # the corrected sentence written out
    credits, leftover, paired, why_err = [], 0, 0, []
    spellings = [(b, g) for b, g in errors if tuple(key_tokens(b)) not in spelling_variants(tuple(key_tokens(g)))]
    if spellings:
        errors = spellings  # "neighbor" for "neighbour" is the other spelling, not an error
    error_toks = {t for b, _ in errors for t in key_tokens(b)} - {t for _, g in errors for t in key_tokens(g)}
    # beside a clean corrected sentence, an error in quotes is explained, not left in
    explained = _clean_restatement(doc.raw, correct, error_toks)
    for bad, good in errors:
        bt, gt = tuple(_uncontract(list(key_tokens(bad)))), tuple(_uncontract(list(key_tokens(good))))
        goods, bads = sorted({q for v in spelling_variants(gt) for q in find(toks, v)}), find(toks, bt)
        quoted = [b for b in bads if _quoted(toks, b, len(bt), goods, len(gt))]
        # "trhee three": the two side by side with nothing between say nothing about which is right
        bare = min(
            len(quoted), len(re.findall(rf"(?i)(?<![\w']){re.escape(bad)}\s+{re.escape(good)}(?![\w'])", doc.raw))
        )
        quoted = quoted[bare:]
        mentioned = min(len(bads) - len(quoted), _mentions(doc.raw, bad)) if explained else 0
        asserted = len(bads) - len(quoted) - mentioned + _endorsed(toks, [t for t in bt if t not in gt])
        paired += bool(quoted)
        if asserted:
            credits.append(0.0)
            leftover += 1
            why_err.append(f"'{bad}' left in")
        elif not goods:
            credits.append(0.0)
            why_err.append(f"'{good}' missing")
        elif quoted or restated >= 0.6:
            credits.append(1.0)
            why_err.append(f"'{bad}' -> '{good}'")
        else:  # the fixed word alone, neither in the sentence nor next to its error
            credits.append(0.5)
            why_err.append(f"'{good}' named without the sentence")
    fixed = sum(credits) / len(credits) if credits else 1.0
    # "It could be 'three' or 'there'": a hedge that the corrected sentence itself does not contain
    said, right = " " + " ".join(doc.tokens) + " ", " " + " ".join(correct_doc.tokens) + " "
    if any(f" {h} " in said and f" {h} " not in right for h in SPELLING_HEDGES):
        fixed *= HEDGED_FIX
        why_err.append("hedged between spellings")
    # The rest of the sentence: restated, or implied unchanged when every error is given as a correction pair.
    kept = 1.0 if errors and paired == len(errors) else min(1.0, restated / 0.9)
    content = fixed * (0.7 + 0.3 * kept)
    penalty = 1.0 - 0.5 * leftover / max(1, len(errors))
    why = {"fixed": "; ".join(why_err), "rest_of_sentence": f"{restated:.0%} of the corrected sentence restated"}
    return content, penalty, {"fixed": fixed, "rest_of_sentence": kept, "leftover_errors": penalty}, why


# ---------------------------------------------------------------- explain

EXPLAIN_TEMPLATES = ["Explain {t}.", "Describe {t}.", "Give a short explanation of {t}.", "Briefly describe {t}."]


def explain_prompts(concept: dict) -> list[str]:
    out = list(concept["prompts"])
    for t in EXPLAIN_TEMPLATES:
        p = t.format(t=concept["topic"])
        if p not in out:
            out.append(p)
    return out


def make_explain(concept: dict, prompt: str) -> dict[str, Any]:
    keys = concept["keys"]
    meta = {"topic": concept["topic"], "keys": keys, "need": max(2, math.ceil(0.8 * len(keys)))}
    return make_row("explain", prompt, "", concept["answer"], meta)


def gen_explain(rng: random.Random) -> dict[str, Any]:
    concept = rng.choice(load_facts("explain"))
    return make_explain(concept, rng.choice(explain_prompts(concept)))


# Scope breaks inside a sentence for a negation: "neutrons, which have no charge" does not deny what follows.
_SCOPE_BREAKS = frozenset("which who while whereas but however although though because so then".split())


def _prose(toks: list[str]) -> bool:
    """A sentence, not a run of key words: at least two function words and a fifth of its tokens (one in a
    short sentence: "it reflects sunlight")."""
    fn = sum(1 for t in toks if t in FUNCTION_WORDS)
    return (fn >= 2 and 5 * fn >= len(toks)) or (fn >= 1 and len(toks) <= 5)


# Words that deny what follows them in a sentence, beyond the plain negators ("it is a myth that ...").
DENIERS = NEGATORS | frozenset("myth misconception contrary lack lacks lacking".split())
# A short sentence that denies the one before it: "... tariffs caused it. That is false."
_DENIAL_TAIL = frozenset("false wrong untrue myth incorrect nonsense".split())
_LIST_GLUE = frozenset("a an the and or".split())


def _list_like(seg: list[str]) -> bool:
    """A comma segment that is one item of a list ("protons", "shells or charges", "bank failures")."""
    return len(seg) <= 4 and all(t in _LIST_GLUE or t not in FUNCTION_WORDS for t in seg)


def _key_stances(text: str, keys: list[list[str]]) -> tuple[set[int], set[int], set[int]]:
    """(asserted, denied, listed) key-group indices of a text. A negation reaches a key in its own comma
    segment (back to a scope break: "which", "but", ...) and across commas only through list items: "not
    made of a nucleus, protons, neutrons" denies all three, "neutrons (no charge), with electrons" does not."""
    asserted, denied, listed = set(), set(), set()
    prev: list[tuple[int, bool, bool]] = []  # (group, negated, prose) of the sentence before
    for segs in sentence_segments(text):
        toks = [t for sg in segs for t in sg]
        if not toks:
            continue
        if (
            prev
            and len(toks) <= 6
            and any(t in _DENIAL_TAIL for t in toks)
            or (prev and " ".join(toks) in ("not true", "none of that is true", "none of this is true"))
        ):
            for g, _, _ in prev:  # "That is false." denies the sentence before
                denied.add(g)
                asserted.discard(g)
            prev = []
            continue
        prose = _prose(toks)
        cur = []
        present = set(toks)
        for si, seg in enumerate(segs):
            for g, group in enumerate(keys):
                for key in group:
                    kt = key_tokens(key)
                    if not kt or kt[0] not in present:
                        continue
                    for pos in find(seg, kt):
                        neg = _denied_before(segs, si, pos)
                        cur.append((g, neg, prose))
        for g, neg, pr in cur:
            if neg:
                denied.add(g)
            elif pr:
                asserted.add(g)
            else:
                listed.add(g)
        prev = cur
    return asserted, denied, listed


def _denied_before(segs: list[list[str]], si: int, pos: int) -> bool:
    scope = segs[si][:pos]
    k = si
    while True:
        for t in reversed(scope):
            if t in _SCOPE_BREAKS:
                return False
            if t in DENIERS:
                return True
        if k == 0 or not _list_like(scope if k == si else segs[k]):
            return False
        k -= 1
        scope = segs[k]


@lru_cache(maxsize=4096)
def _said_negated(output: str, keys: str) -> frozenset[int]:
    """Key groups the reference itself names under a negation ("nothing, not even light, can escape"):
    for those a negated mention is the fact."""
    groups = json.loads(keys)
    asserted, denied, _ = _key_stances(output, groups)
    return frozenset(denied - asserted)


@cache
def _false_rules(
    topic: str,
) -> tuple[tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]], ...]:
    rules = load_facts("explain_false").get(topic, [])
    as_tokens = lambda xs: tuple(key_tokens(x) for x in xs)  # noqa: E731
    return tuple((as_tokens(r["a"]), as_tokens(r["rel"]), as_tokens(r["b"])) for r in rules)


def _false_claims(raw: str, topic: str, keys: list[list[str]]) -> list[str]:
    """Clauses that make a known false claim with the right words ("the nucleus is made of electrons",
    "protons orbit the nucleus"): a subject word, then a relation, then (if the rule has one) an object, with
    no negator before the relation."""
    rules = _false_rules(topic)
    if not rules:
        return []
    nouns = {key_tokens(k)[-1] for group in keys for k in group if key_tokens(k)}
    out = []
    for toks in advice_clauses(raw):
        for subj, rels, objs in rules:
            ends = [p + len(kt) for kt in subj for p in find(toks, kt)]
            hit = False
            for rt in rels:
                for r in find(toks, rt):
                    # the relation right after the subject (<= 3 words: "protons and neutrons orbit"), the
                    # object soon after it, and no negator before it
                    if not any(0 <= r - e <= 3 for e in ends) or any(t in NEGATORS for t in toks[:r]):
                        continue
                    after = r + len(rt)
                    if not objs and after < len(toks) and toks[after] in nouns and toks[r - 1] in ("and", "or"):
                        continue  # "protons and neutral neutrons": the word describes the next thing
                    if not objs or any(after <= q <= after + 6 for ot in objs for q in find(toks, ot)):
                        hit = True
            if hit:
                out.append(" ".join(toks))
                break
    return out


def explain_content(row: dict, doc: Doc) -> Content:
    """Key-term groups asserted in prose sentences. A key named only under a negation ("is not made of
    protons", "no electrons") is denied, unless the reference says it that way too: it earns nothing and
    each denied group costs credit; key words in a sentence that is only a list of them ("nucleus, proton,
    neutron") earn nothing."""
    meta = row["meta"]
    asserted, denied, listed = _key_stances(doc.raw, meta["keys"])
    either = _said_negated(row["output"], json.dumps(meta["keys"]))
    asserted |= denied & either
    denied -= asserted
    coverage = min(1.0, len(asserted) / meta["need"])
    false = _false_claims(doc.raw, meta.get("topic", ""), meta["keys"])
    content = coverage / (1.0 + len(denied) + 2 * len(false))  # a false claim weighs more than a denial
    names = lambda gs: ", ".join(meta["keys"][g][0] for g in sorted(gs))  # noqa: E731
    why = {
        "key_terms": f"{len(asserted)} of {len(meta['keys'])} key facts asserted ({names(asserted) or 'none'}), "
        f"{meta['need']} needed"
    }
    if denied:
        why["denied"] = f"negated: {names(denied)}"
    if false:
        why["false_claims"] = "false: " + "; ".join(f"'{c}'" for c in false[:3])
    if listed - asserted:
        why["listed"] = f"named only in a bare list: {names(listed - asserted)}"
    return (
        content,
        1.0,
        {"key_terms": coverage, "denied": 1.0 / (1.0 + len(denied)), "false_claims": 1.0 / (1.0 + 2 * len(false))},
        why,
    )


# ---------------------------------------------------------------- story

STORY_TEMPLATES = [
    "Write a short story in third person narration about {name}, {a_role} who has to decide whether to {choice}.",
    "Write a short third-person story about {a_role} named {name} who must decide whether to {choice}.",
    "Tell a short story, in the third person, about {name}, {a_role} deciding whether to {choice}.",
    "Write a brief story about {name}, {a_role} facing a choice: whether to {choice}.",
]
# Every reference story says who (name, role), the choice, what was decided and why, in past-tense narration.
STORY_ANSWERS = [
    "{Name} had worked as {a_role} for years. One evening {pron} had to decide whether to {choice}. "
    "{Pron} talked it over with an old friend. "
    "In the end {pron} decided to take the chance, because {pron} did not want to live with regret.",
    "{Name} was {a_role} who loved {pos} work. When {pron} was asked whether {pron} would {choice}, "
    "{pron} felt torn. After a sleepless night, {pron} said yes, "
    "because the chance might never come again.",
    "As {a_role}, {Name} had always played it safe. Then came a hard choice: whether to {choice}. "
    "{Pron} asked {pos} family for advice. "
    "By morning {pron} decided to stay where {pron} was, because {pos} family needed {obj} close to home.",
]
FIRST_PERSON = {"i", "me", "my", "mine", "myself"}


def _article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


OPEN_STORY_TEMPLATES = [
    "Write a short story in third person narration about {a_role} who has to make an important career decision.",
    "Write a short third-person story about {a_role} facing a big career decision.",
    "Tell a short story in the third person about {a_role} who must decide the next step in their career.",
]
CAREER_WORDS = ["career", "job", "work", "worked", "profession", "promotion", "business", "company", "office", "offer"]
DECISION_WORDS = ["decide", "decided", "decision", "chose", "choose", "choice", "whether"]


def _story_fmt(name: str, pron: str, role: str, choice: str) -> dict[str, str]:
    pos, obj = ("his", "him") if pron == "he" else ("her", "her")
    return dict(
        name=name, Name=name, a_role=_article(role), choice=choice, pron=pron, Pron=capitalize(pron), pos=pos, obj=obj
    )


def make_story(
    name: str,
    pron: str,
    role: str,
    role_keys: list[str],
    choice: str,
    choice_keys: list[str],
    template: str,
    answer: str,
) -> dict[str, Any]:
    fmt = _story_fmt(name, pron, role, choice)
    meta = {"elements": [[name], role_keys, choice_keys], "min_words": 20, "open": False}
    return make_row("story", template.format(**fmt), "", answer.format(**fmt), meta)


def make_open_story(instruction: str, elements: list[list[str]], output: str) -> dict[str, Any]:
    """A story prompt that names no protagonist: any decision story with the elements answers it."""
    return make_row("story", instruction, "", output, {"elements": elements, "min_words": 20, "open": True})


def gen_story(rng: random.Random) -> dict[str, Any]:
    facts = load_facts("story")
    name, pron = rng.choice(facts["names"])
    role, role_keys = rng.choice(facts["roles"])
    choice, choice_keys = rng.choice(facts["choices"])
    answer = rng.choice(STORY_ANSWERS)
    if rng.random() < 0.2:
        fmt = _story_fmt(name, pron, role, choice)
        instruction = rng.choice(OPEN_STORY_TEMPLATES).format(**fmt)
        return make_open_story(instruction, [role_keys, DECISION_WORDS], answer.format(**fmt))
    return make_story(name, pron, role, role_keys, choice, choice_keys, rng.choice(STORY_TEMPLATES), answer)


# Verbs that state what was decided or done; a few are complete on their own ("she declined", "I said yes").
DECIDE_VERBS = frozenset(
    "decided chose picked opted went accepted declined refused agreed took turned stayed kept signed opened moved "
    "quit resigned left joined started applied bought sold adopted rented lent repaired told enrolled settled "
    "returned committed gave learned learnt".split()
)
COMPLETE_VERBS = frozenset("accepted declined refused quit resigned agreed stayed moved left".split())
COMPLETE_PAIRS = (
    *("said yes", "said no", "turned down", "turned it down", "turned him down", "turned her down"),
    *("turned them down", "went ahead", "gave up", "handed in"),
)
REASON_WORDS = (
    "because",
    "since",
    "so that",
    "due to",
    "as it",
    "as she",
    "as he",
    "as they",
    "as the",
    "as our",
    "as my",
    "as her",
    "as his",
    "as i",
    "as we",
)
HEDGE_WORDS = frozenset("maybe perhaps perhap possibly might either unsure".split())
# What follows a decision verb but chooses nothing: "stayed silent", "decided nothing".
NOT_ACTIONS = frozenset("silent quiet still calm awake asleep speechless nothing".split())
# Words that give no reason on their own: "because I chose", "because reasons".
EMPTY_REASON = DECIDE_VERBS | frozenset(
    "decide deciding decision choice choose choosing chosen pick picking option reason thing want wanted".split()
)
EMPTY_CHOICE = EMPTY_REASON | frozenset("make made one something anything thing mind".split())
# Professions beyond the story table, for prompts that name none ("a protagonist ... career decision").
EXTRA_ROLES = [
    "analyst",
    "manager",
    "worker",
    "employee",
    "clerk",
    "officer",
    "driver",
    "professor",
    "waiter",
    "artist",
    "writer",
    "editor",
    "banker",
    "consultant",
    "dentist",
    "vet",
    "surgeon",
    "painter",
    "police",
    "soldier",
    "plumber",
    "electrician",
    "actor",
    "singer",
    "dancer",
    "student",
    "intern",
    "salesman",
    "saleswoman",
    "cashier",
    "pharmacist",
    "translator",
    "economist",
    "tailor",
    "gardener",
]
# The work of a role names the role too: "Ethan loved teaching" tells us he is a teacher.
ROLE_WORK = {
    "teacher": ("teaching", "taught his class", "taught her class", "his pupils", "her pupils", "his students"),
    "nurse": ("nursing",),
    "baker": ("baking", "his bakery", "her bakery"),
    "farmer": ("farming", "his farm", "her farm"),
    "journalist": ("journalism",),
    "photographer": ("photography",),
    "designer": ("graphic design",),
    "programmer": ("programming", "coding"),
    "musician": ("his music", "her music"),
    "accountant": ("accounting", "accountancy"),
    "chef": ("his restaurant", "her restaurant", "his kitchen", "her kitchen"),
    "carpenter": ("carpentry", "woodwork"),
    "architect": ("architecture",),
    "librarian": ("the library",),
    "pilot": ("flying planes", "his airline", "her airline"),
}
NO_DECISION = 0.1  # story / decision without the protagonist's decision: the rest earns at most 0.1
COPIED = 0.8  # a sentence with this share of its tokens in 4-token runs of the prompt is the prompt restated


def _fresh_sentences(row: dict, raw: str) -> list[list[str]]:
    """The answer's sentences that are not the prompt restated, with "," between comma segments."""
    prompt = tokens(f"{row.get('instruction', '')} {row.get('input', '')}")
    out = []
    for segs in sentence_segments(raw):
        words = [t for sg in segs for t in sg]
        if copied_count(words, prompt, 4) < COPIED * len(words):
            toks: list[str] = []
            for sg in segs:
                toks += ([","] if toks else []) + sg
            out.append(toks)
    return out


# "decided to put off deciding", "chose to sleep on it": putting the choice off decides nothing.
DEFER_VERBS = frozenset("put postpone postponed delay delayed defer deferred wait waited sleep think hold".split())
DEFER_OBJECTS = frozenset("deciding decision choice choosing it answer".split())
# After a decision, words that say none was settled: "..., still unsure", "I never really settled".
_UNSETTLED = re.compile(
    r"\b(?:still|remained|stayed|left) (?:\w+ )?(?:unsure|undecided|torn|uncertain)\b"
    r"|\bnever (?:\w+ )?(?:settled|decided|made up|chose|picked)\b"
    r"|\b(?:question|choice|decision|dilemma) (?:\w+ )?(?:stayed|remained|was left|is still) "
    r"(?:open|unresolved|undecided)\b"
)


def _deferred(rest: list[str]) -> bool:
    words = [u for u in rest[:6] if u not in ("to", "off", "on", "over", "about", "the", "a", "my", "her", "his")]
    return bool(words) and words[0] in DEFER_VERBS and any(u in DEFER_OBJECTS for u in words[1:4])


def unsettled(sents: list[list[str]], where: tuple[int, int]) -> bool:
    """Whether the answer says, after the decision at (sentence, token) `where`, that nothing was settled."""
    si, i = where
    tail = [sents[si][i:]] + sents[si + 1 :]
    return any(_UNSETTLED.search(" ".join(t)) for t in tail)


CHOICE_VERBS = frozenset("chose picked opted went settled selected".split())
_DETERMINERS_NP = frozenset("a an the some his her my their our new".split())
_PARTICLES = frozenset("for with on up".split())
# Words by which a choice points back at the dilemma without naming it ("the latter", "the safer option").
REFERENTIAL = frozenset(
    "latter former first second one option choice path route way alternative other gut heart instinct safe safer "
    "easier harder plan idea decision opportunity chance offer risk both either same right wrong".split()
) | frozenset(  # what a life choice is usually made for: "she chose her family", "he chose the new post"
    tokens(
        "family home child children kid health happiness freedom stability security money pay salary career post "
        "position role title life future dream passion patient student pupil team colleague crew city country "
        "town place move stay leave job work duty calling"
    )
)


def about_else(words: list[str], relevant: frozenset[str]) -> bool:
    """A decision whose complement is a thing that has nothing to do with the dilemma: "chose a new pair of
    shoes", "picked the lasagne over the soup" (a noun phrase, none of its words the prompt's or pointing back)."""
    if words[0] not in CHOICE_VERBS:
        return False  # "signed the lease", "opened the restaurant": acts, which may carry the choice out
    rest = [w for w in words[1:] if w != ","]
    while rest and rest[0] in _PARTICLES:
        rest = rest[1:]
    if not rest or rest[0] not in _DETERMINERS_NP:
        return False
    # the whole complement: "chose her patients over the promotion" turns the dilemma's option down
    content = [w for w in content_tokens(rest) if w not in EMPTY_CHOICE and w not in _DETERMINERS_NP]
    return bool(content) and not any(w in REFERENTIAL or w in relevant for w in content)


def _decisions(sents: list[list[str]], subjects: frozenset[str]) -> list[list[str]]:
    """For each statement of a decision made by one of `subjects` ("she chose to ...", "Maya accepted",
    "I went with ..."), the words of what was decided (up to the reason / clause end). Negated ("she could
    not decide"), hedged ("maybe one of them"), deferred ("decided to put off deciding") or empty ("she
    decided.") statements are left out."""
    return [w for _, w in _decisions_at(sents, subjects)]


def _decisions_at(sents: list[list[str]], subjects: frozenset[str]) -> list[tuple[tuple[int, int], list[str]]]:
    """_decisions with the (sentence, token) position of each."""
    out = []
    for si, toks in enumerate(sents):
        for i, t in enumerate(toks):
            if t in ("ended", "wound") and toks[i + 1 : i + 2] == ["up"]:
                pass  # "I ended up going to the concert"
            elif t == "handed" and toks[i + 1 : i + 2] == ["in"]:
                pass  # "she handed in her notice"
            elif t not in DECIDE_VERBS and t != "said":
                continue
            before = toks[max(0, i - 4) : i]
            subj = [j for j, b in enumerate(before) if b in subjects]
            if not subj or any(b in NEGATORS for b in before[subj[-1] :]) or any(b in HEDGE_WORDS for b in before):
                continue  # "she could not decide", "maybe she stayed"
            rest = []
            for j, u in enumerate(toks[i + 1 :], i + 1):
                if u in ("because", "since", "but", ",") or (u == "as" and rest):
                    break
                if u in ("could", "would", "might", "should") and toks[j + 1 : j + 2] == ["have"]:
                    break  # "I left school I could have gone to university": what follows did not happen
                rest.append(u)
            clause = list(itertools.takewhile(lambda u: u not in ("because", "since"), toks[i + 1 : i + 12]))
            if any(u in HEDGE_WORDS for u in clause):
                continue  # "I went with the car, or maybe it was the house" (a hedged reason is still a reason)
            pair = " ".join(toks[i : i + 3])
            if {"yes", "no"} <= set(toks[i + 1 : i + 10]):
                continue  # "said yes, then no, then yes": no decision
            if rest[:1] and rest[0] in NOT_ACTIONS:
                continue  # "she stayed silent", "he did nothing": no choice made
            complete = t in COMPLETE_VERBS or any(pair.startswith(p) for p in COMPLETE_PAIRS)
            if t == "said" and not complete:
                continue
            # "decided not to decide", "chose to make a choice": a complement about deciding decides nothing;
            # "decided that deciding was hard" is a judgement, "decided that she would stay" a decision
            if rest[:1] == ["that"] and not any(u in ("would", "will", "should", "must") for u in rest[1:5]):
                continue
            if _deferred(rest):
                continue
            if complete or [u for u in content_tokens(rest) if u not in EMPTY_CHOICE | {"up"}]:
                out.append(((si, i), [t] + rest))
    return out


def _reasons(sents: list[list[str]], first_person_ok: bool) -> list[list[str]]:
    """The words of each reason given ("because she loved her patients"): at least two content words."""
    out = []
    for toks in sents:
        joined = " ".join(toks)
        for w in REASON_WORDS:
            start = 0
            while (k := joined.find(w, start)) >= 0:
                start = k + 1
                if (k and joined[k - 1] != " ") or (joined[k + len(w) : k + len(w) + 1] not in ("", " ")):
                    continue
                idx = joined[:k].count(" ")
                rest = [u for u in toks[idx + len(w.split()) :][:20] if u != ","]
                if not first_person_ok and rest[:1] and rest[0] in FIRST_PERSON:
                    continue
                words = [u for u in content_tokens(rest) if u not in EMPTY_REASON]
                # "decided to quit because he decided to quit" restates the choice: no reason
                if words and not set(words) <= set(toks[:idx]):
                    out.append(rest)
    return out


_DASH = re.compile(r"\s*(?:[\u2013\u2014:]|\s-)\s+")


def _dash_reasons(raw: str) -> bool:
    """A reason after a dash or colon that follows the decision ("I had it repaired - the fix cost a fraction of a
    new one", "Kenji turned it down: with a mortgage, he couldn't gamble")."""
    if not _DASH.search(raw):
        return False
    for sent in re.split(r"(?<=[.!?])\s+|\n", raw):
        parts = _DASH.split(sent, maxsplit=1)
        if len(parts) < 2:
            continue
        before, after = tokens(parts[0]), tokens(parts[1])
        if not any(t in DECIDE_VERBS or t in _WON or t == "handed" for t in before):
            continue
        words = [u for u in content_tokens(after) if u not in EMPTY_REASON]
        if len(words) >= 2 and not set(words) <= set(before):
            return True
    return False


def _narrative(toks: list[str]) -> bool:
    """A narrative sentence: at least five words, two of them function words ("Liam, a chef, decided." is not)."""
    words = [t for t in toks if t != ","]
    return len(words) >= 5 and sum(1 for t in words if t in FUNCTION_WORDS) >= 2


@cache
def _pronoun(name: str) -> str:
    """The pronoun of a story name, given as written ("Tomas") or as a token ("toma", plural-stripped)."""
    return next((p for n, p in load_facts("story")["names"] if name.lower() in (n.lower(), phrase(n))), "")


def story_content(row: dict, doc: Doc) -> Content:
    """Checkable facts of a decision story, each from a sentence that is not the prompt restated: who (the
    name or, for open prompts, a he/she protagonist), the role, the dilemma, what was decided (a decision
    verb with the protagonist as subject and a complement) and why (a reason clause with content). Without
    a decision the facts earn 10%; first-person narration halves the score; fewer than two narrative
    sentences lower it."""
    meta = row["meta"]
    sents = _fresh_sentences(row, doc.raw)
    fresh = Doc(" . ".join(" ".join(t) for t in sents))
    if meta.get("open"):
        name = ""
        role_keys = [k for k in meta["elements"][0] if k not in CAREER_WORDS] + EXTRA_ROLES
        dilemma_keys = [k for k in CAREER_WORDS if k not in ("career", "work")] + ["move", "city", "lab", "study"]
        dilemma_keys += [
            " ".join(t[t.index("whether") : t.index("whether") + 4])
            for t in sents
            if "whether" in t and len(content_tokens(t[t.index("whether") :])) >= 2
        ]
        who = float(fresh.has_any(["he", "she"]))
        named = [t for t in fresh.tokens if t in _story_names()]
        # A named protagonist decides under their name or their own pronoun: "Maya ... He decided" is someone else.
        prons = {_pronoun(t) for t in named} if named else {"he", "she", "they"}
        subjects = frozenset(prons | set(named) | {"i"})
    else:
        name = meta["elements"][0][0]
        role_keys, dilemma_keys = meta["elements"][1], meta["elements"][2]
        who = float(fresh.has(name))
        pron = _pronoun(name)
        subjects = frozenset({phrase(name), "i"} | ({pron} if pron else {"he", "she"}))  # "I" only if named
    role = float(fresh.has_any(role_keys) or fresh.has_any([f for k in role_keys for f in ROLE_WORK.get(k, ())]))
    own_roles = meta["elements"][0] if meta.get("open") else role_keys
    other_role = ""
    if "career" not in own_roles and not fresh.has_any(
        [*own_roles, *(f for k in own_roles for f in ROLE_WORK.get(k, ()))]
    ):  # "about a firefighter" told as "As an architect, Zara ...": a story about someone else
        other_role = next((k for k in _other_roles(tuple(own_roles)) if fresh.has(k)), "")
        role = 0.0 if other_role else role
    slip = _slipped_pronoun(sents, name or next(iter(set(named)), "") if meta.get("open") else name)
    if not (slip and (not meta.get("open") or len(set(named)) == 1)):
        slip = ""
    subjects = subjects | ({slip} if slip else set())  # "Clara ... he had to decide ... he decided": still Clara
    dilemma = float(fresh.has_any(_word_forms(tuple(dilemma_keys))))
    found = _decisions_at(sents, subjects)
    if found and unsettled(sents, found[-1][0]):
        found = []  # "he decided to leave; then to stay; ... still unsure"
    if not meta.get("open"):  # "he chose the lasagne over the soup": not this story's decision
        relevant = _relevant(row, tuple(dilemma_keys) + tuple(role_keys))
        found = [f for f in found if not about_else(f[1], relevant)]
    decided = [w for _, w in found]
    if not dilemma and not meta.get("open"):
        decided = []  # a decision about something else ("she chose pasta") is not this story's decision
    reason = 1.0 if _reasons(sents, first_person_ok=True) or _dash_reasons(doc.raw) else 0.0  # 1st person: below
    if not who and not meta.get("open"):
        decided, reason = [], 0.0  # a decision by someone else is not this protagonist's story
    outcome = 1.0 if decided else 0.0
    content = 0.15 * who + 0.15 * role + 0.15 * dilemma + 0.3 * outcome + 0.25 * reason
    if not outcome:
        content *= NO_DECISION  # a decision story that never says what the protagonist decided
    if not role and not dilemma:
        content *= 0.3  # ... or one about nobody's work and no choice in particular
    if slip:
        content *= 0.85  # told with the wrong pronoun throughout: a flaw, not another person
    if other_role:
        content *= 0.3  # the prompt's role replaced by another: not the story asked for
    if not reason:
        content *= 0.6  # the why is one of the story's constraints
    first = sum(1 for t in doc.tokens if t in FIRST_PERSON)
    pov = 1.0 if first <= 1 else 0.5
    narrative = min(1.0, sum(1 for t in sents if _narrative(t)) / 2)
    length = min(1.0, len(doc) / meta["min_words"])  # a two-line answer is not a story
    penalty = pov * max(0.2, narrative) * length
    why = {
        "who": (f"names {name}" if name else "a he/she protagonist") if who else "no protagonist named",
        "role": "role named"
        if role
        else (f"another role: {other_role}" if other_role else "no role / profession named"),
        "dilemma": "the choice named" if dilemma else "the choice not named",
        "outcome": f"decided: '{' '.join(decided[0][:8])}'" if decided else "never says what was decided",
        "reason": "gives a reason" if reason else "no reason clause with content",
    }
    if pov < 1:
        why["third_person"] = f"{first} first-person words"
    return (
        content,
        penalty,
        {
            "who": who,
            "role": role,
            "dilemma": dilemma,
            "outcome": outcome,
            "reason": reason,
            "third_person": pov,
            "narrative": narrative,
            "story_length": length,
        },
        why,
    )


@lru_cache(maxsize=256)
def _other_roles(own: tuple[str, ...]) -> tuple[str, ...]:
    """Roles of the story table and the extra professions that are none of the prompt's role keys."""
    table = [k for _, keys in load_facts("story")["roles"] for k in keys]
    return tuple(k for k in dict.fromkeys(table + EXTRA_ROLES) if not any(k in o or o in k for o in own))


_PERSON_NOUNS = frozenset(
    "brother sister mother father mom dad son daughter husband wife friend colleague boss manager partner "
    "uncle aunt cousin neighbour neighbor man woman boy girl".split()
)


def _slipped_pronoun(sents: list[list[str]], name: str) -> str:
    """The other-gender subject pronoun a story uses for its protagonist by a slip: the name's own pronoun is
    never a subject, the other one is, at least twice, and first before any other person is mentioned
    ("Clara had worked as a baker. One evening he had to decide ... he decided"). One stray "He decided"
    after "Maya ..." or one after "her brother" is someone else."""
    own = _pronoun(name) if name else ""
    if own not in ("he", "she"):
        return ""
    other = "she" if own == "he" else "he"
    toks = [t for sent in sents for t in sent]
    if own in toks or toks.count(other) < 2:
        return ""
    first = toks.index(other)
    if any(t in _PERSON_NOUNS or (t in _story_names() and t != phrase(name)) for t in toks[:first]):
        return ""
    return other


def _relevant(row: dict, keys: tuple[str, ...]) -> frozenset[str]:
    return _relevant_words(f"{row.get('instruction', '')} {row.get('input', '')}", keys)


@lru_cache(maxsize=4096)
def _relevant_words(prompt: str, keys: tuple[str, ...]) -> frozenset[str]:
    """Words a decision about the dilemma may use: the prompt's, the keys' and their derived forms, work words."""
    words = set(tokens(prompt)) | {t for k in _word_forms(keys) for t in tokens(k)}
    return frozenset(words | set(CAREER_WORDS))


@lru_cache(maxsize=4096)
def _word_forms(keys: tuple[str, ...]) -> list[str]:
    """Keys with the usual derived forms of one-word keys: "retire" also matches retirement, retired, retiring."""
    out = list(keys)
    for k in keys:
        if " " not in k and k.isalpha() and len(k) >= 4:
            base = k[:-1] if k.endswith("e") else k
            out += [k + "ment", k + "d" if k.endswith("e") else k + "ed", base + "ing", k + "s"]
            if k.endswith("y") and k[-2] not in "aeiou":  # study: studied, studies
                out += [k[:-1] + "ied"]
    return out


@lru_cache(maxsize=1)
def _story_names() -> frozenset[str]:
    return frozenset(phrase(n) for n, _ in load_facts("story")["names"])


# ---------------------------------------------------------------- decision

DECISION_TEMPLATES = [
    "Describe a time when you had to choose between {x} and {y}.",
    "Tell me about a time you had to decide between {x} and {y}.",
    "Write about a difficult decision you made between {x} and {y}.",
    "Describe a time when you had to make a difficult decision between {x} and {y}.",
]
DECISION_ANSWER = (
    "A few years ago I had to choose between {x} and {y}. It was hard, so I talked to people I trust. "
    "In the end I went with {chosen}, because {reason}."
)
DILEMMA_MARKERS = ["between", "whether", "or", "either", "option", "choice", "decide", "decision"]
FIRST_PERSON_WORDS = ["i", "my", "me"]
OPEN_DILEMMA = ["offered", "offer", "opportunity", "chance", "could", "choose", "chose", "alternative"]


OPEN_DECISION_TEMPLATES = [
    "Describe a time when you had to make a difficult decision about {area}.",
    "Tell me about a hard choice you once made about {area}.",
    "Write about a time you faced a tough decision about {area}.",
]


def make_decision(x: list, y: list, template: str, chosen: str, reason: str, area: str = "") -> dict[str, Any]:
    """x and y are [option text, option keys]; an open template names neither option."""
    is_open = "{area}" in template
    instruction = template.format(x=x[0], y=y[0], area=area)
    output = DECISION_ANSWER.format(x=x[0], y=y[0], chosen=chosen, reason=reason)
    meta = {"options": [] if is_open else [x[1], y[1]], "open": is_open}
    return make_row("decision", instruction, "", output, meta)


def gen_decision(rng: random.Random) -> dict[str, Any]:
    facts = load_facts("decision")
    pair = rng.choice(facts["pairs"])
    x, y = (pair["x"], pair["y"]) if rng.random() < 0.5 else (pair["y"], pair["x"])
    chosen = rng.choice([x, y])[0]
    template = rng.choice(OPEN_DECISION_TEMPLATES if rng.random() < 0.2 else DECISION_TEMPLATES)
    return make_decision(x, y, template, chosen, rng.choice(facts["reasons"]), pair["area"])


_PAIR_OF_OPTIONS = re.compile(r"\b(?:between|whether to)\s+(.+?)\s+(?:and|or)\s+(.+?)(?=[.,;:!?\n]|$)")


def _same_options(raw: str) -> bool:
    """A dilemma whose two options are the same words ("between X and X", "whether to X or X")."""
    norm = lambda t: " ".join(w for i, w in enumerate(Doc(t).tokens) if i or w != "to")  # noqa: E731
    return any(norm(a) == norm(b) and norm(a) for a, b in _PAIR_OF_OPTIONS.findall(raw.lower()))


# Saying no is also turning someone down: judge-side forms of a refusing option.
_REFUSE_FORMS = tuple(
    f"{v} {o} down" for v in ("turn", "turned", "turning") for o in ("him", "her", "them", "it", "the offer")
) + ("turn down", "turned down", "turning down", "decline", "declined", "declining")


@lru_cache(maxsize=1024)
def _option_forms(keys: tuple[str, ...]) -> list[str]:
    out = _word_forms(keys)
    if any(k in ("say no", "refuse", "decline", "turn down") for k in keys):
        out = out + list(_REFUSE_FORMS)
    return out


# An option as the subject of winning: "the band won out", "in the end, fixing it prevailed".
_WON = frozenset("won prevailed triumphed".split())


def _won_out(sents: list[list[str]], forms: list[tuple[str, ...]]) -> list[tuple[int, int, int]]:
    out = []
    for si, toks in enumerate(sents):
        for i, t in enumerate(toks):
            if t not in _WON or (t == "won" and toks[i + 1 : i + 2] not in (["out"], [","], [])):
                continue
            before = toks[max(0, i - 4) : i]
            if "," in before or any(b in NEGATORS for b in before):
                continue
            d = Doc(" ".join(before))
            hits = [k for k, f in enumerate(forms) if d.has_any(list(f))]
            if len(hits) == 1:
                out.append((si, i, hits[0]))
    return out


OFF_AREA = 0.3  # an open decision prompt's area ("about a friend") never part of the dilemma told
_AREA = re.compile(r".*\babout ([\w' ]+?)\.?$")  # the last "about": "Write about a time ... about money."
# Judge-side words for an area's people and things beside the table's keys.
_AREA_EXTRA = {"friend": ["mate", "buddy", "pal", "classmate", "friendship"], "money": ["save", "spend", "buy", "sell"]}


@lru_cache(maxsize=256)
def _area_forms(instruction: str) -> tuple[str, ...]:
    """Words a decision about the open prompt's area may use: the area's own content words ("friend") and
    every option key of the decision table's dilemmas in that area ("truth", "wedding"), with derived forms."""
    m = _AREA.search(instruction.strip())
    if not m:
        return ()
    area = m[1].strip().lower()
    own = [t for t in tokens(area) if t not in FUNCTION_WORDS and t not in ("your", "where")]
    keys = [
        k
        for p in load_facts("decision")["pairs"]
        if p["area"].lower() == area
        for side in ("x", "y")
        for k in p[side][1]
    ]
    keys += [w for t in own for w in _AREA_EXTRA.get(t, [])]
    return tuple(_word_forms(tuple(own + keys))) if own or keys else ()


@lru_cache(maxsize=256)
def _other_options(own: tuple[str, ...]) -> tuple[str, ...]:
    """Option keys of the decision table's other dilemmas (and their forms) that are none of this row's."""
    keys = [k for p in load_facts("decision")["pairs"] for side in ("x", "y") for k in p[side][1]]
    mine = {t for k in own for t in tokens(k)}
    return tuple(f for f in _word_forms(tuple(dict.fromkeys(keys))) if not set(tokens(f)) & mine)


def decision_content(row: dict, doc: Doc) -> Content:
    """What was decided and why, in the first person: the dilemma (both options named; open prompts: a
    choice between things), the choice (a decision verb with I/we as subject whose complement names exactly
    one option, or for open prompts has content), and the reason (a clause with content); with named options,
    all of it scales with the share of them named. Naming both
    options as the choice, hedging or never deciding earns no choice credit, and the other parts then earn
    10%. "X over / instead of / rather than Y" chooses X."""
    options = row["meta"]["options"]
    sents = _fresh_sentences(row, doc.raw)
    off_area = False
    found = _decisions_at(sents, frozenset({"i", "we"}))
    if found and unsettled(sents, found[-1][0]):
        found = []  # "I chose the office, then home, then the office again; I never really settled"
    if options:  # "I chose a new pair of shoes": a decision about something else chooses neither option
        relevant = _relevant(row, tuple(k for keys in options for k in keys))
        found = [f for f in found if not about_else(f[1], relevant)]
    decided = [w for _, w in found]
    chosen = ""
    if options:
        forms = [tuple(_option_forms(tuple(keys))) for keys in options]  # "study": studied, studying
        named = sum(doc.has_any(list(f)) for f in forms) / len(options)
        picked: set[int] = set()
        both = vague = other = False
        for si, i, _ in _won_out(sents, forms):
            decided.append(["chose", *sents[si][max(0, i - 4) : i]])  # "the band won out": that option chosen
        for words in decided:
            # "the promotion over / instead of / rather than staying": what follows is the option turned down
            cut = next((j for j, w in enumerate(words) if w in ("over", "instead", "rather") and j > 1), len(words))
            d = Doc(" ".join(w for w in words[:cut] if w != ","))
            hits = {i for i, keys in enumerate(forms) if d.has_any(list(keys))}
            both |= len(hits) > 1
            picked |= hits if len(hits) == 1 else set()
            if not hits and d.has_any(_other_options(tuple(k for f in forms for k in f))):
                other = True  # "went with becoming an engineer" after "a house or a car": a third thing chosen
            vague |= not hits and bool(content_tokens(words[1:]))
        if both or len(picked) > 1:
            choice, chosen = 0.0, "both options chosen"  # hedging between the two
        elif picked:
            choice, chosen = 1.0, f"option {min(picked) + 1}"
        elif other:
            choice, chosen = 0.0, "chose something that is neither option"
        else:
            choice, chosen = (0.5, "neither option named") if vague else (0.0, "")
    else:  # an open prompt: any dilemma, told with a choice and a reason, answers it
        fresh = Doc(" . ".join(" ".join(t) for t in sents))
        named = float(fresh.has_any(DILEMMA_MARKERS + OPEN_DILEMMA) and len(content_tokens(fresh.tokens)) >= 6)
        if _same_options(doc.raw):  # "between becoming a teacher and becoming a teacher": no dilemma, no choice
            named, decided = 0.0, []
        area = _area_forms(row.get("instruction", ""))
        if area and not fresh.has_any(list(area)):
            off_area = True  # "a tough decision about a friend" told as renting vs buying: another decision
        choice = 1.0 if decided else 0.0
        chosen = " ".join(decided[0][:8]) if decided else ""
    reason = 1.0 if _reasons(sents, first_person_ok=True) or _dash_reasons(doc.raw) else 0.0
    content = 0.25 * named + 0.4 * choice + 0.35 * reason
    if off_area:
        content *= OFF_AREA
    if options:
        content = named * (0.25 + 0.4 * choice + 0.35 * reason)  # a story about another dilemma earns nothing
    elif not named:
        content *= 0.5  # a choice with no dilemma told
    if not choice:
        content *= NO_DECISION  # telling of a choice without making it (or someone else making it)
    first = 1.0 if doc.has_any(FIRST_PERSON_WORDS) else 0.6  # "describe a time when YOU ..."
    why = {
        "options": f"{named:.0%} of the dilemma named" + (" (not about the prompt's area)" if off_area else ""),
        "choice": chosen or "no decision stated (I chose ...)",
        "reason": "gives a reason" if reason else "no reason clause with content",
    }
    return content, first, {"options": named, "choice": choice, "reason": reason, "first_person": first}, why


# ---------------------------------------------------------------- refusal

REFUSAL_TEMPLATES = ["{R}", "Please {r}.", "Can you {r}?", "I need you to {r}."]
REFUSAL_ANSWER = "I'm sorry, but I can't {r}. {why} {alt}"
WHY = [
    "text",
    "text based",
    "language model",
    "ai",
    "assistant",
    "access",
    "physical",
    "body",
    "device",
    "camera",
    "only",
    "ability",
    "capable",
    "internet",
    "program",
    "model",
]
_DETERMINERS = ("a ", "an ", "the ", "my ", "some ", "this ", "your ")


def _slot_keys(slot: str) -> list[str]:
    s = slot.lower()
    for d in _DETERMINERS:
        if s.startswith(d):
            s = s[len(d) :]
    head = s.split()[-1]
    return [s] + ([head] if len(head) >= 4 and head not in STOPWORDS else [])


_TO_LISTENER = {"my": "your", "me": "you"}


def make_refusal(entry: dict, slot: str, template: str) -> dict[str, Any]:
    request = entry["request"].format(x=slot)
    instruction = template.format(r=request, R=capitalize(request))
    # The answer restates the request from the assistant's side: "water the plants in your garden".
    restated = " ".join(_TO_LISTENER.get(w, w) for w in request.split(" "))
    output = REFUSAL_ANSWER.format(r=restated, why=entry["why"], alt=entry["alt"].format(x=slot))
    meta = {"request": request, "topic_keys": entry["keys"] + _slot_keys(slot)}
    return make_row("refusal", instruction, "", output, meta)


def gen_refusal(rng: random.Random) -> dict[str, Any]:
    entry = rng.choice(load_facts("refusal"))
    return make_refusal(entry, rng.choice(entry["slots"]), rng.choice(REFUSAL_TEMPLATES))


# A decline needs a subject ("I can't", "that is not possible"); "cannot wait" and "can't believe" are eager.
DECLINE_WORDS = (
    "cant",
    "cannot",
    "can not",
    "unable",
    "not able",
    "dont have",
    "do not have",
    "have no",
    "no access",
    "wont be able",
    "not capable",
    "dont know how",
)
DECLINE_SUBJECTS = frozenset("i im ive id ill we that this it thi".split())
IMPERSONAL_DECLINE = (
    "not possible",
    "impossible",
    "not something i can",
    "isnt something i can",
    "beyond my",
    "beyond what i can",
    "outside my",
    "not within my",
    "isnt within my",
    "beyond me",
    "more than i can",
    "not something im able",
    "isnt something im able",
    "not something i am able",
    "isnt something i am able",
)
# "I cannot wait to ...", "I can't stress enough ...", "I can't say I won't", "I can't not draw it": no decline.
EAGER_AFTER = frozenset(
    "wait believe stop deny resist agree see stress say refuse not express emphasise emphasize".split()
)
# A short unit that reports the request done: "Done!", "Here it is."
DONE_UNITS = ("done", "all done", "here it is", "here you go", "there you go", "here you are")
AFFIRM_START = (
    "sure",
    "absolutely",
    "of course",
    "certainly",
    "okay",
    "ok",
    "no problem",
    "done",
    "gladly",
    "right away",
    "here is",
    "heres",
    "here are",
    "here you go",
    "consider it done",
    "will do",
    "with pleasure",
    "yes",
)
CLAIM_SUBJECTS = frozenset("i ive ill im we weve well".split())
ALT_VERBS = frozenset(
    "describe help explain suggest recommend write draft give tell show walk guide provide "
    "list outline share teach find point offer remind".split()
)
ALT_MARKERS = (
    "instead",
    "however",
    "alternatively",
    "you could",
    "you can",
    "happy to",
    "yourself",
    "suggest",
    "help you",
    "glad to",
    "but i can",
    "i could",
    "id be happy",
    "i would be happy",
)
_IRREGULAR = {
    "send": ["sent"],
    "take": ["took", "taken"],
    "make": ["made"],
    "draw": ["drew", "drawn"],
    "set": [],
    "water": ["watered", "watering"],
    "call": ["called", "calling"],
    "turn": ["turned", "switch", "switched", "switching"],  # "turn on the lights": "I have switched them on"
}


@lru_cache(maxsize=256)
def _verb_forms(request: str) -> frozenset[str]:
    """Every form of the request's verb, in token form: render -> render, rendered, rendering, ..."""
    v = normalize(request).split(" ")[0]
    base = v[:-1] if v.endswith("e") else v
    forms = {v, v + "s", base + "ing", base + "ed", v + "d", v + "ed", v + v[-1] + "ing", v + v[-1] + "ed"}
    forms.update(_IRREGULAR.get(v, []))
    return frozenset(stem(f) for f in forms)


def _declines(toks: list[str]) -> bool:
    joined = " " + " ".join(toks) + " "
    if any(f" {p} " in joined for p in IMPERSONAL_DECLINE):
        return True
    present = set(toks)
    for w in DECLINE_WORDS:
        wt = key_tokens(w)
        if wt[0] not in present:
            continue
        for pos in find(toks, wt):
            nxt = [t for t in toks[pos + len(wt) : pos + len(wt) + 2] if t != "to"][:1]  # "not able to refuse"
            if nxt and nxt[0] in EAGER_AFTER:
                continue
            if "reason" in toks[max(0, pos - 4) : pos] or "stops" in toks[max(0, pos - 3) : pos]:
                continue  # "there's no reason I can't", "nothing stops me": no decline
            if w == "unable" and toks[pos - 1 : pos] == ["not"]:
                continue  # "I'm not unable to"
            if any(t in DECLINE_SUBJECTS for t in toks[max(0, pos - 3) : pos]) or (w == "unable" and pos == 0):
                return True
            if "and" in toks[max(0, pos - 2) : pos] and "i" in toks[:pos]:  # "I only work with text and can't"
                return True
    return False


def _claims_to_do(toks: list[str], verbs: frozenset[str], topic: list[str]) -> bool:
    """A clause that says the request is being / has been / will be done: "I have rendered ...", "I will
    send ...", "Playing your song now", "Here is the 3D model"."""
    if _declines(toks):
        return False
    for i, t in enumerate(toks):
        if t not in verbs or any(b in NEGATORS for b in toks[:i]):
            continue
        before = toks[max(0, i - 4) : i]
        if any(b in ("you", "yourself", "how", "help") for b in before):  # "so you can send it yourself"
            continue
        if "yourself" in toks[i + 1 : i + 4]:  # "I can draw it yourself": garbled advice, no claim to have done it
            continue
        if i == 0 or any(b in CLAIM_SUBJECTS for b in before):
            return True
    joined = " ".join(toks)
    if _WENT_AHEAD.search(joined):  # "I've gone ahead and sent it"
        return True
    on_topic = any(find(toks, key_tokens(k)) for k in topic)
    # "I've just finished painting the dragon": the request done under another verb (not a text stand-in)
    done = _COMPLETED.search(joined)
    if done and (on_topic or _DONE_OBJECT.match(joined, done.end())) and not any(t in _STAND_INS for t in toks):
        return True
    if on_topic and not any(t in NEGATORS for t in toks) and not any(t in _CONDITIONS for t in toks[:4]):
        if _DONE_PASSIVE.search(joined):  # "the transfer is complete", "your lights are now on"
            return True
    # "here's the model" loses its "'s" to the tokenizer: "here the model"
    return joined.startswith(("here is", "heres", "here are", "here you go", "here the", "here your")) and on_topic


# The request reported done in the passive ("the transfer is complete"); not "once the transfer is done, ...".
_DONE_PASSIVE = re.compile(
    r"\b(?:is|are|has been|have been|was|were)\s+(?:now\s+|already\s+|all\s+)?"
    r"(?:complete|completed|done|finished|sent|booked|ordered|rendered|printed|recorded|playing|on|ready|"
    r"under way|underway|in progress|on its way|coming out)\b(?!\s+by\b)"
)
_WENT_AHEAD = re.compile(
    r"\b(?:i|ive|ill|im|we|weve)\s+(?:have\s+|will\s+|just\s+|already\s+)*(?:gone|went|go|going)\s+ahead\b"
)
_COMPLETED = re.compile(
    r"\b(?:i|ive|weve|we)\s+(?:have\s+|just\s+|already\s+|now\s+|also\s+)*"
    r"(?:finished|completed|made|created|produced|attached|uploaded|generated|painted|sketched|drawn|drew|built)\b"
)
_DONE_OBJECT = re.compile(r"(?:\s+\w+ing)?\s+(?:it|one|this|that|them)\b")  # "finished painting it"
_STAND_INS = frozenset("description describe described text word written outline list step instruction instead".split())
_CONDITIONS = frozenset("once when after if until unless whether before".split())
_CONTRAST = frozenset("but however yet though although anyway still nevertheless".split())


def _contrast_parts(toks: list[str]) -> list[list[str]]:
    """A clause and the parts after each contrast word: "I can't render it, but here is the model anyway"
    declines and then claims; each part is read on its own."""
    parts, cur = [], []
    for t in toks:
        if t in _CONTRAST and cur:
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    return [p for p in [*parts, cur] if p]


@lru_cache(maxsize=1024)
def _topic_forms(keys: tuple[str, ...]) -> list[str]:
    """Topic keys with a phrasal verb split by its object: "switch on" -> "switch them on", "switch it on"."""
    out = list(keys)
    for k in keys:
        w = k.split()
        if len(w) == 2 and w[1] in ("on", "off", "up", "down", "out"):
            out += [f"{w[0]} {o} {w[1]}" for o in ("it", "them", "these", "those")]
    return out


@lru_cache(maxsize=1)
def _request_nouns() -> frozenset[str]:
    """Words that name what some impossible request is about (email, alarm, song, ...), from every entry."""
    return frozenset(
        t for e in load_facts("refusal") for k in e["keys"] for t in key_tokens(k) if t not in FUNCTION_WORDS
    )


def _declines_other(units: list[list[str]], verbs: frozenset[str], keys: tuple[str, ...]) -> bool:
    """The answer names the request only by its verb, and a decline's object is another request's thing."""
    own = {t for k in keys for t in key_tokens(k)}
    named = {t for u in units for t in u if t in own and t not in verbs}
    if named:
        return False
    for u in units:
        if not _declines(u):
            continue
        at = next((i for i, t in enumerate(u) if t in verbs), None)
        if at is None:
            continue
        obj = list(itertools.takewhile(lambda t: t not in ("or", "and"), u[at + 1 : at + 5]))
        if any(t in _request_nouns() and t not in own for t in obj):
            return True
    return False


# Request words with a common sense of their own ("in order to", "that sounds", "turn it into"): never
# another request's thing when they appear in a reason or an offer.
_GENERIC_REQUEST_WORDS = frozenset(
    "e turn switch water play book call phone sound order record draw send picture".split()
)
# Tokens that cannot follow "how to" or "cannot" in a well-formed clause: "how to your teacher", "cannot the music".
_NOT_VERB = frozenset("a an the your my his her their our this these those you i it to how when what me".split())
_GARBLE_RE = re.compile(
    r"\bhow to(?: (?:" + "|".join(sorted(_NOT_VERB)) + r")\b|$)"  # "how to your teacher", a dangling "how to"
    r"|\b(?:when|that|if|what) you how\b"  # "say when you how to set ..."
    r"|\b(?:help|tell|show) you (?:can|could|will)\b"  # "I can help you can serious"
    r"|\b(?:you you|can cannot|can cant)\b"
)
_REASON_GARBLE_RE = re.compile(
    r"\baccess to(?: \w+){1,2} to\b"  # "no access to bank to devices to home"
    r"|\b(?:cannot|cant)(?: (?:" + "|".join(sorted(_NOT_VERB)) + r")\b|$)"  # "cannot the music", "can't to me"
)
_GARBLED = 0.5  # credit for a reason or an offer that is there but does not read as one


@lru_cache(maxsize=256)
def _foreign_nouns(request: str) -> frozenset[str]:
    """Other requests' things (alarm, printer, plant, ...) that neither this request's entry names nor its
    reference reason and offer use: an offer to "tell you how often different plants" for a print request."""

    def toks(x: str) -> set[str]:
        return {t for u in advice_clauses(x.replace("{x}", "")) for t in u}

    entries = load_facts("refusal")
    mine = [e for e in entries if re.fullmatch(re.escape(e["request"]).replace(re.escape("{x}"), ".+"), request)]
    keys = {t for e in mine for k in e["keys"] for t in key_tokens(k)} - _GENERIC_REQUEST_WORDS
    own = toks(request)
    for e in entries:
        # An entry whose reason or offer names this request's thing is a related one: the render reason
        # "cannot create 3D graphics or images" fits a picture request too.
        if e in mine or keys & (toks(e["why"]) | toks(e["alt"])):
            own |= toks(" ".join([e["request"], e["why"], e["alt"], *e["keys"], *e["slots"]]))
    return _request_nouns() - own - _GENERIC_REQUEST_WORDS


@cache
def _phrase_tokens(words: tuple[str, ...]) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for w in words:
        t = list(key_tokens(w))
        out.setdefault(t[0], []).append(t)
    return out


_WHY_TOKS = tuple(WHY)
_ALT_MARKER_TOKS = tuple(ALT_MARKERS)


def _has_phrase(u: list[str], words: tuple[str, ...]) -> bool:
    by_first = _phrase_tokens(words)
    if by_first.keys().isdisjoint(u):
        return False
    for i, t in enumerate(u):
        for p in by_first.get(t, ()):
            if u[i : i + len(p)] == p:
                return True
    return False


def _offer_at(u: list[str]) -> int | None:
    """Where an offer ("I can / I'll ... describe") starts in a clause, or None."""
    for k in range(len(u) - 1):
        if u[k] in ("i", "ill") and u[k + 1] in ("can", "could") and any(t in ALT_VERBS for t in u[k + 2 : k + 4]):
            return k
    return None


def _offer_garbled(u: list[str], foreign: frozenset[str]) -> bool:
    if not foreign.isdisjoint(u) or _GARBLE_RE.search(" ".join(u)):
        return True
    if "yourself" in u:  # "I can send it yourself": the one who does it is "I", then "yourself"
        head = u[: u.index("yourself")]
        if head[:1] in (["i"], ["ill"]) and not any(t in ("you", "how", "help") for t in head):
            return True
    return False


def _reason_credit(units: list[list[str]], offer_at: list[int | None], foreign: frozenset[str]) -> float:
    """1 for a reason clause that reads as one, _GARBLED when every reason clause is broken, 0 for none. An
    offer ("explain how to model it") and a positive "I can ..." clause are no reason."""
    best = 0.0
    for u, at in zip(units, offer_at):
        u = u if at is None else u[:at]  # "no access to email instead I can help you write it": the reason part
        if not _has_phrase(u, _WHY_TOKS):
            continue
        if ("can" in u or "could" in u) and not any(t in NEGATORS or t == "only" for t in u) and not _declines(u):
            continue  # "I can interest it in the physical world"
        if not foreign.isdisjoint(u) or _REASON_GARBLE_RE.search(" ".join(u)):
            best = max(best, _GARBLED)
        else:
            return 1.0
    return best


def refusal_content(row: dict, doc: Doc) -> Content:
    meta = row["meta"]
    verbs = _verb_forms(meta["request"])
    units = advice_clauses(doc.raw)
    # "I cannot wait to ..." is eagerness, not a decline: drop the pair before reading claims.
    units = [
        [t for j, t in enumerate(u) if not (t in ("cant", "cannot") and u[j + 1 : j + 2] and u[j + 1] in EAGER_AFTER)]
        for u in units
    ]
    opening = first_sentence(doc.raw)
    first = " ".join(opening)
    affirm = any(first == a or first.startswith(a + " ") for a in AFFIRM_START) and not _declines(opening)
    claim = affirm or any(
        _claims_to_do(part, verbs, meta["topic_keys"]) or " ".join(part) in DONE_UNITS
        for u in units
        for part in _contrast_parts(u)
    )
    declined = any(_declines(u) for u in units)
    decline = 1.0 if declined else 0.0
    foreign = _foreign_nouns(meta["request"])
    offer_at = [_offer_at(u) for u in units]
    why = _reason_credit(units, offer_at, foreign) if doc.has_any(WHY) else 0.0
    # Each clause that offers something; the best one counts, a broken one half. A marker cut off as a
    # clause word ("however") still counts as an offer.
    offers = [u for u, at in zip(units, offer_at) if at is not None or _has_phrase(u, _ALT_MARKER_TOKS)]
    if offers:
        alt = 1.0 if any(not _offer_garbled(u, foreign) for u in offers) else _GARBLED
    else:
        alt = float(doc.has_any(ALT_MARKERS))
    topic = 1.0 if doc.has_any(_topic_forms(tuple(meta["topic_keys"]))) else 0.05  # a stock refusal names none
    if topic == 1.0 and _declines_other(units, verbs, tuple(meta["topic_keys"])):
        topic = 0.05  # "Print my boarding pass" -> "I can't print email to your boss": another request declined
    content = decline * topic * (0.5 + 0.25 * why + 0.25 * alt)
    penalty = 0.0 if claim else 1.0
    reasons = {
        "declined": "declines" if declined else "no decline with a subject ('I can't ...')",
        "on_topic": "names the request" if topic == 1.0 else "does not name the request",
    }
    if claim:
        reasons["claims_to_comply"] = "says it does / will do it" if not affirm else f"opens with '{first[:30]}'"
    return (
        content,
        penalty,
        {"declined": decline, "why": why, "alternative": alt, "on_topic": topic, "claims_to_comply": penalty},
        reasons,
    )


FAMILIES = [
    Family(
        "spelling",
        "Correct a sentence with 1-3 misspelled words (or one grammar error).",
        "Per error: the fix in the restated sentence or as a pair ('finnished -> finished') earns 1, the fixed word "
        "alone 0.5; x (70% + 30% the rest of the sentence restated).",
        "An error still asserted (not quoted beside its fix) earns nothing and takes off up to half the score.",
        gen_spelling,
        spelling_content,
    ),
    Family(
        "explain",
        "Describe or explain a concept (atom, word embeddings, Great Depression, photosynthesis, ...).",
        "Key-term groups asserted in prose sentences (not under a negation, not in a bare list); 80% of the "
        "groups earns full credit.",
        "Each group named only under a negation divides the score (1 / (1 + denied)).",
        gen_explain,
        explain_content,
        unverifiable="an explanation is right by its relations, what causes what and what is part of what, "
        "which key terms and their stance cannot check; swapped causes, swapped roles and hedged explanations pass",
    ),
    Family(
        "story",
        "Short third-person story about a protagonist (named, with a role) who faces a decision.",
        "From sentences that are not the prompt: who 15%, role 15%, the dilemma 15%, what was decided 30%, "
        "a reason 25%.",
        "No decision x0.3, no role and dilemma x0.3, no reason x0.6, first person x0.5; short or non-narrative "
        "answers scale down.",
        gen_story,
        story_content,
        unverifiable="a story is right by who decides what and whether it holds, which the rules read from "
        "decision verbs and their subjects: a decision made in a dream, by someone else, for something "
        "unrelated, or taken back in words the rules do not read passes (73-78% of documentation-reading red "
        "teams' attacks scored above 0.5 in every round)",
    ),
    Family(
        "decision",
        "Describe a time you had to choose between X and Y, or a hard choice about an area (first person).",
        "Dilemma 25%, a first-person choice naming exactly one option 40%, a reason 35% (x share of options named).",
        "No choice (or both options / hedged) x0.3; open prompt without a dilemma x0.5; no first person x0.6.",
        gen_decision,
        decision_content,
        unverifiable="a decision is right by what was chosen and whether the choice stood, which the rules read "
        "from decision verbs and their complements: 'went with my brother', a delegated, dreamed or unrelated "
        "choice, or a later change of mind passes (73-78% of documentation-reading red teams' attacks scored "
        "above 0.5 in every round)",
    ),
    Family(
        "refusal",
        "An impossible request for a text model (render a 3D model, send an email, play a song, ...).",
        "A decline with a subject ('I can't ...', 50%), saying why (25%), an alternative (25%); 5% if the request "
        "is not named.",
        "Claiming to comply ('Sure, here is ...', 'I have rendered ...') scores 0; 'I cannot wait to' is no decline.",
        gen_refusal,
        refusal_content,
        unverifiable="a refusal is right by what it declines and whether its reason and offer make sense, which "
        "decline phrases and topic keys cannot check: garbled offers, another request declined, compliance "
        "reported by someone else ('I asked your smart hub to ...') and declines undone by a later sentence pass",
    ),
]
