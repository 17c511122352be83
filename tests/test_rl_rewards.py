"""The rewards of testtime.rl on small cases computed by hand, and the rollout helpers."""

import math

import pytest
import torch

from testtime.models import GPTConfig, TinyGPT, sequence_logprobs
from testtime.rl import (
    answer_entropy,
    completion_logprobs,
    elliptical_bonus,
    frequency_entropy_rewards,
    majority_vote,
    majority_vote_rewards,
    pooled_hidden,
    progress_rewards,
    region_consistency_rewards,
    reward_model_rewards,
    sample_rollout,
    success_probability,
    verifier_reward,
    vote_margin,
)


def test_verifier_reward():
    assert verifier_reward([3, None, 5], [3, 3, 4]).tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="same length"):
        verifier_reward([1], [1, 2])


def test_majority_vote_rewards_and_diagnostics():
    answers = [3, 3, 5, None, 7, 2, 2, 2]
    assert majority_vote(answers[:4]) == (3, 0.5)
    assert majority_vote([None, None]) == (None, 0.0)
    assert majority_vote([4, 6, 6, 4])[0] == 4  # a tie goes to the answer seen first
    rewards, info = majority_vote_rewards(answers, 4, targets=[5, 2])
    assert rewards.tolist() == [1, 1, 0, 0, 0, 1, 1, 1]
    # group 1: label 3 is wrong (target 5); group 2: label 2 is right
    assert info["label_acc"] == 0.5
    # true rewards: [0,0,1,0, 0,1,1,1]; pseudo-rewards agree on 5 of 8
    assert info["reward_acc"] == pytest.approx(5 / 8)
    assert majority_vote_rewards(answers, 4)[1] == {}  # no labels, no diagnostics
    with pytest.raises(ValueError, match="group_size"):
        majority_vote_rewards(answers, 3)


def test_vote_margin():
    assert vote_margin([1, 1, 1, 2]) == 0.5
    assert vote_margin([4, None, None, None]) == 0.25  # None counts in the denominator only
    assert vote_margin([None, None]) == 0.0
    assert vote_margin([2, 3, 2, 3]) == 0.0
    with pytest.raises(ValueError, match="answers"):
        vote_margin([])


def test_frequency_entropy_rewards():
    answers = [1, 1, 1, 2]
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert answer_entropy(answers) == pytest.approx(h)
    r = frequency_entropy_rewards(answers, 4, entropy_weight=0.5)
    torch.testing.assert_close(r, torch.tensor([0.75, 0.75, 0.75, 0.25]) - 0.5 * h)
    r0 = frequency_entropy_rewards([None, 4, 4, 4], 4, entropy_weight=0.0)
    assert r0.tolist() == [0.0, 0.75, 0.75, 0.75]
    # an all-agreeing group has zero entropy: frequency 1, no penalty
    assert frequency_entropy_rewards([9] * 4, 4).tolist() == [1.0] * 4


def test_reward_model_rewards():
    s = torch.tensor([0.9, 0.1, 0.5, 0.5])
    torch.testing.assert_close(reward_model_rewards(s, 2), torch.tensor([0.4, -0.4, 0.0, 0.0]))
    torch.testing.assert_close(reward_model_rewards(s, 2, baseline=False), s)


def test_region_consistency_rewards_by_hand():
    # a 4x4 grid on [0, 1]^2 (cell centres 0.125, 0.375, ...; boxes are widened by half a
    # cell); one group of three boxes
    boxes = torch.tensor([[0.0, 0.0, 0.45, 0.45],    # covers cells x,y in {0,1}: 4 cells
                          [0.3, 0.3, 0.45, 0.45],    # covers cell (1,1) only
                          [0.8, 0.8, 0.95, 0.95]])   # covers cell (3,3) only, alone
    r = region_consistency_rewards(boxes, 3, 0.0, 1.0, grid=4)
    # votes: cell (1,1) = 2 (the maximum), cells (0,0),(0,1),(1,0) = 1, cell (3,3) = 1
    torch.testing.assert_close(r, torch.tensor([(1 + 1 + 1 + 2) / (4 * 2), 2 / 2, 1 / 2]))
    # groups are independent: the last two boxes as a group of their own
    two = region_consistency_rewards(torch.cat([boxes[:2], boxes[1:]]), 2, 0.0, 1.0, grid=4)
    assert two.shape == (4,)
    torch.testing.assert_close(two[2:], torch.tensor([1.0, 1.0]))  # disjoint: each max 1


