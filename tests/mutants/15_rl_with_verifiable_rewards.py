"""Wrong answers to notebook 15's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-loo": [
        ('the baseline includes the sample itself (the plain group mean)', Edit(
            '''
others = (r.sum(1, keepdim=True) - r) / (G - 1)
return (r - others).reshape(-1)
''',
            '''
return (r - r.mean(1, keepdim=True)).reshape(-1)
''')),
        ("divides the others' sum by G instead of G - 1", Edit(
            '''
others = (r.sum(1, keepdim=True) - r) / (G - 1)
''',
            '''
others = (r.sum(1, keepdim=True) - r) / G
''')),
        ('groups along the wrong axis (view(G, -1): samples i, i + P, ... as a group)', Edit(
            '''
r = rewards.view(-1, G)
others = (r.sum(1, keepdim=True) - r) / (G - 1)
''',
            '''
r = rewards.view(G, -1)
others = (r.sum(0, keepdim=True) - r) / (G - 1)
''')),
        ("also divides by the group std (GRPO's normalisation)", Edit(
            '''
return (r - others).reshape(-1)
''',
            '''
return ((r - others) / (r.std(1, keepdim=True) + 1e-6)).reshape(-1)
''')),
    ],
    "ex-k3": [
        ('the k1 estimator logp - ref_logp', Edit(
            '''
d = ref_logp - logp
return torch.exp(d) - d - 1
''',
            '''
return logp - ref_logp
''')),
        ('the k2 estimator (ref_logp - logp)^2 / 2', Edit(
            '''
d = ref_logp - logp
return torch.exp(d) - d - 1
''',
            '''
return 0.5 * (ref_logp - logp) ** 2
''')),
        ('the ratio inverted: d = logp - ref_logp', Edit(
            '''
d = ref_logp - logp
''',
            '''
d = logp - ref_logp
''')),
    ],
    "ex-drgrpo": [
        ('ignores the mask: padding tokens counted', Edit(
            '''
return (per_token * mask).sum() / (logp.size(0) * max_len)
''',
            '''
return per_token.sum() / (logp.size(0) * max_len)
''')),
        ("GRPO's per-sequence length normalisation instead of the constant B * max_len", Edit(
            '''
return (per_token * mask).sum() / (logp.size(0) * max_len)
''',
            '''
return ((per_token * mask).sum(1) / mask.sum(1)).mean()
''')),
        ("DAPO's token-level normalisation (divides by the number of real tokens)", Edit(
            '''
return (per_token * mask).sum() / (logp.size(0) * max_len)
''',
            '''
return (per_token * mask).sum() / mask.sum()
''')),
        ('max instead of min: the optimistic bound, clipping the wrong side', Edit(
            '''
per_token = -torch.min(ratio * a, ratio.clamp(1 - eps, 1 + eps) * a)
''',
            '''
per_token = -torch.max(ratio * a, ratio.clamp(1 - eps, 1 + eps) * a)
''')),
        ("divides by B * T (the batch's own length) instead of B * max_len", Edit(
            '''
return (per_token * mask).sum() / (logp.size(0) * max_len)
''',
            '''
return (per_token * mask).sum() / logp.numel()
''')),
        ('clips only the upper side of the ratio (no 1 - eps)', Edit(
            '''
per_token = -torch.min(ratio * a, ratio.clamp(1 - eps, 1 + eps) * a)
''',
            '''
per_token = -torch.min(ratio * a, ratio.clamp(max=1 + eps) * a)
''')),
    ],
}
