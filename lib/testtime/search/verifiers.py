"""Learned verifiers: an outcome reward model (ORM) and a process reward model (PRM).

Both are a :class:`ValueModel`: a TinyGPT trunk (initialised from the policy's own weights,
as reward models usually start from the policy) with a linear head that reads the final
hidden state at the end of every step and predicts the probability that the solution is, or
from there can still become, correct.

- ORM ("Training Verifiers to Solve Math Word Problems", Cobbe et al. 2021, arXiv 2110.14168):
  trained on the policy's own samples, every step-end position labelled with the *final*
  outcome of its sample (Cobbe trains every token on the outcome; we keep step ends).
- PRM with Monte-Carlo labels ("Math-Shepherd: Verify and Reinforce LLMs Step-by-step without
  Human Annotations", Wang et al. 2024, arXiv 2312.08935): from the prefix ending at step
  ``i`` the policy rolls out ``K`` completions; the *soft* label is the fraction that reach the
  right answer, the *hard* label is 1 if any does (eq. 3-4 of the paper).

A solution's score aggregates its step scores: ``last`` (the default of
huggingface/search-and-learn), ``min`` (Lightman et al. / Snell et al.) or ``prod``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from testtime.models import TinyGPT, cosine_lr
from testtime.reasoning.verify import split_steps  # noqa: F401 - re-exported for search code
from testtime.runtime import check_choice, check_positive
from testtime.search.costs import Cost
from testtime.search.policy import Policy

AGGREGATIONS = ("last", "min", "prod", "mean")


def aggregate(step_scores: Sequence[float], how: str = "last") -> float:
    """One score per solution from its step scores: 'last', 'min', 'prod' or 'mean'."""
    check_choice("how", how, AGGREGATIONS)
    if len(step_scores) == 0:
        return 0.0
    s = torch.as_tensor(step_scores, dtype=torch.float64)
    if how == "last":
        return float(s[-1])
    if how == "min":
        return float(s.min())
    if how == "prod":
        return float(s.prod())
    return float(s.mean())


def _copy_lm(lm: TinyGPT) -> TinyGPT:
    """A fresh TinyGPT with ``lm``'s config and weights, on ``lm``'s device. It is built on
    the CPU (drawing its initial weights from the global CPU generator, so that what is drawn
    after it is the same on every device), then moved, then loaded."""
    copy_ = TinyGPT(lm.config).to(next(lm.parameters()).device)
    copy_.load_state_dict(lm.state_dict())
    return copy_


class ValueModel(nn.Module):
    """A TinyGPT trunk plus a linear head: one logit per position, ``(B, T)``."""

    def __init__(self, trunk: TinyGPT) -> None:
        super().__init__()
        self.trunk = trunk
        # the head lives where the trunk does (the trunk may already be on a GPU); it is
        # built on the CPU first, so that every device draws the same global random numbers
        self.head = nn.Linear(trunk.config.n_embd, 1).to(next(trunk.parameters()).device)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @classmethod
    def from_lm(cls, lm: TinyGPT) -> ValueModel:
        """A value model whose trunk starts as a copy of the language model ``lm`` (on
        ``lm``'s device)."""
        return cls(_copy_lm(lm))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk.hidden(idx))[..., 0]

    def flops_per_token(self) -> float:
        """2 x parameters, without the unused LM head (tied to the embedding)."""
        return 2.0 * (self.trunk.num_params() + sum(p.numel() for p in self.head.parameters()))


