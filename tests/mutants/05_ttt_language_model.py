"""Wrong answers to notebook 05's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-binned": [
        ('strided groups: view(width, -1) averages entries width apart, not consecutive ones', Edit(
            '''
return curve.view(-1, width).mean(1)
''',
            '''
return curve.view(width, -1).mean(0)
''')),
        ('sums each group instead of averaging it', Edit(
            '''
return curve.view(-1, width).mean(1)
''',
            '''
return curve.view(-1, width).sum(1)
''')),
        ('sliding windows (unfold with step 1) instead of disjoint groups', Edit(
            '''
return curve.view(-1, width).mean(1)
''',
            '''
return curve.unfold(0, width, 1).mean(1)
''')),
        ("hard-codes the visible test's answer", Edit(
            '''
return curve.view(-1, width).mean(1)
''',
            '''
return torch.tensor([0.5, 2.5, 4.5])
''')),
    ],
    "ex-position-loss": [
        ('scores the current token instead of the next one (targets tokens[:, :-1])', Edit(
            '''
return -logp.gather(-1, tokens[:, 1:, None])[..., 0].mean(0)
''',
            '''
return -logp.gather(-1, tokens[:, :-1, None])[..., 0].mean(0)
''')),
        ('off by one: logits of positions 1..L-1, which have already seen their target', Edit(
            '''
    logits, _ = model(tokens[:, :-1])
logp = torch.log_softmax(logits.float(), dim=-1)
''',
            '''
    logits, _ = model(tokens)
logp = torch.log_softmax(logits[:, 1:].float(), dim=-1)
''')),
        ('raw logits instead of log-probabilities (no log_softmax)', Edit(
            '''
logp = torch.log_softmax(logits.float(), dim=-1)
return -logp.gather(-1, tokens[:, 1:, None])[..., 0].mean(0)
''',
            '''
return -logits.float().gather(-1, tokens[:, 1:, None])[..., 0].mean(0)
''')),
        ('sums over the batch instead of averaging', Edit(
            '''
return -logp.gather(-1, tokens[:, 1:, None])[..., 0].mean(0)
''',
            '''
return -logp.gather(-1, tokens[:, 1:, None])[..., 0].sum(0)
''')),
    ],
    "ex-state": [
        ("ignores dataclass states (TTT-Linear's and LaCT's fast weights count zero)", Edit(
            '''
    if obj is None:
        return 0
    if torch.is_tensor(obj):
        return obj.numel()
    if dataclasses.is_dataclass(obj):
        return sum(count(getattr(obj, f.name)) for f in dataclasses.fields(obj))
''',
            '''
    if torch.is_tensor(obj):
        return obj.numel()
''')),
        ("counts the first layer's state only", Edit(
            '''
return count(state.layers)
''',
            '''
return count(state.layers[0])
''')),
        ('off by one: reads length - 1 tokens', Edit(
            '''
idx = torch.zeros(1, length, dtype=torch.long, device=next(model.parameters()).device)
''',
            '''
idx = torch.zeros(1, length - 1, dtype=torch.long, device=next(model.parameters()).device)
''')),
        ('counts bytes (element_size * numel) instead of numbers', Edit(
            '''
        return obj.numel()
''',
            '''
        return obj.numel() * obj.element_size()
''')),
    ],
}
