"""Batched rollouts for policy-gradient training: G completions per prompt sampled with the
KV cache, then the per-token log-probabilities of the completions under the policy, the
sampler ("old" policy) and a frozen reference, with the completion mask.

Layout: prompts ``(P, Tp)`` of equal length are repeated ``G`` times each (rows
``g*G ... g*G+G-1`` belong to prompt ``g``); completion tensors are ``(P*G, L)`` where column
``j`` is the token at position ``Tp + j`` of the full sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from testtime.models import TinyGPT
from testtime.runtime import check_positive


@dataclass
class Rollout:
    """A batch of sampled completions.

    ``tokens (N, Tp + L)`` prompt and completion; ``mask (N, L)`` 1 on completion tokens up to
    and including the stop token; ``old_logp (N, L)`` log-probs under the sampler;
    ``ref_logp (N, L)`` under the reference (None without one); ``group_size`` G.
    """

    tokens: torch.Tensor
    prompt_len: int
    mask: torch.Tensor
    old_logp: torch.Tensor
    ref_logp: torch.Tensor | None
    group_size: int

    @property
    def completions(self) -> torch.Tensor:
        return self.tokens[:, self.prompt_len :]

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(dim=1)


def completion_mask(completions: torch.Tensor, stop_token: int | None) -> torch.Tensor:
    """``(N, L)`` float mask: 1 up to and including the first ``stop_token`` of each row
    (every token when a row never stops), 0 on the padding after it."""
    if stop_token is None:
        return torch.ones_like(completions, dtype=torch.float32)
    is_stop = (completions == stop_token).long()
    stops_before = is_stop.cumsum(dim=1) - is_stop  # number of stop tokens strictly before
    return (stops_before == 0).float()


def completion_logprobs(
    model: TinyGPT,
    tokens: torch.Tensor,
    prompt_len: int,
    *,
    temperature: float = 1.0,
    return_entropy: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Per-token ``log p(token_t | tokens_<t)`` of the completion columns, ``(N, L)``.

    The same quantity as ``testtime.models.sequence_logprobs`` restricted to the completion,
    with the logits divided by ``temperature`` (the distribution the tokens were sampled
    from). With ``return_entropy`` also the entropy of each next-token distribution.
    Differentiable: call it under ``torch.no_grad()`` for the sampler and the reference.
    """
    check_positive("temperature", temperature)
    logits, _ = model(tokens[:, :-1])
    logits = logits[:, prompt_len - 1 :].float() / temperature
    logp_all = F.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, tokens[:, prompt_len:, None])[..., 0]
    if not return_entropy:
        return logp
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


@torch.no_grad()
def sample_rollout(
    model: TinyGPT,
    prompts: torch.Tensor,
    group_size: int,
    max_new_tokens: int,
    *,
    generator: torch.Generator,
    stop_token: int | None = None,
    pad_token: int | None = None,
    temperature: float = 1.0,
    top_p: float | None = None,
    ref_model: TinyGPT | None = None,
) -> Rollout:
    """Sample ``group_size`` completions of each prompt in one KV-cached batch and score them.

    ``old_logp`` uses the sampling temperature (with ``top_p`` it is the log-prob under the
    unfiltered tempered distribution, the usual approximation). The model is left in eval mode;
    the rollout's tensors are on the model's device, wherever ``prompts`` were.
    """
    if not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size={group_size!r} is not valid; expected an int >= 1")
    if prompts.dim() != 2:
        raise ValueError(f"prompts of shape {tuple(prompts.shape)} is not valid; expected (P, Tp)")
    model.eval()
    batch = prompts.to(next(model.parameters()).device).repeat_interleave(group_size, dim=0)
    tokens = model.generate(
        batch,
        max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        generator=generator,
        stop_tokens=None if stop_token is None else [stop_token],
        pad_token=pad_token,
    )
    prompt_len = prompts.size(1)
    if tokens.size(1) == prompt_len:
        raise ValueError("max_new_tokens=0 is not valid for a rollout; expected >= 1")
    mask = completion_mask(tokens[:, prompt_len:], stop_token)
    old_logp = completion_logprobs(model, tokens, prompt_len, temperature=temperature) * mask
    ref_logp = None
    if ref_model is not None:
        ref_model.eval()
        ref_logp = (
            completion_logprobs(ref_model, tokens, prompt_len, temperature=temperature) * mask
        )
    return Rollout(tokens, prompt_len, mask, old_logp, ref_logp, group_size)


def pooled_hidden(model: TinyGPT, rollout: Rollout) -> torch.Tensor:
    """Mean of the final hidden states over each completion's tokens, ``(N, n_embd)`` (the
    representation the exploration bonus uses)."""
    with torch.no_grad():
        h = model.hidden(rollout.tokens)[:, rollout.prompt_len :]
    m = rollout.mask[..., None]
    return (h * m).sum(1) / m.sum(1).clamp(min=1)


@torch.no_grad()
def success_probability(
    model: TinyGPT,
    prefixes: torch.Tensor,
    is_correct: Callable[[int, torch.Tensor], bool],
    n_rollouts: int,
    max_new_tokens: int,
    *,
    generator: torch.Generator,
    stop_token: int | None = None,
    pad_token: int | None = None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Monte-Carlo estimate of the probability that the policy, continuing each prefix,
    ends correct: ``V(prefix) = mean_k is_correct(row, continuation_k)`` over ``n_rollouts``.

    ``prefixes`` are equal-length ``(B, T)``; ``is_correct(b, tokens)`` judges one full
    sequence that continues prefix ``b``. MRT's progress reward is the difference of these
    values across blocks (:func:`testtime.rl.rewards.progress_rewards`).
    """
    check_positive("n_rollouts", n_rollouts)
    model.eval()
    batch = prefixes.to(next(model.parameters()).device).repeat_interleave(n_rollouts, dim=0)
    out = model.generate(
        batch,
        max_new_tokens,
        temperature=temperature,
        generator=generator,
        stop_tokens=None if stop_token is None else [stop_token],
        pad_token=pad_token,
    )
    hits = torch.tensor([float(is_correct(i // n_rollouts, row)) for i, row in enumerate(out)])
    return hits.view(-1, n_rollouts).mean(dim=1)


@torch.no_grad()
def rollout_from_tokens(
    model: TinyGPT,
    tokens: torch.Tensor,
    prompt_len: int,
    group_size: int,
    *,
    stop_token: int | None = None,
    temperature: float = 1.0,
    ref_model: TinyGPT | None = None,
) -> Rollout:
    """A :class:`Rollout` of given sequences ``(N, Tp + L)`` (not sampled by ``model``):
    for example guided re-attempts whose first step came from a hint. ``old_logp`` is the
    current model's, so the importance ratio starts at 1 (on-policy losses apply as is).
    ``tokens`` may be on any device (e.g. built on the CPU): the rollout is on the model's."""
    if tokens.size(0) % group_size:
        raise ValueError(f"group_size={group_size!r} is not valid for {tokens.size(0)} rows")
    tokens = tokens.to(next(model.parameters()).device)
    model.eval()
    mask = completion_mask(tokens[:, prompt_len:], stop_token)
    old_logp = completion_logprobs(model, tokens, prompt_len, temperature=temperature) * mask
    ref_logp = None
    if ref_model is not None:
        ref_model.eval()
        ref_logp = completion_logprobs(ref_model, tokens, prompt_len, temperature=temperature)
        ref_logp = ref_logp * mask
    return Rollout(tokens, prompt_len, mask, old_logp, ref_logp, group_size)
