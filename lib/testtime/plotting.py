"""One figure style for the whole course, a helper that saves figures to FIGURES_DIR, and
one that shows a knob (an ipywidgets control) where it is available."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt

STYLE = {
    "figure.figsize": (6.4, 3.8),
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "savefig.bbox": "tight",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "axes.prop_cycle": mpl.cycler(
        color=["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]
    ),
}


def use_style() -> None:
    """Apply the course style to every following figure."""
    mpl.rcParams.update(STYLE)


def save_figure(fig: plt.Figure, name: str, figures_dir: str | Path | None) -> Path | None:
    """Save ``fig`` as ``figures_dir/name.png`` when a folder is given; return the path.

    Notebooks pass ``run.figures_dir`` (the ``FIGURES_DIR`` parameter), which is None by
    default, so ordinary runs write nothing and ``make figures`` style runs collect them.
    """
    if figures_dir is None:
        return None
    if not name or "/" in name or "\\" in name:
        raise ValueError(f"name={name!r} is not valid; expected a file stem without slashes")
    folder = Path(figures_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path)
    return path


def knobs(view: Callable[..., Any], **controls: Any) -> None:
    """Show ``view`` with one control per keyword and rerun it whenever a control moves.

    A control is an ipywidgets ``interact`` abbreviation (a list is a dropdown, ``(min, max,
    step)`` a slider) or a widget; the keyword, with underscores as spaces, is its label, shown
    in full. Without ipywidgets the call says so and returns: a knob only re-slices what the
    lesson above has measured, so nothing below it may depend on it. ``view`` runs once with
    the defaults when the panel is made, also in a headless run (papermill, nbval), where its
    output stays inside the widget. Returns None, so that a notebook cell ending with the call
    does not show the panel a second time.
    """
    try:
        import ipywidgets
        from IPython.display import display
    except ImportError:
        print("ipywidgets is not installed: skipping the interactive view "
              "(pip install ipywidgets to turn the knobs)")
        return
    panel = ipywidgets.interactive(view, **controls)
    for control in panel.kwargs_widgets:
        control.description = control.description.replace("_", " ")
        control.style.description_width = "initial"
    display(panel)
