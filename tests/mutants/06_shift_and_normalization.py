"""Wrong answers to notebook 06's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-brightness": [
        ("adds c to every RGB channel instead of rescaling by V' / V (hue and saturation change)", Edit(
            '''
v = x.amax(dim=1, keepdim=True)
v_new = (v + c).clamp(0, 1)
return torch.where(v > 0, x * v_new / v.clamp_min(1e-12), v_new.expand_as(x)).clamp(0, 1)
''',
            '''
return (x + c).clamp(0, 1)
''')),
        ('V is the channel mean, not the channel maximum', Edit(
            '''
v = x.amax(dim=1, keepdim=True)
''',
            '''
v = x.mean(dim=1, keepdim=True)
''')),
        ('V is the maximum over the whole image (wrong axes), not per pixel', Edit(
            '''
v = x.amax(dim=1, keepdim=True)
''',
            '''
v = x.amax(dim=(1, 2, 3), keepdim=True)
''')),
        ("V' not clipped at 1 (channels scaled by (V + c) / V, then clipped)", Edit(
            '''
v_new = (v + c).clamp(0, 1)
''',
            '''
v_new = v + c
''')),
    ],
    "ex-pixelate": [
        ('returns the image unchanged (fits both visible tests)', Edit(
            '''
c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
h, w = x.shape[-2:]
small = F.interpolate(x, size=(max(1, int(h * c)), max(1, int(w * c))), mode="area")
return F.interpolate(small, size=(h, w), mode="nearest-exact")
''',
            '''
return x
''')),
        ('height and width swapped in the reduced size', Edit(
            '''
small = F.interpolate(x, size=(max(1, int(h * c)), max(1, int(w * c))), mode="area")
''',
            '''
small = F.interpolate(x, size=(max(1, int(w * c)), max(1, int(h * c))), mode="area")
''')),
        ('reduced size rounded instead of truncated with int()', Edit(
            '''
small = F.interpolate(x, size=(max(1, int(h * c)), max(1, int(w * c))), mode="area")
''',
            '''
small = F.interpolate(x, size=(max(1, round(h * c)), max(1, round(w * c))), mode="area")
''')),
        ("bilinear shrinking instead of box averaging (mode='area')", Edit(
            '''
small = F.interpolate(x, size=(max(1, int(h * c)), max(1, int(w * c))), mode="area")
''',
            '''
small = F.interpolate(x, size=(max(1, int(h * c)), max(1, int(w * c))), mode="bilinear")
''')),
    ],
    "ex-auroc": [
        ('arguments swapped: the in-distribution scores treated as the positives', Edit(
            '''
diff = scores_out[:, None] - scores_in[None, :]
''',
            '''
diff = scores_in[:, None] - scores_out[None, :]
''')),
        ('ties count zero instead of one half', Edit(
            '''
return ((diff > 0).float() + 0.5 * (diff == 0).float()).mean().item()
''',
            '''
return (diff > 0).float().mean().item()
''')),
        ('divides by n_out squared instead of n_in * n_out', Edit(
            '''
return ((diff > 0).float() + 0.5 * (diff == 0).float()).mean().item()
''',
            '''
wins = ((diff > 0).float() + 0.5 * (diff == 0).float()).sum()
return (wins / len(scores_out) ** 2).item()
''')),
        ('compares each OOD score with the mean in-distribution score, not with every one', Edit(
            '''
diff = scores_out[:, None] - scores_in[None, :]
return ((diff > 0).float() + 0.5 * (diff == 0).float()).mean().item()
''',
            '''
m = scores_in.mean()
return ((scores_out > m).float() + 0.5 * (scores_out == m).float()).mean().item()
''')),
    ],
    "ex-severity-sweep": [
        ("BN adapt through AlphaBN with alpha = 1, the weight of the SOURCE statistics here: "
         "the training statistics instead of the test batch's", Edit(
            '''
bn_errors.append(error_rate(BNAdapt(copy.deepcopy(model)), xc, y, batch_size=batch_size))
''',
            '''
bn_errors.append(error_rate(AlphaBN(copy.deepcopy(model), 1.0), xc, y, batch_size=batch_size))
''')),
        ("measures both models on the clean images (the corrupted batch is never used)", Edit(
            '''
for s in SEVERITIES:
    xc = corrupt(x, corruption, s, torch.Generator().manual_seed(seed))
    source_errors.append(error_rate(model, xc, y, batch_size=batch_size))
    bn_errors.append(error_rate(BNAdapt(copy.deepcopy(model)), xc, y, batch_size=batch_size))
''',
            '''
for s in SEVERITIES:
    xc = corrupt(x, corruption, s, torch.Generator().manual_seed(seed))
    source_errors.append(error_rate(model, x, y, batch_size=batch_size))
    bn_errors.append(error_rate(BNAdapt(copy.deepcopy(model)), x, y, batch_size=batch_size))
''')),
        ("returns the severity where BN adapt gains most (an argmax), not the first that pays", Edit(
            '''
first = next((s for s, g in zip(SEVERITIES, gains) if g >= margin), None)
''',
            '''
best = max(range(len(gains)), key=lambda i: gains[i])
first = SEVERITIES[best] if gains[best] >= margin else None
''')),
        ("off by one: returns the 0-based index of the severity, not the severity", Edit(
            '''
first = next((s for s, g in zip(SEVERITIES, gains) if g >= margin), None)
''',
            '''
first = next((i for i, g in enumerate(gains) if g >= margin), None)
''')),
        ("evaluates the source model twice (the BN curve is the source model's)", Edit(
            '''
bn_errors.append(error_rate(BNAdapt(copy.deepcopy(model)), xc, y, batch_size=batch_size))
''',
            '''
bn_errors.append(error_rate(copy.deepcopy(model), xc, y, batch_size=batch_size))
''')),
        ("wraps the model itself: BNAdapt switches it to batch statistics, so the source curve "
         "from severity 2 on is BN adapt's", Edit(
            '''
bn_errors.append(error_rate(BNAdapt(copy.deepcopy(model)), xc, y, batch_size=batch_size))
''',
            '''
bn_errors.append(error_rate(BNAdapt(model), xc, y, batch_size=batch_size))
''')),
        ("BN adapt on the whole test set as one batch (error_rate's default batch of 1000)", Edit(
            '''
bn_errors.append(error_rate(BNAdapt(copy.deepcopy(model)), xc, y, batch_size=batch_size))
''',
            '''
bn_errors.append(error_rate(BNAdapt(copy.deepcopy(model)), xc, y))
''')),
        ("one generator for all severities, so each severity draws different noise", Edit(
            '''
for s in SEVERITIES:
    xc = corrupt(x, corruption, s, torch.Generator().manual_seed(seed))
''',
            '''
g = torch.Generator().manual_seed(seed)
for s in SEVERITIES:
    xc = corrupt(x, corruption, s, g)
''')),
    ],
}
