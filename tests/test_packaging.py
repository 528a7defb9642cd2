"""The set-up promises: one dependency list in two formats, CI calls the README's test command."""

import re
import subprocess
import sys
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


def test_the_readme_is_short_and_its_python_quick_start_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    code = re.search(r"## Quick start in Python\n\n```python\n(.*?)```", readme, re.DOTALL).group(1)
    finished = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                              timeout=600, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert re.fullmatch(r"GDBLUP: test MSE \d+\.\d\d\nCNN: test MSE \d+\.\d\d\n", finished.stdout)
    assert (tmp_path / "gdblup.npz").is_file()


def _names_used_by_the_readme_and_the_chapters() -> set[str]:
    """Every name the README, the chapters and the book's pages import from ``cnngwp`` (or call as ``cnngwp.NAME``)."""
    used = set()
    for path in [ROOT / "README.md", *sorted((ROOT / "notebooks").glob("*.md")), *sorted((ROOT / "book").glob("*.md"))]:
        text = path.read_text()
        blocks = re.findall(r"^\s*from cnngwp import \(([^)]*)\)", text, flags=re.MULTILINE)
        for block in blocks + re.findall(r"^\s*from cnngwp import ([^(\n]+)$", text, flags=re.MULTILINE):
            used |= {part.strip() for part in block.replace("\n", ",").split(",") if part.strip()}
        used |= set(re.findall(r"\bcnngwp\.([A-Za-z_]\w*)\(", text))
    return used


def test_the_namespace_is_what_the_readme_the_chapters_and_the_api_page_use():
    """``cnngwp`` exports the names the README and the chapters use and the entry points the API page lists, no
    more: the plumbing (atomic writes, stores, seeds) is reached through its module."""
    import cnngwp

    api = (ROOT / "book" / "api.md").read_text()
    section = re.search(r"^## The `cnngwp` namespace\n(.*?)^## ", api, flags=re.MULTILINE | re.DOTALL).group(1)
    listed = set(re.findall(r"`(\w+)`", section)) - {"cnngwp"}
    exported = {name for names in cnngwp.PUBLIC_MODULES.values() for name in names}
    used = _names_used_by_the_readme_and_the_chapters()
    assert not used - exported, f"used but not exported: {sorted(used - exported)}"
    assert exported == used | listed, f"exported but used nowhere: {sorted(exported - used - listed)}"
    assert len(exported) < 100


def test_every_exported_name_is_its_modules_and_every_module_declares_all():
    import ast
    import importlib

    import cnngwp

    declared = {}
    for path in sorted((ROOT / "cnngwp").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if path.name in ("__init__.py", "__main__.py", "cli.py", "commands.py", "startup.py"):
            continue
        declared[module] = next(ast.literal_eval(node.value) for node in ast.parse(path.read_text()).body
                                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__")
    for module, names in cnngwp.PUBLIC_MODULES.items():
        assert set(names) <= set(declared[module]), module
        for name in names:
            assert getattr(cnngwp, name) is getattr(importlib.import_module(module), name)
    assert not hasattr(cnngwp, "atomic_write")  # plumbing stays in its module


def test_no_library_function_takes_more_than_eight_parameters_and_the_estimator_stays_small():
    import ast

    for path in sorted((ROOT / "cnngwp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name == "CNNGWPRegressor":
                assert node.end_lineno - node.lineno + 1 <= 150
            if not isinstance(node, ast.FunctionDef) or node.name == "__init__" and "estimator" in path.name:
                continue
            args = node.args
            names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
            count = len(names) - (names[:1] in (["self"], ["cls"])) + bool(args.vararg) + bool(args.kwarg)
            assert count <= 8, f"{path.relative_to(ROOT)}:{node.lineno} {node.name} takes {count} parameters"


def test_the_api_page_documents_every_module_with_public_names():
    """The book builds nitpicky: a docstring that links a module the API page leaves out fails only there, late."""
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", (ROOT / "book" / "api.md").read_text(), re.MULTILINE))
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "cnngwp").rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py", "cli.py", "commands.py", "startup.py")
               and "__all__ = []" not in p.read_text()}
    assert modules <= documented, sorted(modules - documented)


def test_every_function_a_user_imports_from_cnngwp_says_its_parameters_and_what_it_returns():
    """numpydoc ``Parameters`` (where it takes any) and ``Returns`` (or ``Yields``) on every function of the ``cnngwp``
    namespace."""
    import importlib
    import inspect

    import cnngwp

    lacking = []
    for module, names in cnngwp.PUBLIC_MODULES.items():
        for name in names:
            function = getattr(importlib.import_module(module), name)
            if not inspect.isfunction(function):
                continue
            doc = inspect.getdoc(function) or ""
            if inspect.signature(function).parameters and "Parameters\n----------" not in doc:
                lacking.append(f"{module}.{name}: Parameters")
            if "Returns\n-------" not in doc and "Yields\n------" not in doc:
                lacking.append(f"{module}.{name}: Returns")
    assert not lacking, lacking
