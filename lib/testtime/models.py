"""TinyGPT (a minimal pre-norm GPT with a pluggable token mixer and cached decoding) and a
small ConvNet with BatchNorm.

TinyGPT follows the shape of karpathy's nanoGPT ``model.py``: token + learned position
embeddings, ``n_layer`` pre-norm blocks ``x + mixer(ln(x))``, ``x + mlp(ln(x))``, a final
LayerNorm and a weight-tied head. The *token mixer* is looked up by name in ``MIXERS`` so
Part I can swap softmax attention for linear attention, TTT or LaCT layers.

A mixer is an ``nn.Module`` with ``forward(x, state=None) -> (y, new_state)``: ``x`` holds the
new tokens ``(B, T, C)``, ``state`` whatever the mixer carried over from earlier tokens
(``None`` at the start of a sequence). For attention the state is the KV cache; for a
fast-weight layer it is the fast weights. Decoding token by token with states must give the
same outputs as one pass over the whole sequence (tests/test_models.py checks it).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

MixerFactory = Callable[..., nn.Module]
MIXERS: dict[str, MixerFactory] = {}


def register_mixer(name: str) -> Callable[[MixerFactory], MixerFactory]:
    """Decorator: make ``name`` usable as ``GPTConfig(mixer=name)``.

    The factory is called as ``factory(n_embd=..., n_head=..., block_size=..., **mixer_kwargs)``.
    """

    def decorate(factory: MixerFactory) -> MixerFactory:
        MIXERS[name] = factory
        return factory

    return decorate


def get_mixer(name: str) -> MixerFactory:
    if name not in MIXERS:  # the Part I layers register themselves on import
        try:
            importlib.import_module("testtime.ttt")
        except ImportError:
            pass
    if name not in MIXERS:
        raise ValueError(f"mixer={name!r} is not valid; choose one of {sorted(MIXERS)}")
    return MIXERS[name]


@register_mixer("attention")
class CausalSelfAttention(nn.Module):
    """Multi-head causal softmax attention with a KV cache ("Attention Is All You Need").

    The state is a :class:`KVCache`. ``window=w`` restricts each query to the ``w`` most recent
    keys (sliding-window attention); the state is then a ``(keys, values)`` pair of those keys.
    ``rope=True`` rotates queries and keys by their positions (:func:`apply_rope`), so attention
    scores also see relative offsets.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        block_size: int = 0,
        window: int | None = None,
        rope: bool = False,
    ) -> None:
        super().__init__()
        if n_embd % n_head or (rope and (n_embd // n_head) % 2):
            raise ValueError(f"n_embd={n_embd} is not valid; it must be divisible by n_head "
                             "(by 2 * n_head with rope=True)")
        if window is not None and window < 1:
            raise ValueError(f"window={window!r} is not valid; expected None or an int >= 1")
        if window is not None and rope:  # the cropped cache no longer knows its positions
            raise ValueError(f"window={window!r} is not valid with rope=True; expected None")
        self.n_head, self.window, self.rope = n_head, window, rope
        self.block_size = block_size
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.proj = nn.Linear(n_embd, n_embd, bias=False)

    def forward(
        self, x: torch.Tensor, state: KVCache | tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, KVCache | tuple[torch.Tensor, torch.Tensor]]:
        B, T, C = x.shape
        q, k, v = (
            t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            for t in self.qkv(x).split(C, dim=2)
        )
        if self.rope:  # the cache holds rotated keys, so only the new tokens are rotated
            start = 0 if state is None else state.keys.size(2)
            positions = torch.arange(start, start + T, device=x.device)
            q, k = apply_rope(q, positions), apply_rope(k, positions)
        if self.window is None:
            cache = KVCache(k, v) if state is None else state.append(k, v, self.block_size)
            k, v = cache.keys, cache.values
        elif state is not None:
            k, v = torch.cat([state[0], k], dim=2), torch.cat([state[1], v], dim=2)
        past = k.size(2) - T
        if past == 0 and self.window is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            i = torch.arange(T, device=x.device)[:, None] + past
            j = torch.arange(past + T, device=x.device)[None, :]
            mask = j <= i
            if self.window is not None:
                mask = mask & (i - j < self.window)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = self.proj(y.transpose(1, 2).reshape(B, T, C))
        if self.window is None:
            return y, cache
        return y, (k[:, :, -self.window :], v[:, :, -self.window :])


class _Storage:
    """Key and value buffers ``(B, H, capacity, D)`` shared by the caches that grew in them;
    ``filled`` positions hold the newest cache's keys."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, capacity: int) -> None:
        B, H, n, D = keys.shape
        self.keys, self.values = keys.new_empty(B, H, capacity, D), values.new_empty(B, H, capacity, D)
        self.keys[:, :, :n], self.values[:, :, :n] = keys, values
        self.filled = n


@dataclass
class KVCache:
    """The keys and values ``(B, H, n, D)`` of the ``n`` tokens an attention layer has seen.

    They are views of buffers with room for ``block_size`` positions, so appending a token writes
    only its own keys: ``torch.cat`` would copy the whole cache at every decoding step (on a CPU,
    half of the tiny reasoner's step time at 100 cached tokens; see ``benchmarks/decoding.py``).
    A cache is still a value: appending to one that is not the newest in its buffer (a cache
    rolled back or decoded from twice) first copies it to a buffer of its own. With gradients
    on, appending concatenates, since autograd forbids writing into tensors it saved.
    """

    keys: torch.Tensor
    values: torch.Tensor
    storage: _Storage | None = field(default=None, repr=False)

    def append(self, keys: torch.Tensor, values: torch.Tensor, capacity: int = 0) -> KVCache:
        n, new = self.keys.size(2), self.keys.size(2) + keys.size(2)
        if torch.is_grad_enabled() and (keys.requires_grad or self.keys.requires_grad):
            return KVCache(torch.cat([self.keys, keys], 2), torch.cat([self.values, values], 2))
        storage = self.storage
        if storage is None or storage.filled != n or new > storage.keys.size(2):
            storage = _Storage(self.keys, self.values, max(capacity, new))
        storage.keys[:, :, n:new], storage.values[:, :, n:new] = keys, values
        storage.filled = new
        return KVCache(storage.keys[:, :, :new], storage.values[:, :, :new], storage)

    def truncate(self, length: int) -> KVCache:
        """The cache of the first ``length`` tokens (sharing this one's buffer)."""
        return KVCache(self.keys[:, :, :length], self.values[:, :, :length], self.storage)


def apply_rope(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding of "RoFormer: Enhanced Transformer with Rotary Position
    Embedding" (Su et al. 2021, arXiv 2104.09864, section 3.4.2), in the half-split layout of
    GPT-NeoX and Llama: feature ``i`` of the first half and feature ``i`` of the second half of
    each head (``x`` is ``(..., T, D)``) are rotated by the angle ``position * base**(-2i/D)``.
    Rotating queries and keys alike makes their dot product depend on the positions only
    through their difference.
    """
    half = x.size(-1) // 2
    freqs = base ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angles = positions.float()[:, None] * freqs  # (T, D/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class MLP(nn.Module):
    def __init__(self, n_embd: int, mult: int = 4) -> None:
        super().__init__()
        self.fc = nn.Linear(n_embd, mult * n_embd, bias=False)
        self.proj = nn.Linear(mult * n_embd, n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.mixer = get_mixer(config.mixer)(
            n_embd=config.n_embd,
            n_head=config.n_head,
            block_size=config.block_size,
            **config.mixer_kwargs,
        )
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config.n_embd)

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        h, state = self.mixer(self.ln1(x), state)
        x = x + h
        return x + self.mlp(self.ln2(x)), state


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 128
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    mixer: str = "attention"
    mixer_kwargs: dict[str, Any] = field(default_factory=dict)
    pos_emb: bool = True  # learned absolute positions; off for mixers that encode order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DecodeState:
    """What :meth:`TinyGPT.step` carries between calls: position and per-layer mixer states."""

    pos: int
    layers: list[Any]


class TinyGPT(nn.Module):
    """A minimal GPT. ``forward(idx, targets)`` -> ``(logits, loss)``; ``step`` decodes with a
    cache; ``generate`` samples a batch of continuations."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(config, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is not valid; expected an int >= 1")
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd) if config.pos_emb else None
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count (without the embeddings by default, as in FLOPs estimates)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.tok_emb.weight.numel()
            if self.pos_emb is not None:
                n -= self.pos_emb.weight.numel()
        return n

    def flops_per_token(self) -> float:
        """Forward FLOPs per token, ~2 x parameters (the head included, attention excluded)."""
        return 2.0 * (self.num_params() + self.tok_emb.weight.numel())

    def _hidden(self, idx: torch.Tensor, state: DecodeState | None) -> tuple[torch.Tensor, DecodeState]:
        B, T = idx.shape
        pos0 = 0 if state is None else state.pos
        x = self.tok_emb(idx)
        if self.pos_emb is not None:
            if pos0 + T > self.config.block_size:
                raise ValueError(
                    f"sequence length {pos0 + T} exceeds block_size={self.config.block_size}; "
                    "shorten the prompt or max_new_tokens, or build a larger block_size"
                )
            x = x + self.pos_emb(torch.arange(pos0, pos0 + T, device=idx.device))
        layer_states = [None] * len(self.blocks) if state is None else state.layers
        new_states = []
        for block, layer_state in zip(self.blocks, layer_states):
            x, layer_state = block(x, layer_state)
            new_states.append(layer_state)
        return self.ln_f(x), DecodeState(pos0 + T, new_states)

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """Final hidden states ``(B, T, n_embd)`` (after the last LayerNorm)."""
        return self._hidden(idx, None)[0]

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits ``(B, T, V)`` and, given targets, the mean cross-entropy (-100 = ignore)."""
        logits = self.head(self._hidden(idx, None)[0])
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100
            )
        return logits, loss

    def step(
        self, idx: torch.Tensor, state: DecodeState | None = None
    ) -> tuple[torch.Tensor, DecodeState]:
        """Process new tokens after ``state``; return their logits and the updated state."""
        h, state = self._hidden(idx, state)
        return self.head(h), state

    @torch.no_grad()
    def generate(
        self,
        prompt: torch.Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        stop_tokens: Iterable[int] | None = None,
        pad_token: int | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Sample continuations of a batch of equal-length prompts ``(B, T)``.

        Returns ``(B, T + n)`` with ``n <= max_new_tokens``: rows that emitted a stop token
        are padded with ``pad_token`` (default: the first stop token), and decoding ends early
        once every row has stopped. ``temperature=0`` is greedy. With ``use_cache=False``
        every step recomputes the whole prefix (the slow reference). The prompt may be on any
        device: it is moved to the model's, where the output is.
        """
        prompt = prompt.to(self.tok_emb.weight.device)
        if prompt.dim() != 2 or prompt.size(1) < 1:
            raise ValueError(f"prompt of shape {tuple(prompt.shape)} is not valid; expected (B, T>=1)")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens={max_new_tokens!r} is not valid; expected an int >= 0")
        stops = torch.tensor(sorted(set(stop_tokens or [])), device=prompt.device, dtype=torch.long)
        if pad_token is None:
            pad_token = int(stops[0]) if len(stops) else 0
        out = prompt
        done = torch.zeros(prompt.size(0), dtype=torch.bool, device=prompt.device)
        state, logits = None, None
        for _ in range(max_new_tokens):
            if use_cache:
                logits, state = self.step(out if state is None else out[:, -1:], state)
            else:
                logits, _ = self.forward(out)
            nxt = sample_next(logits[:, -1], temperature, top_k, top_p, generator)
            nxt = torch.where(done, torch.full_like(nxt, pad_token), nxt)
            out = torch.cat([out, nxt[:, None]], dim=1)
            if len(stops):
                done = done | torch.isin(nxt, stops)
                if bool(done.all()):
                    break
        return out


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of the last dimension, set the rest to -inf."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k={k!r} is not valid; expected None or an int >= 1")
    k = min(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of tokens whose probability mass reaches ``p``.

    A token is kept when the mass of the tokens strictly more likely than it is below ``p``
    ("The Curious Case of Neural Text Degeneration", Holtzman et al. 2020).
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p={p!r} is not valid; expected a float in (0, 1]")
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    sorted_logits = sorted_logits.masked_fill(mass_before >= p, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sample one token per row of ``logits (B, V)``; ``temperature=0`` means argmax."""
    if temperature < 0:
        raise ValueError(f"temperature={temperature!r} is not valid; expected a float >= 0")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)
    if generator is not None and generator.device != probs.device:
        return torch.multinomial(probs.to(generator.device), 1, generator=generator)[:, 0].to(
            probs.device
        )
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def sequence_logprobs(
    model: TinyGPT, tokens: torch.Tensor, start: int | torch.Tensor = 1
) -> torch.Tensor:
    """Per-token log-probabilities ``log p(tokens[:, t] | tokens[:, :t])`` for ``t >= 1``.

    Returns ``(B, T-1)``; entries for positions before ``start`` are zero (for example the
    prompt, when only the completion should count).
    """
    logits, _ = model(tokens[:, :-1])
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, tokens[:, 1:, None])[..., 0]
    positions = torch.arange(1, tokens.size(1), device=tokens.device)
    start_t = torch.as_tensor(start, device=tokens.device).reshape(-1, 1)
    return logp * (positions[None, :] >= start_t)


class ConvNet(nn.Module):
    """A small ConvNet with BatchNorm (about 55k parameters at width 32).

    ``features(x)`` gives the pooled feature vector, ``head`` the linear classifier: the split
    that LAME (features) and rotation TTT (a second head on the same trunk) need.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()

        def conv_bn(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            return [
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]

        self.features = nn.Sequential(
            *conv_bn(in_channels, width, 1),
            *conv_bn(width, 2 * width, 2),
            *conv_bn(2 * width, 2 * width, 2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * width, num_classes)
        self.feature_dim = 2 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def cosine_lr(step: int, total: int, base: float, warmup: int = 0) -> float:
    """Linear warmup then cosine decay to 10% of ``base``."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
