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
    "ex-grpo-step": [
        ('advantages not divided by the group std (Dr. GRPO\'s advantage)', Edit(
            '''
advantage = ((grouped - grouped.mean(dim=1, keepdim=True)) / spread).reshape(-1, 1)
''',
            '''
advantage = (grouped - grouped.mean(dim=1, keepdim=True)).reshape(-1, 1)
''')),
        ('the biased std (unbiased=False) of the group', Edit(
            '''
spread = grouped.std(dim=1, keepdim=True) + 1e-4
''',
            '''
spread = grouped.std(dim=1, keepdim=True, unbiased=False) + 1e-4
''')),
        ('the KL penalty subtracted instead of added', Edit(
            '''
per_sequence = (weights * (beta * penalty - lower_bound)).sum(dim=1) / lengths
''',
            '''
per_sequence = (weights * (-beta * penalty - lower_bound)).sum(dim=1) / lengths
''')),
        ('the ratio of k3 inverted: log r = logp - ref_logp', Edit(
            '''
log_r = ref_logp.detach() - logp
''',
            '''
log_r = logp - ref_logp.detach()
''')),
        ('beta forgotten: the raw k3 added', Edit(
            '''
per_sequence = (weights * (beta * penalty - lower_bound)).sum(dim=1) / lengths
''',
            '''
per_sequence = (weights * (penalty - lower_bound)).sum(dim=1) / lengths
''')),
        ('max instead of min: the clip on the wrong side', Edit(
            '''
lower_bound = torch.minimum(rho * advantage, torch.clamp(rho, 1 - eps, 1 + eps) * advantage)
''',
            '''
lower_bound = torch.maximum(rho * advantage, torch.clamp(rho, 1 - eps, 1 + eps) * advantage)
''')),
        ('clips only the upper side of the ratio (no 1 - eps)', Edit(
            '''
lower_bound = torch.minimum(rho * advantage, torch.clamp(rho, 1 - eps, 1 + eps) * advantage)
''',
            '''
lower_bound = torch.minimum(rho * advantage, torch.clamp(rho, max=1 + eps) * advantage)
''')),
        ("DAPO's token-level mean instead of GRPO's per-sequence mean", Edit(
            '''
per_sequence = (weights * (beta * penalty - lower_bound)).sum(dim=1) / lengths
return per_sequence.mean()
''',
            '''
return (weights * (beta * penalty - lower_bound)).sum() / lengths.sum()
''')),
        ('divides each sequence by T instead of its own length', Edit(
            '''
per_sequence = (weights * (beta * penalty - lower_bound)).sum(dim=1) / lengths
''',
            '''
per_sequence = (weights * (beta * penalty - lower_bound)).sum(dim=1) / logp.size(1)
''')),
        ('groups along the wrong axis (view(G, -1): samples i, i + B, ... as a group)', Edit(
            '''
grouped = rewards.to(logp.dtype).reshape(-1, G)
spread = grouped.std(dim=1, keepdim=True) + 1e-4
advantage = ((grouped - grouped.mean(dim=1, keepdim=True)) / spread).reshape(-1, 1)
''',
            '''
grouped = rewards.to(logp.dtype).reshape(G, -1)
spread = grouped.std(dim=0, keepdim=True) + 1e-4
advantage = ((grouped - grouped.mean(dim=0, keepdim=True)) / spread).reshape(-1, 1)
''')),
        ('the policy log-probs detached in the ratio: the loss has the right value, no gradient', Edit(
            '''
rho = (logp - old_logp.detach()).exp()
''',
            '''
rho = (logp.detach() - old_logp).exp()
''')),
    ],
}
