"""Model-free speculative decoding: n-gram drafts verified by the target model in one pass.

A *drafter* proposes the next ``k`` tokens without any neural network: **prompt lookup**
(find the latest earlier occurrence of the current suffix and copy what followed it) or an
**n-gram table** built from earlier samples, as in STAND ("Accelerated Test-Time Scaling with
Model-Free Speculative Sampling", arXiv 2506.04708), which reuses the heavy repetition among
the many samples of test-time scaling. The target model scores all ``k`` drafts with one
KV-cached forward pass; the acceptance rule keeps the output distribution *exactly* that of
the target ("Fast Inference from Transformers via Speculative Decoding", Leviathan et al.
2023, arXiv 2211.17192, Algorithm 1):

    accept draft x ~ q with probability min(1, p(x) / q(x));
    on rejection sample from norm(max(0, p - q)); if all k are accepted, sample one more from p.

For a deterministic draft (prompt lookup, the table's most frequent continuation) ``q`` is
one-hot, so a draft is accepted with probability ``p(x)`` and the residual is ``p`` with ``x``
removed. With ``temperature=0`` the rule reduces to "accept while the draft equals the argmax",
and the output is identical to plain greedy decoding.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from testtime.models import DecodeState, KVCache, TinyGPT

Drafter = Callable[[Sequence[int], int], list[int]]


def prompt_lookup_draft(context: Sequence[int], k: int, max_ngram: int = 3) -> list[int]:
    """Prompt lookup decoding: match the last ``n`` tokens (``n = max_ngram`` down to 1) with
    their latest earlier occurrence in ``context`` and propose the ``k`` tokens that followed."""
    tokens = list(context)
    for n in range(min(max_ngram, len(tokens) - 1), 0, -1):
        suffix = tokens[-n:]
        for start in range(len(tokens) - n - 1, -1, -1):
            if tokens[start : start + n] == suffix:  # start + n < len: something follows
                return tokens[start + n : start + n + k]
    return []


class NGramTable:
    """Next-token counts of every context of ``1 … n-1`` tokens over earlier samples, the STAND
    draft model. Drafting backs off from the longest context seen to shorter ones."""

    def __init__(self, n: int = 4) -> None:
        if not isinstance(n, int) or n < 2:
            raise ValueError(f"n={n!r} is not valid; expected an int >= 2")
        self.n = n
        self.counts: dict[tuple[int, ...], Counter] = defaultdict(Counter)

    def add(self, tokens: Sequence[int]) -> None:
        tokens = list(tokens)
        for order in range(1, self.n):
            for i in range(len(tokens) - order):
                self.counts[tuple(tokens[i : i + order])][tokens[i + order]] += 1

    def next_token(self, context: Sequence[int]) -> int | None:
        """The most frequent follower of the longest suffix of ``context`` seen before."""
        for order in range(min(self.n - 1, len(context)), 0, -1):
            followers = self.counts.get(tuple(context[-order:]))
            if followers:
                return followers.most_common(1)[0][0]
        return None

    def draft(self, context: Sequence[int], k: int, min_order: int = 2) -> list[int]:
        """Greedy chain of ``k`` next tokens, stopping where no suffix of at least
        ``min_order`` tokens has been seen."""
        tokens, out = list(context), []
        for _ in range(k):
            if tuple(tokens[-min_order:]) not in self.counts:
                break
            nxt = self.next_token(tokens)
            out.append(nxt)
            tokens.append(nxt)
        return out


def acceptance_distribution(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The distribution of the token one speculative step emits, given target ``p`` and draft
    ``q`` (both over the vocabulary): ``q·min(1, p/q) + (1 − Σ q·min(1, p/q))·norm(max(0, p−q))``.

    It equals ``p`` for every ``q`` — the losslessness of the rule; tests check it."""
    accept = torch.minimum(q, p)  # q(x) * min(1, p(x)/q(x))
    residual = (p - q).clamp_min(0)
    rejected = 1 - accept.sum(-1, keepdim=True)
    norm = residual.sum(-1, keepdim=True)
    return accept + torch.where(norm > 0, rejected * residual / norm.clamp_min(1e-30), 0.0)


