# %% [markdown]
# # 16 · Test-time RL: learning from unlabeled problems
#
# {{colab}}
#
# Notebook 15 trained with a verifier that knows the answers. At test time nobody does. Yet
# the policy's own samples carry a signal: when several samples agree on an answer, that
# answer is right more often than one sample is. *Test-time reinforcement learning* turns
# this agreement into a reward and trains on the very problems it has to solve.
#
# **What you will learn**
# - TTRL: majority-vote pseudo-labels as rewards, and the two diagnostics that say when it
#   can work (label accuracy and reward accuracy);
# - when it fails: on problems whose majority is wrong, it trains the model to be wrong;
# - TTRV's frequency and entropy rewards, and why a group baseline cancels the entropy term;
# - RLCF: a frozen reward model (Part III's ORM) as the test-time critic;
# - TT-SI: find the uncertain problems by their vote margin, make similar ones, train on those.
#
# **Papers covered**
# - *TTRL: Test-Time Reinforcement Learning* (arXiv 2504.16084)
# - *TTRV: Test-Time Reinforcement Learning for Vision Language Models* (arXiv 2510.06783)
# - *Test-Time Adaptation with CLIP Reward for Zero-Shot Generalization in Vision-Language
#   Models* (arXiv 2305.18010), RLCF
# - *Self-Improving LLM Agents at Test-Time* (arXiv 2510.07841), TT-SI
#
# **Time to run**: about 1.5 minutes in quick mode on 2 CPU cores; about 5 minutes in full
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
    answer_entropy,
    frequency_entropy_rewards,
    group_advantages,
    majority_vote,
    majority_vote_rewards,
    reward_model_rewards,
    train_rl,
    vote_margin,
)
from testtime.search.trained import load_orm

run = testtime.setup(QUICK=QUICK, DEVICE=DEVICE, SEED=SEED, FIGURES_DIR=FIGURES_DIR)
use_style()
LEVELS = (5, 6)                              # the hardest levels the reasoner was trained on
N_PER_LEVEL = run.pick(quick=100, full=200)  # unlabeled test problems per level
G = 16                                       # samples per problem: the vote and the RL group
STEPS = run.pick(quick=40, full=150)         # TTRL updates
PROMPTS = run.pick(quick=32, full=64)        # problems per update
SHORT_STEPS = run.pick(quick=15, full=60)    # the TTRV, RLCF and TT-SI runs
N_EVAL = run.pick(quick=32, full=64)         # samples per problem to measure pass@1
MAX_NEW = max(LEVELS) ** 2 + max(LEVELS) + 2  # a level-l solution has l^2 + l tokens

# %% [markdown]
# ## 1. Majority-vote rewards, from scratch
#
# TTRL samples $N$ answers $a_1, \dots, a_N$ to an unlabeled problem, takes the most frequent
# one as a pseudo-label $\hat y$, and rewards each sample with $r_i = \mathbf{1}[a_i = \hat y]$
# (TTRL, eq. 4). The rewards then go into a GRPO-style update as if a verifier had produced
# them. Our test problems secretly have labels, so we can measure two numbers that explain
# whether this can work:
#
# - *label accuracy*: how often the pseudo-label is the true answer (majority@N accuracy);
# - *reward accuracy*: how often a sample's pseudo-reward equals its true reward. It is higher
#   than label accuracy: when the majority is wrong, a sample that is wrong *differently*
#   still gets the right reward, 0.

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
# The unlabeled set is held-out problems of levels 5 and 6, where one sample of the SFT
# reasoner is right about a third of the time. We keep their answers only to *measure*.
# Accuracy is pass@1 estimated from `N_EVAL` samples per problem; the vote uses `G` other
# samples, so that the split into "majority right" and "majority wrong" below does not
# share the noise of the measurement.

# %%
sft = load_reasoner("small", device=run.device, verbose=False)
unlabeled = make_problems(N_PER_LEVEL, LEVELS, seed=3000 + run.seed, split="test")
targets = [p.answer for p in unlabeled]  # used only to measure, never to train


def answers_of(model, problems, n, offset):
    comps = sample_solutions(model, problems, n, generator=run.generator(offset),
                             max_new_tokens=MAX_NEW)
    return [[parse_answer(c) for c in cs] for cs in comps]


def pass1(model, problems, offset=50):
    """Per problem, the fraction of N_EVAL samples that are right."""
    ans = answers_of(model, problems, N_EVAL, offset)
    return np.array([np.mean([a == p.answer for a in row]) for p, row in zip(problems, ans)])


