"""The set-up promises: one dependency list in two formats, CI calls the README's test command."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _normalise(spec: str) -> str:
    """Lower-case name and version bounds; environment markers dropped, tensorflow-cpu is conda's tensorflow."""
    name, rest = re.match(r"([A-Za-z0-9_.\-]+)([^;]*)", spec.strip()).groups()
    name = re.sub(r"[-_.]+", "-", name.lower()).removesuffix("-cpu")
    return name + rest.replace(" ", "")


def test_environment_yml_lists_the_pyproject_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_normalise(s) for s in project["dependencies"] + project["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(s["pip"] for s in env["dependencies"] if isinstance(s, dict))  # PyPI-only packages
    conda = {_normalise(s) for s in env["dependencies"] + pip if isinstance(s, str) and s != "-e ."}
    conda = {s for s in conda if not re.match(r"(python|pip)\b", s)}
    assert conda == wanted


def test_lock_pins_every_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {_normalise(line.split("==")[0]) for line in (ROOT / "requirements.lock").read_text().splitlines()
              if "==" in line}
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        assert re.split(r"[<>=!~]", _normalise(spec))[0] in pinned, spec


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make book" in readme
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "make test"