def truncate_state(state: DecodeState, length: int) -> DecodeState:
    """Roll a KV cache back to its first ``length`` positions (after rejected drafts).

    Works for full softmax-attention mixers, whose state is a :class:`KVCache` per layer."""
    if any(not isinstance(layer, KVCache) for layer in state.layers):
        raise ValueError("truncate_state supports only full attention caches (KVCache states); "
                         "windowed attention and fast-weight states cannot be rolled back")
    return DecodeState(length, [layer.truncate(length) for layer in state.layers])


@dataclass
class SpeculativeStats:
    generated: int = 0  # tokens emitted
    drafted: int = 0  # draft tokens proposed
    accepted: int = 0  # draft tokens accepted
    forward_passes: int = 0  # target-model calls, the prompt pass included

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / max(1, self.drafted)

    @property
    def tokens_per_pass(self) -> float:
        return self.generated / max(1, self.forward_passes)


def _probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return (logits.float() / temperature).softmax(-1)


@torch.no_grad()
def speculative_generate(
    model: TinyGPT,
    prompt: Sequence[int],
    max_new_tokens: int,
    drafter: Drafter,
    *,
    k: int = 4,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    stop_tokens: Sequence[int] = (),
) -> tuple[list[int], SpeculativeStats]:
    """Decode one sequence with drafts from ``drafter(context, k)`` verified by ``model``.

    Returns the generated tokens (the prompt excluded; they end at the first stop token) and
    the counts. ``temperature=0`` gives exactly the greedy output of ``model.generate``;
    ``temperature>0`` samples exactly from the model's distribution at that temperature.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k={k!r} is not valid; expected an int >= 1")
    if temperature < 0:
        raise ValueError(f"temperature={temperature!r} is not valid; expected a float >= 0")
    device = next(model.parameters()).device
    stats = SpeculativeStats()
    context = list(prompt)
    # the cache covers every token but the last one, which is fed with the drafts
    state = None
    if len(context) > 1:
        _, state = model.step(torch.tensor([context[:-1]], device=device))
        stats.forward_passes += 1
    out: list[int] = []
    stops = set(stop_tokens)
    while len(out) < max_new_tokens:
        budget = max_new_tokens - len(out) - 1
        limit = model.config.block_size - len(context) - 1 if model.config.pos_emb else budget
        draft = list(drafter(context, k))[: max(0, min(k, budget, limit))]
        feed = torch.tensor([[context[-1], *draft]], device=device)
        logits, state = model.step(feed, state)
        stats.forward_passes += 1
        stats.drafted += len(draft)
        logits = logits[0]
        emitted: list[int] = []
        for i, token in enumerate(draft):
            if temperature == 0:
                ok = int(logits[i].argmax()) == token
            else:
                p = _probs(logits[i], temperature)
                u = torch.rand((), generator=generator, device=generator.device if generator else None)
                ok = bool(u.item() < p[token].item())
            if not ok:
                break
            emitted.append(token)
            if token in stops:
                break
        stats.accepted += len(emitted)
        if not (emitted and emitted[-1] in stops):
            row = logits[len(emitted)]
            if temperature == 0:
                nxt = int(row.argmax())
            else:
                p = _probs(row, temperature)
                if len(emitted) < len(draft):  # rejected: residual norm(max(0, p - onehot))
                    p = p.clone()
                    p[draft[len(emitted)]] = 0.0
                    p = p / p.sum()
                nxt = int(torch.multinomial(p.to(generator.device) if generator else p, 1,
                                            generator=generator))
            emitted.append(nxt)
        # keep the cache for context[-1] and the accepted drafts; the new last token is pending
        state = truncate_state(state, len(context) + len(emitted) - 1)
        for token in emitted:
            out.append(token)
            context.append(token)
            if token in stops or len(out) >= max_new_tokens:
                stats.generated = len(out)
                return out, stats
    stats.generated = len(out)
    return out, stats
