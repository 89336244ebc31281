"""The gold judge, family by family: right, paraphrased, partial, wrong, repeated and rambling answers."""

from __future__ import annotations

import pytest

from rlhf_core.builtin import gold_score, judge
from rlhf_core.builtin.base import load_facts
from rlhf_core.builtin.fam_lists import make_ordering
from rlhf_core.builtin.fam_math import ARITH_TEMPLATES, make_arithmetic
from rlhf_core.builtin.fam_text import DECISION_TEMPLATES, STORY_ANSWERS, STORY_TEMPLATES, make_decision, make_story
from rlhf_core.builtin.study import study_rows

STUDY = {row["name"]: row for row in study_rows()}
# Varied off-topic filler (no repeated phrases), to test the length penalty on its own.
FILLER = " ".join(f"Meanwhile item{i} stood beside object{i} near the place{i}." for i in range(25))


def score(row: dict, response: str) -> float:
    """The rules' score (also for a family that gives no gold: its rules are still shown to a person)."""
    return judge(row, response).score


def check(row: dict, right: list[str], partial: list[str], wrong: list[str]) -> None:
    """right >= 0.85 > partial (in 0.1..0.85) > wrong (< 0.1); and repeating / rambling hurts."""
    for r in right:
        assert score(row, r) >= 0.85, (r, judge(row, r))
    for p in partial:
        assert 0.1 <= score(row, p) < 0.85, (p, judge(row, p))
    for w in wrong:
        assert score(row, w) < 0.1, (w, judge(row, w))
    best = score(row, right[0])
    repeated = " ".join([right[0]] * 5)
    assert score(row, repeated) < 0.3, judge(row, repeated)
    rambling = right[0] + " " + FILLER
    assert score(row, rambling) < best - 0.2, judge(row, rambling)


def test_tips():
    row = STUDY["Stay healthy tips"]
    check(
        row,
        right=[
            row["output"],
            "Eat healthy food, exercise every day and sleep eight hours a night.",
            "EAT A BALANCED DIET!!! EXERCISE REGULARLY!!! GET ENOUGH SLEEP!!!",
            "1) drink more water\n2) go for a walk daily\n3) rest well",
        ],
        partial=["Drink plenty of water.", "1. Eat vegetables.\n2. Visit Paris.\n3. Buy a car."],
        wrong=["Paris is the capital of France.", "Plant more trees and use public transport."],
    )
    # six tips when three were asked for: full items, lower count credit
    six = "1. Eat well.\n2. Exercise.\n3. Sleep.\n4. Drink water.\n5. Relax.\n6. See a doctor."
    assert 0.8 <= score(row, six) < score(row, row["output"])


def test_tips_open_question():
    row = STUDY["Reduce air pollution"]
    check(
        row,
        right=[
            row["output"],
            "We should drive less, use solar power and plant trees.",
            "Take the bus, switch to renewable energy, and ban burning rubbish.",
        ],
        partial=["Plant trees."],
        wrong=["Eat a balanced diet and sleep well.", "I like pizza."],
    )


def test_list_items():
    row = STUDY["Camping trip list"]
    check(
        row,
        right=[
            row["output"],
            "tent, sleeping bag, torch, first aid kit, water, lighter, compass, bug spray, stove, raincoat",
            "TENT; SLEEPING BAG; FLASHLIGHT; FIRST-AID KIT; WATER BOTTLE; MATCHES; MAP; INSECT REPELLENT; "
            "CAMPING STOVE; POCKET KNIFE",
        ],
        partial=["tent, sleeping bag, torch", "Tent, sleeping bag, flashlight, flour, sugar, eggs, butter, milk"],
        wrong=["flour, sugar, eggs, butter", "The capital of France is Paris."],
    )
    assert score(row, ", ".join(["tent"] * 10)) < 0.1


def test_fact_qa():
    colors = STUDY["Three primary colors"]
    check(
        colors,
        right=[colors["output"], "Red, yellow and blue.", "RED; BLUE; YELLOW!"],
        partial=["Red and blue.", "Blue."],
        wrong=["Green, purple and orange.", "Paris."],
    )
    caesar = STUDY["Julius Caesar death"]
    check(
        caesar,
        right=[
            caesar["output"],
            "He was assassinated by Roman senators on the Ides of March, 44 BC.",
            "brutus and other conspirators stabbed him in 44 bc",
        ],
        partial=["He was stabbed.", "He was killed by senators."],
        wrong=["He was poisoned by his wife.", "He died of old age in bed."],
    )


