"""Wrong answers to notebook 12's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-mc": [
        ("the hard label needs every rollout to succeed (all instead of any)", Edit(
            '''
hard = [float(any(o)) for o in outcomes]
''',
            '''
hard = [float(all(o)) for o in outcomes]
''')),
        ("the soft label counts successes instead of their fraction", Edit(
            '''
soft = [sum(o) / len(o) for o in outcomes]
''',
            '''
soft = [float(sum(o)) for o in outcomes]
''')),
        ("the hard label thresholds the soft one at one half", Edit(
            '''
hard = [float(any(o)) for o in outcomes]
''',
            '''
hard = [float(sum(o) / len(o) >= 0.5) for o in outcomes]
''')),
    ],
    "ex-agg": [
        ("'prod' sums the scores", Edit(
            '''
return float(math.prod(step_scores))
''',
            '''
return float(sum(step_scores))
''')),
        ("'last' takes the first step's score", Edit(
            '''
return float(step_scores[-1])
''',
            '''
return float(step_scores[0])
''')),
        ("'min' takes the maximum", Edit(
            '''
return float(min(step_scores))
''',
            '''
return float(max(step_scores))
''')),
    ],
    "ex-puct": [
        ("UCT's logarithm kept inside the square root", Edit(
            '''
return q + c * prior * math.sqrt(parent_visits) / (1 + child_visits)
''',
            '''
return q + c * prior * math.sqrt(math.log(parent_visits)) / (1 + child_visits)
''')),
        ("an unvisited child's value taken as 0 instead of its prior", Edit(
            '''
q = value_sum / child_visits if child_visits else prior
''',
            '''
q = value_sum / child_visits if child_visits else 0.0
''')),
        ("the prior left out of the exploration term", Edit(
            '''
return q + c * prior * math.sqrt(parent_visits) / (1 + child_visits)
''',
            '''
return q + c * math.sqrt(parent_visits) / (1 + child_visits)
''')),
        ("divides by the child's visits without the 1 +", Edit(
            '''
return q + c * prior * math.sqrt(parent_visits) / (1 + child_visits)
''',
            '''
return q + c * prior * math.sqrt(parent_visits) / max(child_visits, 1)
''')),
    ],
    "ex-ratio": [
        ("the prompt's tokens are summed too", Edit(
            '''
counted = torch.arange(1, logp.shape[1] + 1) >= prompt_len
''',
            '''
counted = torch.arange(1, logp.shape[1] + 1) >= 0
''')),
        ("off by one: the mask starts at token 0, so the first counted token is dropped", Edit(
            '''
counted = torch.arange(1, logp.shape[1] + 1) >= prompt_len
''',
            '''
counted = torch.arange(logp.shape[1]) >= prompt_len
''')),
        ("beta left out", Edit(
            '''
return bias + beta * torch.cat([torch.zeros_like(ratio[:, :1]), ratio], dim=1)
''',
            '''
return bias + torch.cat([torch.zeros_like(ratio[:, :1]), ratio], dim=1)
''')),
        ("no zero column: value T-1 long, shifted by one position", Edit(
            '''
return bias + beta * torch.cat([torch.zeros_like(ratio[:, :1]), ratio], dim=1)
''',
            '''
return bias + beta * torch.cat([ratio, ratio[:, -1:]], dim=1)
''')),
    ],
}
