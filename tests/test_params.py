import copy
import time
from pathlib import Path

import pytest
import yaml

from conftest import one_line
from rlhf_core.errors import RlhfError
from rlhf_core.params import Params, build, deep_merge, load_params, load_raw, resolve_phase

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_repo_params_and_tiny_fixture_load():
    for path in (ROOT / "params.yaml", ROOT / "tests/fixtures/params-tiny.yaml"):
        p = load_params(path)
        assert isinstance(p, Params)
    assert load_params(ROOT / "params.yaml").model.d_model == 128


def test_defaults_match_the_study():
    p = Params()
    assert (p.model.n_layer, p.model.n_head, p.model.d_model, p.model.block_size) == (2, 2, 128, 256)
    assert p.tokenizer.vocab_size == 8000


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("tokenizer: {vocab_size: -1}", "tokenizer.vocab_size = -1 is not allowed: must be an integer >= 300"),
        ("tokenizer: {vocab_size: 2.5}", "tokenizer.vocab_size = 2.5"),
        ("tokenizer: {vocab_size: true}", "tokenizer.vocab_size = True"),
        ("sft: {lr: fast}", "sft.lr = 'fast' is not allowed: must be a number > 0"),
        ("sft: {lr: 0}", "sft.lr = 0.0 is not allowed"),
        ("sft: {bach_size: 3}", "unknown key sft.bach_size (allowed in sft: max_steps"),
        ("modle: {}", "unknown key modle"),
        ("device: gpu", "device = 'gpu' is not allowed: must be one of 'auto', 'cpu', 'cuda'"),
        ("model: {d_model: 130, n_head: 4}", "model.n_head = 4 is not allowed: must divide model.d_model (130)"),
        ("model: 3", "model must be a mapping"),
        ("data: {source: ''}", "data.source = ''"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, fragment):
    with pytest.raises(RlhfError) as e:
        load_params(write(tmp_path, text))
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_yaml_scientific_notation_without_dot_is_a_float(tmp_path):
    assert load_params(write(tmp_path, "sft: {lr: 1e-5}")).sft.lr == 1e-5


def test_integral_float_is_accepted_for_int(tmp_path):
    assert load_params(write(tmp_path, "data: {n_train: 5.0e4}")).data.n_train == 50000


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(RlhfError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    with pytest.raises(RlhfError, match=r"not valid YAML \(line \d+\)"):
        load_params(write(tmp_path, "sft:\n  lr: [1,\n"))


def test_phase_overrides_are_sparse_and_validated(tmp_path):
    path = write(tmp_path, "sft: {lr: 0.001}\nphases: {p1: {}, p5: {sft: {lr: 0.0005}}, bad: {sft: {lr: -1}}}")
    raw = yaml.safe_load(path.read_text())
    assert resolve_phase(raw, "p1").sft.lr == 0.001
    p5 = resolve_phase(raw, "p5")
    assert p5.sft.lr == 0.0005 and p5.sft.batch_size == Params().sft.batch_size
    with pytest.raises(RlhfError, match=r"\(phase bad\): sft.lr = -1"):
        load_params(path)
    with pytest.raises(RlhfError, match="unknown phase 'p9'"):
        resolve_phase(raw, "p9")


def test_deep_merge():
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"c": 5}}) == {"a": {"b": 1, "c": 5}, "d": 3}


def test_build_nested_default_when_section_missing():
    p = build(Params, {"seed": 3})
    assert p.seed == 3 and p.sft == Params().sft


# --- hostile values and files: one line each, nothing executed --------------------------------------

DEFAULT = load_raw(ROOT / "params.yaml")


def with_value(path: str, value):
    raw = copy.deepcopy(DEFAULT)
    *parents, leaf = path.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return raw


