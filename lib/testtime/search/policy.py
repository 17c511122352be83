"""The ``Policy`` protocol that every search strategy talks to, and two adapters.

A policy works on text. A *prefix* is the prompt plus the solution steps so far; the policy
samples continuations of a batch of prefixes, either one step (up to and including the step
terminator) or a whole solution (up to the end-of-solution marker), with an explicit
``torch.Generator``; it scores continuations by their log-probabilities, and reports what
it spent in a :class:`~testtime.search.costs.Cost`. Two adapters implement it:

- :class:`TinyGPTPolicy` for the course's character-level TinyGPT (the tiny reasoner);
- :class:`HFPolicy` for any Hugging Face causal LM with a tokenizer (tested on a tiny randomly
  initialised GPT-2; in full mode notebook 15 runs a real small instruct model through it, see
  :mod:`testtime.search.pretrained`).

Sampling defaults follow huggingface/search-and-learn (``temperature=0.8``, ``top_p=1.0``).
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from testtime.models import sample_next
from testtime.runtime import check_positive
from testtime.search.costs import Cost


@dataclass(frozen=True)
class Completion:
    """A sampled continuation: its ``text`` (terminator included), how many tokens it took,
    and whether it ``finished`` the solution (ended with the end-of-solution marker)."""

    text: str
    num_tokens: int
    finished: bool


@runtime_checkable
class Policy(Protocol):
    """What search strategies need from a language model.

    ``sample`` continues every prefix once (repeat a prefix to get several samples);
    ``step=True`` stops after one reasoning step, ``step=False`` at the end of the solution.
    ``token_logprobs`` returns, per pair, the ``(L, V)`` log-probabilities the model assigns
    over the vocabulary at each continuation position (``logprobs`` sums the chosen ones).
    Both add what they spend to ``cost`` when one is given.
    """

    flops_per_token: float

    def sample(self, prefixes: Sequence[str], *, generator: torch.Generator,
               step: bool = False, max_new_tokens: int = 256, temperature: float = 0.8,
               top_p: float | None = None, cost: Cost | None = None) -> list[Completion]: ...

    def token_logprobs(self, prefixes: Sequence[str], continuations: Sequence[str], *,
                       cost: Cost | None = None) -> list[torch.Tensor]: ...

    def logprobs(self, prefixes: Sequence[str], continuations: Sequence[str], *,
                 cost: Cost | None = None) -> torch.Tensor: ...

    def count_tokens(self, text: str) -> int: ...


def sample_repeated(policy: Policy, prompts: Sequence[str], n: int, *, generator: torch.Generator,
                    cost: Cost | None = None, **kwargs: Any) -> list[list[Completion]]:
    """``n`` full solutions per prompt, as a list (per prompt) of lists of completions."""
    check_positive("n", n)
    flat = policy.sample([p for p in prompts for _ in range(n)], generator=generator,
                         cost=cost, **kwargs)
    return [flat[i * n : (i + 1) * n] for i in range(len(prompts))]


class TinyGPTPolicy:
    """:class:`Policy` over a TinyGPT-like model (anything with ``step(idx, state)``,
    ``forward(idx)``, ``config.block_size`` and ``flops_per_token()``) and a character
    tokenizer with ``encode``/``decode``.

    ``step_end`` and ``eos`` are the characters that end a step and a solution (the tiny
    reasoner uses ``"\\n"`` and ``"$"``). Prefixes of equal token length are batched together
    (absolute positions rule out left padding), and decoding uses the KV cache.
    """

    def __init__(self, model: Any, tokenizer: Any, *, step_end: str = "\n", eos: str = "$",
                 batch_size: int = 4096) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.step_end, self.eos = step_end, eos
        self.step_ids = tuple(tokenizer.encode(step_end + eos))
        self.eos_id = tokenizer.encode(eos)[0]
        self.batch_size = batch_size
        self.flops_per_token = float(model.flops_per_token())

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    @torch.no_grad()
    def _generate(self, idx: torch.Tensor, stops: torch.Tensor, max_new: int,
                  temperature: float, top_p: float | None,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Sample up to ``max_new`` tokens per row; return tokens ``(B, n)``, the number of
        tokens each row used (stop token included) and the number of decoding calls."""
        B = idx.size(0)
        done = torch.zeros(B, dtype=torch.bool, device=idx.device)
        lengths = torch.zeros(B, dtype=torch.long, device=idx.device)
        out, state, inp, calls = [], None, idx, 0
        for _ in range(max_new):
            logits, state = self.model.step(inp, state)
            calls += 1
            nxt = sample_next(logits[:, -1], temperature, None, top_p, generator)
            nxt = torch.where(done, torch.full_like(nxt, self.eos_id), nxt)
            lengths += (~done).long()
            out.append(nxt)
            done = done | torch.isin(nxt, stops)
            if bool(done.all()):
                break
            inp = nxt[:, None]
        tokens = torch.stack(out, 1) if out else idx.new_zeros(B, 0)
        return tokens, lengths, calls

    def sample(self, prefixes: Sequence[str], *, generator: torch.Generator, step: bool = False,
               max_new_tokens: int = 256, temperature: float = 0.8, top_p: float | None = None,
               cost: Cost | None = None) -> list[Completion]:
        check_positive("max_new_tokens", max_new_tokens)
        device = self._device()
        stops = torch.tensor(self.step_ids if step else (self.eos_id,), device=device)
        encoded = [self.tokenizer.encode(p) for p in prefixes]
        groups: dict[int, list[int]] = defaultdict(list)
        for i, ids in enumerate(encoded):
            groups[len(ids)].append(i)
        results: list[Completion | None] = [None] * len(prefixes)
        block = self.model.config.block_size
        for length in sorted(groups):
            members = groups[length]
            max_new = min(max_new_tokens, block - length)
            if max_new < 1:  # no room left in the context: an empty, unfinished completion
                for i in members:
                    results[i] = Completion("", 0, False)
                continue
            for start in range(0, len(members), self.batch_size):
                rows = members[start : start + self.batch_size]
                idx = torch.tensor([encoded[i] for i in rows], device=device)
                tokens, used, calls = self._generate(idx, stops, max_new, temperature, top_p,
                                                     generator)
                for r, i in enumerate(rows):
                    n = int(used[r])
                    text = self.tokenizer.decode(tokens[r, :n].tolist())
                    results[i] = Completion(text, n, text.endswith(self.eos))
                if cost is not None:
                    cost.add_policy(int(used.sum()), self.flops_per_token,
                                    prompt=length * len(rows), calls=calls)
        return results  # type: ignore[return-value]

    @torch.no_grad()
    def token_logprobs(self, prefixes: Sequence[str], continuations: Sequence[str], *,
                       cost: Cost | None = None) -> list[torch.Tensor]:
        if len(prefixes) != len(continuations):
            raise ValueError("prefixes and continuations must have the same length")
        pre = [self.tokenizer.encode(p) for p in prefixes]
        cont = [self.tokenizer.encode(c) for c in continuations]
        seqs = [a + b for a, b in zip(pre, cont)]
        T = max(len(s) for s in seqs)
        pad = self.eos_id
        # right padding is harmless for a causal model with absolute positions
        idx = torch.tensor([s + [pad] * (T - len(s)) for s in seqs], device=self._device())
        logits, _ = self.model(idx)
        logp = F.log_softmax(logits.float(), dim=-1)
        out = [logp[i, len(a) - 1 : len(a) - 1 + len(b)] for i, (a, b) in enumerate(zip(pre, cont))]
        if cost is not None:
            cost.add_policy(0, self.flops_per_token, prompt=sum(len(s) for s in seqs))
        return out

    def logprobs(self, prefixes: Sequence[str], continuations: Sequence[str], *,
                 cost: Cost | None = None) -> torch.Tensor:
        dists = self.token_logprobs(prefixes, continuations, cost=cost)
        conts = [self.tokenizer.encode(c) for c in continuations]
        return torch.stack([d.gather(-1, torch.tensor(c, device=d.device)[:, None]).sum()
                            for d, c in zip(dists, conts)])


