"""Cached verifiers of the tiny reasoner: ``load_orm`` and ``load_prm``.

Both train a :class:`~testtime.search.verifiers.ValueModel` that starts from the reasoner's
own weights, on the reasoner's own samples of *training-split* problems (never the held-out
problems the notebooks evaluate on), and cache it with ``testtime.cache.load_or_train`` keyed
by the reasoner's config and the recipe, so notebooks 11, 12, 13 and 19 share one copy.

- ORM: every step end labelled with the sample's final correctness (Cobbe et al. 2021).
- PRM: Math-Shepherd Monte-Carlo soft labels from ``rollouts`` continuations per step
  (recipe ``label``: "soft", "hard"), the exact step checker's labels ("checker") or MC
  labels vetted by the checker ("hybrid"); with ``view="markov"`` the PRM judges each step
  from the previous line alone (:mod:`testtime.search.markov_prm`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from testtime.cache import load_or_train
from testtime.reasoning import (
    LEVELS,
    PROMPT_LEN,
    TOKENIZER,
    Problem,
    format_prompt,
    is_correct,
    load_reasoner,
    make_problems,
    reasoner_config,
    step_labels,
)
from testtime.runtime import check_choice
from testtime.search.markov_prm import MarkovVerifier, markov_rows
from testtime.search.policy import TinyGPTPolicy
from testtime.search.verifiers import (
    ImplicitValueModel,
    LabelledSolution,
    ValueModel,
    Verifier,
    hybrid_step_labels,
    mc_step_labels,
    outcome_labels,
    train_value_model,
)

_COMMON: dict[str, Any] = {"temperature": 0.8, "batch_size": 64, "seed": 1234}
RECIPES: dict[str, dict[str, Any]] = {
    # the ORM needs more samples than the PRM: outcome labels are a weaker signal per sample
    "orm": {**_COMMON, "problems_per_level": 96, "samples": 8, "steps": 800, "lr": 2e-3},
    # the PRM's labels cost `rollouts` extra samples per step
    "prm": {**_COMMON, "problems_per_level": 48, "samples": 4, "steps": 800, "lr": 2e-3,
            "rollouts": 4, "label": "soft"},
}


# PRM options that enter the config only when set, so the default PRM keeps its cache key:
# ``levels`` restricts the training problems (e.g. to the levels where search is used);
# ``head`` is "linear" (a ValueModel), "implicit" (an ImplicitValueModel with a trainable
# copy of the policy) or "sharpened" (an ImplicitValueModel whose trainable model is the
# policy sharpened by one learned exponent: two parameters); ``view`` is "context" (the PRM
# reads the whole solution) or "markov" (each step with only the line before it, trained on
# one row per step; needs the local verdicts of ``label="checker"``).
PRM_OPTIONS: dict[str, Any] = {"levels": list(LEVELS), "head": "linear", "view": "context"}
VIEWS = ("context", "markov")
HEADS = ("linear", "implicit", "sharpened")
# PRM step labels: Math-Shepherd "soft"/"hard" MC labels, the exact "checker" (the analog of
# PRM800K's human labels) or "hybrid" (MC labels vetted by the checker, as in VL-PRM)
LABELS = ("soft", "hard", "checker", "hybrid")
# The Math-Shepherd PRM that steers search in notebook 12: fit on the levels where search has
# room to help, with the sharpened log-ratio head, the one that ranks sibling steps at this scale.
SEARCH_PRM: dict[str, Any] = {"levels": [3, 4, 5, 6], "head": "sharpened",
                              "problems_per_level": 64, "steps": 200, "lr": 3e-2}
# The step PRM of notebook 12, also the PRM of the capstone (notebook 19): the same head and
# data, labelled by the exact step checker (the judge; PRM800K's human labels) and reading
# each step from the line before it (the Markov state of Atom of Thoughts).
STEP_PRM: dict[str, Any] = {**SEARCH_PRM, "label": "checker", "view": "markov"}
# The judge PRM of notebook 12: the step PRM with a trainable copy of the reasoner in place of
# the two-parameter sharpening ("implicit" head, as in "Free Process Rewards without Process
# Labels"). Sharpening can only agree more strongly with the reasoner; a trainable copy can
# learn from the checker's verdicts which steps the reasoner gets wrong (its misconceived
# products), at twice the FLOPs per token read (policy and reference).
JUDGE_PRM: dict[str, Any] = {**STEP_PRM, "head": "implicit", "steps": 800, "lr": 1e-3}


def state_prompt(state: str) -> str:
    """The prompt a Markov PRM reads a state as: ``format_prompt`` of the line, its last
    ``PROMPT_LEN - 1`` characters if a malformed step made it longer than a prompt."""
    return format_prompt(state[-(PROMPT_LEN - 1):])


def checker_step_labels(problems: Sequence[Problem], completions: Sequence[str],
                        ) -> list[list[float]]:
    """Step labels from the exact step checker (1.0 while every step so far is valid).

    The tiny reasoner's analog of the human step labels of PRM800K ("Let's Verify Step by
    Step", Lightman et al. 2023, arXiv 2305.20050): the judge says which step went wrong,
    where a Monte-Carlo label only estimates whether the prefix can still succeed.
    """
    if len(problems) != len(completions):
        raise ValueError(f"problems ({len(problems)}) and completions ({len(completions)}) "
                         "must have the same length")
    return [[float(x) for x in step_labels(p, c)] for p, c in zip(problems, completions)]


def verifier_config(kind: str, policy_size: str = "small", **overrides: Any) -> dict[str, Any]:
    """The config keying a cached verifier: its kind, the policy's config and the recipe
    (``RECIPES[kind]`` updated with ``overrides``; a PRM also accepts ``PRM_OPTIONS``)."""
    check_choice("kind", kind, tuple(RECIPES))
    if kind == "prm" and "levels" in overrides:
        levels = overrides["levels"] = [int(x) for x in overrides["levels"]]
        if not levels or not set(levels) <= set(LEVELS):
            raise ValueError(f"levels={levels!r} is not valid; choose a subset of {LEVELS}")
    if kind == "prm" and "head" in overrides:
        check_choice("head", overrides["head"], HEADS)
    if kind == "prm" and "view" in overrides:
        check_choice("view", overrides["view"], VIEWS)
    options = PRM_OPTIONS if kind == "prm" else {}
    unknown = set(overrides) - set(RECIPES[kind]) - set(options)
    if unknown:
        raise ValueError(f"overrides {sorted(unknown)} are not valid; "
                         f"choose from {sorted(RECIPES[kind]) + sorted(options)}")
    recipe = {**RECIPES[kind], **overrides}
    if kind == "prm":
        check_choice("label", recipe["label"], LABELS)
        if recipe.get("view") == "markov" and recipe["label"] != "checker":
            raise ValueError(f"label={recipe['label']!r} is not valid with view='markov'; "
                             "a Markov PRM needs step verdicts: label='checker'")
    return {"kind": kind, "policy": reasoner_config(policy_size), "recipe": recipe}


def build_training_data(config: dict[str, Any], device: torch.device | str = "cpu",
                        ) -> list[LabelledSolution]:
    """Sample the policy on training problems and label the samples (ORM or PRM labels)."""
    recipe = config["recipe"]
    lm = load_reasoner(config["policy"]["size"], device=device, verbose=False)
    policy = TinyGPTPolicy(lm, TOKENIZER)
    gen = torch.Generator().manual_seed(recipe["seed"])
    problems = make_problems(recipe["problems_per_level"], tuple(recipe.get("levels", LEVELS)),
                             seed=recipe["seed"], split="train")
    rows = [p for p in problems for _ in range(recipe["samples"])]
    prompts = [format_prompt(p.expr) for p in rows]
    outs = policy.sample(prompts, generator=gen, temperature=recipe["temperature"])
    completions = [o.text for o in outs]
    correct = [is_correct(p, c) for p, c in zip(rows, completions)]
    if config["kind"] == "orm":
        return outcome_labels(prompts, completions, correct)
    if recipe["label"] == "checker":
        labels = checker_step_labels(rows, completions)
    else:
        labels = mc_step_labels(policy, prompts, completions,
                                lambda r, c: is_correct(rows[r], c), rollouts=recipe["rollouts"],
                                generator=gen, temperature=recipe["temperature"])
    if recipe["label"] == "hard":
        labels = [[float(x > 0) for x in ls] for ls in labels]
    if recipe["label"] == "hybrid":
        labels = hybrid_step_labels(labels, checker_step_labels(rows, completions))
    if recipe.get("view") == "markov":
        return markov_rows(prompts, completions, labels, state_prompt)
    return [LabelledSolution(p, c, ls) for p, c, ls in zip(prompts, completions, labels)]


def value_model(recipe: dict[str, Any], lm: torch.nn.Module,
                ) -> ValueModel | ImplicitValueModel:
    """The untrained verifier network of a recipe, starting from the policy ``lm``."""
    head = recipe.get("head", "linear")
    if head == "linear":
        return ValueModel.from_lm(lm)
    return ImplicitValueModel.from_lm(lm, full=head == "implicit", prompt_len=PROMPT_LEN)


def train_verifier(config: dict[str, Any], device: torch.device | str = "cpu",
                   progress: bool = True) -> dict[str, Any]:
    """Build the data and train the value model; returns its state dict and the losses."""
    data = build_training_data(config, device)
    lm = load_reasoner(config["policy"]["size"], device=device, verbose=False)
    recipe = config["recipe"]
    model = value_model(recipe, lm)
    losses = train_value_model(model, data, TOKENIZER, steps=recipe["steps"],
                               batch_size=recipe["batch_size"], lr=recipe["lr"],
                               generator=torch.Generator().manual_seed(recipe["seed"]),
                               progress=progress)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    mean_label = sum(sum(d.labels) / len(d.labels) for d in data) / len(data)
    return {"state_dict": state, "losses": losses, "mean_label": mean_label, "n": len(data)}


def _wrap(config: dict[str, Any], result: dict[str, Any], device: torch.device | str,
          aggregation: str = "last") -> Verifier | MarkovVerifier:
    lm = load_reasoner(config["policy"]["size"], device=device, verbose=False)
    model = value_model(config["recipe"], lm)
    model.load_state_dict(result["state_dict"])
    if config["recipe"].get("view") == "markov":
        return MarkovVerifier(model.to(device).eval(), TOKENIZER, state_prompt)
    return Verifier(model.to(device).eval(), TOKENIZER, aggregation=aggregation)


def _load(kind: str, policy_size: str, device: torch.device | str, aggregation: str,
          verbose: bool, overrides: dict[str, Any]) -> Verifier | MarkovVerifier:
    config = verifier_config(kind, policy_size, **overrides)
    result = load_or_train(f"{kind}-{policy_size}", config,
                           lambda: train_verifier(config, device, progress=verbose),
                           verbose=verbose)
    return _wrap(config, result, device, aggregation)


def load_orm(policy_size: str = "small", *, device: torch.device | str = "cpu",
             aggregation: str = "last", verbose: bool = True, **overrides: Any) -> Verifier:
    """The cached outcome reward model of the reasoner (trained on first use)."""
    return _load("orm", policy_size, device, aggregation, verbose, overrides)


def load_prm(policy_size: str = "small", *, device: torch.device | str = "cpu",
             aggregation: str = "last", verbose: bool = True, **overrides: Any,
             ) -> Verifier | MarkovVerifier:
    """The cached Math-Shepherd process reward model of the reasoner (trained on first use).

    ``overrides`` change the recipe (``RECIPES['prm']`` and ``PRM_OPTIONS``); notebooks that
    search with the PRM pass ``**SEARCH_PRM``; ``**STEP_PRM`` gives the checker-labelled
    Markov PRM (a :class:`~testtime.search.markov_prm.MarkovVerifier`, whose step scores
    are prefix values, so ``aggregation`` does not apply to it) and ``**JUDGE_PRM`` the same
    with a trainable copy of the reasoner."""
    return _load("prm", policy_size, device, aggregation, verbose, overrides)


def verifier_quality(config: dict[str, Any], result: dict[str, Any]) -> dict[str, float]:
    """ROC AUC of the verifier's final score for answer correctness, on 4 samples (T = 1) of
    the policy on 16 test-split problems per level of its training levels: the number a
    retrained verifier is compared on."""
    from sklearn.metrics import roc_auc_score

    from testtime.reasoning import split_steps

    verifier = _wrap(config, result, "cpu")
    lm = load_reasoner(config["policy"]["size"], verbose=False)
    levels = tuple(config["recipe"].get("levels", LEVELS))
    problems = make_problems(16, levels, seed=7, split="test")
    rows = [p for p in problems for _ in range(4)]
    prompts = [format_prompt(p.expr) for p in rows]
    outs = TinyGPTPolicy(lm, TOKENIZER).sample(prompts,
                                               generator=torch.Generator().manual_seed(7))
    completions = [o.text for o in outs]
    steps = [split_steps(c) or [""] for c in completions]
    scores = [s[-1] for s in verifier.score_steps(prompts, steps)]
    correct = [is_correct(p, c) for p, c in zip(rows, completions)]
    return {"auc": float(roc_auc_score(correct, scores))}


def _register_references() -> None:
    from testtime.checkpoints import Reference, register

    for kind, overrides in (("orm", {}), ("prm", {}), ("prm", SEARCH_PRM), ("prm", STEP_PRM),
                            ("prm", JUDGE_PRM)):
        config = verifier_config(kind, "small", **overrides)
        register(Reference(
            f"{kind}-small", config,
            train=lambda c=config: train_verifier(c, progress=False),
            quality=lambda result, c=config: verifier_quality(c, result),
            band={"auc": 0.08}))


_register_references()
