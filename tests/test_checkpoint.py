"""Policy checkpoints from another model, another tokenizer, damaged or swapped files: refused in one
line (naming the file and the fix) before anything large is allocated, never unpickled."""

import json
import time

import pytest
import torch
from safetensors.torch import save_file

from conftest import one_line, pickled_payload, small_config
from rlhf_core.checkpoint import load_policy, save_checkpoint
from rlhf_core.errors import RlhfError
from rlhf_core.model import GPT
from rlhf_core.tokenizer import load_tokenizer, save_tokenizer, train_bpe


def test_checkpoint_from_another_model_size(tok, tmp_path):
    cfg = small_config(tok)
    save_checkpoint(tmp_path / "a", GPT(cfg), cfg, tok, kind="policy")
    wide = small_config(tok, d=64)
    save_checkpoint(tmp_path / "b", GPT(wide), wide, tok, kind="policy")
    # weights of the wide model under the narrow model's config
    (tmp_path / "a" / "model.safetensors").write_bytes((tmp_path / "b" / "model.safetensors").read_bytes())
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "do not fit this model" in one_line(e) and "another model size" in str(e.value)
    deep = small_config(tok, layers=2)
    save_checkpoint(tmp_path / "c", GPT(deep), deep, tok, kind="policy")
    (tmp_path / "a" / "model.safetensors").write_bytes((tmp_path / "c" / "model.safetensors").read_bytes())
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "do not fit this model" in one_line(e)


def test_checkpoint_from_another_tokenizer(tok, tmp_path):
    cfg = small_config(tok)
    save_checkpoint(tmp_path / "a", GPT(cfg), cfg, tok, kind="policy")
    other_dir = tmp_path / "other-tok"
    save_tokenizer(train_bpe(["completely different text " * 50, "more words here"], vocab_size=300), other_dir)
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", load_tokenizer(other_dir))
    assert "different tokenizer" in one_line(e)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "header"])
def test_corrupted_safetensors(tok, tmp_path, damage):
    cfg = small_config(tok)
    save_checkpoint(tmp_path / "a", GPT(cfg), cfg, tok, kind="policy")
    weights = tmp_path / "a" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(
        {
            "truncate": data[: len(data) // 2],
            "garbage": b"\x00\x01garbage" * 100,
            "empty": b"",
            "header": (10**12).to_bytes(8, "little") + data[8:],
        }[damage]
    )
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert str(weights) in one_line(e) and "rerun the stage that writes them" in str(e.value)


def test_wrong_dtype_tensors_and_bad_config(tok, tmp_path):
    cfg = small_config(tok)
    model = GPT(cfg)
    save_checkpoint(tmp_path / "a", model, cfg, tok, kind="policy")
    ints = {k: torch.zeros(v.shape, dtype=torch.int64) for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(ints, str(tmp_path / "a" / "model.safetensors"))
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "model.safetensors" in one_line(e)
    (tmp_path / "a" / "config.json").write_text("{not json")
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "is not valid JSON" in one_line(e)


@pytest.mark.parametrize("content", ["[]", '"a checkpoint"', "null", "3", "[" * 100_000])
def test_config_json_that_is_not_an_object(tok, tmp_path, content):
    cfg = small_config(tok)
    save_checkpoint(tmp_path / "a", GPT(cfg), cfg, tok, kind="policy")
    (tmp_path / "a" / "config.json").write_text(content)
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "checkpoint config" in one_line(e) and "rerun the stage that wrote it" in str(e.value)


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"n_head": 0}, "n_head = '0', expected an integer in [1, 64]"),
        ({"d_model": 10**6}, "d_model = '1000000', expected an integer in [2, 8192]"),
        ({"block_size": 10**9}, "block_size = '1000000000', expected an integer in [1, 16384]"),
        ({"n_layer": True}, "n_layer = 'True', expected an integer"),
        ({"n_layer": "2"}, "n_layer = '2', expected an integer"),
        ({"rope_theta": -1.0}, "rope_theta = '-1.0' is out of range"),
        ({"d_model": 30}, "head dim d_model/n_head = 15 must be even"),
        ({"bogus": 1}, "unknown key 'bogus'"),
    ],
)
def test_config_json_with_impossible_sizes(tok, tmp_path, change, fragment):
    """Checked before any allocation: a config claiming a 10^9-token block or a million-wide model
    must not cost gigabytes (or a ZeroDivisionError) before the weights are even looked at."""
    cfg = small_config(tok)
    save_checkpoint(tmp_path / "a", GPT(cfg), cfg, tok, kind="policy")
    conf = json.loads((tmp_path / "a" / "config.json").read_text())
    conf["model"].update(change)
    (tmp_path / "a" / "config.json").write_text(json.dumps(conf))
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "has an invalid model config (" in one_line(e) and fragment in str(e.value)