acc0 = pass1(sft, unlabeled)
vote_rows = answers_of(sft, unlabeled, G, 51)
flat_votes = [a for row in vote_rows for a in row]
_, diag0 = majority_vote_rewards(flat_votes, G, targets=targets)
maj_right = np.array([majority_vote(row)[0] == t for row, t in zip(vote_rows, targets)])
print(f"{len(unlabeled)} unlabeled problems: pass@1 {acc0.mean():.3f}, "
      f"majority@{G} {maj_right.mean():.3f}")
print(f"label accuracy {diag0['label_acc']:.3f}, reward accuracy {diag0['reward_acc']:.3f}")
assert maj_right.mean() > acc0.mean() + 0.03, "the vote should beat a single sample"
assert diag0["reward_acc"] > diag0["label_acc"] + 0.1, "reward accuracy exceeds label accuracy"

# %% [markdown]
# The vote is better than a sample, so the pseudo-labels carry information the policy does
# not yet use when it samples once. Reward accuracy is well above label accuracy, as in the
# TTRL paper, but not by as much: our answers are single digits, so two wrong samples agree
# by chance far more often than two wrong proofs of an AIME problem do.
#
# ## 3. TTRL
#
# The reward function sees the problems (it must, to know which samples share a prompt) but
# reads only the answers; the labels go in solely to log the two diagnostics, and a check in
# the reward function makes sure the rewards are the same without them. The update is
# notebook 15's GRPO with its small learning rate and warmup: fresh Adam at a larger rate
# damages the SFT policy before the reward can steer it, and with majority-vote rewards the
# damage has a direction (at lr 2e-4 the samples learn to agree on *wrong* answers: the
# pseudo-reward rises while the label accuracy falls).

# %%
def ttrl_reward(problems, completions, rollout):
    answers = [parse_answer(c) for c in completions]
    truth = [problems[i].answer for i in range(0, len(problems), G)]  # diagnostics only
    rewards, info = majority_vote_rewards(answers, G, targets=truth)
    assert torch.equal(rewards, majority_vote_rewards(answers, G)[0])  # labels unused
    return rewards, info


def test_time_train(reward_fn, problems, steps, prompts, offset=200, **overrides):
    policy = copy.deepcopy(sft)
    order = random.Random(run.seed + offset)
    cfg = RLConfig(**{"loss_type": "grpo", "steps": steps, "prompts_per_step": prompts,
                      "group_size": G, "lr": 1e-4, "warmup": 10, "max_new_tokens": MAX_NEW,
                      **overrides})
    history = train_rl(policy, lambda s: order.sample(problems, cfg.prompts_per_step),
                       reward_fn, cfg, generator=run.generator(offset), progress=False)
    return policy, history


ttrl_policy, ttrl_hist = test_time_train(ttrl_reward, unlabeled, STEPS, PROMPTS)
acc_ttrl = pass1(ttrl_policy, unlabeled)
gain = acc_ttrl - acc0
se = gain.std(ddof=1) / np.sqrt(len(gain))  # paired over problems
print(f"TTRL on the unlabeled set: pass@1 {acc0.mean():.3f} -> {acc_ttrl.mean():.3f} "
      f"(gain {gain.mean():+.3f} +- {se:.3f}), initial majority@{G} {maj_right.mean():.3f}")

# %% [markdown]
# The gain is measured on the same problems, by pass@1 with fresh samples and the same
# generator before and after, and compared with its standard error over the problems.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
steps_axis = np.arange(len(ttrl_hist))
w = min(5, len(ttrl_hist))  # a running mean over w steps
for key, name in [("label_acc", "label accuracy"), ("reward_acc", "reward accuracy"),
                  ("reward", "mean pseudo-reward")]:
    values = np.convolve([h[key] for h in ttrl_hist], np.ones(w) / w, mode="valid")
    axes[0].plot(steps_axis[w - 1 :], values, label=name)
axes[0].set(xlabel="step", title=f"TTRL diagnostics ({w}-step mean)")
axes[0].legend()
groups = [("all", np.ones_like(maj_right)), ("majority right", maj_right),
          ("majority wrong", ~maj_right)]
