"""Each loss type of testtime.rl.policy_loss against a small case computed by hand, the
advantages, and the reproducibility of an RL step."""

import math

import pytest
import torch

from testtime.models import GPTConfig, TinyGPT
from testtime.reasoning.task import make_problems
from testtime.reasoning.tokenizer import BLOCK_SIZE, TOKENIZER
from testtime.reasoning.verify import is_correct
from testtime.rl import (
    RLConfig,
    completion_mask,
    coverage_loss,
    dynamic_sampling_mask,
    group_advantages,
    kl_k3,
    policy_loss,
    rl_step,
    train_rl,
    zero_variance_groups,
)

# Two completions: the first has 2 tokens, the second 1 (its second token is padding).
# The sampler gave every token probability 0.5; the ratios pi/pi_old are chosen by hand.
# Float64 throughout: the expected values are sums of logs that nearly cancel (the REINFORCE
# loss is -0.0364 from terms near 1), which costs float32 a relative error of a few 1e-6
# (one ulp of log differs between CPUs' vector code), more than pytest.approx's 1e-6; in
# float64 the same error is ~1e-14.
D64 = torch.float64
RATIO = torch.tensor([[1.5, 0.9], [0.7, 1.0]], dtype=D64)
OLD = torch.full((2, 2), math.log(0.5), dtype=D64)
LOGP = torch.log(RATIO * 0.5)
MASK = torch.tensor([[1.0, 1.0], [1.0, 0.0]], dtype=D64)
ADV = torch.tensor([1.0, -1.0], dtype=D64)


def loss_of(loss_type, **kw):
    logp = LOGP.clone().requires_grad_(True)
    loss, stats = policy_loss(logp, OLD, ADV, MASK, loss_type=loss_type, **kw)
    loss.backward()
    return float(loss.detach()), logp.grad, stats


def test_grpo_by_hand():
    # token terms -min(rho A, clip(rho, 0.8, 1.2) A): -1.2 (clipped), -0.9 | +0.8 (clipped)
    loss, grad, stats = loss_of("grpo")
    assert loss == pytest.approx(((-1.2 - 0.9) / 2 + 0.8 / 1) / 2)
    # clipped tokens get no gradient; the free one d/dlogp (-rho A)/2/2 = -0.9/4
    assert grad[0, 0] == 0 and grad[1, 0] == 0 and grad[1, 1] == 0
    assert float(grad[0, 1]) == pytest.approx(-0.9 / 4)
    assert stats["clip_frac"] == pytest.approx(2 / 3)


def test_grpo_with_k3_kl():
    ref = OLD  # k3 = 1/rho + log rho - 1 per token
    k3 = [1 / r + math.log(r) - 1 for r in (1.5, 0.9, 0.7)]
    loss, _, stats = loss_of("grpo", ref_logp=ref, beta=0.1)
    expected = ((-1.2 + 0.1 * k3[0] - 0.9 + 0.1 * k3[1]) / 2 + (0.8 + 0.1 * k3[2])) / 2
    assert loss == pytest.approx(expected)
    assert stats["kl"] == pytest.approx(sum(k3) / 3)
    assert torch.all(kl_k3(torch.randn(50), torch.randn(50)) >= 0)


def test_dr_grpo_by_hand():
    loss, _, _ = loss_of("dr_grpo", max_len=4)  # sum / (B * max_len), no 1/|o_i|
    assert loss == pytest.approx((-1.2 - 0.9 + 0.8) / (2 * 4))


def test_dapo_by_hand():
    loss, _, _ = loss_of("dapo")  # clip-higher 1.28, then a mean over the 3 tokens
    assert loss == pytest.approx((-1.28 - 0.9 + 0.8) / 3)


def test_reinforce_by_hand():
    loss, grad, _ = loss_of("reinforce")
    expected = -(math.log(0.75) + math.log(0.45) - math.log(0.35)) / 3
    assert loss == pytest.approx(expected)
    torch.testing.assert_close(grad, -ADV[:, None] * MASK / 3)


def test_topr_by_hand():
    # positive: weight 1; negative: sequence ratio 0.7 (one token) truncated to [0, 1]
    loss, grad, _ = loss_of("topr")
    expected = (-(math.log(0.75) + math.log(0.45)) + 0.7 * math.log(0.35)) / 3
    assert loss == pytest.approx(expected)
    assert float(grad[1, 0]) == pytest.approx(0.7 / 3)
    # a negative sample with sequence ratio > 1 is truncated to weight 1
    logp = torch.log(torch.tensor([[0.5, 0.5], [0.5 * 3.0, 0.5]], dtype=D64)).requires_grad_(True)
    loss2, _ = policy_loss(logp, OLD, ADV, MASK, loss_type="topr")
    loss2.backward()
    assert float(logp.grad[1, 0]) == pytest.approx(1 / 3)


def test_cispo_by_hand():
    # detached weights min(rho, 1.28) = 1.28, 0.9 | 0.7, times -A logp, mean over 3 tokens
    loss, grad, _ = loss_of("cispo")
    expected = (-1.28 * math.log(0.75) - 0.9 * math.log(0.45) + 0.7 * math.log(0.35)) / 3
    assert loss == pytest.approx(expected)
    # every token keeps a gradient, the clipped one included (PPO's clip would zero it)
    torch.testing.assert_close(grad, torch.tensor([[-1.28, -0.9], [0.7, 0.0]], dtype=D64) / 3)


