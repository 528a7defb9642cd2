"""Dependencies run one way through the package, as the method does: data <- models <- tuning <- runs <- reports <-
commands. A module imports only from its own stage and the stages before it (every import statement counts, those
inside functions too), so reports read results and never fit, and a model never reaches for a run."""

import ast
from pathlib import Path

import cnngwp

PACKAGE = Path(cnngwp.__file__).parent
#: Each top-level module or folder of the package and its stage; a module may import from stages <= its own.
STAGES = {
    "errors": 0, "atomic": 0, "seeds": 0, "startup": 0, "provenance": 0,
    "data": 1, "models": 2, "tuning": 3, "runs": 4, "reports": 5,
    "commands": 6, "cli": 6, "__main__": 6, "__init__": 6,
}


def backward_imports(package: Path) -> list[str]:
    """Every import in `package`'s modules of a stage later than the importing module's, as ``file:line: a -> b``.

    ``from cnngwp import __version__`` is allowed anywhere: the package's root is loaded before any of its
    modules, whoever imports them.
    """
    found = []
    for path in sorted(package.rglob("*.py")):
        stage = path.relative_to(package).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == package.name:
                targets = [f"{package.name}.{a.name}" for a in node.names if a.name != "__version__"]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                parts = target.split(".")
                if parts[0] != package.name or len(parts) < 2:
                    continue
                if STAGES.get(parts[1], max(STAGES.values()) + 1) > STAGES[stage]:
                    found.append(f"{path.relative_to(package.parent)}:{node.lineno}: {stage} -> {target}")
    return found


def test_every_module_imports_only_from_its_stage_and_the_ones_before():
    assert backward_imports(PACKAGE) == []
    assert set(STAGES) >= {p.name.removesuffix(".py") for p in PACKAGE.iterdir()
                           if p.suffix == ".py" or (p.is_dir() and any(p.glob("*.py")))}


def test_an_import_that_runs_back_is_found(tmp_path):
    """A model module importing a report, a lazy import inside a function, and a report importing a model (allowed)."""
    package = tmp_path / "cnngwp"
    (package / "models").mkdir(parents=True)
    (package / "reports").mkdir()
    (package / "models" / "fit.py").write_text("from cnngwp import __version__\n"
                                               "from cnngwp.reports.tables import table\n")
    (package / "models" / "lazy.py").write_text("def f():\n    import cnngwp.runs.study\n")
    (package / "reports" / "tables.py").write_text("from cnngwp.models.fit import fit\n")
    assert backward_imports(package) == ["cnngwp/models/fit.py:2: models -> cnngwp.reports.tables",
                                         "cnngwp/models/lazy.py:2: models -> cnngwp.runs.study"]