@pytest.mark.parametrize(
    "path, value, fragment",
    [
        ("sft.batch_size", True, "sft.batch_size = True is not allowed: must be an integer"),
        ("sft.batch_size", "many", "sft.batch_size = 'many' is not allowed"),
        ("sft.batch_size", [32], "sft.batch_size = [32] is not allowed"),
        ("sft.lr", None, "sft.lr = None is not allowed: must be a number > 0"),
        ("sft.lr", float("nan"), "sft.lr = nan is not allowed"),
        ("rm", [1, 2], "rm must be a mapping of keys to values"),
        ("tokenizer.vocab_size", -5, "tokenizer.vocab_size = -5 is not allowed: must be an integer >= 300"),
        ("sft.max_steps", 0, "sft.max_steps = 0 is not allowed: must be an integer >= 1"),
        ("ppo.mini_batch_size", -1, "ppo.mini_batch_size = -1 is not allowed"),
        ("grpo.group_size", 1, "grpo.group_size = 1 is not allowed: must be an integer >= 2"),
        ("dpo.beta", 0, "dpo.beta = 0.0 is not allowed: must be a number > 0"),
        ("grpo.gen_temperature", 0, "grpo.gen_temperature = 0.0 is not allowed: must be a number > 0"),
        ("ppo.temperature", -0.5, "ppo.temperature = -0.5 is not allowed"),
        ("dpo.rej_temperature", 0, "dpo.rej_temperature = 0.0 is not allowed"),
        ("rm.sample_temperature", 0, "rm.sample_temperature = 0.0 is not allowed"),
        ("eval.temperature", 0, "eval.temperature = 0.0 is not allowed"),
        ("model.block_size", 64, "must leave at least 16 prompt tokens in model.block_size (64)"),
        ("sft.bogus", 1, "unknown key sft.bogus (allowed in sft: max_steps"),
        ("bogus", 1, "unknown key bogus (allowed in params.yaml: seed"),
        ("phases.phase5", {"dpo": {"beta": 0}}, "params.yaml (phase phase5): dpo.beta = 0.0 is not allowed"),
        ("phases.phase5", {"grpo": {"typo": 2}}, "params.yaml (phase phase5): unknown key grpo.typo"),
        ("phases.phase5", {"phases": {}}, "phases.phase5 cannot override 'phases'"),
        ("phases.phase5", {"rl_seeds": [5]}, "phases.phase5 cannot override 'rl_seeds'"),
        ("rl_seeds", [], "rl_seeds = [] is not allowed: must name at least one seed"),
        ("rl_seeds", [0, 1, 0], "rl_seeds = [0, 1, 0] is not allowed: must not repeat a seed"),
        ("rl_seeds", 3, "rl_seeds = 3 is not allowed: must be a list of integers >= 0"),
        ("rl_seeds", "0,1", "rl_seeds = '0,1' is not allowed: must be a list of integers"),
        ("rl_seeds", [0, -1], "rl_seeds[1] = -1 is not allowed: must be an integer >= 0"),
        ("rl_seeds", [0, 1.5], "rl_seeds[1] = 1.5 is not allowed"),
        ("rl_seeds", [True], "rl_seeds[0] = True is not allowed"),
        ("rl_seeds", [0, {"a": 1}], "rl_seeds[1] = {'a': 1} is not allowed"),
        ("phases.phase5", [1], "phases.phase5 must be a mapping of overrides"),
        # wrong types: bool for a float, a number for a string, a string or list for a section / the phases
        ("sft.lr", True, "sft.lr = True is not allowed: must be a number > 0"),
        ("ppo.temperature", False, "ppo.temperature = False is not allowed"),
        ("data.source", 5, "data.source = 5 is not allowed: must be a string"),
        ("device", ["cpu"], "device = ['cpu'] is not allowed: must be one of 'auto', 'cpu', 'cuda'"),
        ("model", "big", "params.yaml: model must be a mapping of keys to values, got 'big'"),
        ("phases", [1], "params.yaml: phases must be a mapping, got [1]"),
        ("sft.batch_size", {"n": 1}, "sft.batch_size = {'n': 1} is not allowed: must be an integer"),
        ("sft.batch_size", 2.5, "sft.batch_size = 2.5 is not allowed: must be an integer"),
        # negative and zero sizes
        ("model.n_layer", -2, "model.n_layer = -2 is not allowed: must be an integer >= 1"),
        ("model.d_model", -128, "model.d_model = -128 is not allowed: must be an integer >= 8"),
        ("model.block_size", -1, "model.block_size = -1 is not allowed: must be an integer >= 16"),
        ("sft.batch_size", 0, "sft.batch_size = 0 is not allowed: must be an integer >= 1"),
        ("data.n_heldout", -16, "data.n_heldout = -16 is not allowed"),
        ("eval.samples_per_prompt", -1, "eval.samples_per_prompt = -1 is not allowed"),
        # integers beyond any use: refused with a short message, not an overflow or a 400-digit line
        (
            "data.n_train",
            10**30,
            "data.n_train = 1000000000000000000000000000000 is not allowed: must be an integer >= 16",
        ),
        ("sft.lr", 10**400, "sft.lr = <an integer of about 400 digits> is not allowed"),
        # every generation budget must fit the block the SFT policy has (prompt + response)
        (
            "rm.sample_max_new_tokens",
            250,
            "rm.sample_max_new_tokens = 250 is not allowed: must leave at least 16 prompt "
            "tokens in model.block_size (256)",
        ),
        ("sft.gold_max_new_tokens", 241, "sft.gold_max_new_tokens = 241 is not allowed"),
        ("eval.max_new_tokens", 300, "eval.max_new_tokens = 300 is not allowed"),
        # inside a phase override: an unknown section, a wrong type, a too-long budget
        ("phases.phase5", {"bogus": 1}, "params.yaml (phase phase5): unknown key bogus (allowed in params.yaml"),
        ("phases.phase5", {"ppo": {"temperature": "hot"}}, "(phase phase5): ppo.temperature = 'hot' is not allowed"),
        (
            "phases.phase5",
            {"eval": {"max_new_tokens": 250}},
            "(phase phase5): eval.max_new_tokens = 250 is not allowed",
        ),
        ("phases.phase5", {"grpo": {"group_size": 1}}, "(phase phase5): grpo.group_size = 1 is not allowed"),
        ("phases.phase5", {"ppo": [1]}, "(phase phase5): ppo must be a mapping of keys to values"),
        ("phases.bad name!", {}, "phase name bad name! is not allowed: use up to 40 letters, digits"),
    ],
)
def test_malformed_params_are_one_line(path, value, fragment):
    raw = with_value(path, value)
    with pytest.raises(RlhfError) as e:
        build(Params, raw)
        for phase in raw.get("phases") or {}:
            resolve_phase(raw, phase)
    assert fragment in one_line(e)


