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
}
