"""Wrong answers to notebook 09's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-expand": [
        ('rotation-major order (all images at 0, then all at 90, ...) instead of image by image', Edit(
            '''
k = torch.arange(4).repeat(len(x))
xs = x.repeat_interleave(4, dim=0)
''',
            '''
k = torch.arange(4).repeat_interleave(len(x))
xs = x.repeat(4, 1, 1, 1)
''')),
        ('images tiled with repeat while the labels go image by image (copies and labels mismatched)', Edit(
            '''
xs = x.repeat_interleave(4, dim=0)
''',
            '''
xs = x.repeat(4, 1, 1, 1)
''')),
        ('rotates clockwise (labels 1 and 3 swapped)', Edit(
            '''
return rotate(xs, k), k
''',
            '''
return rotate(xs, (4 - k) % 4), k
''')),
    ],
    "ex-mixstyle": [
        ("mixing weights swapped: lam on the partner's statistics", Edit(
            '''
return (h - mu) / sig * (lam * sig + (1 - lam) * sig[perm]) + lam * mu + (1 - lam) * mu[perm]
''',
            '''
return (h - mu) / sig * ((1 - lam) * sig + lam * sig[perm]) + (1 - lam) * mu + lam * mu[perm]
''')),
        ('statistics pooled over the channels (dims 1, 2, 3) instead of per channel', Edit(
            '''
mu = h.mean(dim=(2, 3), keepdim=True).detach()
sig = (h.var(dim=(2, 3), keepdim=True) + eps).sqrt().detach()
''',
            '''
mu = h.mean(dim=(1, 2, 3), keepdim=True).detach()
sig = (h.var(dim=(1, 2, 3), keepdim=True) + eps).sqrt().detach()
''')),
        ('statistics not detached (gradients flow through mu and sigma)', Edit(
            '''
mu = h.mean(dim=(2, 3), keepdim=True).detach()
sig = (h.var(dim=(2, 3), keepdim=True) + eps).sqrt().detach()
''',
            '''
mu = h.mean(dim=(2, 3), keepdim=True)
sig = (h.var(dim=(2, 3), keepdim=True) + eps).sqrt()
''')),
        ('eps left out of the standard deviation', Edit(
            '''
sig = (h.var(dim=(2, 3), keepdim=True) + eps).sqrt().detach()
''',
            '''
sig = h.var(dim=(2, 3), keepdim=True).sqrt().detach()
''')),
        ("population (biased) variance instead of torch's unbiased one", Edit(
            '''
sig = (h.var(dim=(2, 3), keepdim=True) + eps).sqrt().detach()
''',
            '''
sig = (h.var(dim=(2, 3), keepdim=True, unbiased=False) + eps).sqrt().detach()
''')),
    ],
    "ex-recon-step": [
        ('steps on every parameter (decoder and classifier too), not the encoder only', Edit(
            '''
encoder = list(model.encoder.parameters())
with torch.no_grad():  # plain SGD on the encoder only: theta <- theta - lr * grad
    for p, g in zip(encoder, torch.autograd.grad(loss, encoder)):
        p.sub_(lr * g)
''',
            '''
params = list(model.parameters())
with torch.no_grad():
    for p, g in zip(params, torch.autograd.grad(loss, params, allow_unused=True)):
        if g is not None:
            p.sub_(lr * g)
''')),
        ('gradient ascent (adds lr * grad)', Edit(
            '''
with torch.no_grad():  # plain SGD on the encoder only: theta <- theta - lr * grad
    for p, g in zip(encoder, torch.autograd.grad(loss, encoder)):
        p.sub_(lr * g)
''',
            '''
with torch.no_grad():
    for p, g in zip(encoder, torch.autograd.grad(loss, encoder)):
        p.add_(lr * g)
''')),
        ('returns the loss after the step', Edit(
            '''
with torch.no_grad():  # plain SGD on the encoder only: theta <- theta - lr * grad
    for p, g in zip(encoder, torch.autograd.grad(loss, encoder)):
        p.sub_(lr * g)
return loss.item()
''',
            '''
with torch.no_grad():
    for p, g in zip(encoder, torch.autograd.grad(loss, encoder)):
        p.sub_(lr * g)
    return masked_reconstruction_loss(model, x, mask).item()
''')),
        ('mask inverted (1 - mask: the loss on the visible pixels)', Edit(
            '''
mask = patch_mask(x.shape, 4, 0.5, generator).to(x)
loss = masked_reconstruction_loss(model, x, mask)
encoder = list(model.encoder.parameters())
with torch.no_grad():  # plain SGD on the encoder only: theta <- theta - lr * grad
''',
            '''
mask = 1.0 - patch_mask(x.shape, 4, 0.5, generator).to(x)
loss = masked_reconstruction_loss(model, x, mask)
encoder = list(model.encoder.parameters())
with torch.no_grad():
''')),
        ('mask drawn from the global RNG (generator not passed)', Edit(
            '''
mask = patch_mask(x.shape, 4, 0.5, generator).to(x)
loss = masked_reconstruction_loss(model, x, mask)
encoder = list(model.encoder.parameters())
with torch.no_grad():  # plain SGD on the encoder only: theta <- theta - lr * grad
''',
            '''
mask = patch_mask(x.shape, 4, 0.5).to(x)
loss = masked_reconstruction_loss(model, x, mask)
encoder = list(model.encoder.parameters())
with torch.no_grad():
''')),
    ],
    "ex-online-ttt": [
        ('predicts each image before adapting on it (its prediction misses its own steps)', Edit(
            '''
        for _ in range(steps):
            optimizer.zero_grad()
            copies = random_crops(image.expand(n_copies, *image.shape), generator=generator)
            x_rot, k = random_rotations(copies, generator, model.angles)
            F.cross_entropy(model.rotation_logits(x_rot), k).backward()
            optimizer.step()
        with torch.no_grad():
            outputs.append(model(image[None]))
''',
            '''
        with torch.no_grad():
            outputs.append(model(image[None]))
        for _ in range(steps):
            optimizer.zero_grad()
            copies = random_crops(image.expand(n_copies, *image.shape), generator=generator)
            x_rot, k = random_rotations(copies, generator, model.angles)
            F.cross_entropy(model.rotation_logits(x_rot), k).backward()
            optimizer.step()
''')),
        ('restores the trained weights before every image (standard TTT, not online)', Edit(
            '''
outputs = []
for x in stream:
    for image in x:  # one test image at a time, as in the paper
''',
            '''
outputs = []
trained = copy.deepcopy(model.state_dict())
for x in stream:
    for image in x:
        model.load_state_dict(trained)
''')),
        ('restores the trained weights at the start of every batch', Edit(
            '''
outputs = []
for x in stream:
    for image in x:  # one test image at a time, as in the paper
''',
            '''
outputs = []
trained = copy.deepcopy(model.state_dict())
for x in stream:
    model.load_state_dict(trained)
    for image in x:
''')),
        ('never zeroes the gradients (each step adds all the earlier ones again)', Edit(
            '''
            optimizer.zero_grad()
''',
            '')),
        ('zeroes the gradients after the step (the first step applies leftover gradients)', Edit(
            '''
            optimizer.zero_grad()
            copies = random_crops(image.expand(n_copies, *image.shape), generator=generator)
            x_rot, k = random_rotations(copies, generator, model.angles)
            F.cross_entropy(model.rotation_logits(x_rot), k).backward()
            optimizer.step()
''',
            '''
            copies = random_crops(image.expand(n_copies, *image.shape), generator=generator)
            x_rot, k = random_rotations(copies, generator, model.angles)
            F.cross_entropy(model.rotation_logits(x_rot), k).backward()
            optimizer.step()
            optimizer.zero_grad()
''')),
        ('adapts on the copies of a whole batch at once, then predicts the batch', Edit(
            '''
for x in stream:
    for image in x:  # one test image at a time, as in the paper
        for _ in range(steps):
            optimizer.zero_grad()
            copies = random_crops(image.expand(n_copies, *image.shape), generator=generator)
            x_rot, k = random_rotations(copies, generator, model.angles)
            F.cross_entropy(model.rotation_logits(x_rot), k).backward()
            optimizer.step()
        with torch.no_grad():
            outputs.append(model(image[None]))
''',
            '''
for x in stream:
    for _ in range(steps):
        optimizer.zero_grad()
        copies = random_crops(x.repeat_interleave(n_copies, dim=0), generator=generator)
        x_rot, k = random_rotations(copies, generator, model.angles)
        F.cross_entropy(model.rotation_logits(x_rot), k).backward()
        optimizer.step()
    with torch.no_grad():
        outputs.append(model(x))
''')),
        ('one step per image whatever steps is', Edit(
            '''
        for _ in range(steps):
''',
            '''
        for _ in range(1):
''')),
        ('adapts the shared trunk only (the rotation head stays frozen)', Edit(
            '''
optimizer = torch.optim.SGD([*model.shared.parameters(), *model.rotation.parameters()], lr=lr)
''',
            '''
optimizer = torch.optim.SGD(model.shared.parameters(), lr=lr)
''')),
    ],
}
