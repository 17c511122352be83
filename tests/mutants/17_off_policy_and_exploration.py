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
    ],
}
