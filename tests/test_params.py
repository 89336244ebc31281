from pathlib import Path

import pytest
import yaml

from rlhf_core.errors import RlhfError
from rlhf_core.params import Params, build, deep_merge, load_params, resolve_phase

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


@pytest.mark.parametrize("text, fragment", [
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
])
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