x = np.arange(len(groups))
axes[1].bar(x - 0.2, [acc0[m].mean() for _, m in groups], 0.4, label="before")
axes[1].bar(x + 0.2, [acc_ttrl[m].mean() for _, m in groups], 0.4, label="after TTRL")
axes[1].set_xticks(x, [n for n, _ in groups])
axes[1].set(ylabel="pass@1", title="no labels used in training")
axes[1].legend()
fig.tight_layout()
save_figure(fig, "16_ttrl", run.figures_dir)
plt.show()

label_acc = np.mean([h["label_acc"] for h in ttrl_hist])
reward_acc = np.mean([h["reward_acc"] for h in ttrl_hist])
print(f"during TTRL: label accuracy {label_acc:.3f}, reward accuracy {reward_acc:.3f}")
assert reward_acc > label_acc + 0.1

# %% [markdown]
# ## 4. Where TTRL works and where it fails: the majority decides
#
# TTRL amplifies whatever the majority says. Where the initial majority is right, the policy
# moves towards the right answer; where it is wrong, the reward pays for the wrong answer
# and the rare right samples are pushed *down*. The gain on the whole set is the balance of
# the two, and here most majorities are wrong.

# %%
g_right, g_wrong = gain[maj_right], gain[~maj_right]
se_right = g_right.std(ddof=1) / np.sqrt(len(g_right))
se_diff = np.sqrt(g_right.var(ddof=1) / len(g_right) + g_wrong.var(ddof=1) / len(g_wrong))
print(f"gain where the majority was right: {g_right.mean():+.3f} +- {se_right:.3f} "
      f"({len(g_right)} problems); where it was wrong: {g_wrong.mean():+.3f} "
      f"({len(g_wrong)} problems); difference {g_right.mean() - g_wrong.mean():+.3f} "
      f"+- {se_diff:.3f}")
assert g_right.mean() > 3 * se_right, "TTRL raises accuracy where its pseudo-labels are right"
assert g_right.mean() - g_wrong.mean() > 3 * se_diff, "right-majority problems gain more"
assert g_wrong.mean() < 0.02, "wrong-majority problems do not improve"
assert gain.mean() > -2 * se, "at this learning rate TTRL does not lower accuracy overall"

# %% [markdown]
# ## 5. TTRV: frequency and entropy rewards
#
# TTRV replaces the 0/1 vote by a soft *frequency* reward, the share of the group that gave
# the same answer, $r_1(a_j) = \hat p(a_j)$, and adds a *diversity-control* reward
# $r_2 = -H(\hat p)$, minus the entropy of the group's empirical answer distribution:
# $r = r_1 + w\, r_2$. Note that $r_2$ is the same for every sample of a group, so a group
# baseline (GRPO's, Dr. GRPO's) subtracts it away exactly; it acts only through a baseline
# shared across problems, or none.

# %%
def ttrv_rewards_scratch(answers, G, w):
    out = []
    for g in range(0, len(answers), G):
        group = answers[g : g + G]
        counts = Counter(group)
        entropy = -sum(c / G * np.log(c / G) for c in counts.values())
        out += [(counts[a] / G if a is not None else 0.0) - w * entropy for a in group]
    return torch.tensor(out, dtype=torch.float32)


torch.testing.assert_close(ttrv_rewards_scratch(fake, 8, 0.75),
                           frequency_entropy_rewards(fake, 8, entropy_weight=0.75))
fake_r0 = frequency_entropy_rewards(fake, 8, entropy_weight=0.0)
torch.testing.assert_close(group_advantages(frequency_entropy_rewards(fake, 8), 8),
                           group_advantages(fake_r0, 8))
print("TTRV rewards match the library; under a group baseline the entropy reward cancels")


def ttrv_reward(problems, completions, rollout):
    answers = [parse_answer(c) for c in completions]
    return frequency_entropy_rewards(answers, G, entropy_weight=0.75)


def mean_answer_entropy(rows):
    return float(np.mean([answer_entropy(row) for row in rows]))


# REINFORCE without a baseline, so that the entropy reward is not cancelled
ttrv_policy, _ = test_time_train(ttrv_reward, unlabeled, SHORT_STEPS, PROMPTS // 2, offset=300,
                                 loss_type="reinforce", baseline="none")
ttrv_rows = answers_of(ttrv_policy, unlabeled, G, 51)
acc_ttrv = pass1(ttrv_policy, unlabeled)
h0, h1 = mean_answer_entropy(vote_rows), mean_answer_entropy(ttrv_rows)
print(f"TTRV ({SHORT_STEPS} steps): answer entropy {h0:.3f} -> {h1:.3f} nats, "
      f"pass@1 {acc0.mean():.3f} -> {acc_ttrv.mean():.3f}")