class ImplicitValueModel(nn.Module):
    """A PRM whose step values are log-likelihood ratios of two language models.

    "Free Process Rewards without Process Labels" (Yuan et al. 2024, arXiv 2412.01981, eq. 3):
    with ``pi`` a trainable language model and ``ref`` the frozen policy, the value (logit)
    of the prefix that ends at token ``t`` is ::

        q_t = bias + beta * sum_{prompt_len <= s <= t} log pi(y_s | y_<s) / ref(y_s | y_<s)

    It starts at ``bias`` everywhere (``pi = ref``) and learns by moving *token*
    probabilities, so the policy's own knowledge of which next token is right is there from
    the first step; a linear head on hidden states must learn that comparison from scratch.
    ``policy=None`` restricts ``pi`` to a sharpened copy of the reference,
    ``pi ∝ ref ** exp(sharpness)``: two parameters (``sharpness``, ``bias``), one forward
    pass per token. The paper trains on outcome labels; :func:`train_value_model` trains it
    on any per-step targets (here Math-Shepherd soft labels), as it has the interface of
    :class:`ValueModel`: one logit per position, ``(B, T)``.
    """

    def __init__(self, reference: TinyGPT, policy: TinyGPT | None = None, beta: float = 1.0,
                 prompt_len: int = 0) -> None:
        super().__init__()
        check_positive("beta", beta)
        check_positive("prompt_len", prompt_len, allow_zero=True)
        self.reference, self.policy, self.beta = reference, policy, float(beta)
        self.prompt_len = int(prompt_len)  # tokens before it (the prompt) are not summed
        self.reference.requires_grad_(False)
        device = next(reference.parameters()).device
        self.bias = nn.Parameter(torch.zeros((), device=device))
        self.sharpness = nn.Parameter(torch.zeros((), device=device)) if policy is None else None

    @classmethod
    def from_lm(cls, lm: TinyGPT, *, full: bool = True, beta: float = 1.0,
                prompt_len: int = 0) -> ImplicitValueModel:
        """Reference (and, with ``full``, the trainable model) start as copies of ``lm``
        (on ``lm``'s device)."""
        copies = [_copy_lm(lm) for _ in range(2 if full else 1)]
        return cls(copies[0], copies[1] if full else None, beta=beta, prompt_len=prompt_len)

    def train(self, mode: bool = True) -> ImplicitValueModel:
        super().train(mode)
        self.reference.eval()
        return self

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        target = idx[:, 1:, None]
        with torch.no_grad():
            ref_logits = self.reference(idx[:, :-1])[0].float()
        if self.policy is None:
            logits = ref_logits * self.sharpness.exp()
        else:
            logits = self.policy(idx[:, :-1])[0].float()
        logp = F.log_softmax(logits, -1).gather(-1, target)[..., 0]
        ref = F.log_softmax(ref_logits, -1).gather(-1, target)[..., 0]
        counted = torch.arange(1, idx.size(1), device=idx.device) >= self.prompt_len
        ratio = torch.cumsum((logp - ref) * counted, dim=1)
        return self.bias + self.beta * torch.cat([torch.zeros_like(ratio[:, :1]), ratio], dim=1)

    def flops_per_token(self) -> float:
        """Every language model in it reads every token."""
        extra = self.policy.flops_per_token() if self.policy is not None else 0.0
        return self.reference.flops_per_token() + extra


@dataclass
class LabelledSolution:
    """A training example: prompt, completion, and one target in [0, 1] per step."""

    prompt: str
    completion: str
    labels: list[float]


def encode_for_scoring(tokenizer, prompts: Sequence[str], step_lists: Sequence[Sequence[str]],
                       pad_id: int) -> tuple[torch.Tensor, list[list[int]]]:
    """Right-padded token ids of ``prompt + steps`` and, per row, the index of the last token
    of every step (the positions a verifier reads)."""
    rows, positions = [], []
    for prompt, steps in zip(prompts, step_lists):
        ids = tokenizer.encode(prompt)
        ends = []
        for step in steps:
            ids = ids + tokenizer.encode(step)
            ends.append(len(ids) - 1)
        rows.append(ids)
        positions.append(ends)
    T = max(len(r) for r in rows)
    idx = torch.tensor([r + [pad_id] * (T - len(r)) for r in rows])
    return idx, positions


