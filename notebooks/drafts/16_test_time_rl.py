# %% [markdown]
# # 16 · Test-time RL: learning from unlabeled problems
#
# {{colab}}
#
# Notebook 15 trained with a verifier that knows the answers. At test time nobody does. Yet
# the policy's own samples carry a signal: when most of 16 samples agree on an answer, that
# answer is right more often than a single sample is. *Test-time reinforcement learning*
# turns this agreement into a reward and trains on the very problems it must solve.
#
# **What you will learn**
# - TTRL: majority-vote pseudo-labels as rewards, and the two diagnostics that explain when
#   it works (label accuracy and reward accuracy);
# - when it fails: problems whose majority is wrong get *worse*;
# - TTRV's frequency and entropy rewards, and why a group baseline cancels the entropy term;
# - RLCF: a frozen reward model (Part III's ORM) as the test-time critic;
# - TT-SI: pick the uncertain problems by vote margin, make similar problems, train on those.
#
# **Papers covered**
# - *TTRL: Test-Time Reinforcement Learning* (arXiv 2504.16084)
# - *TTRV: Test-Time Reinforcement Learning for Vision Language Models* (arXiv 2510.06783)
# - *Test-Time Adaptation with CLIP Reward for Zero-Shot Generalization in Vision-Language Models* (arXiv 2305.18010), RLCF
# - *Self-Improving LLM Agents at Test-Time* (arXiv 2510.07841), TT-SI
#
# **Time to run**: about 1-2 minutes in quick mode on 2 CPU cores; about 5 minutes in full
# mode on a T4-class GPU.

# %% setup

# %% parameters

# %%
import copy
import random
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch

import testtime
from testtime.plotting import save_figure, use_style
from testtime.reasoning import (
    Problem,
    evaluate,
    format_prompt,
    load_reasoner,
    make_problems,
    parse_answer,
    sample_solutions,
)
from testtime.rl import (
    RLConfig,
    frequency_entropy_rewards,
    group_advantages,
    majority_vote,
    majority_vote_rewards,
    reward_model_rewards,
    train_rl,
)
from testtime.rl.policies import RL_MAX_NEW_TOKENS
from testtime.search.trained import load_orm

run = testtime.setup(QUICK=QUICK, DEVICE=DEVICE, SEED=SEED, FIGURES_DIR=FIGURES_DIR)
use_style()
LEVELS = (2, 3, 4)
N_UNLABELED = run.pick(quick=16, full=64)   # unlabeled test problems per level
G = run.pick(quick=16, full=32)             # samples per problem (votes and group)
STEPS = run.pick(quick=25, full=120)
N_EVAL = run.pick(quick=32, full=64)        # samples per problem to measure accuracy

# %% [markdown]
# ## 1. Majority-vote rewards, from scratch
#
# TTRL samples $N$ answers per unlabeled problem, takes the most frequent one as a
# pseudo-label $\hat y$, and rewards each sample with $r_i = \mathbf{1}[a_i = \hat y]$. The
# rewards then go into GRPO as if they came from a verifier. Two numbers explain whether
# this can work, and we can measure them because our test set secretly has labels:
#
# - *label accuracy*: how often the pseudo-label is the true answer (majority@N accuracy);
# - *reward accuracy*: how often a sample's pseudo-reward equals its true reward. It is
#   higher than label accuracy: when the majority is wrong, a sample that is *also* wrong
#   with a different answer still gets the right reward, 0.

# %%
def majority_rewards_scratch(answers, G):
    rewards = []
    for g in range(0, len(answers), G):
        group = answers[g : g + G]
        counts = Counter(a for a in group if a is not None)
        label = counts.most_common(1)[0][0] if counts else None
        rewards += [float(a is not None and a == label) for a in group]
    return torch.tensor(rewards)


rng = random.Random(run.seed)
fake = [rng.choice([None, 1, 2, 2, 3, 3, 3]) for _ in range(40)]
lib_rewards, _ = majority_vote_rewards(fake, 8)
torch.testing.assert_close(majority_rewards_scratch(fake, 8), lib_rewards)
print("majority-vote rewards match the library")

# %% [markdown]
# ## 2. The unlabeled problems and the policy before TTRL
#
# We take held-out problems of levels 2-4 and forget their answers, except to *measure*.

# %%
sft = load_reasoner("small", device=run.device)
unlabeled = make_problems(N_UNLABELED, LEVELS, seed=3000 + run.seed, split="test")
targets = [p.answer for p in unlabeled]  # used only to measure, never to train