def test_on_policy_losses_share_the_reinforce_gradient():
    torch.manual_seed(0)  # float64: the two gradients come from different sums of products
    logp0 = torch.randn(6, 5, dtype=D64) - 1
    mask = (torch.rand(6, 5) > 0.2).to(D64)
    adv = torch.randn(6, dtype=D64)
    grads = {}
    for lt in ("reinforce", "dapo", "cispo"):  # token-mean normalisation, ratio = 1
        logp = logp0.clone().requires_grad_(True)
        policy_loss(logp, logp0, adv, mask, loss_type=lt)[0].backward()
        grads[lt] = logp.grad
    torch.testing.assert_close(grads["dapo"], grads["reinforce"])
    torch.testing.assert_close(grads["cispo"], grads["reinforce"])


def test_bad_inputs():
    with pytest.raises(ValueError, match="loss_type"):
        policy_loss(LOGP, OLD, ADV, MASK, loss_type="ppo2")
    with pytest.raises(ValueError, match="ref_logp"):
        policy_loss(LOGP, OLD, ADV, MASK, beta=0.1)
    with pytest.raises(ValueError, match="advantages"):
        policy_loss(LOGP, OLD, ADV[:1], MASK)


def test_group_advantages_by_hand():
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    torch.testing.assert_close(group_advantages(r, 4, baseline="none"), r)
    mean = torch.tensor([0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0])
    torch.testing.assert_close(group_advantages(r, 4), mean)
    # leave-one-out: 1 - mean(0, 0, 1) = 2/3
    torch.testing.assert_close(group_advantages(r, 4, baseline="loo"), mean * 4 / 3)
    std = math.sqrt(1 / 3)  # unbiased std of (1, 0, 0, 1)
    torch.testing.assert_close(group_advantages(r, 4, scale=True), mean / torch.tensor(
        [std + 1e-4] * 4 + [1e-4] * 4))
    assert zero_variance_groups(r, 4).tolist() == [False, True]
    assert dynamic_sampling_mask(r, 4).tolist() == [True] * 4 + [False] * 4
    with pytest.raises(ValueError, match="baseline"):
        group_advantages(r, 4, baseline="median")
    with pytest.raises(ValueError, match="rewards"):
        group_advantages(r, 3)


def test_completion_mask():
    c = torch.tensor([[5, 7, 9, 9], [5, 5, 5, 5], [9, 1, 9, 1]])
    expected = [[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert completion_mask(c, 9).tolist() == expected


def _tiny_policy(seed=0):
    torch.manual_seed(seed)
    cfg = GPTConfig(vocab_size=TOKENIZER.vocab_size, block_size=BLOCK_SIZE, n_layer=1,
                    n_head=2, n_embd=32)
    return TinyGPT(cfg)


def _reward(problems, completions, rollout):
    return torch.tensor([float(is_correct(p, c)) for p, c in zip(problems, completions)])


def _run(loss_type, seed):
    model = _tiny_policy()
    ref = _tiny_policy()
    problems = make_problems(2, 1, seed=0, split="train")
    cfg = RLConfig(loss_type=loss_type, steps=2, group_size=4, inner_steps=2, max_new_tokens=6,
                   beta=0.05)
    gen = torch.Generator().manual_seed(seed)
    # a length reward so that groups have variance even for an untrained policy
    reward = lambda p, c, r: r.lengths.float() / 6 + _reward(p, c, r)
    hist = train_rl(model, lambda s: problems, reward, cfg, generator=gen, ref_model=ref,
                    progress=False)
    return model, hist


@pytest.mark.parametrize("loss_type", ["grpo", "cispo"])
def test_rl_steps_are_reproducible(loss_type):
    m1, h1 = _run(loss_type, 3)
    m2, h2 = _run(loss_type, 3)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert h1 == h2
    m3, _ = _run(loss_type, 4)  # another seed gives other samples, hence other weights
    assert any(not torch.equal(a, b) for a, b in zip(m1.state_dict().values(),
                                                     m3.state_dict().values()))
    assert all(k in h1[0] for k in ("reward", "zero_var_frac", "entropy", "kl", "clip_frac"))


def test_rl_step_moves_probability_toward_rewarded_samples():
    model = _tiny_policy(1)
    problems = make_problems(1, 1, seed=0, split="train")
    cfg = RLConfig(loss_type="reinforce", group_size=8, max_new_tokens=4, lr=1e-2)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(0)
    from testtime.reasoning.tokenizer import encode_prompts

    prompt = encode_prompts(problems)
    digit = TOKENIZER.stoi["7"]

    def p_digit():
        with torch.no_grad():
            return float(model(prompt)[0][0, -1].softmax(-1)[digit])

    before = p_digit()
    reward = lambda p, c, r: (r.completions[:, 0] == digit).float() + 0.0 * r.lengths
    for _ in range(15):
        rl_step(model, opt, problems, reward, cfg, generator=gen)
    assert p_digit() > before + 0.05


def test_coverage_loss_by_hand():
    # float64: the N = 4 terms go through log, expm1 and log1p of values near 1e-4
    lp = torch.log(torch.tensor([0.5, 0.9], dtype=D64)).requires_grad_(True)
    # N = 1 is cross-entropy
    assert float(coverage_loss(lp, 1).detach()) == pytest.approx(-(math.log(0.5) + math.log(0.9)) / 2)
    # N = 4: -log(1 - (1 - p)^4), and the gradient weight N p (1-p)^(N-1) / (1 - (1-p)^N)
    loss = coverage_loss(lp, 4)
    expected = -(math.log(1 - 0.5**4) + math.log(1 - 0.1**4)) / 2
    assert float(loss.detach()) == pytest.approx(expected)
    loss.backward()
    w = [4 * p * (1 - p) ** 3 / (1 - (1 - p) ** 4) for p in (0.5, 0.9)]
    torch.testing.assert_close(lp.grad, -torch.tensor(w, dtype=D64) / 2)
    assert w[1] < w[0] < 1  # confident examples pull less
