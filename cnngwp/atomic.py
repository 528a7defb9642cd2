"""Writing files so that a failure never leaves anything half-written, with the modes the umask gives.

Scratch files and folders come from Python's ``tempfile``, which makes them private (0600 and 0700)
whatever the umask; each is given the mode a plain ``open`` or ``mkdir`` would have given it
(0644 and 0755 under umask 0022) before it is moved into place, so colleagues sharing a run
folder, and Dask workers running as another user, can read what a run wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cnngwp.errors import CnngwpInputError

__all__ = ["atomic_directory", "atomic_write", "differing_setting", "json_scalar", "replace_directory",
           "tie_to_settings"]


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (``/proc/self/status``); elsewhere set
    and restored at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_if_created(path: str | os.PathLike, *, folder: bool) -> None:
    """Give a scratch file or folder the mode ``open``/``mkdir`` would have given it under the umask."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


@contextmanager
def atomic_directory(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a scratch folder whose files replace those in `out_dir` on success.

    Every file is written into a temporary folder beside `out_dir`; only when the
    block finishes without an exception is each file moved into place with
    :func:`os.replace` (atomic on one file system). On failure the scratch folder
    is removed and `out_dir` is left exactly as it was.

    Parameters
    ----------
    out_dir
        The folder to fill; created if missing. Files already there that the
        block does not write are kept.

    Yields
    ------
    pathlib.Path
        The scratch folder to write into.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield scratch
        out.mkdir(exist_ok=True)
        for item in sorted(scratch.iterdir()):
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def replace_directory(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a scratch folder that replaces `out_dir` as a whole on success.

    Unlike :func:`atomic_directory`, nothing of the old folder is kept: on success the
    old folder is moved aside, the scratch folder renamed onto `out_dir`, and the old
    one removed; on failure `out_dir` is left as it was.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield scratch
        _as_if_created(scratch, folder=True)
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            os.replace(out, old)
        os.replace(scratch, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def json_scalar(value):
    """numpy scalars as Python numbers (``json.dumps(default=...)`` for types json does not know)."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` and rename the result onto `path` only if it succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        _as_if_created(tmp, folder=False)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def differing_setting(before: dict, now: dict) -> str | None:
    """The first key, in sorted order, whose value differs between two settings read from JSON; None if they agree."""
    return next((key for key in sorted(set(before) | set(now)) if before.get(key) != now.get(key)), None)


def tie_to_settings(path: str | os.PathLike, settings: dict) -> None:
    """Tie a run folder to `settings`: write them to `path` (JSON) or check that it holds the same.

    A resumed run must use the settings it started with, or its logged results would mix
    two experiments.

    Raises
    ------
    CnngwpInputError
        If `path` holds other settings (naming the first that differs).
    """
    path = Path(path)
    settings = json.loads(json.dumps(settings))
    if path.exists():
        before = json.loads(path.read_text())
        key = differing_setting(before, settings)
        if key is not None:
            raise CnngwpInputError(f"{path}: this run folder was started with {key}={before.get(key)!r}, "
                                   f"now {key}={settings.get(key)!r}; resume with the same settings or "
                                   "choose another output folder")
        return
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(settings, indent=2)))
