"""Wrong answers to notebook 10's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS = ["cell-14"]  # top_p_scratch, which the sampler exercise reuses (cheap)

MUTANTS = {
    "ex-passk": [
        ('product range off by one (from n - c, not n - c + 1)', Edit(
            '''
return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))
''',
            '''
return float(1.0 - np.prod(1.0 - k / np.arange(n - c, n + 1)))
''')),
        ('biased plug-in estimate 1 - (1 - c/n)^k', Edit(
            '''
if n - c < k:
    return 1.0
return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))
''',
            '''
return float(1.0 - (1.0 - c / n) ** k)
''')),
        ('edge case n - c <= k returns 1.0 (should be n - c < k)', Edit(
            '''
if n - c < k:
''',
            '''
if n - c <= k:
''')),
    ],
    "ex-step-verifier": [
        ('checks only that the value is unchanged, not that one operation was reduced', Edit(
            '''
        and any(reduce_at(prev, j) == line for j in range(n_ops))
''',
            '''

''')),
        ('checks only that one operation was reduced, not that the value is unchanged (precedence)', Edit(
            '''
        and evaluate(line) == evaluate(prev)
''',
            '''

''')),
        ('ignores the terminator rule ($ exactly when no operation is left)', Edit(
            '''
        and (end == "$") == (n_ops == 1)
''',
            '''

''')),
        ('drops a cut-off tail instead of counting it as an invalid step', Edit(
            '''
else:
    if start < len(completion):
        steps.append(completion[start:])
''',
            '''

''')),
        ('keeps the alignment spaces as part of the line', Edit(
            '''
line, end = step[:-1].lstrip(" "), step[-1]
''',
            '''
line, end = step[:-1], step[-1]
''')),
        ('only reduces the leftmost operation (rejects another valid order)', Edit(
            '''
        and any(reduce_at(prev, j) == line for j in range(n_ops))
''',
            '''
        and reduce_at(prev, 0) == line
''')),
    ],
    "ex-sample": [
        ('top-p applied before top-k (nucleus measured on the unfiltered distribution)', Edit(
            '''
if top_k is not None:
    kth = z.topk(min(top_k, z.size(-1)), dim=-1).values[:, -1:]
    z = z.masked_fill(z < kth, -math.inf)
if top_p is not None:
    z = top_p_scratch(z, top_p)
''',
            '''
if top_p is not None:
    z = top_p_scratch(z, top_p)
if top_k is not None:
    kth = z.topk(min(top_k, z.size(-1)), dim=-1).values[:, -1:]
    z = z.masked_fill(z < kth, -math.inf)
''')),
        ('top-k with <= drops the k-th token (keeps k - 1)', Edit(
            '''
    z = z.masked_fill(z < kth, -math.inf)
''',
            '''
    z = z.masked_fill(z <= kth, -math.inf)
''')),
        ('temperature ignored (logits not divided by it)', Edit(
            '''
z = logits.float() / temperature
''',
            '''
z = logits.float()
''')),
        ('draws from the global RNG (generator not passed to multinomial)', Edit(
            '''
return torch.multinomial(z.softmax(-1), 1, generator=generator)[:, 0]
''',
            '''
return torch.multinomial(z.softmax(-1), 1)[:, 0]
''')),
    ],
}