def answers_of(model, problems, n, offset):
    comps = sample_solutions(model, problems, n, generator=run.generator(offset),
                             max_new_tokens=RL_MAX_NEW_TOKENS)
    return [[parse_answer(c) for c in cs] for cs in comps]


def accuracy(model, problems, offset=50):
    """Per problem, the fraction of N_EVAL samples that are right (pass@1)."""
    ans = answers_of(model, problems, N_EVAL, offset)
    return np.array([np.mean([a == p.answer for a in row]) for p, row in zip(problems, ans)])


acc0 = accuracy(sft, unlabeled)
votes0 = [majority_vote(row)[0] for row in answers_of(sft, unlabeled, G, 51)]
maj_right = np.array([v == t for v, t in zip(votes0, targets)])
print(f"pass@1 {acc0.mean():.3f}, majority@{G} {maj_right.mean():.3f}")

# %% [markdown]
# ## 3. TTRL
#
# The reward function sees the problems (it must, to know which samples share a prompt) but
# reads only the answers; the labels go in solely to log the two diagnostics.

# %%
def ttrl_reward(problems, completions, rollout):
    answers = [parse_answer(c) for c in completions]
    truth = [problems[i].answer for i in range(0, len(problems), G)]  # diagnostics only
    rewards, info = majority_vote_rewards(answers, G, targets=truth)
    assert torch.equal(rewards, majority_vote_rewards(answers, G)[0])  # labels unused
    return rewards, info


def test_time_train(reward_fn, steps=STEPS, problems=unlabeled, **cfg_kw):
    policy = copy.deepcopy(sft)
    order = random.Random(run.seed)
    cfg = RLConfig(**{"loss_type": "grpo", "steps": steps, "prompts_per_step": 8,
                      "group_size": G, "lr": 1e-3, "max_new_tokens": RL_MAX_NEW_TOKENS,
                      **cfg_kw})
    history = train_rl(policy, lambda s: order.sample(problems, cfg.prompts_per_step),
                       reward_fn, cfg, generator=run.generator(200), progress=False)
    return policy, history