assert h1 < h0 - 0.05, "TTRV's rewards make the samples agree"

# %% [markdown]
# ## 6. RLCF: a reward model as the critic
#
# RLCF adapts a model at test time with the score of a frozen reward model (CLIP in the
# paper) minus the mean score of the samples for the same input (its baseline). Our critic
# is Part III's outcome reward model (ORM): a copy of the policy trained, on the *training*
# split, to predict whether a solution is right. At test time it needs no label. Before
# training with it, we ask how well each label-free signal ranks the samples of a problem:
# the probability that a right sample scores above a wrong one of the same problem.

# %%
orm = load_orm("small", device=run.device, verbose=False)
prompts_flat = [format_prompt(p.expr) for p in unlabeled for _ in range(G)]
vote_comps = sample_solutions(sft, unlabeled, G, generator=run.generator(51),
                              max_new_tokens=MAX_NEW)
comps_flat = [c for row in vote_comps for c in row]
assert [parse_answer(c) for c in comps_flat] == flat_votes  # the same samples as the vote
orm_scores = torch.tensor(orm.score(prompts_flat, comps_flat)).view(-1, G)
freq_scores = frequency_entropy_rewards(flat_votes, G, entropy_weight=0.0).view(-1, G)
correct = torch.tensor([[a == t for a in row] for row, t in zip(vote_rows, targets)])


def ranking_accuracy(scores, correct):
    """P(score of a right sample > score of a wrong one), ties 1/2, within each problem."""
    wins = pairs = 0.0
    for s, c in zip(scores, correct):
        diff = s[c][:, None] - s[~c][None, :]
        wins += float((diff > 0).sum() + 0.5 * (diff == 0).sum())
        pairs += diff.numel()
    return wins / pairs


rank_orm, rank_freq = ranking_accuracy(orm_scores, correct), ranking_accuracy(freq_scores, correct)
print(f"ranking accuracy within a problem: ORM {rank_orm:.3f}, vote frequency {rank_freq:.3f}")
assert rank_orm > 0.6 and rank_freq > 0.6, "both label-free signals rank right samples higher"


def rlcf_reward(problems, completions, rollout):
    prompts = [format_prompt(p.expr) for p in problems]
    scores = torch.tensor(orm.score(prompts, completions))
    return reward_model_rewards(scores, G)