def test_non_string_yaml_keys_are_one_line():
    raw = copy.deepcopy(DEFAULT)
    raw["sft"][7] = 1
    with pytest.raises(RlhfError) as e:
        build(Params, raw)
    assert "unknown key sft.7" in one_line(e)


TEMPERATURES = {
    "rm.sample_temperature",
    "ppo.temperature",
    "grpo.gen_temperature",
    "dpo.rej_temperature",
    "eval.temperature",
}


@pytest.mark.parametrize("value", [0, -1, -1e-9, 0.0])
def test_every_temperature_knob_must_be_positive(value):
    """Found by name, so a temperature knob added later is checked too (sampling divides by it)."""
    found = {
        f"{section}.{name}"
        for section, knobs in DEFAULT.items()
        if isinstance(knobs, dict)
        for name in knobs
        if "temperature" in name
    }
    assert found == TEMPERATURES
    for key in sorted(found):
        with pytest.raises(RlhfError) as e:
            build(Params, with_value(key, value))
        assert f"{key} = {float(value)!r} is not allowed: must be a number > 0" in one_line(e)


def test_gold_budget_is_checked_only_when_gold_prompts_are_answered():
    raw = with_value("sft.gold_max_new_tokens", 250)
    raw["sft"]["gold_prompts"] = 0
    assert build(Params, raw).sft.gold_max_new_tokens == 250


def test_huge_values_give_a_short_line():
    for value in ("x" * 1_000_000, list(range(100_000)), {str(i): i for i in range(10_000)}):
        with pytest.raises(RlhfError) as e:
            build(Params, with_value("sft.lr", value))
        assert len(one_line(e)) < 250
    with pytest.raises(RlhfError) as e:
        build(Params, with_value("sft." + "k" * 10_000, 1))
    assert "unknown key sft.kkk" in one_line(e)


def test_resolve_phase_refuses_phases_that_are_not_a_mapping():
    for phases in (["phase1"], "phase1", 5):
        with pytest.raises(RlhfError) as e:
            resolve_phase({"phases": phases}, "phase1")
        assert "phases must be a mapping of phase names to overrides" in one_line(e)
    with pytest.raises(RlhfError) as e:
        resolve_phase([1, 2], "phase1")
    assert "must be a mapping of keys to values" in one_line(e)


# "billion laughs": nine levels of ten aliases, 10^9 leaves sharing one list
ALIAS_BOMB = (
    "sft: {lr: [&a [x, x, x, x, x, x, x, x, x, x], "
    + ", ".join(f"&{b} [{', '.join(['*' + a] * 10)}]" for a, b in zip("abcdefgh", "bcdefghi"))
    + "]}\n"
)


@pytest.mark.parametrize(
    "text, fragment",
    [
        (b"sft: {lr: 0.001}  # caf\xe9\n", "is not UTF-8 text; re-encode it as UTF-8"),
        (b"seed: " + b"1" * 5000 + b"\n", "holds a value that cannot be read (Exceeds the limit"),
        (b"seed: 2024-13-45\n", "holds a value that cannot be read (month must be in 1..12); fix that value"),
        (b"[" * 1_000, "is nested too deeply to be a params file"),
        (b"sft: {lr: [1,\n", "is not valid YAML (line 2); fix the syntax"),
        (b"seed: 2001-01-01\n", "seed = datetime.date(2001, 1, 1) is not allowed: must be an integer"),
        (b"- 1\n- 2\n", "params.yaml: params.yaml must be a mapping of keys to values, got [1, 2]"),
        (ALIAS_BOMB.encode(), "sft.lr = [['x', 'x', 'x', 'x', ...], [['x', 'x', 'x', 'x', ...], "),
    ],
)
def test_hostile_params_files_are_one_line(tmp_path, text, fragment):
    """A params file that is not text, not YAML, a YAML bomb (10^9 shared leaves) or YAML that
    Python cannot turn into values: one line, quickly."""
    path = tmp_path / "params.yaml"
    path.write_bytes(text)
    t = time.perf_counter()
    with pytest.raises(RlhfError) as e:
        load_params(path)
    assert fragment in one_line(e) and time.perf_counter() - t < 5


def test_yaml_python_tags_are_not_executed(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "params.yaml"
    path.write_text(f"seed: !!python/object/apply:builtins.open ['{marker}', 'w']\n")
    with pytest.raises(RlhfError) as e:
        load_params(path)
    assert "is not valid YAML" in one_line(e) and not marker.exists()