def test_config_claiming_a_huge_model_is_refused_before_allocating(tok, tmp_path):
    """64 layers x 8192 wide is within the params' ranges (about 50 billion parameters, 200 GB): the
    config's width and depth are compared with the file's header first, so this fails at once."""
    cfg = small_config(tok)
    save_checkpoint(tmp_path / "a", GPT(cfg), cfg, tok, kind="policy")
    conf = json.loads((tmp_path / "a" / "config.json").read_text())
    conf["model"].update(n_layer=64, d_model=8192, n_head=64)
    (tmp_path / "a" / "config.json").write_text(json.dumps(conf))
    t = time.perf_counter()
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "(the file holds 1 blocks and a [400, 32] embedding, the config 64 blocks and [400, 8192])" in one_line(e)
    assert time.perf_counter() - t < 5


def test_safetensors_with_missing_or_unknown_tensors(tok, tmp_path):
    cfg = small_config(tok)
    model = GPT(cfg)
    save_checkpoint(tmp_path / "a", model, cfg, tok, kind="policy")
    weights = {k: v.clone() for k, v in model.state_dict().items() if k != "wte.weight"}
    without_mlp = {k: v for k, v in weights.items() if not k.startswith("blocks.0.mlp")}
    save_file(without_mlp, str(tmp_path / "a" / "model.safetensors"))
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "do not fit this model (missing ['blocks.0.mlp.down.weight'" in one_line(e)
    save_file({**weights, "extra.weight": torch.zeros(2)}, str(tmp_path / "a" / "model.safetensors"))
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "unexpected ['extra.weight']" in one_line(e)
    save_file({**weights, "norm_f.weight": torch.zeros(3, 3)}, str(tmp_path / "a" / "model.safetensors"))
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "('norm_f.weight' is [3, 3] in the file, [32] in the model)" in one_line(e)
    save_file({k: v for k, v in weights.items() if k != "lm_head.weight"}, str(tmp_path / "a" / "model.safetensors"))
    with pytest.raises(RlhfError) as e:  # no embedding: refused before the config's model is allocated
        load_policy(tmp_path / "a", tok)
    assert "(no 'lm_head.weight' or 'wte.weight' tensor)" in one_line(e)
    save_file({k: v.half() for k, v in weights.items()}, str(tmp_path / "a" / "model.safetensors"))
    assert load_policy(tmp_path / "a", tok).lm_head.weight.dtype == torch.float32  # fp16 weights are fine


@pytest.mark.parametrize("where", ["model.safetensors", "config.json"])
def test_pickled_checkpoint_files_are_never_unpickled(tok, tmp_path, where):
    """A pickle swapped in for a checkpoint file is refused in one line, never executed."""
    marker = tmp_path / "MARKER"
    cfg = small_config(tok)
    save_checkpoint(tmp_path / "ckpt", GPT(cfg), cfg, tok, kind="policy")
    (tmp_path / "ckpt" / where).write_bytes(pickled_payload(marker))
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "ckpt", tok)
    one_line(e)
    assert not marker.exists()
