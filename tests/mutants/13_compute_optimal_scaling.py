"""Wrong answers to notebook 13's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-bins": [
        ('np.digitize: a value equal to an edge goes to the upper bin', Edit(
            '''
return edges, np.searchsorted(edges, difficulty, side="left")
''',
            '''
return edges, np.digitize(difficulty, edges)
''')),
        ('edges read off the sorted values without interpolation', Edit(
            '''
edges = np.quantile(np.asarray(difficulty, float), np.arange(1, n_bins) / n_bins)
''',
            '''
d = np.sort(np.asarray(difficulty, float))
edges = d[np.arange(1, n_bins) * len(d) // n_bins]
''')),
        ('off by one: quantiles at 1/n ... n/n, the maximum becomes an edge', Edit(
            '''
edges = np.quantile(np.asarray(difficulty, float), np.arange(1, n_bins) / n_bins)
''',
            '''
edges = np.quantile(np.asarray(difficulty, float), np.arange(1, n_bins + 1) / n_bins)
''')),
    ],
    "ex-choice": [
        ('biased std (ddof=0) in the standard error', Edit(
            '''
    score = gain.mean(axis=1) - min_gain_se * gain.std(axis=1, ddof=1) / np.sqrt(m.sum())
''',
            '''
    score = gain.mean(axis=1) - min_gain_se * gain.std(axis=1) / np.sqrt(m.sum())
''')),
        ('standard error without the 1/sqrt(n): the std of the gain itself', Edit(
            '''
    score = gain.mean(axis=1) - min_gain_se * gain.std(axis=1, ddof=1) / np.sqrt(m.sum())
''',
            '''
    score = gain.mean(axis=1) - min_gain_se * gain.std(axis=1, ddof=1)
''')),
        ("unpaired: the standard error of each strategy's accuracy, not of the per-problem gain", Edit(
            '''
    gain = acc[:, m] - acc[default, m]
    score = gain.mean(axis=1) - min_gain_se * gain.std(axis=1, ddof=1) / np.sqrt(m.sum())
''',
            '''
    gain = acc[:, m].mean(axis=1) - acc[default, m].mean()
    score = gain - min_gain_se * acc[:, m].std(axis=1, ddof=1) / np.sqrt(m.sum())
''')),
        ('bins that keep the default get strategy 0, not the best strategy overall', Edit(
            '''
out = np.full(n_bins, default)
''',
            '''
out = np.zeros(n_bins, dtype=int)
''')),
    ],
    "ex-exchange": [
        ("forgets the small model's own pretraining FLOPs", Edit(
            '''
return 2 * m * n * d + (6 * m * n * D_l - 6 * n * D_s) / queries
''',
            '''
return 2 * m * n * d + 6 * m * n * D_l / queries
''')),
        ('both models pretrained on D_l tokens (ignores D_s)', Edit(
            '''
return 2 * m * n * d + (6 * m * n * D_l - 6 * n * D_s) / queries
''',
            '''
return 2 * m * n * d + (6 * m * n * D_l - 6 * n * D_l) / queries
''')),
        ('the pretraining difference is not spread over the queries', Edit(
            '''
return 2 * m * n * d + (6 * m * n * D_l - 6 * n * D_s) / queries
''',
            '''
return 2 * m * n * d + 6 * m * n * D_l - 6 * n * D_s
''')),
    ],
}
