"""The course's sampling and voting code on a real pretrained model: a small instruct model
from the Hugging Face hub on a handful of grade-school word problems.

The tiny reasoner is what the course measures; this module lets a student with a GPU and a
network see the same quantities on a real model: pass@1, majority@N (self-consistency, "Self-
Consistency Improves Chain of Thought Reasoning in Language Models", Wang et al. 2023, arXiv
2203.11171) and pass@N, the accuracy of a perfect verifier that picks any correct sample.

The problems are written for this course in the style of GSM8K ("Training Verifiers to Solve
Math Word Problems", Cobbe et al. 2021, arXiv 2110.14168); they are not GSM8K items, so the
numbers are not comparable with the benchmark's. :func:`load_hf_policy` returns None (and
says why) when transformers is missing or the hub cannot be reached, so a notebook can skip
the section offline; the code path is tested on a tiny GPT-2 built from a config.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from testtime.reasoning.metrics import pass_at_k
from testtime.runtime import check_positive
from testtime.search.costs import Cost
from testtime.search.policy import HFPolicy, Policy
from testtime.search.voting import majority_vote

DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
INSTRUCTION = ("Solve the problem step by step, one short step per line. "
               "End with a line 'The answer is N.' where N is a whole number.")

# (question, answer): written for the course, whole-number answers, two to four steps each.
WORD_PROBLEMS: tuple[tuple[str, int], ...] = (
    ("A baker makes 4 trays of 12 rolls and sells 30 of them. How many rolls are left?", 18),
    ("Maya reads 15 pages a day for 6 days, then 12 pages on the seventh day. "
     "How many pages has she read?", 102),
    ("A bus has 40 seats. 23 people get on at the first stop and 9 more at the second. "
     "How many seats are still empty?", 8),
    ("Pencils cost 3 dollars each and erasers 2 dollars each. Tom buys 5 pencils and "
     "4 erasers and pays with a 50-dollar note. How much change does he get?", 27),
    ("A garden has 7 rows of 9 tulips. A rabbit eats 14 tulips. "
     "How many tulips are left?", 49),
    ("Sam has 3 times as many stickers as Lee. Lee has 16 stickers. "
     "How many stickers do they have together?", 64),
    ("A tank holds 120 litres. It is half full, and then 25 litres are added. "
     "How many more litres fit in the tank?", 35),
    ("Each box holds 8 apples. A farmer picks 100 apples and fills as many boxes as he can. "
     "How many apples are left over?", 4),
)

_ANSWER = re.compile(r"answer is\s*\$?\s*(-?[\d,]+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*")


def parse_word_answer(text: str) -> int | None:
    """The number after the last 'answer is', else the last number in ``text``; None when
    there is none. Thousands separators are dropped ('1,200' -> 1200)."""
    found = _ANSWER.findall(text) or _NUMBER.findall(text)
    if not found:
        return None
    try:
        return int(found[-1].replace(",", ""))
    except ValueError:
        return None


def word_prompt(question: str, tokenizer: Any) -> str:
    """The prompt for ``question``: the tokenizer's chat template with :data:`INSTRUCTION` as the
    user turn's first line when it has one (instruct models), else plain text."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": f"{INSTRUCTION}\n\n{question}"}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return f"{INSTRUCTION}\n\nProblem: {question}\nSolution:\n"


@dataclass(frozen=True)
class WordProblemResult:
    """Per-problem answers of ``n`` samples each, and the three accuracies they give."""

    answers: list[list[int | None]]
    correct: list[list[bool]]
    pass_at_1: float
    majority: float
    pass_at_n: float
    cost: Cost


def solve_word_problems(policy: Policy, prompts: Sequence[str], truths: Sequence[int], n: int,
                        *, generator: torch.Generator, max_new_tokens: int = 256,
                        temperature: float = 0.8) -> WordProblemResult:
    """Sample ``n`` solutions per prompt in one batch and score pass@1, majority@n and pass@n.

    pass@1 and pass@n use the unbiased estimator (:func:`~testtime.reasoning.pass_at_k`);
    majority@n votes over the parsed answers (a sample without a number never wins)."""
    check_positive("n", n)
    if len(prompts) != len(truths):
        raise ValueError(f"truths has {len(truths)} entries but prompts has {len(prompts)}")
    cost = Cost()
    outs = policy.sample([p for p in prompts for _ in range(n)], generator=generator,
                         max_new_tokens=max_new_tokens, temperature=temperature, cost=cost)
    answers = [[parse_word_answer(o.text) for o in outs[i * n:(i + 1) * n]]
               for i in range(len(prompts))]
    correct = [[a == t for a in row] for row, t in zip(answers, truths)]
    P = max(len(prompts), 1)
    return WordProblemResult(
        answers=answers, correct=correct,
        pass_at_1=sum(pass_at_k(n, sum(c), 1) for c in correct) / P,
        majority=sum(majority_vote(row) == t for row, t in zip(answers, truths)) / P,
        pass_at_n=sum(any(c) for c in correct) / P,
        cost=cost,
    )


def load_hf_policy(name: str = DEFAULT_MODEL, device: torch.device | str = "cpu",
                   dtype: torch.dtype | None = None) -> tuple[HFPolicy, Any] | None:
    """``(HFPolicy, tokenizer)`` for the hub model ``name`` on ``device``, or None, with a line
    saying why, when transformers is not installed or the model cannot be downloaded (offline,
    firewall, unknown name). ``dtype`` defaults to bfloat16 on a GPU and float32 elsewhere."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        print("transformers is not installed (pip install transformers): skipping the "
              "pretrained model")
        return None
    device = torch.device(device)
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name)  # float32; cast below (any version)
    except (OSError, ValueError) as err:
        print(f"could not load {name!r} from the Hugging Face hub ({type(err).__name__}: "
              f"{str(err).splitlines()[0][:160]}): skipping the pretrained model")
        return None
    return HFPolicy(model.to(device=device, dtype=dtype).eval(), tokenizer), tokenizer