rlcf_policy, _ = test_time_train(rlcf_reward, unlabeled, SHORT_STEPS, PROMPTS // 2, offset=400)
acc_rlcf = pass1(rlcf_policy, unlabeled)
print(f"RLCF with the ORM ({SHORT_STEPS} steps): pass@1 {acc0.mean():.3f} -> {acc_rlcf.mean():.3f}")

# %% [markdown]
# ## 7. TT-SI: self-improvement on the uncertain problems
#
# *Self-Improving LLM Agents at Test-Time* spends training only where the model is unsure.
# It (1) scores each test input by the margin between its two most voted answers,
# (2) synthesises similar inputs for the most uncertain ones, and (3) fine-tunes on them
# before answering. Our "similar problem" keeps the operators and redraws the digits, and the
# model labels it itself (majority-vote rewards): no label of any kind enters.

# %%
def similar_problems(problem, n, rng):
    out = []
    for _ in range(n):
        expr = "".join(rng.choice("0123456789") if ch.isdigit() else ch for ch in problem.expr)
        out.append(Problem(expr, evaluate(expr), problem.level))
    return out


margins = np.array([vote_margin(row) for row in vote_rows])
order = np.argsort(margins, kind="stable")
uncertain_idx, confident_idx = order[: len(order) // 3], order[len(order) // 3 :]
print(f"pass@1 of the third with the smallest margin {acc0[uncertain_idx].mean():.3f}, "
      f"of the rest {acc0[confident_idx].mean():.3f}")
assert acc0[uncertain_idx].mean() < acc0[confident_idx].mean() - 0.1, "small margin = unsure"

uncertain = [unlabeled[i] for i in uncertain_idx]
synth_rng = random.Random(run.seed)
synthetic = [q for p in uncertain for q in similar_problems(p, 4, synth_rng)]
tts_policy, _ = test_time_train(ttrl_reward, synthetic, SHORT_STEPS, PROMPTS // 2, offset=500)
acc_unc1 = pass1(tts_policy, uncertain)
print(f"{len(uncertain)} uncertain problems: pass@1 {acc0[uncertain_idx].mean():.3f} -> "
      f"{acc_unc1.mean():.3f} after {SHORT_STEPS} steps on {len(synthetic)} similar ones")

# %% [markdown]
# ## Paper vs. here
#
# | | paper | here |
# |---|---|---|
# | TTRL | Qwen2.5-Math-7B on AIME 2024: pass@1 16.7 → 43.3 without labels, past the initial maj@64 | on 200 unlabeled level-5/6 problems of a 0.1M-parameter reasoner, pass@1 rises clearly on the problems whose majority is right, but over the whole set by only about one standard error (+0.01 to +0.03): most majorities are wrong here (label accuracy 0.3-0.4), and they pull the other way. We do **not** reproduce a clear gain on the whole set |
# | TTRL diagnostics | label accuracy ~37%, reward accuracy ~92% on AIME | reward accuracy above label accuracy by ~0.25: single-digit answers collide by chance, so wrong samples earn wrong rewards more often |
# | TTRL failure | needs a prior: a base model too weak for the task does not improve | problems with a wrong majority do not improve; at lr 2e-4, or for 60 steps on a reasoner whose label accuracy is 0.27, the samples learn to agree on wrong answers and pass@1 falls on every problem |
# | TTRV | frequency + entropy rewards in GRPO, 16 VLM benchmarks | the entropy reward cancels under a group baseline; without a baseline it makes the samples agree |
# | RLCF | CLIP reward with a mean baseline, test-time adaptation of CLIP-ViT and captioners | Part III's ORM as the critic, with the same baseline |
# | TT-SI | uncertainty by margin, self-synthesised similar samples, test-time fine-tuning; +5.5% on agent benchmarks | the margin finds the problems the model gets wrong; similar problems by redrawing digits, self-labelled by the vote |

# %% [markdown]
# ## Exercises

# %% solution id=ex-reward-acc
def reward_accuracy(answers, G, targets):
    """Fraction of samples whose majority-vote pseudo-reward equals the true reward."""
    ### BEGIN SOLUTION
    pseudo = majority_rewards_scratch(answers, G)
    true = torch.tensor([float(a is not None and a == targets[i // G])
                         for i, a in enumerate(answers)])
    return float((pseudo == true).float().mean())
    ### END SOLUTION

# %% grader points=2 id=ex-reward-acc-test
assert reward_accuracy([1, 1, 2, 3], 4, [2]) == 0.25
### BEGIN HIDDEN TESTS
_rng = random.Random(11)
_ans = [_rng.choice([None, 0, 1, 2]) for _ in range(48)]
_t = [_rng.choice([0, 1, 2]) for _ in range(6)]
assert abs(reward_accuracy(_ans, 8, _t)
           - majority_vote_rewards(_ans, 8, targets=_t)[1]["reward_acc"]) < 1e-6
### END HIDDEN TESTS

# %% solution id=ex-margin
def margin_scratch(answers):
    """TT-SI's vote margin: (votes of the top answer - votes of the runner-up) / len(answers);
    None answers do not vote but count in the denominator."""
    ### BEGIN SOLUTION
    counts = sorted(Counter(a for a in answers if a is not None).values(), reverse=True)
    counts += [0, 0]
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
torch.testing.assert_close(frequency_rewards_scratch([1, 1, 2, None], 4),
                           torch.tensor([0.5, 0.5, 0.25, 0.0]))
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
# - Label accuracy and reward accuracy say when it can work; it fails where the majority is
#   wrong, because it then rewards the wrong answer.
# - TTRV's soft frequency reward is a variant; its entropy term needs a baseline shared
#   across problems, and it makes the samples agree, right or wrong.
# - A frozen reward model (RLCF) is another label-free critic; TT-SI spends the training on
#   the problems the model is unsure about, found by the vote margin.
#
# Papers: *TTRL: Test-Time Reinforcement Learning* (arXiv 2504.16084); *TTRV: Test-Time
# Reinforcement Learning for Vision Language Models* (arXiv 2510.06783); *Test-Time
# Adaptation with CLIP Reward for Zero-Shot Generalization in Vision-Language Models* (arXiv
# 2305.18010); *Self-Improving LLM Agents at Test-Time* (arXiv 2510.07841). Code anchors:
# PRIME-RL/TTRL, mzhaoshuai/RLCF.