class Verifier:
    """Text-level scorer around a :class:`ValueModel` (used as ORM or PRM alike).

    ``score_steps`` gives the probability at the end of every step; ``score`` aggregates them
    into one number per solution with ``aggregation`` ('last' by default).
    """

    def __init__(self, model: ValueModel | ImplicitValueModel, tokenizer, *,
                 step_end: str = "\n", eos: str = "$", pad: str = " ",
                 aggregation: str = "last", batch_size: int = 2048) -> None:
        check_choice("aggregation", aggregation, AGGREGATIONS)
        self.model, self.tokenizer = model, tokenizer
        self.step_end, self.eos, self.aggregation = step_end, eos, aggregation
        self.pad_id = tokenizer.encode(pad)[0]
        self.batch_size = batch_size
        self.flops_per_token = float(model.flops_per_token())

    @torch.no_grad()
    def score_steps(self, prompts: Sequence[str], step_lists: Sequence[Sequence[str]], *,
                    cost: Cost | None = None) -> list[list[float]]:
        device = next(self.model.parameters()).device
        out: list[list[float]] = []
        for s in range(0, len(prompts), self.batch_size):
            idx, pos = encode_for_scoring(self.tokenizer, prompts[s : s + self.batch_size],
                                          step_lists[s : s + self.batch_size], self.pad_id)
            probs = torch.sigmoid(self.model(idx.to(device)).float()).cpu()
            out += [probs[i, p].tolist() for i, p in enumerate(pos)]
            if cost is not None:
                n_tokens = sum(p[-1] + 1 if p else 0 for p in pos)
                cost.add_verifier(n_tokens, self.flops_per_token)
        return out

    def score(self, prompts: Sequence[str], completions: Sequence[str], *,
              cost: Cost | None = None, aggregation: str | None = None) -> list[float]:
        how = aggregation or self.aggregation
        steps = [split_steps(c, self.step_end, self.eos) or [""] for c in completions]
        return [aggregate(s, how) for s in self.score_steps(prompts, steps, cost=cost)]


def outcome_labels(prompts: Sequence[str], completions: Sequence[str], correct: Sequence[bool],
                   step_end: str = "\n", eos: str = "$") -> list[LabelledSolution]:
    """ORM training data: every step of a sample labelled with the sample's final outcome."""
    return [LabelledSolution(p, c, [float(ok)] * max(1, len(split_steps(c, step_end, eos))))
            for p, c, ok in zip(prompts, completions, correct)]


def mc_step_labels(
    policy: Policy,
    prompts: Sequence[str],
    completions: Sequence[str],
    is_correct: Callable[[int, str], bool],
    *,
    rollouts: int = 8,
    generator: torch.Generator,
    temperature: float = 0.8,
    max_new_tokens: int = 256,
    step_end: str = "\n",
    eos: str = "$",
    cost: Cost | None = None,
) -> list[list[float]]:
    """Math-Shepherd soft labels: for every step ``i`` of every completion, the fraction of
    ``rollouts`` continuations of ``prompt + steps[:i+1]`` that ``is_correct(row, completion)``.

    A finished last step needs no rollout: its label is the completion's own correctness.
    Hard labels are ``[float(x > 0) for x in soft]``. Everything is sampled in one batch.
    """
    check_positive("rollouts", rollouts)
    jobs, labels = [], []
    for row, completion in enumerate(completions):
        steps = split_steps(completion, step_end, eos)
        labels.append([0.0] * len(steps))
        done = ""
        for i, step in enumerate(steps):
            done += step
            if step.endswith(eos):
                labels[row][i] = float(is_correct(row, done))
            elif step.endswith(step_end):
                jobs.append((row, i, done))
            # an unterminated (cut-off) step keeps label 0
    prefixes = [prompts[row] + done for row, _, done in jobs for _ in range(rollouts)]
    if prefixes:
        outs = policy.sample(prefixes, generator=generator, temperature=temperature,
                             max_new_tokens=max_new_tokens, cost=cost)
        for j, (row, i, done) in enumerate(jobs):
            hits = [is_correct(row, done + o.text) for o in outs[j * rollouts : (j + 1) * rollouts]]
            labels[row][i] = sum(hits) / rollouts
    return labels


