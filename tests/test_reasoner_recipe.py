"""tools/reasoner_recipe.py measures what it says on a recipe cut to a few steps."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import reasoner_recipe  # noqa: E402


def test_runs_and_reports(monkeypatch):
    from testtime.reasoning import sft
    from testtime.reasoning.task import LEVELS

    monkeypatch.setitem(sft.RECIPES, "small", {**sft.RECIPES["small"], "steps": 5})
    runs = [reasoner_recipe.run_one(seed, 1, problems=2, samples=4) for seed in (0, 1)]
    for run in runs:
        assert sorted(run["levels"]) == list(LEVELS), run["levels"]
        for v in run["levels"].values():
            # a 5-step model: pass@1 <= pass@4, every rate a fraction
            assert 0 <= v["pass@1"] <= v["pass@k"] <= 1 and 0 <= v["greedy"] <= 1, v
            assert 0 <= v["majority"] <= 1 and 0 <= v["agree"] <= 1, v
    assert runs[0]["final_loss"] != runs[1]["final_loss"], "the seed should change the run"
    text = reasoner_recipe.report(runs, 4)
    # the workers hand their runs over as JSON, which turns the level keys into strings
    assert reasoner_recipe.report([json.loads(json.dumps(run)) for run in runs], 4) == text
    assert "pass@4" in text and "greedy" in text and "target +-0.03" in text, text
    assert "teacher's own accuracy" in text and "L6 0." in text, text
