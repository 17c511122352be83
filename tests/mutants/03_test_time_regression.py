"""Wrong answers to notebook 03's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-rbf": [
        ('distance not squared', Edit(
            '''
w = torch.softmax(-torch.cdist(q, k) ** 2 / (2 * h**2), dim=-1)
''',
            '''
w = torch.softmax(-torch.cdist(q, k) / (2 * h**2), dim=-1)
''')),
        ('bandwidth without the factor 2', Edit(
            '''
w = torch.softmax(-torch.cdist(q, k) ** 2 / (2 * h**2), dim=-1)
''',
            '''
w = torch.softmax(-torch.cdist(q, k) ** 2 / h**2, dim=-1)
''')),
    ],
    "ex-lla": [
        ('uncentred second moments', Edit(
            '''
w = torch.softmax(q @ k.T / h, dim=-1)  # (M, N)
k_bar, v_bar = w @ k, w @ v
S_kk = torch.einsum("mn,nd,ne->mde", w, k, k) - k_bar[:, :, None] * k_bar[:, None, :]
S_kv = torch.einsum("mn,nd,ne->mde", w, k, v) - k_bar[:, :, None] * v_bar[:, None, :]
''',
            '''
w = torch.softmax(q @ k.T / h, dim=-1)
k_bar, v_bar = w @ k, w @ v
S_kk = torch.einsum("mn,nd,ne->mde", w, k, k)
S_kv = torch.einsum("mn,nd,ne->mde", w, k, v)
''')),
        ('slope applied to the query, not its offset from the weighted mean', Edit(
            '''
w = torch.softmax(q @ k.T / h, dim=-1)  # (M, N)
k_bar, v_bar = w @ k, w @ v
S_kk = torch.einsum("mn,nd,ne->mde", w, k, k) - k_bar[:, :, None] * k_bar[:, None, :]
S_kv = torch.einsum("mn,nd,ne->mde", w, k, v) - k_bar[:, :, None] * v_bar[:, None, :]
slope = torch.linalg.solve(S_kk + lam * torch.eye(k.size(1), dtype=k.dtype), S_kv)
return v_bar + ((q - k_bar)[:, None, :] @ slope)[:, 0]
''',
            '''
w = torch.softmax(q @ k.T / h, dim=-1)
k_bar, v_bar = w @ k, w @ v
S_kk = torch.einsum("mn,nd,ne->mde", w, k, k) - k_bar[:, :, None] * k_bar[:, None, :]
S_kv = torch.einsum("mn,nd,ne->mde", w, k, v) - k_bar[:, :, None] * v_bar[:, None, :]
slope = torch.linalg.solve(S_kk + lam * torch.eye(k.size(1), dtype=k.dtype), S_kv)
return v_bar + (q[:, None, :] @ slope)[:, 0]
''')),
    ],
    "ex-decay": [
        ('the current pair is included (age from t, not t - 1)', Edit(
            '''
age = torch.arange(T)[:, None] - 1 - torch.arange(T)[None, :]
weight = torch.where(age >= 0, gamma ** age.clamp_min(0).to(x.dtype), torch.zeros((), dtype=x.dtype))
''',
            '''
age = torch.arange(T)[:, None] - torch.arange(T)[None, :]
weight = torch.where(age > 0, gamma ** (age - 1).clamp_min(0).to(x.dtype), torch.zeros((), dtype=x.dtype))
weight = weight + torch.eye(T, dtype=x.dtype)
''')),
        ('decay exponent off by one', Edit(
            '''
age = torch.arange(T)[:, None] - 1 - torch.arange(T)[None, :]
weight = torch.where(age >= 0, gamma ** age.clamp_min(0).to(x.dtype), torch.zeros((), dtype=x.dtype))
''',
            '''
age = torch.arange(T)[:, None] - torch.arange(T)[None, :]
weight = torch.where(age >= 1, gamma ** age.to(x.dtype), torch.zeros((), dtype=x.dtype))
''')),
    ],
    "ex-decay-sweep": [
        ('each gamma scored on different positions (after its own warm-up of 1/(1-gamma) pairs)', Edit(
            '''
    errors.append(((pred - y) ** 2)[:, START:].mean())
''',
            '''
    first = round(1 / (1 - g)) if g < 1 else START
    errors.append(((pred - y) ** 2)[:, first:].mean())
''')),
        ('argmax instead of argmin: the worst gamma is returned', Edit(
            '''
return errors, gammas[int(errors.argmin())]
''',
            '''
return errors, gammas[int(errors.argmax())]
''')),
        ('no decay: the gate is left out, so every gamma sums its whole past undecayed', Edit(
            '''
    sums, _ = linear_attention_chunked(x[:, None], keys, values, torch.full((B, 1, T), g, dtype=D64))
''',
            '''
    sums, _ = linear_attention_chunked(x[:, None], keys, values)
''')),
        ('sweep on the non-drifting task (drift left at its default 0)', Edit(
            '''
task = icl_regression(256, 256, 4, torch.Generator().manual_seed(7), noise=0.1, drift=0.1)
''',
            '''
task = icl_regression(256, 256, 4, torch.Generator().manual_seed(7), noise=0.1)
''')),
        ('the normaliser counts the current pair: 1 + g + ... + g**t', Edit(
            '''
    weight = F.pad((g ** torch.arange(T - 1, dtype=D64)).cumsum(0), (1, 0), value=1.0)
''',
            '''
    weight = (g ** torch.arange(T, dtype=D64)).cumsum(0)
''')),
    ],
}
