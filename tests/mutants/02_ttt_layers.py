"""Wrong answers to notebook 02's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-lr": [
        ('no division by the head dimension', Edit(
            '''
return (base_lr * torch.sigmoid(x @ w + b) / head_dim).permute(0, 2, 1)
''',
            '''
return (base_lr * torch.sigmoid(x @ w + b)).permute(0, 2, 1)
''')),
        ('bias b left out of the gate', Edit(
            '''
return (base_lr * torch.sigmoid(x @ w + b) / head_dim).permute(0, 2, 1)
''',
            '''
return (base_lr * torch.sigmoid(x @ w) / head_dim).permute(0, 2, 1)
''')),
        ('(B, T, H) reshaped to (B, H, T) instead of permuted', Edit(
            '''
return (base_lr * torch.sigmoid(x @ w + b) / head_dim).permute(0, 2, 1)
''',
            '''
out = base_lr * torch.sigmoid(x @ w + b) / head_dim
return out.reshape(out.size(0), out.size(2), out.size(1))
''')),
    ],
    "ex-dual": [
        ('gradients summed, not averaged (no 1/(p+1) factor)', Edit(
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0]  # (n, d)
s = 1 / torch.arange(1, len(q) + 1, dtype=q.dtype)
Zq = q @ W0 + b0 - s[:, None] * (((q @ k.T + 1).tril() * eta[None, :]) @ G)
''',
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0]
Zq = q @ W0 + b0 - ((q @ k.T + 1).tril() * eta[None, :]) @ G
''')),
        ('learning rate of the query token, not of the key token (eta on the wrong axis)', Edit(
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0]  # (n, d)
s = 1 / torch.arange(1, len(q) + 1, dtype=q.dtype)
Zq = q @ W0 + b0 - s[:, None] * (((q @ k.T + 1).tril() * eta[None, :]) @ G)
''',
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0]
s = 1 / torch.arange(1, len(q) + 1, dtype=q.dtype)
Zq = q @ W0 + b0 - s[:, None] * (((q @ k.T + 1).tril() * eta[:, None]) @ G)
''')),
        ('bias gradient left out of the dual kernel (q kᵀ without + 1)', Edit(
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0]  # (n, d)
s = 1 / torch.arange(1, len(q) + 1, dtype=q.dtype)
Zq = q @ W0 + b0 - s[:, None] * (((q @ k.T + 1).tril() * eta[None, :]) @ G)
''',
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0]
s = 1 / torch.arange(1, len(q) + 1, dtype=q.dtype)
Zq = q @ W0 + b0 - s[:, None] * (((q @ k.T).tril() * eta[None, :]) @ G)
''')),
        ('causal mask left out (every query learns from the whole mini-batch)', Edit(
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0]  # (n, d)
s = 1 / torch.arange(1, len(q) + 1, dtype=q.dtype)
Zq = q @ W0 + b0 - s[:, None] * (((q @ k.T + 1).tril() * eta[None, :]) @ G)
''',
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0]
s = 1 / torch.arange(1, len(q) + 1, dtype=q.dtype)
Zq = q @ W0 + b0 - s[:, None] * (((q @ k.T + 1) * eta[None, :]) @ G)
''')),
        ('output LayerNorm without the scale γ and shift β', Edit(
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0]  # (n, d)
s = 1 / torch.arange(1, len(q) + 1, dtype=q.dtype)
Zq = q @ W0 + b0 - s[:, None] * (((q @ k.T + 1).tril() * eta[None, :]) @ G)
return q + F.layer_norm(Zq, (len(gamma),), gamma, beta, eps=1e-6)
''',
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0]
s = 1 / torch.arange(1, len(q) + 1, dtype=q.dtype)
Zq = q @ W0 + b0 - s[:, None] * (((q @ k.T + 1).tril() * eta[None, :]) @ G)
return q + F.layer_norm(Zq, (len(gamma),), eps=1e-6)
''')),
    ],
    "ex-end": [
        ('weight step transposed (Gᵀ k instead of kᵀ G)', Edit(
            '''
return W0 - k.T @ G / len(k), b0 - G.sum(0, keepdim=True) / len(k)
''',
            '''
return W0 - G.T @ k / len(k), b0 - G.sum(0, keepdim=True) / len(k)
''')),
        ('gradients summed, not averaged over the mini-batch (no 1/b)', Edit(
            '''
return W0 - k.T @ G / len(k), b0 - G.sum(0, keepdim=True) / len(k)
''',
            '''
return W0 - k.T @ G, b0 - G.sum(0, keepdim=True)
''')),
        ('reconstruction target v instead of the residual v - k', Edit(
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0] * eta[:, None]
''',
            '''
G = ln_l2_grad(k @ W0 + b0, v, gamma[None], beta[None])[0] * eta[:, None]
''')),
        ('bias step without the learning rates eta', Edit(
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0] * eta[:, None]
return W0 - k.T @ G / len(k), b0 - G.sum(0, keepdim=True) / len(k)
''',
            '''
G = ln_l2_grad(k @ W0 + b0, v - k, gamma[None], beta[None])[0]
return W0 - k.T @ (G * eta[:, None]) / len(k), b0 - G.sum(0, keepdim=True) / len(k)
''')),
    ],
}