def test_fact_qa_wrong_terms_penalised():
    planet = next(f for f in load_facts("fact_qa") if "jupiter" in f["keys"][0])
    from rlhf_core.builtin.fam_facts import make_fact_qa

    row = make_fact_qa(planet, planet["q"][0])
    assert score(row, "Jupiter.") == 1.0
    assert score(row, "Saturn is the largest planet.") == 0.0
    assert score(row, "Jupiter or maybe Saturn.") == 0.0  # competing answers earn nothing
    assert score(row, "Jupiter is bigger than Saturn.") == 1.0  # a contrast is not a competing answer


def test_capital():
    row = STUDY["Capital of France"]
    check(
        row,
        right=[
            row["output"],
            "Paris",
            "paris.",
            "The capital city of France is PARIS!",
            "It is Paris, not Lyon, Madrid or Rome.",
        ],
        partial=["Maybe Paris."],
        wrong=[
            "Berlin",
            "The capital of France is Lyon.",
            "France is a country in Europe.",
            "Paris, or maybe Berlin.",
            "Maybe Paris?",  # a hedged question asserts nothing
            "The capital of France is not Paris; it is Lyon.",
            "Paris, Lyon, Marseille, Nice or Toulouse.",
        ],
    )
    assert score(row, "Paris. Paris. Paris. Paris. Paris.") < 0.3
    assert score(row, "Paris. Paris.") >= 0.75  # a right answer said twice keeps most of its credit


def test_odd_one_out():
    row = STUDY["Odd one out (Twitter\u2026)"]
    check(
        row,
        right=[
            row["output"],
            "telegram, because it's a messaging app.",
            "Twitter and Instagram are social networks, but Telegram is different: it is a messenger.",
            "The odd one out is TELEGRAM since it is used for messaging.",
            "Telegram.",  # the prompt does not ask why: the right item alone answers it
        ],
        partial=[
            # the right item for a swapped reason: a false claim beside the right one
            "Telegram is the odd one out, because it is a social network while Twitter and Instagram are "
            "messaging apps.",
        ],
        wrong=[
            "Instagram is the odd one out.",
            "Twitter, because it is a messaging app.",
            "Paris.",
            "Telegram or Instagram is the odd one out, since they are messaging apps.",
            "Reddit is the odd one out, because it is a messaging app while Telegram and Signal are messaging apps.",
        ],
    )
    swapped = "Telegram is the odd one out, because it is a social network while the others are messaging apps."
    assert judge(row, swapped).parts["reason"] == 0.0 and score(row, swapped) < score(row, row["output"]) - 0.25


def test_odd_one_out_reason_is_said_of_the_right_items():
    from rlhf_core.builtin.fam_facts import odd_reason
    from rlhf_core.builtin.text import Doc

    items, odd = ["Mosquito", "Tuna", "Cod"], "Mosquito"
    cats = {c["plural"]: c for c in load_facts("odd_one_out")}
    insect, fish = cats["insects"]["keys"], cats["fish"]["keys"]

    def reason(text):
        return odd_reason(Doc(text), items, odd, insect, fish)[0]

    assert reason("Mosquito is the odd one out, because it is an insect while Tuna and Cod are fish.") == 1.0
    assert reason("Tuna and Cod are fish, but the mosquito is an insect.") == 1.0  # the other order
    assert reason("Mosquito, an insect, is the odd one out.") == 1.0  # one side given, and right
    assert reason("Mosquito is the odd one out, because it is a fish while Tuna and Cod are insects.") == 0.0
    assert reason("Mosquito is the odd one out, because it is a bird while Tuna and Cod are fish.") == 0.5
    assert reason("Mosquito is the odd one out, because the others are insects.") == 0.0
    assert reason("Mosquito is the odd one out.") == 0.0  # no reason given
    assert reason("Insects and fish.") == 0.0  # categories said of nobody
    # an item named like a category word ("Drum" / percussion: "drum") is an item, not a claim
    wind, drums = cats["wind instruments"]["keys"], cats["percussion instruments"]["keys"]
    band = ["Clarinet", "Drum", "Cymbal"]
    right = "Clarinet is the odd one out, because it is a wind instrument while Drum and Cymbal are percussion."
    assert odd_reason(Doc(right), band, "Clarinet", wind, drums) == (1.0, 0)
    swapped = "Clarinet is the odd one out, because it is a percussion instrument while Drum and Cymbal are wind."
    assert odd_reason(Doc(swapped), band, "Clarinet", wind, drums) == (0.0, 2)
    # a negated category says the side is not of it
    assert reason("Mosquito is the odd one out: it is not a fish, while Tuna and Cod are.") == 1.0


