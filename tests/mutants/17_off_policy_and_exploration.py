"""Wrong answers to notebook 17's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-cispo": [
        ('forgets to detach the clipped weight (the gradient flows through the ratio)', Edit(
            '''
w = torch.exp(logp - old_logp).clamp(max=1 + eps_high).detach()
''',
            '''
w = torch.exp(logp - old_logp).clamp(max=1 + eps_high)
''')),
        ("clips the ratio from below too (PPO's 1 - eps)", Edit(
            '''
w = torch.exp(logp - old_logp).clamp(max=1 + eps_high).detach()
''',
            '''
w = torch.exp(logp - old_logp).clamp(1 - eps_high, 1 + eps_high).detach()
''')),
        ('divides by every position, padding included (mask.numel())', Edit(
            '''
return (-(w * adv[:, None] * logp) * mask).sum() / mask.sum()
''',
            '''
return (-(w * adv[:, None] * logp) * mask).sum() / mask.numel()
''')),
        ('per-sequence normalisation (GRPO) instead of token-level', Edit(
            '''
return (-(w * adv[:, None] * logp) * mask).sum() / mask.sum()
''',
            '''
return ((-(w * adv[:, None] * logp) * mask).sum(1) / mask.sum(1)).mean()
''')),
    ],
    "ex-topr": [
        ('branches swapped: the truncated ratio for positive advantages, 1 for negative', Edit(
            '''
return torch.where(adv >= 0, torch.ones_like(ratio), ratio)
''',
            '''
return torch.where(adv >= 0, ratio, torch.ones_like(ratio))
''')),
        ('truncates the ratio for every advantage, positive ones too', Edit(
            '''
ratio = torch.exp(seq_logp - seq_old_logp).clamp(0.0, 1.0)
return torch.where(adv >= 0, torch.ones_like(ratio), ratio)
''',
            '''
return torch.exp(seq_logp - seq_old_logp).clamp(0.0, 1.0)
''')),
        ('the ratio inverted: old / new', Edit(
            '''
ratio = torch.exp(seq_logp - seq_old_logp).clamp(0.0, 1.0)
''',
            '''
ratio = torch.exp(seq_old_logp - seq_logp).clamp(0.0, 1.0)
''')),
    ],
    "ex-progress": [
        ('sign flipped: earlier value minus later', Edit(
            '''
return values[:, 1:] - values[:, :-1]
''',
            '''
return values[:, :-1] - values[:, 1:]
''')),
        ('differences along the batch axis (dim 0)', Edit(
            '''
return values[:, 1:] - values[:, :-1]
''',
            '''
return values[1:] - values[:-1]
''')),
        ('every value minus the initial value instead of the previous one', Edit(
            '''
return values[:, 1:] - values[:, :-1]
''',
            '''
return values[:, 1:] - values[:, :1]
''')),
    ],    "ex-stale": [
        ('the importance weight is not detached (the gradient flows through the ratio)', Edit(
            '''
rho = (new_lp - old_lp).exp().detach()
''',
            '''
rho = (new_lp - old_lp).exp()
''')),
        ('the ratio inverted: sampler over current policy', Edit(
            '''
rho = (new_lp - old_lp).exp().detach()
''',
            '''
rho = (old_lp - new_lp).exp().detach()
''')),
        ('staleness ignored: samples from the current policy', Edit(
            '''
mu = past[max(t - lag, 0)]
''',
            '''
mu = past[t]
''')),
        ('the sampler one update staler than asked', Edit(
            '''
mu = past[max(t - lag, 0)]
''',
            '''
mu = past[max(t - lag - 1, 0)]
''')),
        ('one generator shared by all runs instead of one per run', Edit(
            '''
out = {}
for method in methods:
    out[method] = []
    for lag in levels:
        g = torch.Generator().manual_seed(seed)
''',
            '''
out = {}
g = torch.Generator().manual_seed(seed)
for method in methods:
    out[method] = []
    for lag in levels:
''')),
        ('no baseline: the raw reward as the advantage', Edit(
            '''
adv = (ys == 0).float() - (ys == 0).float().mean()
''',
            '''
adv = (ys == 0).float()
''')),
        ("PPO's clip replaced by the library's plain REINFORCE (no ratio at all)", Edit(
            '''
kind = {"topr": "topr", "ppo": "grpo"}[method]
''',
            '''
kind = {"topr": "topr", "ppo": "reinforce"}[method]
''')),
        ('first_gap returns the index of the level, not the level', Edit(
            '''
for lag, mine, ref in zip(levels, results[method], results["is"]):
    if mine < ref - margin:
        return lag
''',
            '''
for i, (lag, mine, ref) in enumerate(zip(levels, results[method], results["is"])):
    if mine < ref - margin:
        return i
''')),
        ('first_gap counts a gap in either direction', Edit(
            '''
if mine < ref - margin:
''',
            '''
if abs(mine - ref) > margin:
''')),
    ],
}
