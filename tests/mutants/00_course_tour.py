"""Wrong answers to notebook 00's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-top-p": [
        ('keeps a token when the mass including it is below p (drops the one that crosses p)', Edit(
            '''
mass_before = probs.cumsum(dim=-1) - probs
sorted_logits = sorted_logits.masked_fill(mass_before >= p, -math.inf)
''',
            '''
sorted_logits = sorted_logits.masked_fill(probs.cumsum(dim=-1) > p, -math.inf)
''')),
        ('filters in sorted order and forgets to scatter back to the vocabulary positions', Edit(
            '''
sorted_logits = sorted_logits.masked_fill(mass_before >= p, -math.inf)
return torch.full_like(logits, -math.inf).scatter(-1, order, sorted_logits)
''',
            '''
return sorted_logits.masked_fill(mass_before >= p, -math.inf)
''')),
        ("cumulates the logits instead of the probabilities' softmax over the whole row", Edit(
            '''
probs = sorted_logits.softmax(dim=-1)
''',
            '''
probs = sorted_logits.exp() / sorted_logits.exp().sum()
''')),
    ],
    "ex-temperature": [
        ('multiplies by the temperature instead of dividing', Edit(
            '''
return (logits / temperature).softmax(dim=-1)
''',
            '''
return (logits * temperature).softmax(dim=-1)
''')),
        ('softmax over the batch axis', Edit(
            '''
return (logits / temperature).softmax(dim=-1)
''',
            '''
return (logits / temperature).softmax(dim=0)
''')),
    ],
    "ex-decode": [
        ('finished rows keep sampling (no padding)', Edit(
            '''
    nxt = torch.where(done, torch.full_like(nxt, stop), nxt)
''',
            '''

''')),
        ('stops as soon as any row has stopped', Edit(
            '''
    if bool(done.all()):
''',
            '''
    if bool(done.any()):
''')),
        ('samples only the unfinished rows (the random stream drifts)', Edit(
            '''
    nxt = sample_next(logits[:, -1], temperature, generator=generator)
    nxt = torch.where(done, torch.full_like(nxt, stop), nxt)
''',
            '''
    nxt = torch.full((len(out),), stop, dtype=torch.long)
    if (~done).any():
        nxt[~done] = sample_next(logits[~done, -1], temperature, generator=generator)
''')),
        ("samples from the first position's logits", Edit(
            '''
    nxt = sample_next(logits[:, -1], temperature, generator=generator)
''',
            '''
    nxt = sample_next(logits[:, 0], temperature, generator=generator)
''')),
    ],
}