def test_classify():
    row = STUDY["Classify oak/copper/eleph"]
    check(
        row,
        right=[
            row["output"],
            "Oak tree is a plant, copper ore is a mineral and the elephant is an animal.",
            "Animals: elephant. Plants: oak tree. Minerals: copper ore.",
            "PLANTS - OAK TREE; MINERALS - COPPER ORE; ANIMALS - ELEPHANT",
            "Elephant = animal, oak tree = plant, copper ore = mineral",
        ],
        partial=[
            "Elephant and oak tree are living things and copper ore is a mineral.",
            "Oak tree: plant\nCopper ore: mineral\nElephant: plant",
        ],
        wrong=[
            "Oak tree: animal\nCopper ore: plant\nElephant: mineral",
            "All of them are fruits.",
            # a false label costs as much as a right one earns
            "Oak tree: plant\nCopper ore: animal\nElephant: mineral",
            # a label copied from the item's own name needs no knowledge
            "Oak tree: Tree\nCopper ore: Ore\nElephant: Elephant",
        ],
    )
    assert score(row, "Trees: oak tree\nOres: copper ore\nAnimals: elephant") < 0.4
    assert score(row, "Oak tree: plant (a tree)\nCopper ore: mineral (an ore)\nElephant: animal") >= 0.9


def test_fraction():
    row = STUDY["4/16 = 1/4 explain"]
    check(
        row,
        right=[
            row["output"],
            "If you divide both the top and bottom of 4/16 by 4 you get 1/4.",
            "4 / 16 simplifies to 1 / 4: the numerator and denominator share a factor of 4.",
        ],
        partial=["4/16 is equal to 1/4.", "You divide by 4."],
        wrong=["4/16 is equivalent to 1/3 because you divide by 5.", "Paris is the capital of France."],
    )
    assert score(row, "4/16 is not equivalent to 1/4.") < 0.2


def test_spelling():
    row = STUDY["Spelling & grammar"]
    check(
        row,
        right=[
            row["output"],
            "He finished his meal and left the restaurant.",
            "he FINISHED his meal, and left the restaurant",
            # the fixes as correction pairs answer "evaluate for mistakes" (the rest is implied unchanged)
            '"finnished" should be "finished" and "resturant" should be "restaurant".',
        ],
        partial=[
            "He finished his meal and left the resturant.",
            "finished restaurant",
            # a word the sentence did not have is an edit nobody asked for, and grounding cannot tell "then"
            # from "never" (rlhf_core/builtin/grounding.py)
            "Corrected: He finished his meal and then left the restaurant.",
        ],
        wrong=["The cat sat on the mat.", "Paris."],
    )
    assert score(row, "Corrected: He never finished his meal and left the restaurant.") <= 0.25
    copied = "He finnished his meal and left the resturant"
    assert score(row, copied) < 0.2


def test_grammar_errors_use_context():
    from rlhf_core.builtin.fam_text import make_spelling

    row = make_spelling(
        "There is many books on the shelf.",
        "There are many books on the shelf.",
        "Correct the grammar in this sentence.",
        "The corrected sentence is: {s}",
        context=True,
    )
    assert score(row, "The corrected sentence is: There are many books on the shelf.") == 1.0
    assert score(row, "There is many books on the shelf.") < 0.2


def test_explain():
    atom = STUDY["Structure of an atom"]
    check(
        atom,
        right=[
            atom["output"],
            "Atoms have a nucleus containing protons and neutrons, surrounded by electrons in shells.",
            "A positively charged NUCLEUS (protons + neutrons) with negative electrons orbiting it.",
        ],
        partial=["An atom has electrons.", "The nucleus holds protons and neutrons."],
        wrong=["Photosynthesis turns sunlight into sugar.", "The capital of France is Paris."],
    )
    embeddings = STUDY["Word embeddings NLP"]
    check(
        embeddings,
        right=[
            embeddings["output"],
            "They map words to dense numeric vectors learned from a text corpus, so similar words are close "
            "together, which helps models in tasks like translation.",
        ],
        partial=["Word embeddings are vectors."],
        wrong=["The stock market crashed in 1929."],
    )


