"""Wrong answers to notebook 01's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS = ["cell-16"]  # key_emb, value_emb, embed, batch, n_keys, n_values (about 1 s)

MUTANTS = {
    "ex-normalized": [
        ('no normalisation (division by φ(q_t) · z_t left out)', Edit(
            '''
z = torch.zeros(q.size(1), dtype=q.dtype)
out = []
for t in range(len(q)):
    M, z = M + torch.outer(fk[t], v[t]), z + fk[t]
    out.append(fq[t] @ M / (fq[t] @ z))
''',
            '''
out = []
for t in range(len(q)):
    M = M + torch.outer(fk[t], v[t])
    out.append(fq[t] @ M)
''')),
        ('feature map elu(x) without the + 1', Edit(
            '''
fq, fk = F.elu(q) + 1, F.elu(k) + 1
''',
            '''
fq, fk = F.elu(q), F.elu(k)
''')),
        ('normaliser z accumulates the raw keys, not φ(k)', Edit(
            '''
    M, z = M + torch.outer(fk[t], v[t]), z + fk[t]
''',
            '''
    M, z = M + torch.outer(fk[t], v[t]), z + k[t]
''')),
    ],
    "ex-beta": [
        ('step size ignored (delta rule with beta = 1 everywhere)', Edit(
            '''
M = delta_rule_chunked(k, k, v, torch.full(k.shape[:3], beta, device=run.device))[1]
''',
            '''
M = delta_rule_chunked(k, k, v, torch.ones(k.shape[:3], device=run.device))[1]
''')),
        ('linear attention with values scaled by beta instead of the delta rule', Edit(
            '''
M = delta_rule_chunked(k, k, v, torch.full(k.shape[:3], beta, device=run.device))[1]
''',
            '''
M = linear_attention_chunked(k, k, beta * v)[1]
''')),
        ('reads the memory with the stored keys, not the query keys', Edit(
            '''
guess = ((qk @ M)[:, 0] @ value_emb.T).argmax(-1).cpu()
''',
            '''
guess = ((k @ M)[:, 0] @ value_emb.T).argmax(-1).cpu()
''')),
        ('a step size above 1 (beta = 1.5) as the better beta', Edit(
            '''
return 0.5
''',
            '''
return 1.5
''')),
    ],
    "ex-gated-chunk": [
        ('decay mask not lower-triangular (later tokens reach earlier queries)', Edit(
            '''
decay = torch.exp(G[:, None] - G[None, :]).tril()
''',
            '''
decay = torch.exp(G[:, None] - G[None, :])
''')),
        ('state before the chunk read without its decay exp(G_i)', Edit(
            '''
out = torch.exp(G)[:, None] * (q @ M0) + ((q @ k.T) * decay) @ v
''',
            '''
out = q @ M0 + ((q @ k.T) * decay) @ v
''')),
        ("end state adds the chunk's pairs undecayed (kᵀ v instead of weights exp(G_C − G_j))", Edit(
            '''
M = torch.exp(G[-1]) * M0 + (k * torch.exp(G[-1] - G)[:, None]).T @ v
''',
            '''
M = torch.exp(G[-1]) * M0 + k.T @ v
''')),
        ('exclusive cumulative sum (gate g_i not applied at step i)', Edit(
            '''
G = torch.cumsum(torch.log(g), 0)
''',
            '''
G = torch.cumsum(torch.log(g), 0) - torch.log(g)
''')),
    ],
    "ex-delta-chunk": [
        ('the read excludes the current token (strict tril: o_i reads M_{i-1})', Edit(
            '''
out = q @ M0 + (q @ k.T).tril() @ U
''',
            '''
out = q @ M0 + (q @ k.T).tril(-1) @ U
''')),
        ('the corrected values ignore the memory carried in (V instead of V - K M0)', Edit(
            '''
U = torch.linalg.solve_triangular(A, beta[:, None] * (v - k @ M0), upper=False)
''',
            '''
U = torch.linalg.solve_triangular(A, beta[:, None] * v, upper=False)
''')),
        ('the diagonal kept in A (tril(0): each token corrects against its own write)', Edit(
            '''
A = torch.eye(len(k), dtype=k.dtype) + (bk @ k.T).tril(-1)
''',
            '''
A = torch.eye(len(k), dtype=k.dtype) + (bk @ k.T).tril()
''')),
        ('beta on the wrong side of K Kᵀ (scales columns j instead of rows i)', Edit(
            '''
A = torch.eye(len(k), dtype=k.dtype) + (bk @ k.T).tril(-1)
''',
            '''
A = torch.eye(len(k), dtype=k.dtype) + (k @ bk.T).tril(-1)
''')),
        ('the sign of the coupling flipped (I - tril(...))', Edit(
            '''
A = torch.eye(len(k), dtype=k.dtype) + (bk @ k.T).tril(-1)
''',
            '''
A = torch.eye(len(k), dtype=k.dtype) - (bk @ k.T).tril(-1)
''')),
        ('plain linear-attention writes (no correction: U = diag(β) V)', Edit(
            '''
U = torch.linalg.solve_triangular(A, beta[:, None] * (v - k @ M0), upper=False)
''',
            '''
U = beta[:, None] * v
''')),
        ('the memory after the chunk forgets M0', Edit(
            '''
return out, M0 + k.T @ U
''',
            '''
return out, k.T @ U
''')),
    ],
}