class HFPolicy:
    """:class:`Policy` over a Hugging Face causal LM (``AutoModelForCausalLM``) and its tokenizer.

    Prefixes are left-padded into one batch with an attention mask and explicit position ids;
    decoding reuses ``past_key_values`` and samples with an explicit generator (which
    ``model.generate`` does not accept). A step ends at any token whose text contains
    ``step_end``; a solution ends at the tokenizer's EOS token or at ``eos`` when given.
    """

    def __init__(self, model: Any, tokenizer: Any, *, step_end: str = "\n",
                 eos: str | None = None) -> None:
        self.model, self.tokenizer = model, tokenizer
        vocab = len(tokenizer)
        texts = [tokenizer.decode([i]) for i in range(vocab)]
        self.step_ids = tuple(i for i, t in enumerate(texts) if step_end in t)
        eos_ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
        if eos is not None:
            eos_ids |= {i for i, t in enumerate(texts) if eos in t}
        if not eos_ids:
            raise ValueError("eos is not valid: the tokenizer has no EOS token; pass eos='...'")
        self.eos_ids = tuple(sorted(eos_ids))
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.eos_ids[0]
        # transformers >= 5.x renamed ``past_key_values`` to ``cache``
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        n_params = sum(p.numel() for p in model.parameters())
        self.flops_per_token = 2.0 * n_params

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _finished(self, ids: list[int]) -> bool:
        return bool(ids) and ids[-1] in self.eos_ids

    @torch.no_grad()
    def sample(self, prefixes: Sequence[str], *, generator: torch.Generator, step: bool = False,
               max_new_tokens: int = 256, temperature: float = 0.8, top_p: float | None = None,
               cost: Cost | None = None) -> list[Completion]:
        check_positive("max_new_tokens", max_new_tokens)
        device = self._device()
        enc = [self.tokenizer.encode(p, add_special_tokens=False) for p in prefixes]
        T = max(len(e) for e in enc)
        ids = torch.tensor([[self.pad_id] * (T - len(e)) + e for e in enc], device=device)
        mask = torch.tensor([[0] * (T - len(e)) + [1] * len(e) for e in enc], device=device)
        stops = torch.tensor(self.eos_ids + (self.step_ids if step else ()), device=device)
        B = len(prefixes)
        done = torch.zeros(B, dtype=torch.bool, device=device)
        used = torch.zeros(B, dtype=torch.long, device=device)
        out, past, inp, calls = [], None, ids, 0
        for _ in range(max_new_tokens):
            pos = (mask.cumsum(-1) - 1).clamp(min=0)[:, -inp.size(1):]
            res = self.model(input_ids=inp, attention_mask=mask, position_ids=pos,
                             use_cache=True, **{self._cache_arg: past})
            past = getattr(res, "cache", None) or getattr(res, "past_key_values", None)
            calls += 1
            nxt = sample_next(res.logits[:, -1], temperature, None, top_p, generator)
            nxt = torch.where(done, torch.full_like(nxt, self.pad_id), nxt)
            used += (~done).long()
            out.append(nxt)
            done = done | torch.isin(nxt, stops)
            if bool(done.all()):
                break
            inp = nxt[:, None]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        tokens = torch.stack(out, 1).tolist()
        results = []
        for r in range(B):
            row = tokens[r][: int(used[r])]
            results.append(Completion(self.tokenizer.decode(row), len(row), self._finished(row)))
        if cost is not None:
            cost.add_policy(int(used.sum()), self.flops_per_token,
                            prompt=sum(len(e) for e in enc), calls=calls)
        return results

    @torch.no_grad()
    def token_logprobs(self, prefixes: Sequence[str], continuations: Sequence[str], *,
                       cost: Cost | None = None) -> list[torch.Tensor]:
        if len(prefixes) != len(continuations):
            raise ValueError("prefixes and continuations must have the same length")
        pre = [self.tokenizer.encode(p, add_special_tokens=False) for p in prefixes]
        cont = [self.tokenizer.encode(c, add_special_tokens=False) for c in continuations]
        seqs = [a + b for a, b in zip(pre, cont)]
        T = max(len(s) for s in seqs)
        ids = torch.tensor([s + [self.pad_id] * (T - len(s)) for s in seqs], device=self._device())
        mask = torch.tensor([[1] * len(s) + [0] * (T - len(s)) for s in seqs], device=ids.device)
        logits = self.model(input_ids=ids, attention_mask=mask).logits
        logp = F.log_softmax(logits.float(), dim=-1)
        if cost is not None:
            cost.add_policy(0, self.flops_per_token, prompt=sum(len(s) for s in seqs))
        return [logp[i, len(a) - 1 : len(a) - 1 + len(b)]
                for i, (a, b) in enumerate(zip(pre, cont))]

    def logprobs(self, prefixes: Sequence[str], continuations: Sequence[str], *,
                 cost: Cost | None = None) -> torch.Tensor:
        dists = self.token_logprobs(prefixes, continuations, cost=cost)
        conts = [self.tokenizer.encode(c, add_special_tokens=False) for c in continuations]
        return torch.stack([d.gather(-1, torch.tensor(c, device=d.device)[:, None]).sum()
                            for d, c in zip(dists, conts)])