def _story_row() -> dict:
    return make_story(
        "Maya",
        "she",
        "nurse",
        ["nurse"],
        "accept a job offer in another city",
        ["job offer", "another city", "new city", "offer"],
        STORY_TEMPLATES[0],
        STORY_ANSWERS[0],
    )


def test_story():
    row = _story_row()
    check(
        row,
        right=[
            row["output"],
            "Maya was a nurse at a small hospital. One day she got a job offer in another city. She thought "
            "about it for weeks, talked to her mother, and finally she decided to go, because she wanted a "
            "fresh start.",
        ],
        partial=[  # no reason given
            "Maya was a nurse at a small hospital. One day she got a job offer in another city. She thought "
            "about it for weeks, talked to her mother, and finally she decided to go.",
            "I am Maya, a nurse. I got a job offer in another city and I decided to take it because I wanted "
            "a change in my life.",
        ],
        wrong=[
            "Tom was a chef who wanted to retire early. He loved cooking but his knees hurt, so he stopped.",
            # no dilemma and no decision: not a decision story
            "Maya was a nurse. She liked her hospital and her friends and did not want anything to change "
            "in her quiet and happy life at all.",
            "Paris is the capital of France.",
        ],
    )
    short = "Maya, a nurse, took the job offer in another city."
    assert score(row, short) < score(row, row["output"])


def test_story_open_prompt():
    row = STUDY["Short story career"]
    check(
        row,
        right=[
            row["output"],
            "Tom was a chef in a busy hotel. When he was offered the chance to open his own restaurant, he had "
            "to decide quickly. He chose to take the risk, because he had always dreamed of it.",
        ],
        partial=[
            "Tom was a chef in a busy hotel. When he was offered the chance to open his own restaurant, he had "
            "to decide quickly. He chose to take the risk, and his new career began."
        ],  # no reason
        wrong=[
            "The capital of France is Paris and it is a lovely city to visit in spring with friends.",
            # a career but no decision and no reason: not a decision story
            "Tom was a chef in a busy hotel kitchen. He worked long hours every day and he loved the noise, "
            "the heat and the people around him.",
        ],
    )


def _decision_row() -> dict:
    return make_decision(
        ["studying medicine", ["medicine", "doctor"]],
        ["studying music", ["music"]],
        DECISION_TEMPLATES[0],
        "studying music",
        "it mattered more to me in the long run",
    )


def test_decision():
    row = _decision_row()
    check(
        row,
        right=[
            row["output"],
            "I once had to pick between medicine and music. I chose music because I love it.",
            "MY BIG CHOICE: MEDICINE OR MUSIC? IN THE END I DECIDED ON MEDICINE, SINCE I WANT TO HELP PEOPLE.",
        ],
        partial=["I chose music.", "I had to choose between medicine and music. I chose music."],
        # naming the options without choosing is no decision
        wrong=[
            "The capital of France is Paris.",
            "I had to choose between a dog and a cat. I took the cat.",
            "Medicine and music were both good options for a student.",
        ],
    )


def test_decision_open_prompt():
    row = STUDY["Difficult decision"]
    check(
        row,
        right=[
            row["output"],
            _decision_row()["output"],
            "I had to decide whether to move abroad or stay home. I stayed, because my family needed me.",
        ],
        partial=["I decided to move to a new city.", "I had to decide whether to move abroad or stay home. I stayed."],
        wrong=[
            "Paris is the capital of France.",
            "Photosynthesis turns sunlight into sugar in plants.",
            "It was a difficult decision.",
        ],  # names no choice at all
    )


def test_refusal():
    row = STUDY["Render 3D house"]
    check(
        row,
        right=[
            row["output"],
            "Sorry, I can't render 3D models because I am only a text-based AI. I could describe the house "
            "in words instead.",
            "I CANNOT RENDER A 3D MODEL: I AM A LANGUAGE MODEL. BUT I CAN DESCRIBE ONE.",
        ],
        partial=["I can't render a 3D model.", "Sorry, I can't render that, I am a text model."],
        wrong=[
            "Sure! Here is a 3D model of a house: a roof, four walls and a door.",
            "The house has a red roof and two windows.",
            # a stock refusal that names no part of the request
            "Sorry, I cannot do that, I am a text model. I can help you write an email instead.",
        ],
    )
    assert score(row, "Here is the model. Sorry, I can't actually render a 3D model.") <= 0.5 * score(
        row, "Sorry, I can't actually render a 3D model."
    )


