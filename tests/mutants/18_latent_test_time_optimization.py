"""Wrong answers to notebook 18's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-offset": [
        ('forgets the transpose: z @ W', Edit(
            '''
return z @ W.T
''',
            '''
return z @ W
''')),
        ('returns probabilities (softmax) instead of a logit offset', Edit(
            '''
return z @ W.T
''',
            '''
return (z @ W.T).softmax(-1)
''')),
        ('normalises the offset into log-probabilities', Edit(
            '''
return z @ W.T
''',
            '''
return (z @ W.T).log_softmax(-1)
''')),
    ],
    "ex-threshold": [
        ('biased std (unbiased=False)', Edit(
            '''
sd = history.std(dim=1).clamp(min=min_std)
''',
            '''
sd = history.std(dim=1, unbiased=False).clamp(min=min_std)
''')),
        ('the variance instead of the standard deviation', Edit(
            '''
sd = history.std(dim=1).clamp(min=min_std)
''',
            '''
sd = history.var(dim=1).clamp(min=min_std)
''')),
        ('floors k * std at min_std instead of the std itself', Edit(
            '''
sd = history.std(dim=1).clamp(min=min_std)
return (history.mean(dim=1) + k * sd).clamp(min=min_threshold)
''',
            '''
sd = history.std(dim=1)
return (history.mean(dim=1) + (k * sd).clamp(min=min_std)).clamp(min=min_threshold)
''')),
        ('hard-codes the std floor 0.5 (ignores min_std)', Edit(
            '''
sd = history.std(dim=1).clamp(min=min_std)
''',
            '''
sd = history.std(dim=1).clamp(min=0.5)
''')),
        ('hard-codes the threshold floor 1.8 (ignores min_threshold)', Edit(
            '''
return (history.mean(dim=1) + k * sd).clamp(min=min_threshold)
''',
            '''
return (history.mean(dim=1) + k * sd).clamp(min=1.8)
''')),
    ],
    "ex-entropy": [
        ('off by one: the distributions after each completion token, not before', Edit(
            '''
    logits = model(tokens[:, :-1])[0][:, prompt_len - 1 :]
''',
            '''
    logits = model(tokens)[0][:, prompt_len:]
''')),
        ('entropy in bits (log2) instead of nats', Edit(
            '''
logp = F.log_softmax(logits.float(), dim=-1)
return -(logp.exp() * logp).sum(-1)
''',
            '''
p = F.softmax(logits.float(), dim=-1)
return -(p * torch.log2(p.clamp_min(1e-30))).sum(-1)
''')),
        ('mean over the vocabulary instead of the sum', Edit(
            '''
return -(logp.exp() * logp).sum(-1)
''',
            '''
return -(logp.exp() * logp).mean(-1)
''')),
        ('the raw logits used as log-probabilities (no log_softmax)', Edit(
            '''
    logits = model(tokens[:, :-1])[0][:, prompt_len - 1 :]
logp = F.log_softmax(logits.float(), dim=-1)
return -(logp.exp() * logp).sum(-1)
''',
            '''
    logits = model(tokens[:, :-1])[0][:, prompt_len - 1 :].float()
return -(logits.exp() * logits).sum(-1)
''')),
    ],
}
