"""Wrong answers to notebook 11's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-weighted": [
        ("abstentions vote too: None can win", Edit(
            '''
    if a is not None:
        totals[a] = totals.get(a, 0.0) + float(s)
''',
            '''
    totals[a] = totals.get(a, 0.0) + float(s)
''')),
        ("the single top score (plain best-of-N), not the sum", Edit(
            '''
        totals[a] = totals.get(a, 0.0) + float(s)
''',
            '''
        totals[a] = max(totals.get(a, 0.0), float(s))
''')),
        ("counts the votes and ignores the scores (majority voting)", Edit(
            '''
        totals[a] = totals.get(a, 0.0) + float(s)
''',
            '''
        totals[a] = totals.get(a, 0.0) + 1.0
''')),
        ("averages the scores per answer: one lucky sample beats many agreeing ones", Edit(
            '''
return max(totals, key=totals.__getitem__) if totals else None
''',
            '''
counts = {a: sum(b == a for b in answers) for a in totals}
return max(totals, key=lambda a: totals[a] / counts[a]) if totals else None
''')),
    ],
    "ex-powerlaw": [
        ("returns the slope itself: b comes out negative", Edit(
            '''
return math.exp(float(y.mean() - slope * x.mean())), -float(slope)
''',
            '''
return math.exp(float(y.mean() - slope * x.mean())), float(slope)
''')),
        ("returns log a instead of a", Edit(
            '''
return math.exp(float(y.mean() - slope * x.mean())), -float(slope)
''',
            '''
return float(y.mean() - slope * x.mean()), -float(slope)
''')),
        ("fits the errors in linear space (slope of err on log k)", Edit(
            '''
y = torch.log(torch.as_tensor(err, dtype=torch.float64))
''',
            '''
y = torch.as_tensor(err, dtype=torch.float64)
''')),
        ("the slope through the first and last points only", Edit(
            '''
slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
''',
            '''
slope = (y[-1] - y[0]) / (x[-1] - x[0])
''')),
    ],
    "ex-mg": [
        ("KL(p || q): the divergence the other way round", Edit(
            '''
return torch.stack([(lq.exp() * (lq - lp)).sum(-1).mean() for lp, lq in zip(logp, logq)])
''',
            '''
return torch.stack([(lp.exp() * (lp - lq)).sum(-1).mean() for lp, lq in zip(logp, logq)])
''')),
        ("sums over positions: long candidates win", Edit(
            '''
return torch.stack([(lq.exp() * (lq - lp)).sum(-1).mean() for lp, lq in zip(logp, logq)])
''',
            '''
return torch.stack([(lq.exp() * (lq - lp)).sum(-1).sum() for lp, lq in zip(logp, logq)])
''')),
        ("weights by log q instead of q", Edit(
            '''
return torch.stack([(lq.exp() * (lq - lp)).sum(-1).mean() for lp, lq in zip(logp, logq)])
''',
            '''
return torch.stack([(lq * (lq - lp)).sum(-1).mean() for lp, lq in zip(logp, logq)])
''')),
    ],
}
