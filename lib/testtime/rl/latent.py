"""Test-time optimisation in the latent space of a frozen policy: LatentSeek and SRGen.

Both methods leave the weights alone and optimise a vector that is *added to the final
hidden state* of the model (after the last LayerNorm, before the output head). Because the
head is linear, a final-layer latent ``z`` shifts the logits by ``head(z) = W z``: for a
TinyGPT it is a logit offset in the span of the (tied) embedding matrix. We exploit this to
reuse the model's KV-cached ``step`` unchanged: ``logits(h + z) = logits(h) + head(z)``.

- LatentSeek ("Seek in the Dark: Reasoning via Test-Time Instance-Level Policy Gradient in
  Latent Space", eq. 4-6): one latent per generated position of the first ``n_latent``
  positions of each problem, updated by REINFORCE ``z <- z + eta * E[R(x) grad_z log pi(x|z)]``
  with a self-reward ``R`` (the model's own verifier), for a few iterations, then decode.
- SRGen ("Self-Reflective Generation at Test Time", sec. 3): while decoding, at tokens whose
  entropy exceeds a dynamic threshold, optimise a corrective vector ``delta`` on the prefix,
  ``(1 - lam) CE(prefix | h + delta) + lam H(p(. | h_t + delta))``, then emit the token from
  the corrected distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from testtime.models import TinyGPT, sample_next
from testtime.rl.rollouts import completion_mask
from testtime.runtime import check_positive


def latent_logits(model: TinyGPT, hidden_offset: torch.Tensor) -> torch.Tensor:
    """Logit offset of a final-layer latent: ``head(z)``, ``(..., V)`` for ``z (..., d)``."""
    return model.head(hidden_offset)


@torch.no_grad()
def generate_with_latents(
    model: TinyGPT,
    prompts: torch.Tensor,
    latents: torch.Tensor,
    max_new_tokens: int,
    *,
    generator: torch.Generator,
    temperature: float = 1.0,
    stop_token: int | None = None,
    pad_token: int | None = None,
) -> torch.Tensor:
    """Sample continuations of ``prompts (B, Tp)`` with ``latents (B, K, d)`` added to the final
    hidden state of the first ``K`` generated positions (``K`` may be 0). Returns
    ``(B, Tp + max_new_tokens)``; rows are padded with ``pad_token`` after ``stop_token``."""
    check_positive("temperature", temperature)
    offsets = latent_logits(model, latents)
    out, state = prompts, None
    done = torch.zeros(prompts.size(0), dtype=torch.bool, device=prompts.device)
    pad = pad_token if pad_token is not None else (stop_token if stop_token is not None else 0)
    for t in range(max_new_tokens):
        logits, state = model.step(out if state is None else out[:, -1:], state)
        logits = logits[:, -1]
        if t < offsets.size(1):
            logits = logits + offsets[:, t]
        nxt = sample_next(logits, temperature, generator=generator)
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
        out = torch.cat([out, nxt[:, None]], dim=1)
        if stop_token is not None:
            done = done | (nxt == stop_token)
    return out


@dataclass
class LatentSeekResult:
    """The optimised latents ``(P, K, d)`` and the mean self-reward of every iteration."""

    latents: torch.Tensor
    rewards: list[float] = field(default_factory=list)


def latentseek(
    model: TinyGPT,
    prompts: torch.Tensor,
    reward_fn: Callable[[torch.Tensor], torch.Tensor],
    *,
    generator: torch.Generator,
    n_samples: int = 8,
    iterations: int = 8,
    lr: float = 0.3,
    n_latent: int = 12,
    max_new_tokens: int = 30,
    temperature: float = 1.0,
    stop_token: int | None = None,
    pad_token: int | None = None,
) -> LatentSeekResult:
    """LatentSeek: instance-level policy gradient on latents, one problem per prompt row.

    Each iteration samples ``n_samples`` completions of every prompt with the current latents,
    scores the full sequences with ``reward_fn(tokens (P * n, Tp + L)) -> (P * n,)`` (a
    self-reward: the model's own verifier, no labels), and takes one Adam step on
    ``-sum_i (R_i - mean_group R) sum_{t<K} m_t log pi(x_{i,t} | x_<t, z_t)``; the model is
    frozen, so the gradient reaches only ``z``. The latents start at 0 (the plain policy).

    Differences from the paper: LatentSeek starts from the hidden states of a greedy answer,
    updates them with a single sample per iteration (no baseline) and stops once the
    self-reward passes a threshold; we sample a group (a mean baseline, the variance reduction
    of RLOO), run a fixed number of iterations, use Adam, and optimise an additive latent.
    """
    for name, value in (("n_samples", n_samples), ("iterations", iterations),
                        ("n_latent", n_latent), ("max_new_tokens", max_new_tokens)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} is not valid; expected an int >= 1")
    check_positive("lr", lr)
    if n_latent > max_new_tokens:
        raise ValueError(f"n_latent={n_latent} is not valid; expected <= max_new_tokens")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    P, Tp = prompts.shape
    z = torch.zeros(P, n_latent, model.config.n_embd, device=prompts.device, requires_grad=True)
    opt = torch.optim.Adam([z], lr=lr)
    history: list[float] = []
    try:
        for _ in range(iterations):
            rows = z.detach().repeat_interleave(n_samples, dim=0)
            tokens = generate_with_latents(
                model, prompts.repeat_interleave(n_samples, dim=0), rows, max_new_tokens,
                generator=generator, temperature=temperature, stop_token=stop_token,
                pad_token=pad_token,
            )
            reward = reward_fn(tokens).to(z.device).float()
            history.append(float(reward.mean()))
            adv = (reward.view(P, n_samples) - reward.view(P, n_samples).mean(1, keepdim=True))
            with torch.no_grad():
                base = model(tokens[:, :-1])[0][:, Tp - 1 : Tp - 1 + n_latent].float()
            logits = (base + latent_logits(model, z.repeat_interleave(n_samples, dim=0)))
            logp = F.log_softmax(logits / temperature, dim=-1)
            target = tokens[:, Tp : Tp + n_latent]
            logp = logp.gather(-1, target[..., None])[..., 0]
            mask = completion_mask(tokens[:, Tp:], stop_token)[:, :n_latent]
            loss = -(adv.reshape(-1, 1) * logp * mask).sum() / P
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return LatentSeekResult(z.detach(), history)


def dynamic_threshold(
    history: torch.Tensor, count: torch.Tensor, *, k: float = 4.0, min_std: float = 0.5,
    min_threshold: float = 1.8,
) -> torch.Tensor:
    """SRGen's adaptive entropy threshold per row: ``max(mean + k max(std, min_std),
    min_threshold)`` over the last entropies ``history (B, N)`` of which ``count (B,)`` are
    filled (rows with fewer than 2 get ``+inf``: no trigger before a history exists).
    Defaults are the official repository's (N = 25 set by the caller, K = 4)."""
    filled = torch.arange(history.size(1), device=history.device)[None] < count[:, None]
    n = filled.sum(1).clamp(min=1)
    mean = (history * filled).sum(1) / n
    var = (((history - mean[:, None]) ** 2) * filled).sum(1) / (n - 1).clamp(min=1)
    thr = torch.maximum(mean + k * var.sqrt().clamp(min=min_std),
                        torch.full_like(mean, min_threshold))
    return torch.where(count >= 2, thr, torch.full_like(thr, float("inf")))


