"""Runs on a real Dask cluster: an external scheduler and worker processes on localhost."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnngwp.data.genotypes import quality_control
from cnngwp.data.readers import write_dataset
from cnngwp.data.splits import split_by_generation
from cnngwp.runs.parallel import IN_PROCESS, open_client
from cnngwp.runs.workflow import run_cnngwp
from cnngwp.seeds import ensemble_chunk_seed
from cnngwp.tuning.ensemble import fit_ensemble
from cnngwp.tuning.problem import TuningProblem
from cnngwp.tuning.search import Gamma
from cnngwp.tuning.settings import PROFILES, SEARCH_SPACES, RunSettings

SMOKE = PROFILES["smoke"]


@pytest.fixture
def cluster(tmp_path):
    """`dask scheduler` and `dask worker --nworkers 2 --nthreads 1` as processes; yields the scheduler address."""
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    if dask is None:
        pytest.skip("the dask command line is not installed")
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "error"}
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
                                   ":0", "--scheduler-file", str(scheduler_file)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        processes.append(subprocess.Popen([dask, "worker", address, "--nworkers", "2", "--nthreads", "1",
                                           "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


def test_tune_on_an_external_cluster_never_loses_a_task(small_sim, cluster, tmp_path):
    write_dataset(small_sim, tmp_path / "data")
    for attempt in range(3):  # from a clean folder each time: the first run meets workers still importing
        out = tmp_path / f"run-{attempt}"
        finished = subprocess.run([sys.executable, "-m", "cnngwp", "tune", "--data", str(tmp_path / "data"), "--out",
                                   str(out), "--profile", "smoke", "--scheduler", cluster, "--no-progress"],
                                  capture_output=True, text=True, timeout=900, check=False)
        assert finished.returncode == 0, finished.stderr[-3000:]
        assert "cancelled" not in finished.stderr.lower()
        summary = json.loads((out / "summary.json").read_text())
        assert len(summary["members"]) == SMOKE.n_members


def test_a_run_never_sends_its_data_from_the_driver(small_sim, cluster, tmp_path, monkeypatch):
    """On the real scheduler and two worker processes: nothing is scattered; the workers read the run's problem
    folder, written once (the tuning writes it, the ensemble finds the same content; the backbone's CNNs read their
    own) and removed at the end."""
    from distributed import Client

    from cnngwp.data import store

    def no_scatter(*args, **kwargs):
        raise AssertionError("the driver scattered data to the workers")

    writes = []
    replace = store.replace_directory
    monkeypatch.setattr(Client, "scatter", no_scatter)
    monkeypatch.setattr(store, "replace_directory", lambda folder: writes.append(folder) or replace(folder))
    data = quality_control(small_sim)[0]
    with open_client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        run = run_cnngwp(data, split_by_generation(data), tmp_path, client,
                         RunSettings(SEARCH_SPACES["qtlmas2010"], SMOKE, replicates=1, n_members=2), progress=False)
    assert len(run.tuning.evaluations) == SMOKE.n_points and len(run.ensemble.members) == 2
    # the run's problem, and the backbone's CNN problem (the same genotypes, the kernel's residual as the trait)
    assert writes == [(tmp_path / "problem").resolve(), (tmp_path / "backbone" / "problem").resolve()]
    assert not (tmp_path / "problem").exists() and not (tmp_path / "backbone" / "problem").exists()


@pytest.mark.parametrize("gpu", [False, True])
def test_the_ensemble_hands_chunks_of_members_to_the_estimator(small_sim, tmp_path, monkeypatch, gpu):
    """One path for both devices: on CPU workers one member per task, on a GPU worker all members in one task (one
    estimator with n_members = 3, which trains them together there); detection stubbed both ways. A chunk's
    estimator seeds its members seed * 1000 + 0, 1, 2; one-member tasks each have their own estimator seed."""
    from cnngwp.models.cnn import device

    data = quality_control(small_sim)[0]
    problem = TuningProblem.from_split(data, split_by_generation(data), seed=1)
    monkeypatch.setattr(device, "accelerator_available", lambda: gpu)
    with open_client(IN_PROCESS) as client:
        assert client.submit(device.members_per_task, 3).result() == (3 if gpu else 1)
        ensemble = fit_ensemble(problem, Gamma(4, 5, 0.3), client, tmp_path,
                                RunSettings(SEARCH_SPACES["qtlmas2010"], SMOKE, seed=2, n_members=3), progress=False)
    seeds = [m.seed for m in ensemble.members]
    first = ensemble_chunk_seed(2, 0) * 1000
    if gpu:
        assert seeds == [first, first + 1, first + 2]
    else:
        assert seeds == [ensemble_chunk_seed(2, m) * 1000 for m in range(3)]
    assert [m.member for m in ensemble.members] == [0, 1, 2]
    assert len({tuple(m.test_predictions[:5]) for m in ensemble.members}) == 3
    assert sorted(p.name for p in (tmp_path / "members").glob("*.npz")) == [f"member-0{m}.npz" for m in range(3)]