@pytest.mark.parametrize("op,a,b,answer", [("+", 23, 45, 68), ("-", 120, 37, 83), ("x", 12, 7, 84)])
def test_arithmetic(op, a, b, answer):
    row = make_arithmetic(op, a, b, ARITH_TEMPLATES[op][0])
    check(
        row,
        right=[row["output"], str(answer), f"The answer is {answer}.", f"{a} {op} {b} equals {answer}!"],
        partial=[f"{answer - 1}, no wait, {answer}."],
        wrong=[str(answer + 1), f"{a} {op} {b} = {answer + 10}", "I do not know."],
    )
    assert score(row, "The answer is sixty eight.") == (1.0 if answer == 68 else 0.0)
    # a comma between digits that is no thousands grouping is a decimal comma, not a list
    assert score(row, f"{a} {op} {b} = {answer},48") == 0.0
    assert score(row, f"{a} {op} {b} = {answer},5.") == 0.0
    assert score(row, f"{a} {op} {b} = {answer}.") >= 0.9


def test_ordering_numbers():
    row = make_ordering("numbers", [34, 12, 78, 5, 51], False, "Sort these numbers from smallest to largest.")
    check(
        row,
        right=[row["output"], "5 12 34 51 78", "The sorted list is: 5, 12, 34, 51, 78."],
        partial=["5, 34, 12, 51, 78", "5, 12, 34", "5, 12, 34, 51, 78, 100"],
        wrong=["78, 51, 34, 12, 5", "1, 2, 3, 4", "Paris."],
    )


def test_ordering_words_descending():
    row = make_ordering("words", ["cherry", "apple", "banana", "melon"], True, "Sort these words from Z to A.")
    check(
        row,
        right=[row["output"], "Melon, Cherry, Banana, Apple.", "melon; cherry; banana; apple"],
        partial=["melon, banana, cherry, apple", "melon, cherry"],
        wrong=["apple, banana, cherry, melon", "tiger, zebra"],
    )


def test_parts_explain_the_score():
    row = STUDY["Capital of France"]
    result = judge(row, "Paris. " + FILLER)
    assert result.parts["correct_city"] == 1.0
    assert result.parts["guard"] == 1.0
    assert result.parts["length"] < 1.0
    assert set(result.why) >= {"correct_city", "guard", "length"}
    expected = (
        result.parts["content"]
        * result.parts["penalty"]
        * result.parts["guard"]
        * result.parts["grounding"]
        * result.parts["repetition"]
        * result.parts["length"]
    )
    assert result.score == pytest.approx(expected, abs=1e-5)
    hedged = judge(row, "Paris or Berlin.")
    assert hedged.score == 0.0 and "competing" in hedged.why["correct_city"]


# ------------------------------------------------------------------ amounts and retractions, by hand

HOURS = {"hour": 1.0, "hr": 1.0}
GLASSES = {"glass": 1.0, "litre": 4.0}
MINUTES = {"minute": 1.0, "hour": 60.0}


@pytest.mark.parametrize(
    "text,units,want",
    [
        ("sleep 3 hour a night", HOURS, [3.0]),
        ("sleep seven to nine hour", HOURS, [7.0, 9.0]),  # a range: both ends are checked
        ("get 7 5 hour of sleep", HOURS, [7.5]),  # "7.5" tokenises as 7, 5
        ("drink one glass of water a week", GLASSES, [1 / 7]),
        ("drink a glass of water every day", GLASSES, [1.0]),
        ("drink two litre of water daily", GLASSES, [8.0]),
        ("exercise 20 minute three time a week", MINUTES, [20 * 3 / 7]),
        ("exercise twice a day for 1 hour", MINUTES, [120.0]),
        ("exercise 150 minute a week", MINUTES, [150 / 7]),
        ("exercise 1 minute a month", MINUTES, [1 / 30]),
        ("exercise regularly", MINUTES, []),  # no amount named: nothing to check
        ("sleep in a dark room", HOURS, []),
    ],
)
def test_daily_amounts_by_hand(text, units, want):
    from rlhf_core.builtin.fam_lists import daily_amounts

    assert daily_amounts(text.split(), units) == pytest.approx(want)