def srgen_delta(
    prefix_logits: torch.Tensor,
    prefix_targets: torch.Tensor,
    prefix_mask: torch.Tensor,
    current_logits: torch.Tensor,
    head: torch.nn.Module,
    *,
    steps: int = 3,
    lr: float = 0.01,
    lam: float = 0.05,
) -> torch.Tensor:
    """SRGen's corrective vector for a batch of rows, ``(B, d)``: ``steps`` Adam steps on
    ``(1 - lam) CE(prefix) + lam H(current)`` where every logit is shifted by ``head(delta)``.

    ``prefix_logits (B, T, V)`` predict ``prefix_targets (B, T)`` (``prefix_mask`` selects
    the real tokens); ``current_logits (B, V)`` is the distribution of the token about to be
    emitted. Defaults (3 steps, lr 0.01, lambda 0.05) are the official repository's scripts.
    """
    d = head.weight.size(1)
    delta = torch.zeros(current_logits.size(0), d, device=current_logits.device,
                        requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    for _ in range(steps):
        shift = head(delta)
        logp = F.log_softmax(prefix_logits + shift[:, None], dim=-1)
        nll = -logp.gather(-1, prefix_targets[..., None])[..., 0]
        ce = (nll * prefix_mask).sum(1) / prefix_mask.sum(1).clamp(min=1)
        cur = F.log_softmax(current_logits + shift, dim=-1)
        ent = -(cur.exp() * cur).sum(-1)
        loss = ((1 - lam) * ce + lam * ent).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return delta.detach()


@torch.no_grad()
def srgen_generate(
    model: TinyGPT,
    prompts: torch.Tensor,
    max_new_tokens: int,
    *,
    generator: torch.Generator,
    temperature: float = 1.0,
    stop_token: int | None = None,
    pad_token: int | None = None,
    steps: int = 3,
    lr: float = 0.01,
    lam: float = 0.05,
    window: int = 25,
    k: float = 4.0,
    min_std: float = 0.5,
    min_threshold: float = 1.8,
) -> tuple[torch.Tensor, int]:
    """Decode with SRGen: returns the tokens ``(B, Tp + max_new_tokens)`` and the number of
    triggered corrections. The entropy history of each row starts with its prompt tokens'
    prediction entropies (the context the threshold adapts to). The corrective vector applies
    to the triggering token only; the KV cache is never modified. The official code keeps
    the optimised ``delta`` in the hidden state for the tokens that follow; we reset it.
    """
    check_positive("temperature", temperature)
    B, Tp = prompts.shape
    pad = pad_token if pad_token is not None else (stop_token if stop_token is not None else 0)
    logits_all, state = model.step(prompts, None)
    logits_all = logits_all.float()
    logp0 = F.log_softmax(logits_all[:, :-1], dim=-1)
    prompt_ent = -(logp0.exp() * logp0).sum(-1)[:, -window:]
    history = torch.zeros(B, window, device=prompts.device)
    history[:, -prompt_ent.size(1):] = prompt_ent
    count = torch.full((B,), prompt_ent.size(1), device=prompts.device)
    out = prompts
    done = torch.zeros(B, dtype=torch.bool, device=prompts.device)
    triggers = 0
    for t in range(max_new_tokens):
        cur = logits_all[:, -1] / temperature
        logp = F.log_softmax(cur, dim=-1)
        ent = -(logp.exp() * logp).sum(-1)
        fire = (ent > dynamic_threshold(history, count, k=k, min_std=min_std,
                                         min_threshold=min_threshold)) & ~done
        if bool(fire.any()):
            rows = fire.nonzero()[:, 0]
            T = out.size(1)
            with torch.enable_grad():
                delta = srgen_delta(
                    logits_all[rows, : T - 1] / temperature, out[rows, 1:],
                    torch.ones(len(rows), T - 1, device=out.device), cur[rows], model.head,
                    steps=steps, lr=lr, lam=lam,
                )
            cur = cur.clone()
            cur[rows] = cur[rows] + model.head(delta)
            triggers += len(rows)
        nxt = sample_next(cur, 1.0, generator=generator)
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
        history = torch.cat([history[:, 1:], ent[:, None]], dim=1)
        count = (count + 1).clamp(max=window)
        out = torch.cat([out, nxt[:, None]], dim=1)
        if stop_token is not None:
            done = done | (nxt == stop_token)
        if t == max_new_tokens - 1 or bool(done.all()):
            break
        step_logits, state = model.step(nxt[:, None], state)
        logits_all = torch.cat([logits_all, step_logits.float()], dim=1)
    return out, triggers
