"""Wrong answers to notebook 04's exercises (see testtime.assignments.mutants)."""

from testtime.assignments.mutants import Edit

NEEDS: list[str] = []

MUTANTS = {
    "ex-dw1": [
        ('silu on the W2 branch instead of the W0 branch', Edit(
            '''
h = F.silu(k @ w0.mT) * (k @ w2.mT)
''',
            '''
h = (k @ w0.mT) * F.silu(k @ w2.mT)
''')),
        ('per-token learning rates left out', Edit(
            '''
return (v * lr1[..., None]).mT @ h
''',
            '''
return v.mT @ h
''')),
        ('outer product transposed (h vᵀ, shape (d_h, d))', Edit(
            '''
return (v * lr1[..., None]).mT @ h
''',
            '''
return h.mT @ (v * lr1[..., None])
''')),
        ('sigmoid gate instead of silu', Edit(
            '''
h = F.silu(k @ w0.mT) * (k @ w2.mT)
''',
            '''
h = torch.sigmoid(k @ w0.mT) * (k @ w2.mT)
''')),
    ],
    "ex-flops": [
        ('multiply-adds counted, not FLOPs (no factor 2)', Edit(
            '''
apply = 2 * (2 * d_h * d + d * d_h)
forward_key = 2 * 2 * d_h * d
backward = 2 * d * d_h + 2 * d * d_h + 2 * 2 * d_h * d
return tokens * (apply + forward_key + backward)
''',
            '''
return tokens * (2 * d_h * d + d * d_h + 2 * d_h * d + d * d_h + d * d_h + 2 * d_h * d)
''')),
        ('backward without e = W1ᵀ v (weight gradients only)', Edit(
            '''
backward = 2 * d * d_h + 2 * d * d_h + 2 * 2 * d_h * d
''',
            '''
backward = 2 * d * d_h + 2 * 2 * d_h * d
''')),
        ('count for one token only (not multiplied by tokens)', Edit(
            '''
return tokens * (apply + forward_key + backward)
''',
            '''
return apply + forward_key + backward
''')),
        ('W1 counted as a (d_h, d_h) matrix in the apply', Edit(
            '''
apply = 2 * (2 * d_h * d + d * d_h)
''',
            '''
apply = 2 * (2 * d_h * d + d_h * d_h)
''')),
    ],
    "ex-muon": [
        ('momentum without the (1 - beta) factor (m <- beta m + g)', Edit(
            '''
buffer = beta * buffer + (1 - beta) * grad
''',
            '''
buffer = beta * buffer + grad
''')),
        ('orthogonalizes the gradient, not the momentum buffer', Edit(
            '''
return newton_schulz(buffer), buffer
''',
            '''
return newton_schulz(grad), buffer
''')),
        ('beta and 1 - beta swapped (m <- (1 - beta) m + beta g)', Edit(
            '''
buffer = beta * buffer + (1 - beta) * grad
''',
            '''
buffer = (1 - beta) * buffer + beta * grad
''')),
    ],
}