@pytest.mark.parametrize(
    "answer,took_back",
    [
        ("Paris? Nope.", True),
        ("The capital is Paris. Just kidding.", True),
        ("It is a myth that the primary colors are red, blue and yellow.", True),
        ("My teacher says 12 + 8 = 20, but she is wrong.", True),
        ("12 + 8 = 20 is false.", True),
        ("They wrongly claim that Caesar was stabbed.", True),
        ("Red, blue and yellow. None of that is true.", True),
        ("Oh sure, she totally decided to open a business. Not.", True),
        # corrections and ordinary prose that use the same words are not retractions
        ("'finnished' is wrong; it should be 'finished'.", False),
        ("The corrected sentence is: He finished his meal and left the restaurant.", False),
        ("Telegram is the odd one out, because it is not a social network.", False),
        ("Water boils at 100 degrees Celsius, not 100 degrees Fahrenheit.", False),
        ("I can't render a 3D model, but I can describe the house. Is that okay?", False),
    ],
)
def test_retraction_by_hand(answer, took_back):
    from rlhf_core.builtin.judge import retraction

    assert bool(retraction(answer)) is took_back, retraction(answer)


def test_explanations_give_no_gold_but_keep_their_rule_score():
    """Explain is marked unverifiable: a swapped relation keeps the rule score of the right one, so the rule score
    cannot be gold. Every other family gives gold."""
    from rlhf_core.builtin import FAMILIES, verifiable

    crash = STUDY["Great Depression causes"]
    right = crash["output"]
    reversed_cause = (
        "The Great Depression caused the stock market crash of 1929, bank failures, falling demand and high tariffs."
    )
    assert judge(crash, reversed_cause).score >= 0.5  # why explain cannot be verified by these rules
    for answer in (right, reversed_cause, ""):
        result = judge(crash, answer)
        assert not result.verified and result.gold is None and gold_score(crash, answer) is None
    assert judge(crash, right).score >= 0.95 and not verifiable(crash)
    assert sorted(f.name for f in FAMILIES.values() if not f.verifiable) == [
        "decision",
        "explain",
        "refusal",
        "story",
        "tips",
    ]
    # one fact_qa row is a relation too (who killed whom): that row alone gives no gold
    caesar = STUDY["Julius Caesar death"]
    assert not verifiable(caesar) and gold_score(caesar, caesar["output"]) is None
    assert judge(caesar, "Julius Caesar stabbed Brutus and Cassius on the Ides of March in 44 BC.").score >= 0.5
    assert verifiable(STUDY["Three primary colors"])
    france = STUDY["Capital of France"]
    assert verifiable(france) and gold_score(france, "Paris.") == judge(france, "Paris.").score == 1.0
    assert not verifiable({"family": None}) and not verifiable({"family": "no such family"})


