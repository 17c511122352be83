import pytest
import torch

from testtime.search import best_of_n, majority_vote, selection_accuracy, weighted_vote
from testtime.search.voting import select


def test_majority_small_cases():
    assert majority_vote([1, 2, 2, 3]) == 2
    assert majority_vote([None, None, 4]) == 4
    assert majority_vote([None, None]) is None
    assert majority_vote([5, 6, 6, 5]) == 5  # tie -> first seen


def test_weighted_vs_best_of_n():
    answers = [1, 2, 2, 3]
    scores = [0.9, 0.5, 0.5, 0.2]
    assert best_of_n(answers, scores) == 1
    assert weighted_vote(answers, scores) == 2  # 0.5 + 0.5 > 0.9
    assert weighted_vote(answers, [0.9, 0.4, 0.4, 0.2]) == 1
    assert best_of_n([None, 7], [1.0, 0.1]) == 7
    # with equal scores weighted voting is majority voting
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        a = torch.randint(4, (9,), generator=g).tolist()
        assert weighted_vote(a, [1.0] * 9) == majority_vote(a)


def test_selection_accuracy_and_errors():
    answers = [[1, 1, 2, 3]] * 3
    truths = [1, 2, 3]
    acc = selection_accuracy("majority", answers, truths, 4, repeats=2)
    assert acc == pytest.approx(1 / 3)
    scores = [[0.1, 0.1, 0.2, 0.9]] * 3
    acc = selection_accuracy("best_of_n", answers, truths, 4, scores=scores)
    assert acc == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="method"):
        select("vote", [1], [1.0])
    with pytest.raises(ValueError, match="scores"):
        select("weighted", [1])
    with pytest.raises(ValueError, match="n=5"):
        selection_accuracy("majority", answers, truths, 5)
