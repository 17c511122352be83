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
    return {r.replace(" ", "") for r in pip if not r.startswith("-e")}


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
