"""The folder a run's tasks read their data from (cnngwp.data.store)."""

import numpy as np
import pytest

from cnngwp.data.genotypes import quality_control
from cnngwp.data.splits import split_by_generation
from cnngwp.data.store import discard, read_and_call, store
from cnngwp.errors import CnngwpInputError
from cnngwp.tuning.problem import TuningProblem


@pytest.fixture
def problem(small_sim):
    data = quality_control(small_sim)[0]
    return TuningProblem.from_split(data, split_by_generation(data), seed=1)


def test_a_stored_problem_reads_back_equal_and_memory_mapped(problem, tmp_path):
    handle = store(problem, tmp_path / "problem")
    loaded = handle.load()
    for name in ("X_train", "y_train", "X_test", "y_test", "validation"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(problem, name))
        assert getattr(loaded, name).dtype == getattr(problem, name).dtype
    assert isinstance(loaded.X_train, np.memmap) and not loaded.X_train.flags.writeable
    assert (loaded.name, loaded.validation_rule, loaded.C_train) == (problem.name, problem.validation_rule, None)
    assert read_and_call(lambda p, k: p.X_train.shape[1] * k, handle, 2) == 2 * problem.X_train.shape[1]


def test_same_content_is_kept_and_other_content_replaces_the_folder(problem, tmp_path):
    folder = tmp_path / "problem"
    first = store(problem, folder)
    stamp = (folder / "X_train.npy").stat().st_mtime_ns
    assert store(problem, folder) == first and (folder / "X_train.npy").stat().st_mtime_ns == stamp
    other = TuningProblem(problem.X_train[:, :-1], problem.y_train, problem.X_test[:, :-1], problem.y_test,
                          problem.validation, problem.name)
    second = store(other, folder)
    assert second.digest != first.digest and second.load().X_train.shape[1] == problem.X_train.shape[1] - 1
    with pytest.raises(CnngwpInputError, match="holds other data"):
        first.load()  # a task of an older run that shared the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["problem"]  # no scratch folder left beside it


def test_a_worker_without_the_folder_is_told_what_to_mount(problem, tmp_path):
    handle = store(problem, tmp_path / "problem")
    discard(tmp_path / "problem")
    with pytest.raises(CnngwpInputError, match="problem: the run's data folder is not readable on .*every worker"):
        handle.load()