ttrl_policy, ttrl_hist = test_time_train(ttrl_reward)
acc_ttrl = accuracy(ttrl_policy, unlabeled)
print(f"TTRL: accuracy on the unlabeled problems {acc0.mean():.3f} -> {acc_ttrl.mean():.3f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
steps_axis = np.arange(len(ttrl_hist))
axes[0].plot(steps_axis, [h["label_acc"] for h in ttrl_hist], label="label accuracy")
axes[0].plot(steps_axis, [h["reward_acc"] for h in ttrl_hist], label="reward accuracy")
axes[0].plot(steps_axis, [h["reward"] for h in ttrl_hist], label="mean pseudo-reward")
axes[0].set(xlabel="step", title="TTRL diagnostics")
axes[0].legend()
axes[1].bar(["before", "after TTRL"], [acc0.mean(), acc_ttrl.mean()])
axes[1].set(ylabel="pass@1 on the unlabeled set", title="no labels used")
fig.tight_layout()
save_figure(fig, "16_ttrl", run.figures_dir)
plt.show()

assert acc_ttrl.mean() > acc0.mean() + 0.03, "TTRL should raise accuracy without labels"
mean_label_acc = np.mean([h["label_acc"] for h in ttrl_hist])
mean_reward_acc = np.mean([h["reward_acc"] for h in ttrl_hist])
assert mean_reward_acc > mean_label_acc, "reward accuracy exceeds label accuracy"

# %% [markdown]
# ## 4. When TTRL fails: a wrong majority
#
# TTRL amplifies whatever the majority says. On problems where the initial majority is
# wrong, it rewards the wrong answer and the policy drifts *away* from the truth.

# %%
gain = acc_ttrl - acc0
print(f"gain where the majority was right: {gain[maj_right].mean():+.3f} "
      f"({maj_right.sum()} problems); where it was wrong: {gain[~maj_right].mean():+.3f} "
      f"({(~maj_right).sum()} problems)")
assert gain[maj_right].mean() > gain[~maj_right].mean() + 0.05

# %% [markdown]
# ## 5. TTRV: frequency and entropy rewards
#
# TTRV replaces the 0/1 vote with a soft *frequency* reward, the share of the group that gave
# the same answer, $r_1(y_j) = \hat p(a_j)$, and adds a *diversity-control* reward
# $r_2 = -H(\hat p)$ that favours groups with a peaked answer distribution. Note that $r_2$ is
# the same for every sample of a group: GRPO's group baseline subtracts it away. It only acts
# when the baseline is shared across prompts.

# %%
fake_r = frequency_entropy_rewards(fake, 8, entropy_weight=0.75)
fake_r0 = frequency_entropy_rewards(fake, 8, entropy_weight=0.0)
torch.testing.assert_close(group_advantages(fake_r, 8), group_advantages(fake_r0, 8))
print("under a group baseline the entropy reward cancels exactly")


def ttrv_reward(problems, completions, rollout):
    answers = [parse_answer(c) for c in completions]
    return frequency_entropy_rewards(answers, G, entropy_weight=0.75)


ttrv_policy, ttrv_hist = test_time_train(ttrv_reward, loss_type="reinforce", baseline="none")
acc_ttrv = accuracy(ttrv_policy, unlabeled)
print(f"TTRV (REINFORCE, no baseline): {acc0.mean():.3f} -> {acc_ttrv.mean():.3f}")
assert acc_ttrv.mean() > acc0.mean() + 0.02

# %% [markdown]
# ## 6. RLCF: a reward model as the critic
#
# RLCF adapts a model at test time with the score of a frozen reward model (CLIP in the
# paper) minus the mean score of the samples for the same input. Our critic is Part III's
# outcome reward model: a copy of the policy trained to predict whether a solution is right.

# %%
orm = load_orm("small", device=run.device, verbose=False)


def rlcf_reward(problems, completions, rollout):
    prompts = [format_prompt(p.expr) for p in problems]
    scores = torch.tensor(orm.score(prompts, completions))
    return reward_model_rewards(scores, G)


rlcf_policy, _ = test_time_train(rlcf_reward)
acc_rlcf = accuracy(rlcf_policy, unlabeled)
print(f"RLCF with the ORM: {acc0.mean():.3f} -> {acc_rlcf.mean():.3f}")
assert acc_rlcf.mean() > acc0.mean() + 0.02

# %% [markdown]
# ## 7. TT-SI: self-improvement on the uncertain problems
#
# *Self-Improving LLM Agents at Test-Time* spends training only where the model is unsure.
# It (1) scores each test input by the margin between its two most voted answers,
# (2) synthesises similar inputs for the most uncertain ones, and (3) fine-tunes on them
# before answering. Our "similar problem" keeps the operators and redraws the digits; we
# fine-tune with TTRL rewards on the similar problems only, then measure the uncertain ones.

# %%
def vote_margin(row):
    counts = Counter(a for a in row if a is not None).most_common(2) + [(None, 0)] * 2
    return (counts[0][1] - counts[1][1]) / len(row)


def similar_problems(problem, n, rng):
    out = []
    for _ in range(n):
        expr = "".join(rng.choice("0123456789") if ch.isdigit() else ch for ch in problem.expr)
        out.append(Problem(expr, evaluate(expr), problem.level))
    return out


margins = np.array([vote_margin(row) for row in answers_of(sft, unlabeled, G, 52)])
uncertain = [unlabeled[i] for i in np.argsort(margins)[: len(unlabeled) // 3]]
synth_rng = random.Random(run.seed)
synthetic = [q for p in uncertain for q in similar_problems(p, 4, synth_rng)]
tts_policy, _ = test_time_train(ttrl_reward, problems=synthetic)
acc_unc0 = accuracy(sft, uncertain)
acc_unc1 = accuracy(tts_policy, uncertain)
print(f"{len(uncertain)} most uncertain problems (margin <= {np.sort(margins)[len(uncertain) - 1]:.2f}): "
      f"{acc_unc0.mean():.3f} -> {acc_unc1.mean():.3f} after training on {len(synthetic)} similar ones")
assert acc_unc1.mean() > acc_unc0.mean() + 0.02

# %% [markdown]
# ## Paper vs. here
#
# | | paper | here |
# |---|---|---|
# | TTRL | Qwen2.5-Math-7B on AIME 2024: pass@1 16.7 → 43.3 without labels; label accuracy low but reward accuracy high | the same pattern on 48 problems of a 0.1M-parameter reasoner |
# | TTRL failure | needs a prior: fails when the base model is too weak | problems with a wrong majority lose accuracy |
# | TTRV | frequency + entropy rewards, GRPO, 16 VLM benchmarks | the entropy reward cancels under a group baseline; we use REINFORCE without one |
# | RLCF | CLIP reward with a mean baseline, CLIP-ViT test-time adaptation | Part III's ORM as the critic |
# | TT-SI | uncertainty by margin, self-synthesised similar samples, test-time fine-tuning on agent tasks | same steps, similar problems by redrawing digits |

# %% [markdown]
# ## Exercises

# %% solution id=ex-reward-acc
def reward_accuracy(answers, G, targets):
    """Fraction of samples whose majority-vote pseudo-reward equals the true reward."""
    ### BEGIN SOLUTION
    pseudo = majority_rewards_scratch(answers, G)
    true = torch.tensor([float(a is not None and a == targets[i // G]) for i, a in enumerate(answers)])
    return float((pseudo == true).float().mean())
    ### END SOLUTION

# %% grader points=2 id=ex-reward-acc-test
assert reward_accuracy([1, 1, 2, 3], 4, [2]) == 0.25
### BEGIN HIDDEN TESTS
_rng = random.Random(11)
_ans = [_rng.choice([None, 0, 1, 2]) for _ in range(48)]
_t = [_rng.choice([0, 1, 2]) for _ in range(6)]
assert abs(reward_accuracy(_ans, 8, _t) - majority_vote_rewards(_ans, 8, targets=_t)[1]["reward_acc"]) < 1e-6
### END HIDDEN TESTS

# %% solution id=ex-margin
def margin_scratch(answers):
    """Vote margin: (count of the top answer - count of the runner-up) / len(answers); None
    answers do not vote but count in the denominator."""
    ### BEGIN SOLUTION
    counts = sorted(Counter(a for a in answers if a is not None).values(), reverse=True) + [0, 0]
    return (counts[0] - counts[1]) / len(answers)
    ### END SOLUTION

# %% grader points=2 id=ex-margin-test
assert margin_scratch([1, 1, 1, 2]) == 0.5
assert margin_scratch([None, None]) == 0.0
### BEGIN HIDDEN TESTS
_rng = random.Random(12)
for _ in range(20):
    _row = [_rng.choice([None, 1, 2, 3]) for _ in range(10)]
    assert abs(margin_scratch(_row) - vote_margin(_row)) < 1e-9
### END HIDDEN TESTS

# %% solution id=ex-freq
def frequency_rewards_scratch(answers, G):
    """TTRV's frequency reward without the entropy term: the share of the group with the
    same answer (0 for None)."""
    ### BEGIN SOLUTION
    out = []
    for g in range(0, len(answers), G):
        group = answers[g : g + G]
        counts = Counter(group)
        out += [counts[a] / G if a is not None else 0.0 for a in group]
    return torch.tensor(out)
    ### END SOLUTION

# %% grader points=3 id=ex-freq-test
torch.testing.assert_close(frequency_rewards_scratch([1, 1, 2, None], 4), torch.tensor([0.5, 0.5, 0.25, 0.0]))
### BEGIN HIDDEN TESTS
_rng = random.Random(13)
_ans = [_rng.choice([None, 0, 1, 2, 3]) for _ in range(60)]
torch.testing.assert_close(frequency_rewards_scratch(_ans, 6),
                           frequency_entropy_rewards(_ans, 6, entropy_weight=0.0))
### END HIDDEN TESTS

# %% [markdown]
# ## Summary and further reading
#
# - Agreement among samples is a label-free reward. TTRL trains on majority-vote
#   pseudo-labels and raises accuracy on the very problems it sees, without their answers.
# - It works because reward accuracy is higher than label accuracy, and it fails where the
#   majority is wrong: those problems get worse.
# - TTRV's soft frequency reward is a variant; its entropy term needs a shared baseline.
# - A frozen reward model (RLCF) or a focus on uncertain problems with synthetic neighbours
#   (TT-SI) are other label-free test-time signals.
#
# Papers: *TTRL: Test-Time Reinforcement Learning* (arXiv 2504.16084); *TTRV: Test-Time
# Reinforcement Learning for Vision Language Models* (arXiv 2510.06783); *Test-Time
# Adaptation with CLIP Reward for Zero-Shot Generalization in Vision-Language Models* (arXiv
# 2305.18010); *Self-Improving LLM Agents at Test-Time* (arXiv 2510.07841). Code anchor:
# PRIME-RL/TTRL.
