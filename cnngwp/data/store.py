"""The data a run's tasks read: written once by the driver, memory-mapped where a task runs.

A run does not send its genotype matrix from the driver to every Dask worker (a scatter
keeps one copy per worker and, broadcast, can stall on a worker that comes and goes).
The driver writes the run's arrays once into a folder, one ``.npy`` file per array; each
task gets a small :class:`Stored` handle and maps the files, so it reads only the blocks
of rows it touches and the workers of one machine share the pages. On a cluster the
folder must be on a file system every worker mounts: the run folder (``--out``) is where
a run puts it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import json
import pickle
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnngwp.atomic import replace_directory
from cnngwp.errors import CnngwpInputError

__all__ = ["Stored", "discard", "read_and_call", "store"]

_MANIFEST = "manifest.json"
_OTHER_FIELDS = "fields.pkl"


@dataclass(frozen=True)
class Stored:
    """A handle to a dataclass written by :func:`store`: cheap to send, read where it is used.

    Attributes
    ----------
    folder
        Absolute path of the folder.
    digest
        BLAKE2 digest of the content, checked when a task opens the folder.
    """

    folder: str
    digest: str

    def load(self):
        """The stored object, its arrays memory-mapped read-only.

        Nothing is cached: the maps close with the task that opened them, so a long-lived
        worker keeps no deleted run's files open; the operating system's page cache keeps
        the data in memory between the tasks of one machine.

        Raises
        ------
        CnngwpInputError
            If the folder is missing here (a worker that does not mount the run folder) or
            holds other content than this handle was made for.
        """
        path = Path(self.folder)
        manifest = _manifest(path)
        if not manifest:
            raise CnngwpInputError(f"{path}: the run's data folder is not readable on {socket.gethostname()}; on a "
                                   "cluster the run folder must be on a file system every worker mounts")
        if manifest["digest"] != self.digest:
            raise CnngwpInputError(f"{path}: holds other data (digest {manifest['digest']}) than the run that sent "
                                   f"this task wrote ({self.digest}); two runs share one run folder")
        module, _, name = manifest["class"].partition(":")
        kind = functools.reduce(getattr, name.split("."), importlib.import_module(module))
        fields = pickle.loads((path / _OTHER_FIELDS).read_bytes())
        # an empty array cannot be mapped; it is read
        fields.update({a: np.load(path / f"{a}.npy", mmap_mode="r" if size else None, allow_pickle=False)
                       for a, size in manifest["arrays"].items()})
        return kind(**fields)


def store(obj, folder: str | Path) -> Stored:
    """Write the dataclass `obj` into `folder` (arrays as ``.npy``, other fields pickled) and return its handle.

    A folder that already holds the same content (a resumed run) is kept as it is; one that
    holds other content is replaced as a whole, never left half-written.
    """
    folder = Path(folder).resolve()
    arrays = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if isinstance(getattr(obj, f.name),
                                                                                            np.ndarray)}
    others = pickle.dumps({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name not in arrays})
    digest = _digest(type(obj), arrays, others)
    if _manifest(folder).get("digest") != digest:
        with replace_directory(folder) as scratch:
            for name, array in arrays.items():
                np.save(scratch / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
            (scratch / _OTHER_FIELDS).write_bytes(others)
            manifest = {"digest": digest, "class": f"{type(obj).__module__}:{type(obj).__qualname__}",
                        "arrays": {name: array.size for name, array in arrays.items()}}
            (scratch / _MANIFEST).write_text(json.dumps(manifest, indent=1))
    return Stored(str(folder), digest)


def discard(folder: str | Path) -> None:
    """Delete a folder written by :func:`store` (its run is finished)."""
    shutil.rmtree(folder, ignore_errors=True)


def read_and_call(function, stored: Stored, *args):
    """``function(stored.load(), *args)``: the Dask task that reads its data where it runs."""
    return function(stored.load(), *args)


def _digest(kind: type, arrays: dict[str, np.ndarray], others: bytes) -> str:
    h = hashlib.blake2b(f"{kind.__module__}:{kind.__qualname__}".encode(), digest_size=16)
    for name, array in arrays.items():
        h.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        h.update(np.ascontiguousarray(array).data)
    h.update(others)
    return h.hexdigest()


def _manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / _MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
