"""environment.yml, pyproject.toml and the README's commands stay consistent."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {r.replace(" ", "") for r in reqs}


def _environment_requirements() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "- pip:")
    pip = [ln.strip()[2:].strip() for ln in lines[start + 1 :] if ln.strip().startswith("- ")]
    return {r.replace(" ", "") for r in pip if not r.startswith("-")}  # not -e ., --index-url


def test_environment_matches_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_torch_is_a_range_not_a_pin():
    for req in _pyproject_requirements():
        if re.match(r"torch\b", req):
            assert "==" not in req, "never pin torch exactly: Colab brings its own build"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme
    assert re.search(r"^make test\s*$", (ROOT / ".ci" / "run").read_text(), re.M)
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "course", "test", "assignments", "grade", "bench"):
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_conda_route_says_how_to_get_the_cpu_torch():
    text = (ROOT / "environment.yml").read_text()
    assert "download.pytorch.org/whl/cpu" in text, (
        "environment.yml should say how to get torch's CPU wheel on a machine without a GPU")


# Every widget class and helper that ipywidgets 7.7 (Colab's preinstalled version) provides.
IPYWIDGETS_7 = set("""
Accordion AppLayout Audio BoundedFloatText BoundedIntText Box Button ButtonStyle Checkbox
ColorPicker Combobox Controller DatePicker Dropdown FileUpload FloatLogSlider FloatProgress
FloatRangeSlider FloatSlider FloatText GridBox GridspecLayout HBox HTML HTMLMath Image IntProgress
IntRangeSlider IntSlider IntText Label Layout Output Password Play RadioButtons Select
SelectMultiple SelectionRangeSlider SelectionSlider SliderStyle Tab Text Textarea ToggleButton
ToggleButtons TwoByTwoLayout VBox Valid Video dlink fixed interact interact_manual interactive
interactive_output jsdlink jslink link
""".split())


def test_notebooks_use_only_what_ipywidgets_7_has():
    import nbformat

    from testtime.course import list_notebooks

    floor = re.search(r'"ipywidgets>=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert floor and floor.group(1).startswith("7."), (
        "ipywidgets must stay >=7.x so that Colab's preinstalled 7.7.1 is not upgraded")
    for path in list_notebooks(ROOT / "notebooks"):
        nb = nbformat.read(str(path), as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        used = set(re.findall(r"\bwidgets\.(\w+)", code))
        used |= {n.strip() for m in re.findall(r"from ipywidgets import ([\w, ]+)", code)
                 for n in m.split(",")}
        assert used <= IPYWIDGETS_7, (
            f"{path.name} uses {sorted(used - IPYWIDGETS_7)}, which ipywidgets 7.7 lacks")


def test_make_lab_opens_the_repository_at_assignments():
    makefile = (ROOT / "Makefile").read_text()
    lab = re.search(r"^lab:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert lab, "the Makefile has no lab target"
    launch = [line for line in lab.group(1).splitlines() if "jupyter lab" in line]
    assert launch, f"make lab never starts jupyter lab: {lab.group(1)!r}"
    assert "root_dir=\"$(CURDIR)\"" in launch[0] and "/lab/tree/assignments" in launch[0], (
        f"make lab should serve the repository root and open assignments/: {launch[0]!r}")


def test_the_repository_has_its_conventions():
    for name in ("LICENSE", "CITATION.cff", "CONTRIBUTING.md", ".pre-commit-config.yaml"):
        assert (ROOT / name).is_file(), f"{name} is missing"
    assert "MIT License" in (ROOT / "LICENSE").read_text(), "LICENSE should be MIT, as pyproject says"
    authoring = (ROOT / "notebooks" / "AUTHORING.md").read_text()
    assert "COURSE_DESIGN" not in authoring, "AUTHORING.md cites a file that is not in the repository"


# What Google Colab preinstalls (its 2025 runtime; an assumption, checked by hand, since Colab
# cannot be queried from CI). The course's pip install must not upgrade any of these.
COLAB_PREINSTALLED = {"torch": "2.6.0", "numpy": "2.0.2", "matplotlib": "3.10.0",
                      "scikit-learn": "1.6.1", "tqdm": "4.67.1", "ipywidgets": "7.7.1"}


def test_installing_the_course_on_colab_upgrades_nothing():
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        req = Requirement(line)
        have = COLAB_PREINSTALLED.get(req.name)
        assert have is not None, f"{req.name}: say whether Colab preinstalls it (COLAB_PREINSTALLED)"
        assert req.specifier.contains(have), (
            f"{line} would make pip replace Colab's {req.name} {have}")
