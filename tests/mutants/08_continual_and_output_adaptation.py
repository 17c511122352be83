"""Wrong answers to notebook 08's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-teacher": [
        ("the teacher's confidence, not the anchor's, decides whether to augment", Edit(
            '''
    if anchor(x).softmax(1).max(1).values.mean() >= threshold:
''',
            '''
    if teacher(x).softmax(1).max(1).values.mean() >= threshold:
''')),
        ('comparison flipped: augments when the anchor is confident', Edit(
            '''
    if anchor(x).softmax(1).max(1).values.mean() >= threshold:
''',
            '''
    if anchor(x).softmax(1).max(1).values.mean() < threshold:
''')),
        ('averages the softmax probabilities of the views instead of their logits', Edit(
            '''
    return torch.stack([teacher(cotta_augment(x, generator, flip_p=0.0)) for _ in range(n)]).mean(0)
''',
            '''
    views = [teacher(cotta_augment(x, generator, flip_p=0.0)).softmax(1) for _ in range(n)]
    return torch.stack(views).mean(0)
''')),
        ('augmentations drawn from the global RNG (generator not passed)', Edit(
            '''
    return torch.stack([teacher(cotta_augment(x, generator, flip_p=0.0)) for _ in range(n)]).mean(0)
''',
            '''
    return torch.stack([teacher(cotta_augment(x, None, flip_p=0.0)) for _ in range(n)]).mean(0)
''')),
    ],
    "ex-rbf": [
        ('features not L2-normalised', Edit(
            '''
f = F.normalize(feats, dim=1)
d = torch.cdist(f, f)
''',
            '''
d = torch.cdist(feats, feats)
''')),
        ('k-th neighbour off by one (the sample itself not counted)', Edit(
            '''
sigma = d.sort(dim=1).values[:, k - 1].mean()
''',
            '''
sigma = d.sort(dim=1).values[:, k].mean()
''')),
        ('bandwidth without the factor 2', Edit(
            '''
return torch.exp(-(d**2) / (2 * sigma**2))
''',
            '''
return torch.exp(-(d**2) / sigma**2)
''')),
        ('one sigma per row (k-th neighbour distance not averaged over samples)', Edit(
            '''
sigma = d.sort(dim=1).values[:, k - 1].mean()
''',
            '''
sigma = d.sort(dim=1).values[:, k - 1:k]
''')),
    ],
    "ex-agreement": [
        ('BN-adapts the given model in place instead of a copy', Edit(
            '''
after = BNAdapt(copy.deepcopy(model))(x).argmax(1)
''',
            '''
after = BNAdapt(model)(x).argmax(1)
''')),
        ('source predictions without model.eval() (batch statistics when given a train-mode model)', Edit(
            '''
    before = model.eval()(x).argmax(1)
''',
            '''
    before = model(x).argmax(1)
''')),
        ('returns the disagreement rate (1 - agreement)', Edit(
            '''
return (before == after).float().mean().item()
''',
            '''
return (before != after).float().mean().item()
''')),
        ('source predictions taken from the BN-adapted copy (both sides adapted)', Edit(
            '''
with torch.no_grad():
    before = model.eval()(x).argmax(1)
after = BNAdapt(copy.deepcopy(model))(x).argmax(1)
''',
            '''
adapted = copy.deepcopy(model)
after = BNAdapt(adapted)(x).argmax(1)
with torch.no_grad():
    before = adapted(x).argmax(1)
''')),
    ],
    "ex-cotta-step": [
        ('restore turned around: keeps each weight with probability p (resets 1 - p of them)', Edit(
            '''
            mask = torch.rand(w.shape, generator=generator) < p
''',
            '''
            mask = torch.rand(w.shape, generator=generator) >= p
''')),
        ("EMA with the momentum on the student's side", Edit(
            '''
        t.mul_(momentum).add_(s, alpha=1 - momentum)
''',
            '''
        t.mul_(1 - momentum).add_(s, alpha=momentum)
''')),
        ('restores the teacher instead of the student', Edit(
            '''
    for name, w in student.named_parameters():
        if w.requires_grad:
''',
            '''
    for name, w in teacher.named_parameters():
        if name.rsplit(".", 1)[-1] in ("weight", "bias"):
''')),
        ('EMA before the optimizer step (the teacher averages the student of the previous batch)', Edit(
            '''
loss = soft_cross_entropy(student(x), target).mean()
optimizer.zero_grad()
loss.backward()
optimizer.step()
with torch.no_grad():
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s, alpha=1 - momentum)
''',
            '''
with torch.no_grad():
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s, alpha=1 - momentum)
loss = soft_cross_entropy(student(x), target).mean()
optimizer.zero_grad()
loss.backward()
optimizer.step()
with torch.no_grad():
''')),
        ('EMA after the restore (the teacher averages in the restored weights)', Edit(
            '''
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s, alpha=1 - momentum)
    source = dict(anchor.named_parameters())
    for name, w in student.named_parameters():
        if w.requires_grad:
            mask = torch.rand(w.shape, generator=generator) < p
            w.copy_(torch.where(mask, source[name], w))
''',
            '''
    source = dict(anchor.named_parameters())
    for name, w in student.named_parameters():
        if w.requires_grad:
            mask = torch.rand(w.shape, generator=generator) < p
            w.copy_(torch.where(mask, source[name], w))
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s, alpha=1 - momentum)
''')),
        ('restore masks drawn from the global RNG (generator not passed)', Edit(
            '''
            mask = torch.rand(w.shape, generator=generator) < p
''',
            '''
            mask = torch.rand(w.shape) < p
''')),
        ("soft cross-entropy turned around (the student's softmax weighs the target's log-probs)", Edit(
            '''
loss = soft_cross_entropy(student(x), target).mean()
''',
            '''
loss = soft_cross_entropy(target, student(x)).mean()
''')),
        ('gradients never cleared: they pile up from one batch to the next', Edit(
            '''
optimizer.zero_grad()
loss.backward()
''',
            '''
loss.backward()
''')),
    ],
}
