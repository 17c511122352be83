import sys

import IPython.display

from testtime.plotting import knobs


def test_a_knob_runs_its_view_once_with_the_defaults_and_labels_in_words(monkeypatch):
    shown, seen = [], []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    assert knobs(lambda learning_rate, rule: seen.append((learning_rate, rule)),
                 learning_rate=(0.0, 1.0, 0.25), rule=["majority", "weighted"]) is None
    assert len(shown) == 1, f"the panel should be displayed once: {shown}"
    panel = shown[0]
    assert seen == [(0.5, "majority")], f"the view should run once with the defaults: {seen}"
    labels = [c.description for c in panel.kwargs_widgets]
    assert labels == ["learning rate", "rule"], f"labels should read as words: {labels}"
    panel.kwargs_widgets[1].value = "weighted"
    assert seen[-1] == (0.5, "weighted"), f"moving a control should rerun the view: {seen}"


def test_without_ipywidgets_a_knob_says_so_and_changes_nothing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    seen = []
    assert knobs(lambda n: seen.append(n), n=(1, 9, 1)) is None
    assert seen == [] and "ipywidgets is not installed" in capsys.readouterr().out
