"""Wrong answers to notebook 16's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS = ["cell-05"]  # majority_rewards_scratch (section 1)

MUTANTS = {
    "ex-reward-acc": [
        ("the mean pseudo-reward: how often a sample agrees with the vote", Edit(
            '''
return float((pseudo == true).float().mean())
''',
            '''
return float(pseudo.float().mean())
''')),
        ("label accuracy instead: the share of groups whose vote is the truth", Edit(
            '''
return float((pseudo == true).float().mean())
''',
            '''
votes = [Counter(a for a in answers[g : g + G] if a is not None).most_common(1)
         for g in range(0, len(answers), G)]
return float(sum(bool(v) and v[0][0] == t for v, t in zip(votes, targets)) / len(targets))
''')),
        ("the truth of the wrong problem: targets[i % G]", Edit(
            '''
true = torch.tensor([float(a is not None and a == targets[i // G])
                     for i, a in enumerate(answers)])
''',
            '''
true = torch.tensor([float(a is not None and a == targets[i % len(targets)])
                     for i, a in enumerate(answers)])
''')),
    ],
    "ex-margin": [
        ("divides by the parsed answers only", Edit(
            '''
return (counts[0] - counts[1]) / len(answers)
''',
            '''
return (counts[0] - counts[1]) / max(1, sum(a is not None for a in answers))
''')),
        ("None votes like an answer", Edit(
            '''
counts = sorted(Counter(a for a in answers if a is not None).values(), reverse=True)
''',
            '''
counts = sorted(Counter(answers).values(), reverse=True)
''')),
        ("the top answer's share, not its lead over the runner-up", Edit(
            '''
return (counts[0] - counts[1]) / len(answers)
''',
            '''
return counts[0] / len(answers)
''')),
    ],
    "ex-freq": [
        ("an unparsed answer earns its share like any other", Edit(
            '''
return torch.tensor([counts[i // G][a] / G if a is not None else 0.0
                     for i, a in enumerate(answers)])
''',
            '''
return torch.tensor([counts[i // G][a] / G for i, a in enumerate(answers)])
''')),
        ("shares among the parsed answers only", Edit(
            '''
return torch.tensor([counts[i // G][a] / G if a is not None else 0.0
                     for i, a in enumerate(answers)])
''',
            '''
parsed = [max(1, sum(n for a, n in c.items() if a is not None)) for c in counts]
return torch.tensor([counts[i // G][a] / parsed[i // G] if a is not None else 0.0
                     for i, a in enumerate(answers)])
''')),
        ("counts over the whole batch, not the group", Edit(
            '''
counts = [Counter(answers[g : g + G]) for g in range(0, len(answers), G)]
''',
            '''
counts = [Counter(answers) for g in range(0, len(answers), G)]
''')),
    ],
}
