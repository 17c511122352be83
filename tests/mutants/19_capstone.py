"""Wrong answers to notebook 19's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-flops": [
        ('the prompt read once for all samples, not once per sample', Edit(
            '''
return float(flops_per_token) * sum(prompt_len + g for g in generated)
''',
            '''
return float(flops_per_token) * (prompt_len + sum(generated))
''')),
        ('the prompt forgotten: only generated tokens cost', Edit(
            '''
return float(flops_per_token) * sum(prompt_len + g for g in generated)
''',
            '''
return float(flops_per_token) * sum(generated)
''')),
        ('2 FLOPs per parameter counted again on top of flops_per_token', Edit(
            '''
return float(flops_per_token) * sum(prompt_len + g for g in generated)
''',
            '''
return 2 * float(flops_per_token) * sum(prompt_len + g for g in generated)
''')),
    ],
    "ex-pareto": [
        ('keeps a strategy that only ties the best cheaper accuracy (>= instead of >)', Edit(
            '''
    if acc[i] > best:
''',
            '''
    if acc[i] >= best:
''')),
        ('equal costs ordered by index, not by accuracy: a worse twin is kept first', Edit(
            '''
order = sorted(range(len(costs)), key=lambda i: (costs[i], -acc[i], i))
''',
            '''
order = sorted(range(len(costs)), key=lambda i: (costs[i], i))
''')),
        ('walks the strategies by accuracy instead of by cost', Edit(
            '''
order = sorted(range(len(costs)), key=lambda i: (costs[i], -acc[i], i))
''',
            '''
order = sorted(range(len(costs)), key=lambda i: (-acc[i], costs[i], i))
''')),
    ],
    "ex-uniform": [
        ('unweighted bin means: every bin counted as an equal share of the questions', Edit(
            '''
a, c = acc @ weights, costs @ weights
''',
            '''
a, c = acc.mean(axis=1), costs.mean(axis=1)
''')),
        ('the cheapest affordable strategy instead of the most accurate', Edit(
            '''
return min(fits, key=lambda i: (-a[i], c[i], i)) if fits else -1
''',
            '''
return min(fits, key=lambda i: (c[i], -a[i], i)) if fits else -1
''')),
        ('every bin must fit the budget, not the weighted average', Edit(
            '''
fits = [i for i in range(len(a)) if c[i] <= budget]
''',
            '''
fits = [i for i in range(len(a)) if costs[i].max() <= budget]
''')),
    ],
}
