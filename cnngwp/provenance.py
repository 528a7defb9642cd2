"""Where a measurement or a fitted number comes from: the command, the commit of the checkout, the date and the
machine, written beside it (a benchmark's record, a study data set's record) so that a colleague can tell which code on
which machine produced it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["provenance"]

#: The checkout this package runs from (where ``git`` finds the commit a record was measured at).
_CHECKOUT = Path(__file__).resolve().parents[1]


def _git(*arguments: str) -> str:
    """Git's answer about this package's own checkout; "" for an installed package (whose folder may sit inside
    some other repository, a virtual environment in a checkout, whose commit is not this code's)."""
    if not (_CHECKOUT / ".git").exists():
        return ""
    try:
        return subprocess.run(["git", "-C", str(_CHECKOUT), *arguments], capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:  # no git on this machine
        return ""


def _commit() -> str:
    """The checkout's commit, with ``+changes`` when tracked files differ from it (``unknown`` outside a checkout)."""
    return (_git("rev-parse", "--short", "HEAD") or "unknown") + (
        "+changes" if _git("status", "--porcelain", "--untracked-files=no") else "")


def _machine() -> str:
    """Cores, CPU model and Python version."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                 platform.processor() or platform.machine())
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def _command() -> str:
    """This process's command line as it was typed: ``python -m cnngwp ...`` for a run of the package."""
    program = Path(sys.argv[0])
    first = f"-m {program.parent.name}" if program.name == "__main__.py" else sys.argv[0]
    return " ".join(["python", first, *sys.argv[1:]])


def provenance() -> dict[str, str]:
    """Where a measurement comes from: ``command`` (this process's), ``commit``, ``date`` and ``machine``."""
    return {"command": _command(), "commit": _commit(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": _machine()}