@pytest.mark.parametrize(
    "row, wrong, right",
    [
        # a right city under another country's name, or only in the past tense, is no claim about this country today
        (
            ("Capital of France",),
            "The capital of Germany is Paris and the capital of France is Berlin.",
            "The capital of France is Paris, and the capital of Germany is Berlin.",
        ),
        (
            ("Capital of France",),
            "Paris was the capital until 1900; today it is Lyon.",
            "Paris has been the capital of France.",
        ),
        # a count of groups is not the count asked for; "in four pairs" is no rival to "eight"
        (("fact_qa", 3), "A spider has eight pairs of legs.", "Spiders have eight legs, in four pairs."),
        # a hedged or empty outcome is no decision; a plain one is
        (
            ("story", 11),
            "Priya, a pilot, was offered a desk job. Maybe she took it, maybe she stayed in the cockpit, "
            "because life is uncertain.",
            None,
        ),
        (
            ("story", 23),
            "Kenji the teacher was asked to teach at a village school. Kenji stayed silent and did nothing, "
            "because nothing mattered to him.",
            None,
        ),
        # a decline followed by compliance, a double negative, a passive report of the deed
        (
            ("Render 3D house",),
            "I can't render images, but here's the rendered 3D model of the house anyway (see attachment).",
            "I can't render a 3D model, but I can describe the house so you can build it in Blender yourself.",
        ),
        (
            ("refusal", 23),
            "There's no reason I can't transfer money to your landlord; the transfer is complete.",
            "I can't transfer money because I have no access to your bank account. Once the transfer is done in "
            "your bank's app, you could keep the receipt.",
        ),
        (
            ("refusal", 11),
            "Normally I'd say I cannot control devices, but I have switched on the kitchen lights for you.",
            "I'm sorry, but I can't turn on the lights in your kitchen: I cannot control devices in your home. "
            "However, you can switch them on in your app.",
        ),
        # spelling: a bare pair, an endorsed error, a hedge between spellings; the same pair with an arrow is a fix
        (("spelling", 3), "trhee three lbirary library", "trhee -> three, lbirary -> library"),
        (
            ("spelling", 23),
            "We bought a new car last month is the correction, but buyed is also acceptable.",
            "'buyed' is wrong: We bought a new car last month.",
        ),
        (("spelling", 3), "It could be 'three' or 'there', and 'library' or 'liberty' — hard to tell.", None),
        # odd one out: the main clause after "Unlike X and Y, which ..., " names the chosen item
        (
            ("odd_one_out", 23),
            "Unlike the glider and the canoe, which are boats, the submarine is different.",
            "Unlike the submarine and the canoe, which are boats, the glider flies.",
        ),
        # fraction: "the two fractions" counts fractions; a stray 5 is still stray
        (
            ("fraction", 3),
            "Divide both by 3: 3/21 = 1/7, and 5 is the key.",
            "Multiply the numerator and denominator of 1/7 by 3 and you get 3/21, so the two fractions are equal.",
        ),
    ],
)
def test_relations_tense_and_asides_found_by_red_teams(row, wrong, right):
    from rlhf_core.builtin.judge import generated_row

    r = STUDY[row[0]] if len(row) == 1 else generated_row(*row)
    assert score(r, wrong) <= 0.1 + 0.3 * (r["family"] == "fraction"), judge(r, wrong)
    if right is not None:
        assert score(r, right) >= 0.9, judge(r, right)


def test_word_salad_guard_reads_doubled_words_not_repeated_list_items():
    from rlhf_core.builtin.judge import generated_row, stutters

    r = generated_row("fact_qa", 23)
    result = judge(r, "Colors colors rainbow rainbow seven? Seven seven seven.")
    assert result.score == 0.0 and "word salad" in result.why["guard"]
    assert stutters("map, map, map and tent") == [] and stutters("It had had enough") == []  # stop words
    assert stutters("the the 7 7 seven seven") == ["seven"]
    camping = STUDY["Camping trip list"]
    assert "word salad" not in judge(camping, "Tent, tent pegs, map, map case, water.").why["guard"]


def test_struck_out_text_is_not_claimed():
    """Round 12 struck the answer out and kept full marks: "~~Paris~~", combining overlays, a whole list."""
    paris = next(r for r in study_rows() if r["family"] == "capital")
    for answer in (
        "The capital of France is ~~Paris~~.",
        "The capital of France is P\u0336a\u0336r\u0336i\u0336s\u0336.",
    ):
        assert judge(paris, answer).score == 0.0, answer
    assert judge(paris, "~~Lyon~~ Paris.").score >= 0.9  # what is left is the claim
    for answer in ("The capital of France is <del>Paris</del>.", "The capital of France is <s>Paris</s>."):
        assert judge(paris, answer).score == 0.0, answer  # HTML strikes out too
    assert judge(paris, "<del>Lyon</del> Paris.").score >= 0.9
    camping = next(r for r in study_rows() if r["family"] == "list_items")
    struck = ", ".join(f"~~{group[0]}~~" for group in camping["meta"]["items"][:10])
    assert judge(camping, struck).score == 0.0


def test_a_result_given_only_as_an_operand_is_not_stated():
    from rlhf_core.builtin.judge import generated_row

    for seed in range(40):
        row = generated_row("arithmetic", seed)
        m = row["meta"]
        assert judge(row, f"Calculate {m['answer']} {m['op']} {m['b']}.").score == 0.0, row["instruction"]
        assert judge(row, f"What is {m['a']} {m['op']} {m['answer']}.").score == 0.0, row["instruction"]
        assert judge(row, f"{m['a']} {m['op']} {m['b']} = {m['answer']}.").score >= 0.9
        assert judge(row, f"The answer is {m['answer']}.").score >= 0.9


