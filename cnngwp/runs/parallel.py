"""Where the tasks run: a Dask client on the local machine, in-process, or on a user's cluster.

Tuning evaluations, ensemble members and notebook runs are Dask tasks. Tasks write
nothing to disk: each returns its numbers to the driver, which alone writes the run
folder, so parallel tasks cannot clash over files (the published script's checkpoint
folders did).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from dask.system import CPU_COUNT
from distributed import Client, LocalCluster

from cnngwp.errors import CnngwpInputError

__all__ = ["IN_PROCESS", "open_client", "worker_environment"]

#: ``scheduler`` value that runs every task in a thread of this process, one at a time.
IN_PROCESS = "in-process"


def worker_environment(threads: int) -> dict[str, str]:
    """Environment that caps TensorFlow, BLAS and numba at `threads` threads per worker process.

    On a GPU, several workers share the device: JAX and TensorFlow then take GPU memory
    as they need it instead of preallocating most of it in the first worker.
    """
    value = str(max(1, threads))
    return {"TF_NUM_INTRAOP_THREADS": value, "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": value,
            "NUMBA_NUM_THREADS": value, "TF_CPP_MIN_LOG_LEVEL": "2", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
            "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


@contextmanager
def open_client(scheduler: str | None = None, *, n_workers: int | None = None) -> Iterator[Client]:
    """A Dask client for the duration of the block.

    Parameters
    ----------
    scheduler
        None or ``""`` (a notebook's parameter): a :class:`distributed.LocalCluster` of `n_workers` single-threaded
        worker processes (default: one per core this process may use), each with TensorFlow limited to its share
        of the cores. ``"in-process"``: tasks run one at a time in a thread of this
        process (no worker start-up; for notebooks and tests). Otherwise the address of
        a running scheduler, e.g. ``"tcp://host:8786"``; its workers need ``cnngwp``
        installed.
    n_workers
        Workers of the local cluster (ignored for the other two).

    Yields
    ------
    distributed.Client
        The client, closed (and its local cluster shut down) when the block ends.

    Raises
    ------
    CnngwpInputError
        If the scheduler address cannot be reached.
    """
    # dashboard_address=":0": Dask always serves HTTP (health, metrics) and would warn when
    # another cluster on this machine already holds the default port 8787.
    if scheduler == IN_PROCESS:
        with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as client:
            yield client
    elif not scheduler:
        cores = CPU_COUNT  # the cores this process may use (affinity, cgroup quota), not the host's
        workers = n_workers or cores
        env = worker_environment(cores // workers)
        # silence_logs: the nanny's notice that it stopped a worker still running TensorFlow threads at close.
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=logging.ERROR, env=env) as cluster, Client(cluster) as client:
            yield client
    else:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as error:
            raise CnngwpInputError(f"cannot reach the Dask scheduler at {scheduler!r}: {error}") from error
        with client:
            yield client
