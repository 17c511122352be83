"""Wrong answers to notebook 07's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS = ["cell-05"]  # the source model and the severity-5 test domains (cached, about 1 s)

_NEG_HEAD = """
p = logits.softmax(1)
low = p.amax(1) < tau
if not low.any():
    return logits.sum() * 0.0
p = p[low]
neg = (p < 1.0 / p.shape[1]).float()
"""

_CLUSTER_TAIL = """
q = torch.tensor(sizes, dtype=torch.float64) / len(samples)
return float(-(q * q.log()).sum())
"""

_LORA_INIT = """
self.base = base.requires_grad_(False)
self.scale = scale
a = torch.randn(rank, base.in_features, generator=generator) / math.sqrt(base.in_features)
self.A = nn.Parameter(a.to(base.weight.device))
self.B = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
"""
_LORA_FORWARD = "return self.base(x) + self.scale * (x @ self.A.T) @ self.B.T"

MUTANTS = {
    "ex-negative": [
        ('minimizes -log p_c on the negative classes instead of -log(1 - p_c)', Edit(
            '''
per_sample = (-torch.log1p(-p.clamp(max=1 - 1e-6)) * neg).sum(1) / neg.sum(1).clamp_min(1)
''',
            '''

per_sample = (-torch.log(p.clamp_min(1e-6)) * neg).sum(1) / neg.sum(1).clamp_min(1)
''')),
        ('selects the confident samples (max p >= tau) instead of the low-confidence ones', Edit(
            '''
low = p.amax(1) < tau
''',
            '''
low = p.amax(1) >= tau
''')),
        ('averages over all C classes instead of over the negative classes', Edit(
            '''
per_sample = (-torch.log1p(-p.clamp(max=1 - 1e-6)) * neg).sum(1) / neg.sum(1).clamp_min(1)
''',
            '''

per_sample = (-torch.log1p(-p.clamp(max=1 - 1e-6)) * neg).mean(1)
''')),
        ('no qualifying sample: returns a constant zero without a gradient path', Edit(
            '''
    return logits.sum() * 0.0
''',
            '''
    return torch.tensor(0.0)
''')),
        ('averages over all samples (confident ones counted as zero), not over the selected ones', Edit(
            '''
low = p.amax(1) < tau
if not low.any():
    return logits.sum() * 0.0
p = p[low]
neg = (p < 1.0 / p.shape[1]).float()
per_sample = (-torch.log1p(-p.clamp(max=1 - 1e-6)) * neg).sum(1) / neg.sum(1).clamp_min(1)
return per_sample.mean()
''',
            '''
low = (p.amax(1) < tau).float()
neg = (p < 1.0 / p.shape[1]).float()
per_sample = (-torch.log1p(-p.clamp(max=1 - 1e-6)) * neg).sum(1) / neg.sum(1).clamp_min(1)
return (per_sample * low).mean()
''')),
    ],
    "ex-cluster": [
        ('strict < radius: a sample at distance exactly radius opens a new cluster', Edit(
            '''
        if torch.linalg.norm(s - c) <= radius:
            sizes[i] += 1
            break
    else:
        centers.append(s)
        sizes.append(1)
''',
            '''
        if torch.linalg.norm(s - c) < radius:
            sizes[i] += 1
            break
    else:
        centers.append(s)
        sizes.append(1)

''')),
        ("compares with the cluster's most recent member, not its first", Edit(
            '''
            break
    else:
        centers.append(s)
        sizes.append(1)
''',
            '''
            centers[i] = s
            break
    else:
        centers.append(s)
        sizes.append(1)

''')),
        ('joins the nearest cluster within radius instead of the first one', Edit(
            '''
    for i, c in enumerate(centers):
        if torch.linalg.norm(s - c) <= radius:
            sizes[i] += 1
            break
    else:
        centers.append(s)
        sizes.append(1)
''',
            '''
    d = [float(torch.linalg.norm(s - c)) for c in centers]
    near = [i for i in range(len(d)) if d[i] <= radius]
    if near:
        sizes[min(near, key=lambda i: d[i])] += 1
    else:
        centers.append(s)
        sizes.append(1)

''')),
        ('entropy in bits (log base 2) instead of nats', Edit(
            '''
return float(-(q * q.log()).sum())
''',
            '''
return float(-(q * q.log2()).sum())
''')),
    ],
    "ex-lora": [
        ('A drawn with std 1/in instead of 1/sqrt(in) (variance and standard deviation confused)', Edit(
            '''
a = torch.randn(rank, base.in_features, generator=generator) / math.sqrt(base.in_features)
''',
            '''
a = torch.randn(rank, base.in_features, generator=generator) / base.in_features
''')),
        ('initialisations swapped: A zero and B random, so no gradient reaches B at the start', Edit(
            '''
a = torch.randn(rank, base.in_features, generator=generator) / math.sqrt(base.in_features)
self.A = nn.Parameter(a.to(base.weight.device))
self.B = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
''',
            '''
self.A = nn.Parameter(torch.zeros(rank, base.in_features, device=base.weight.device))
b = torch.randn(base.out_features, rank, generator=generator) / math.sqrt(rank)
self.B = nn.Parameter(b.to(base.weight.device))
''')),
        ('A drawn from the global generator, ignoring the one given (not reproducible)', Edit(
            '''
a = torch.randn(rank, base.in_features, generator=generator) / math.sqrt(base.in_features)
''',
            '''
a = torch.randn(rank, base.in_features) / math.sqrt(base.in_features)
''')),
        ('base layer not frozen: its weight and bias are trained too', Edit(
            '''
self.base = base.requires_grad_(False)
''',
            '''
self.base = base
''')),
        ('forward forgets the scale', Edit(
            '''
return self.base(x) + self.scale * (x @ self.A.T) @ self.B.T
''',
            '''
return self.base(x) + (x @ self.A.T) @ self.B.T
''')),
    ],
}
