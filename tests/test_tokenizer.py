import pytest

from conftest import one_line, pickled_payload
from rlhf_core.errors import RlhfError
from rlhf_core.tokenizer import EOS, PAD, format_prompt, load_tokenizer, save_tokenizer, train_bpe, training_texts

ROWS = [
    {"instruction": "What is the capital of France?", "input": "", "output": "The capital of France is Paris."},
    {"instruction": "Classify the following.", "input": "Oak tree, copper ore", "output": "Oak tree is a plant."},
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "1. Eat well. 2. Sleep. 3. Move."},
    {"instruction": "Sort these numbers.", "input": "3, 1, 2", "output": "1, 2, 3 — done! Ünïcödé ✓"},
]


def tiny(tmp_path):
    tok = train_bpe(training_texts(ROWS * 5), vocab_size=300, min_frequency=1)
    save_tokenizer(tok, tmp_path)
    return load_tokenizer(tmp_path)


def test_round_trip_including_unicode(tmp_path):
    tok = tiny(tmp_path)
    for text in [r["output"] for r in ROWS] + ["never seen: 日本語 \t spaces  \n"]:
        assert tok.decode(tok.encode(text)) == text


def test_special_tokens_and_fingerprint(tmp_path):
    tok = tiny(tmp_path)
    assert tok.eos_id == tok.tok.token_to_id(EOS) and tok.pad_id == tok.tok.token_to_id(PAD)
    assert tok.eos_id != tok.pad_id
    assert tok.decode(tok.encode("Paris") + [tok.eos_id, tok.pad_id]) == "Paris"
    assert load_tokenizer(tmp_path / "tokenizer.json").fingerprint == tok.fingerprint


def test_training_is_deterministic(tmp_path):
    a, b = tiny(tmp_path / "a"), tiny(tmp_path / "b")
    assert a.fingerprint == b.fingerprint


def test_prompt_template():
    assert format_prompt("Do it.", "") == "### Instruction:\nDo it.\n\n### Response:\n"
    assert format_prompt(" Do it. ", " x ") == "### Instruction:\nDo it.\n\n### Input:\nx\n\n### Response:\n"


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "is unreadable ("),
        (b"{not json", "is unreadable ("),
        (b"\xff\xfe{\x00}\x00", "is not UTF-8 text (not a tokenizer.json); rerun `rlhf bpe`"),
        (
            b'{"version": "1.0", "model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}}',
            "lacks the special tokens",
        ),
    ],
)
def test_hostile_tokenizer_files(tmp_path, content, fragment):
    (tmp_path / "tokenizer.json").write_bytes(content)
    with pytest.raises(RlhfError) as e:
        load_tokenizer(tmp_path)
    assert fragment in one_line(e) and "rerun `rlhf bpe`" in str(e.value)


def test_a_pickled_tokenizer_is_never_unpickled(tmp_path):
    """A pickle swapped in for tokenizer.json is refused in one line, never executed."""
    marker = tmp_path / "MARKER"
    (tmp_path / "tokenizer.json").write_bytes(pickled_payload(marker))
    with pytest.raises(RlhfError) as e:
        load_tokenizer(tmp_path)
    one_line(e)
    assert not marker.exists()
