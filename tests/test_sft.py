import math
import random

import pytest
import torch

from conftest import one_line
from rlhf_core.batching import bucketed_batches
from rlhf_core.errors import RlhfError
from rlhf_core.evaluate import require_fitting
from rlhf_core.model import GPT, GPTConfig
from rlhf_core.optim import lr_at, num_steps
from rlhf_core.params import SFTParams
from rlhf_core.sft import IGNORE, Example, collate, encode_examples, response_loss, sft_loss, train_sft


def test_response_only_loss_hand_computed():
    # position 0 is a prompt position; position 1 puts p=1/4 on the target, position 2 p=1/2
    logits = torch.tensor([[[5.0, -5.0], [0.0, math.log(3.0)], [0.0, 0.0]]])
    targets = torch.tensor([[IGNORE, 0, 1]])
    assert torch.isclose(sft_loss(logits, targets), torch.tensor((math.log(4) + math.log(2)) / 2))


def test_collate_masks_prompt_and_padding():
    inputs, targets = collate([Example([10, 11, 12, 13, 14], 3), Example([20, 21, 22], 2)], pad_id=0)
    assert inputs.tolist() == [[10, 11, 12, 13], [20, 21, 0, 0]]
    # targets[t] = ids[t+1] only where ids[t+1] is a response token
    assert targets.tolist() == [[IGNORE, IGNORE, 13, 14], [IGNORE, 22, IGNORE, IGNORE]]


def test_response_loss_equals_full_logits_loss():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, d_model=16))
    inputs, targets = collate([Example(list(range(1, 12)), 4), Example([3, 4, 5, 6, 7], 2)], pad_id=0)
    full = sft_loss(model(inputs), targets)
    assert torch.allclose(response_loss(model, inputs, targets), full, atol=1e-6)


class FakeTok:
    eos_id = 99

    def encode_batch(self, texts):
        return [[len(w) for w in t.split()] for t in texts]


def test_encode_examples_truncates_and_drops():
    rows = [
        {"instruction": "a b", "input": "", "output": "x y z"},
        {"instruction": " ".join(["w"] * 40), "input": "", "output": "x"},
        {"instruction": "a", "input": "", "output": " ".join(["y"] * 40)},
    ]
    examples, counts = encode_examples(FakeTok(), rows, block_size=24)
    assert counts == {"rows": 3, "dropped_prompt_too_long": 1, "truncated_response": 1}
    assert examples[0].ids[-1] == 99 and examples[0].ids[examples[0].n_prompt :] == [1, 1, 1, 99]
    assert len(examples[1].ids) == 24 and examples[1].ids[-1] != 99


def test_bucketed_batches_cover_every_row_once_and_reduce_padding():
    rng = random.Random(0)
    lengths = [rng.randint(5, 200) for _ in range(1000)]
    batches = bucketed_batches(lengths, 16, random.Random(1))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    waste = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)
    naive = [list(range(i, min(i + 16, 1000))) for i in range(0, 1000, 16)]
    naive_waste = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in naive)
    assert waste < 0.2 * naive_waste
    assert bucketed_batches(lengths, 16, random.Random(1)) == batches


def test_lr_schedule():
    kw = dict(lr=1.0, warmup=10, total=110, min_ratio=0.1)
    assert lr_at(0, **kw) == 0.1 and lr_at(9, **kw) == 1.0
    assert math.isclose(lr_at(10, **kw), 1.0)
    assert math.isclose(lr_at(60, **kw), 0.55)
    assert math.isclose(lr_at(110, **kw), 0.1)


def test_num_steps_respects_epochs():
    assert num_steps(100, SFTParams(max_steps=1000, epochs=2.0, batch_size=10)) == 20
    assert num_steps(100, SFTParams(max_steps=5, epochs=2.0, batch_size=10)) == 5


def run_tiny(seed):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=20, block_size=16, n_layer=1, n_head=2, d_model=16))
    rng = random.Random(0)
    data = [Example([1] + [rng.randint(2, 5) for _ in range(3)] + [7, 8, 9, 10, 11, 12, 19], 4) for _ in range(64)]
    logs = []
    p = SFTParams(max_steps=60, epochs=10.0, batch_size=8, lr=1e-2, warmup_steps=5, log_every=20, eval_every=1000)
    train_sft(
        model, data, p, pad_id=0, seed=seed, on_log=lambda s, m: logs.append(m["train/loss"]), on_eval=lambda s: {}
    )
    return model, logs


@pytest.mark.slow
def test_training_learns_and_is_deterministic():
    model, logs = run_tiny(0)
    assert logs[-1] < 0.5 * logs[0]
    model2, logs2 = run_tiny(0)
    assert logs == logs2
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model2.state_dict().values()))


def test_every_prompt_too_long_for_the_block_is_one_line(tok):
    from stages.sft import raise_no_rows

    long_rows = [{"instruction": "Explain " + "this very long thing " * 50, "input": "", "output": "x"}] * 5
    examples, counts = encode_examples(tok, long_rows, block_size=32)
    assert examples == [] and counts["dropped_prompt_too_long"] == 5
    with pytest.raises(RlhfError) as e:
        raise_no_rows(counts, 32)
    assert "no training row fits model.block_size 32 (5 prompts too long); raise model.block_size" == one_line(e)


def test_prompts_longer_than_the_block(tok):
    long_row = {"instruction": "Explain " + "this very long thing " * 200, "input": "", "output": "Short."}
    short_row = {"instruction": "Say hi.", "input": "", "output": "Hi."}
    examples, counts = encode_examples(tok, [long_row, short_row], block_size=64)
    assert counts["dropped_prompt_too_long"] == 1 and len(examples) == 1
    assert require_fitting(tok, [long_row, short_row], 64, 16, "ppo.resp_len") == [short_row]
    with pytest.raises(RlhfError) as e:
        require_fitting(tok, [long_row], 64, 16, "ppo.resp_len")
    assert "no prompt of 1 leaves room for ppo.resp_len = 16 new tokens" in one_line(e)
