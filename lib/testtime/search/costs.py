"""Compute accounting for test-time strategies: tokens, forward passes and FLOPs.

Every strategy in ``testtime.search`` returns a :class:`Cost` next to its answer, so that every
scaling plot can put compute, not "number of samples", on its x-axis. The FLOPs model is the
usual one of "Scaling LLM Test-Time Compute Optimally can be More Effective than Scaling Model
Parameters" (Snell et al. 2024, arXiv 2408.03314) and of the Chinchilla-style estimates: a
forward pass over one token costs about ``2 x parameters`` FLOPs (attention over the context is
left out, as it is small for short sequences)::

    FLOPs = 2 N_policy (prompt + generated tokens) + 2 N_verifier (scored tokens)

We count the tokens a KV-cached implementation must process: the prompt once per sampled
sequence, every generated token once, and every token a verifier reads once per call.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Cost:
    """Tokens, forward calls and FLOPs spent by the policy and by the verifiers."""

    policy_tokens: int = 0  # generated tokens
    prompt_tokens: int = 0  # prompt / prefix tokens the policy had to read
    verifier_tokens: int = 0  # tokens read by reward models
    policy_calls: int = 0  # batched forward passes of the policy (one per decoding step)
    verifier_calls: int = 0  # batched calls of a verifier
    policy_flops: float = 0.0
    verifier_flops: float = 0.0

    @property
    def flops(self) -> float:
        """Total FLOPs, policy plus verifiers."""
        return self.policy_flops + self.verifier_flops

    @property
    def tokens(self) -> int:
        """Generated tokens (the x-axis of the HF / Snell plots)."""
        return self.policy_tokens

    def add_policy(
        self, generated: int, flops_per_token: float, prompt: int = 0, calls: int = 1
    ) -> Cost:
        """Record ``generated`` new tokens and ``prompt`` tokens read by a policy; returns self."""
        self.policy_tokens += int(generated)
        self.prompt_tokens += int(prompt)
        self.policy_calls += int(calls)
        self.policy_flops += float(flops_per_token) * (int(generated) + int(prompt))
        return self

    def add_verifier(self, tokens: int, flops_per_token: float, calls: int = 1) -> Cost:
        """Record ``tokens`` read by a verifier; returns self."""
        self.verifier_tokens += int(tokens)
        self.verifier_calls += int(calls)
        self.verifier_flops += float(flops_per_token) * int(tokens)
        return self

    def __add__(self, other: Cost) -> Cost:
        return Cost(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                       for f in fields(self)})

    def __iadd__(self, other: Cost) -> Cost:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def scaled(self, factor: float) -> Cost:
        """This cost times ``factor`` (e.g. the mean over problems: ``total.scaled(1 / n)``)."""
        return Cost(**{f.name: type(getattr(self, f.name))(getattr(self, f.name) * factor)
                       for f in fields(self)})


def flops_per_token(num_params: int) -> float:
    """Forward FLOPs per token of a dense model with ``num_params`` parameters: ``2 N``."""
    if num_params < 0:
        raise ValueError(f"num_params={num_params!r} is not valid; expected an int >= 0")
    return 2.0 * num_params


def sampling_flops(
    n_samples: int, mean_generated: float, prompt_len: int, policy_fpt: float,
    verifier_fpt: float = 0.0,
) -> float:
    """FLOPs of best-of-N-style sampling: ``n`` sequences, each read once by the verifier."""
    policy = policy_fpt * n_samples * (prompt_len + mean_generated)
    verifier = verifier_fpt * n_samples * (prompt_len + mean_generated)
    return policy + verifier