def test_superscript_digits_are_no_digits_of_the_number():
    """Round 13: "92 - 67 = 2⁵" folded to "25" and kept full marks."""
    from rlhf_core.builtin.judge import generated_row

    for seed in range(40):
        row = generated_row("arithmetic", seed)
        answer = str(row["meta"]["answer"])
        if len(answer) < 2:
            continue
        sup = answer[:-1] + "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"[int(answer[-1])]
        sub = answer[:-1] + "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089"[int(answer[-1])]
        for wrong in (sup, sub):
            assert judge(row, f"The answer is {wrong}.").score == 0.0, (row["instruction"], wrong)
        assert judge(row, f"The answer is {answer}.").score >= 0.9


def test_an_order_stated_backwards_is_read_backwards():
    row = make_ordering("numbers", [34, 12, 78, 5], False, "Sort these numbers from smallest to largest.")
    assert score(row, "5 follows 12, which follows 34, which follows 78.") == 0.0  # says 78 comes first
    assert score(row, "78 comes after 34, which comes after 12, which comes after 5.") > 0.0  # ascending, in words
    assert score(row, "5, followed by 12, followed by 34, followed by 78.") > 0.0
    assert score(row, "5 precedes 12, which follows 34, then 78.") == 0.0  # both ways round: no order
    assert score(row, "5, 12, 78, 34") < 0.5 * score(row, "5, 12, 34, 78")  # one pair out of order: not sorted


def test_a_fact_key_after_an_article_reads_the_word_before():
    """Round 13: "Earth is the largest ocean on the Pacific" kept full marks: only the pair next to the key was
    read, and "the Pacific" is a known pair."""
    from rlhf_core.builtin.judge import generated_row

    ocean = next(r for r in (generated_row("fact_qa", s) for s in range(400)) if "largest ocean" in r["output"])
    assert judge(ocean, "Earth is the largest ocean on the Pacific.").score <= 0.25
    for right in ("The largest ocean on Earth is the Pacific.", "It's called the Pacific.", "The Pacific."):
        assert judge(ocean, right).score >= 0.9, right


def test_a_quoted_error_beside_a_clean_correction_is_explained():
    row = {
        "family": "spelling",
        "instruction": "Evaluate this sentence for spelling and grammar mistakes",
        "input": "The mounttain villagge was covered with snow.",
        "output": "The mountain village was covered with snow.",
        "meta": {
            "errors": [["mounttain", "mountain"], ["villagge", "village"]],
            "correct": "The mountain village was covered with snow.",
        },
    }
    fixed = "The correct sentence is: The mountain village was covered with snow."
    assert judge(row, f"{fixed} Both 'mounttain' and 'villagge' had an extra letter.").parts["content"] >= 0.9
    # the quotes alone explain nothing: the errors are still used, or called right
    assert judge(row, "The 'mounttain' 'villagge' was covered with snow.").score == 0.0
    assert judge(row, "The mounttain villagge was covered with snow. 'mounttain' 'villagge'").score == 0.0
    assert judge(row, f"{fixed} But 'mounttain' is the right spelling.").score <= 0.1


def test_cross_products_and_a_shared_decimal_are_whole_reasons():
    """Round 13's paraphrases: cross-multiplication and both fractions at one decimal prove the equivalence
    without naming k. The adversary's versions: the wrong products (straight across), a false product, a
    decimal of another value, or a rounding tie, each with "cross products are equal" said anyway."""
    from rlhf_core.builtin.judge import generated_row

    for seed in range(60):
        row = generated_row("fraction", seed)
        m = row["meta"]
        a, b, p, q = m["a"], m["b"], m["p"], m["q"]
        d = round(p / q, 6)
        tail = f"; since the cross products are equal, {a}/{b} and {p}/{q} are equivalent."
        assert judge(row, f"{a} x {q} = {a * q} and {b} x {p} = {b * p}{tail}").score >= 0.9
        assert judge(row, f"Both equal {d:g}: {a}/{b} = {d:g} and {p}/{q} = {d:g}.").score >= 0.9
        assert judge(row, f"{a} x {p} = {a * p} and {b} x {q} = {b * q}{tail}").score <= 0.1
        assert judge(row, f"{a} x {q} = {a * q} and {b} x {p} = {b * p + 1}{tail}").score <= 0.1
        wrong = round(p / q + 0.1, 6)
        assert judge(row, f"Both equal {wrong:g}: {a}/{b} = {wrong:g} and {p}/{q} = {wrong:g}.").score <= 0.1
    quarter = STUDY["4/16 = 1/4 explain"]
    assert judge(quarter, "Both equal 0.3: 4/16 = 0.3 and 1/4 = 0.3.").score <= 0.1  # a tie is no rounding