def hybrid_step_labels(mc: Sequence[Sequence[float]], judge: Sequence[Sequence[float]],
                       ) -> list[list[float]]:
    """Monte-Carlo labels vetted by a judge: a step the judge rejects is labelled 0, one it
    accepts keeps its MC value (``mc * judge``, step by step).

    "Training Vision-Language Process Reward Models for Test-Time Scaling in Multimodal
    Reasoning" (arXiv 2509.23250) finds MC-rollout labels noisy (a wrong step can still
    reach the right answer) and builds better PRMs from MC rollouts combined with a strong
    judge's step verdicts; here the judge is the exact step checker.
    """
    if len(mc) != len(judge) or any(len(a) != len(b) for a, b in zip(mc, judge)):
        raise ValueError("mc and judge must have the same shape (one label per step)")
    return [[float(a) * float(b) for a, b in zip(x, y)] for x, y in zip(mc, judge)]


def train_value_model(
    model: ValueModel | ImplicitValueModel,
    data: Sequence[LabelledSolution],
    tokenizer,
    *,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-3,
    pad: str = " ",
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> list[float]:
    """Binary cross-entropy with soft targets at every step end (AdamW, cosine schedule).
    Returns the loss of every step."""
    check_positive("steps", steps, allow_zero=True)
    pad_id = tokenizer.encode(pad)[0]
    step_lists = [split_steps(d.completion) for d in data]
    idx, pos = encode_for_scoring(tokenizer, [d.prompt for d in data], step_lists, pad_id)
    target = torch.full(idx.shape, float("nan"))
    for i, (p, d) in enumerate(zip(pos, data)):
        if len(p) != len(d.labels):
            raise ValueError(f"data[{i}] has {len(d.labels)} labels for {len(p)} steps")
        target[i, p] = torch.tensor(d.labels, dtype=torch.float)
    device = next(model.parameters()).device
    idx, target = idx.to(device), target.to(device)

    def batch_loss(rows: torch.Tensor) -> torch.Tensor:
        x, y = idx[rows], target[rows]
        keep = ~torch.isnan(y)
        return F.binary_cross_entropy_with_logits(model(x)[keep], y[keep])

    return fit_minibatches(model, batch_loss, len(data), steps=steps, batch_size=batch_size,
                           lr=lr, generator=generator, progress=progress, desc="verifier")


def fit_minibatches(model: nn.Module, batch_loss: Callable[[torch.Tensor], torch.Tensor],
                    n_rows: int, *, steps: int, batch_size: int, lr: float,
                    generator: torch.Generator | None = None, progress: bool = True,
                    desc: str = "train") -> list[float]:
    """The training loop shared by the reward models of Part III: ``steps`` AdamW updates
    (betas 0.9/0.95, no weight decay, cosine schedule with a short warm-up, gradient norm
    clipped at 1) on ``batch_loss(rows)`` for ``batch_size`` rows drawn with replacement
    from ``range(n_rows)``. Leaves ``model`` in eval mode; returns the loss of every step."""
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, betas=(0.9, 0.95))
    model.train()
    losses = []
    for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, warmup=min(20, steps // 10))
        # drawn where the generator lives (a CPU or a GPU generator), used on the model's device
        rows = torch.randint(n_rows, (batch_size,), generator=generator,
                             device=generator.device if generator is not None else None).to(device)
        loss = batch_loss(rows)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


def clone_value_model(model: ValueModel) -> ValueModel:
    """An independent copy (e.g. to fine-tune a PRM and an ORM from one start)."""
    return copy.deepcopy(model)
