"""Test-time search and selection (Part III), one strategy per file.

- ``policy``: the :class:`Policy` protocol, :class:`TinyGPTPolicy`, :class:`HFPolicy`
- ``costs``: :class:`Cost`, tokens and FLOPs of every strategy
- ``voting``: majority vote, best-of-N, weighted best-of-N, scaling-curve accuracy
- ``verifiers``: ORM / PRM value models, Math-Shepherd Monte-Carlo labels, checker and
  hybrid step labels, aggregation
- ``markov_prm``: a PRM that judges each step from the previous state alone
- ``beam``, ``dvts``, ``mcts``: PRM-guided step-level search
- ``genarm``: token-level guidance by an autoregressive reward model
- ``mg_select``: verifier-free selection by KL to a masked-prompt reference
- ``continuous_voting``: voting for continuous outputs, power-law fits
"""

from testtime.search.beam import beam_search
from testtime.search.continuous_voting import (
    density_vote,
    fit_exponentiated_power_law,
    fit_power_law,
    perturb,
    region_vote,
)
from testtime.search.costs import Cost
from testtime.search.dvts import dvts
from testtime.search.genarm import GuidedLM, arm_loss, train_arm
from testtime.search.mcts import mcts
from testtime.search.mg_select import kl_confidence, mask_prompt, mg_select, mg_select_scores
from testtime.search.policy import Completion, HFPolicy, Policy, TinyGPTPolicy, sample_repeated
from testtime.search.result import SearchResult, StepScorer
from testtime.search.verifiers import (
    LabelledSolution,
    ValueModel,
    Verifier,
    aggregate,
    mc_step_labels,
    outcome_labels,
    train_value_model,
)
from testtime.search.voting import best_of_n, majority_vote, selection_accuracy, weighted_vote

__all__ = [
    "Completion", "Cost", "GuidedLM", "HFPolicy", "LabelledSolution", "Policy", "SearchResult",
    "StepScorer", "TinyGPTPolicy", "ValueModel", "Verifier", "aggregate", "arm_loss",
    "beam_search", "best_of_n", "density_vote", "dvts", "fit_exponentiated_power_law",
    "fit_power_law", "kl_confidence", "majority_vote", "mask_prompt", "mc_step_labels", "mcts",
    "mg_select", "mg_select_scores", "outcome_labels", "perturb", "region_vote",
    "sample_repeated", "selection_accuracy", "train_arm", "train_value_model", "weighted_vote",
]
