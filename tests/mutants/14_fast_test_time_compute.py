"""Wrong answers to notebook 14's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-lookup": [
        ('takes the earliest earlier occurrence instead of the latest', Edit(
            '''
    for start in range(len(context) - n - 1, -1, -1):
''',
            '''
    for start in range(0, len(context) - n):
''')),
        ('tries the shortest n-gram first (n = 1, ..., max_ngram)', Edit(
            '''
for n in range(min(max_ngram, len(context) - 1), 0, -1):
''',
            '''
for n in range(1, min(max_ngram, len(context) - 1) + 1):
''')),
        ('off by one: skips the occurrence that ends right before the suffix', Edit(
            '''
    for start in range(len(context) - n - 1, -1, -1):
''',
            '''
    for start in range(len(context) - n - 2, -1, -1):
''')),
        ('no back-off: gives up when the longest n-gram has no earlier occurrence', Edit(
            '''
for n in range(min(max_ngram, len(context) - 1), 0, -1):
    suffix = context[-n:]
    for start in range(len(context) - n - 1, -1, -1):
        if context[start : start + n] == suffix:
            return context[start + n : start + n + k]
''',
            '''
n = min(max_ngram, len(context) - 1)
if n < 1:
    return []
suffix = context[-n:]
for start in range(len(context) - n - 1, -1, -1):
    if context[start : start + n] == suffix:
        return context[start + n : start + n + k]
''')),
    ],
    "ex-residual": [
        ('normalises along the batch (dim 0) instead of each row', Edit(
            '''
norm = r.sum(-1, keepdim=True)
''',
            '''
norm = r.sum(0, keepdim=True)
''')),
        ('normalises by the total over the whole batch', Edit(
            '''
norm = r.sum(-1, keepdim=True)
''',
            '''
norm = r.sum()
''')),
        ('clamps q - p: the wrong side of the difference', Edit(
            '''
r = (p - q).clamp_min(0)
''',
            '''
r = (q - p).clamp_min(0)
''')),
        ('forgets to normalise: returns max(0, p - q)', Edit(
            '''
r = (p - q).clamp_min(0)
norm = r.sum(-1, keepdim=True)
return torch.where(norm > 0, r / norm.clamp_min(1e-30), torch.zeros_like(r))
''',
            '''
return (p - q).clamp_min(0)
''')),
    ],
    "ex-decided": [
        ('>= instead of >: a lead equal to the remaining votes can still be tied', Edit(
            '''
return top[0] - top[1] > remaining
''',
            '''
return top[0] - top[1] >= remaining
''')),
        ("ignores the runner-up: the leader's count against the remaining votes", Edit(
            '''
return top[0] - top[1] > remaining
''',
            '''
return top[0] > remaining
''')),
        ('asks for an absolute majority: the leader against all other votes together', Edit(
            '''
return top[0] - top[1] > remaining
''',
            '''
return top[0] - sum(top[1:]) > remaining
''')),
    ],
    "ex-spec-step": [
        ('after a rejection, samples from p itself: the rejected token can come back', Edit(
            '''
if len(accepted) < len(draft):  # rejected: the residual of a one-hot draft
    probs = probs.clone()
    probs[draft[len(accepted)]] = 0.0
    probs = probs / probs.sum()
''',
            '''

''')),
        ('accepts when u > p(token): the test turned around', Edit(
            '''
        keep = bool(torch.rand((), generator=generator) < probs[token])
    if not keep:
        break
    accepted.append(token)
last = logits[len(accepted)]
if temperature == 0:
    return accepted + [int(last.argmax())]
probs = (last.float() / temperature).softmax(-1)
if len(accepted) < len(draft):  # rejected: the residual of a one-hot draft
''',
            '''
        keep = bool(torch.rand((), generator=generator) > probs[token])
    if not keep:
        break
    accepted.append(token)
last = logits[len(accepted)]
if temperature == 0:
    return accepted + [int(last.argmax())]
probs = (last.float() / temperature).softmax(-1)
if len(accepted) < len(draft):
''')),
        ('no extra token once every draft is accepted', Edit(
            '''
last = logits[len(accepted)]
if temperature == 0:
    return accepted + [int(last.argmax())]
probs = (last.float() / temperature).softmax(-1)
if len(accepted) < len(draft):  # rejected: the residual of a one-hot draft
''',
            '''
if len(accepted) == len(draft):
    return accepted
last = logits[len(accepted)]
if temperature == 0:
    return accepted + [int(last.argmax())]
probs = (last.float() / temperature).softmax(-1)
if len(accepted) < len(draft):
''')),
        ('the correction is sampled from the row after the rejected one', Edit(
            '''
last = logits[len(accepted)]
if temperature == 0:
    return accepted + [int(last.argmax())]
probs = (last.float() / temperature).softmax(-1)
if len(accepted) < len(draft):  # rejected: the residual of a one-hot draft
''',
            '''
last = logits[min(len(accepted) + 1, len(draft))]
if temperature == 0:
    return accepted + [int(last.argmax())]
probs = (last.float() / temperature).softmax(-1)
if len(accepted) < len(draft):
''')),
        ('temperature ignored in the acceptance test', Edit(
            '''
        probs = (logits[i].float() / temperature).softmax(-1)
        keep = bool(torch.rand((), generator=generator) < probs[token])
    if not keep:
        break
    accepted.append(token)
last = logits[len(accepted)]
if temperature == 0:
    return accepted + [int(last.argmax())]
probs = (last.float() / temperature).softmax(-1)
if len(accepted) < len(draft):  # rejected: the residual of a one-hot draft
''',
            '''
        probs = logits[i].float().softmax(-1)
        keep = bool(torch.rand((), generator=generator) < probs[token])
    if not keep:
        break
    accepted.append(token)
last = logits[len(accepted)]
if temperature == 0:
    return accepted + [int(last.argmax())]
probs = (last.float() / temperature).softmax(-1)
if len(accepted) < len(draft):
''')),
    ],
    "ex-draft-length": [
        ('averages the per-problem ratios instead of summing the counts', Edit(
            '''
results = {}
for k in ks:
    emitted = decoding_passes = proposed = kept = 0
    for problem in problems:
        prompt = TOKENIZER.encode(format_prompt(problem.expr))
        _, stats = speculative_generate(model, prompt, max_new, prompt_lookup_draft, k=k,
                                        stop_tokens=[EOS_ID])
        emitted += stats.generated
        decoding_passes += stats.forward_passes - 1  # the prompt's pass is the same for every k
        proposed += stats.drafted
        kept += stats.accepted
    results[k] = (emitted / decoding_passes, kept / max(1, proposed))
''',
            '''
results = {}
for k in ks:
    per_pass, rates = [], []
    for problem in problems:
        prompt = TOKENIZER.encode(format_prompt(problem.expr))
        _, stats = speculative_generate(model, prompt, max_new, prompt_lookup_draft, k=k,
                                        stop_tokens=[EOS_ID])
        per_pass.append(stats.generated / (stats.forward_passes - 1))
        rates.append(stats.accepted / max(1, stats.drafted))
    results[k] = (sum(per_pass) / len(per_pass), sum(rates) / len(rates))
''')),
        ("counts the prompt's forward pass as a decoding pass", Edit(
            '''
decoding_passes += stats.forward_passes - 1  # the prompt's pass is the same for every k
''',
            '''
decoding_passes += stats.forward_passes
''')),
        ('off by one in k: drafts k + 1 tokens', Edit(
            '''
_, stats = speculative_generate(model, prompt, max_new, prompt_lookup_draft, k=k,
''',
            '''
_, stats = speculative_generate(model, prompt, max_new, prompt_lookup_draft, k=k + 1,
''')),
        ('returns (acceptance rate, tokens per pass): the pair turned around', Edit(
            '''
results[k] = (emitted / decoding_passes, kept / max(1, proposed))
''',
            '''
results[k] = (kept / max(1, proposed), emitted / decoding_passes)
''')),
        ('acceptance rate over the tokens generated instead of the drafts proposed', Edit(
            '''
results[k] = (emitted / decoding_passes, kept / max(1, proposed))
''',
            '''
results[k] = (emitted / decoding_passes, kept / max(1, emitted))
''')),
        ("ignores max_new: always decodes the notebook's MAX_NEW tokens", Edit(
            '''
_, stats = speculative_generate(model, prompt, max_new, prompt_lookup_draft, k=k,
''',
            '''
_, stats = speculative_generate(model, prompt, MAX_NEW, prompt_lookup_draft, k=k,
''')),
        ('picks the draft length with the highest acceptance rate', Edit(
            '''
best_k = max(DRAFT_LENGTHS, key=lambda k: sweep[k][0])  # max keeps the first (shortest) of a tie
''',
            '''
best_k = max(DRAFT_LENGTHS, key=lambda k: sweep[k][1])
''')),
        ('breaks a tie towards the longest draft', Edit(
            '''
best_k = max(DRAFT_LENGTHS, key=lambda k: sweep[k][0])  # max keeps the first (shortest) of a tie
''',
            '''
best_k = max(DRAFT_LENGTHS, key=lambda k: (sweep[k][0], k))
''')),
    ],
}