def test_region_consistency_rewards_brute_force_and_errors():
    g = torch.Generator().manual_seed(3)
    lo_corner = torch.rand(10, 2, generator=g) * 0.7
    boxes = torch.cat([lo_corner, lo_corner + 0.05 + 0.2 * torch.rand(10, 2, generator=g)], 1)
    r = region_consistency_rewards(boxes, 5, grid=20)
    centres = (torch.arange(20) + 0.5) / 20
    for i in range(10):
        group = boxes[(i // 5) * 5 : (i // 5) * 5 + 5]
        inside = [(x, y) for x in centres for y in centres
                  if boxes[i, 0] - 0.025 <= x < boxes[i, 2] + 0.025
                  and boxes[i, 1] - 0.025 <= y < boxes[i, 3] + 0.025]
        def vote(x, y, group=group):
            return sum(float(b[0] - 0.025 <= x < b[2] + 0.025 and b[1] - 0.025 <= y < b[3] + 0.025)
                       for b in group)
        top = max(vote(x, y) for x in centres for y in centres)
        votes = [vote(x, y) for x, y in inside]
        assert abs(float(r[i]) - sum(votes) / (len(votes) * top)) < 1e-5
    with pytest.raises(ValueError, match="group_size"):
        region_consistency_rewards(boxes, 3)
    with pytest.raises(ValueError, match="boxes"):
        region_consistency_rewards(boxes[:, :2], 5)


def test_progress_rewards_telescope():
    v = torch.tensor([[0.2, 0.5, 0.4, 1.0]])
    r = progress_rewards(v)
    torch.testing.assert_close(r, torch.tensor([[0.3, -0.1, 0.6]]))
    assert float(r.sum()) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="values"):
        progress_rewards(torch.zeros(3))


def test_elliptical_bonus_by_hand():
    # two orthogonal unit vectors: each is outside the other's span, b = sqrt(1/ridge)
    f = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    torch.testing.assert_close(elliptical_bonus(f, 2, ridge=1.0), torch.ones(2))
    # duplicates: b = sqrt(phi^T (I + phi phi^T)^-1 phi) = sqrt(1/2)
    g = torch.tensor([[3.0, 0.0], [1.0, 0.0]])
    torch.testing.assert_close(elliptical_bonus(g, 2), torch.full((2,), math.sqrt(0.5)))
    # a near-duplicate earns less than an outlier
    h = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.05, 0.0], [0.0, 0.0, 1.0]])
    b = elliptical_bonus(h, 3)
    assert b[2] > b[0] and b[2] > b[1]


def _model():
    torch.manual_seed(0)
    return TinyGPT(GPTConfig(vocab_size=11, block_size=32, n_layer=1, n_head=2, n_embd=16))


def test_rollout_logprobs_match_sequence_logprobs():
    model, ref = _model(), _model()
    with torch.no_grad():
        ref.head.weight.mul_(0.5)
    prompts = torch.tensor([[1, 2, 3], [4, 5, 6]])
    gen = torch.Generator().manual_seed(0)
    ro = sample_rollout(model, prompts, 3, 8, generator=gen, stop_token=10, pad_token=0,
                        ref_model=ref)
    assert ro.tokens.shape[0] == 6 and ro.prompt_len == 3
    assert torch.equal(ro.tokens[:3, :3], prompts[[0, 0, 0]])
    full = sequence_logprobs(model, ro.tokens, start=3)[:, 2:]
    torch.testing.assert_close(ro.old_logp, full * ro.mask)
    torch.testing.assert_close(ro.ref_logp, sequence_logprobs(ref, ro.tokens, 3)[:, 2:] * ro.mask)
    logp, ent = completion_logprobs(model, ro.tokens, 3, return_entropy=True)
    assert torch.all(ent >= 0) and torch.all(ent <= math.log(11) + 1e-5)
    assert pooled_hidden(model, ro).shape == (6, 16)


def test_success_probability_by_counting():
    model = _model()
    prefixes = torch.tensor([[1, 2], [3, 4]])
    gen = torch.Generator().manual_seed(0)
    # "correct" = the first sampled token is even: the estimate is a mean of 0/1 hits
    v = success_probability(model, prefixes, lambda b, row: int(row[2]) % 2 == 0, 16, 1,
                            generator=gen)
    assert v.shape == (2,) and torch.all((v * 16).round() == v * 16)
    always = success_probability(model, prefixes, lambda b, row: True, 4, 1, generator=gen)
    assert always.tolist() == [1.0, 1.0]
