"""Runs on a real Dask cluster: an external scheduler and worker processes on localhost."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnngwp.data import quality_control
from cnngwp.io import write_dataset
from cnngwp.parallel import open_client
from cnngwp.splits import split_by_generation
from cnngwp.training import PROFILES
from cnngwp.tuning import SEARCH_SPACES
from cnngwp.workflow import run_cnngwp

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


def test_a_run_sends_its_data_to_the_workers_once(small_sim, tmp_path, monkeypatch):
    data = quality_control(small_sim)[0]
    with open_client(None, n_workers=2) as client:
        scatters = []
        original = client.scatter

        def counting(*args, **kwargs):
            scatters.append(kwargs.get("broadcast"))
            return original(*args, **kwargs)

        monkeypatch.setattr(client, "scatter", counting)
        run_cnngwp(data, split_by_generation(data), tmp_path, client, space=SEARCH_SPACES["qtlmas2010"],
                   profile=SMOKE, replicates=1, n_members=2, progress=False)
    assert scatters == [True]
