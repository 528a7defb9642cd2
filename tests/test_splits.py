import numpy as np
import pytest

from cnngwp.data.splits import fold_column_splits, kfold_splits, split_by_generation, validation_split
from cnngwp.errors import CnngwpInputError
from tests.test_genotypes import make_data


def test_generation_split_and_forward_validation(small_sim):
    split = split_by_generation(small_sim)
    gen = small_sim.generations
    assert (gen[split.test] == 5).all() and len(split.test) == 120
    assert set(gen[split.train]) == {1, 2, 3, 4}
    inner = validation_split(gen[split.train], rows=split.train, fraction=0.2, seed=0)
    assert (gen[inner.test] == 4).all() and set(gen[inner.train]) == {1, 2, 3}
    assert np.intersect1d(inner.test, split.test).size == 0
    assert len(inner.train) + len(inner.test) == len(split.train)


def test_random_validation_without_generations():
    make_data(np.zeros((50, 2), dtype=np.int8))
    train = np.arange(40)
    a = validation_split(None, rows=train, fraction=0.25, seed=3)
    b = validation_split(None, rows=train, fraction=0.25, seed=3)
    assert len(a.test) == 10 and np.array_equal(a.test, b.test)
    assert set(a.test) | set(a.train) == set(train)


def test_kfold_is_a_seeded_partition():
    data = make_data(np.zeros((23, 2), dtype=np.int8))
    splits = kfold_splits(data, k=5, seed=1)
    tests = np.concatenate([s.test for s in splits])
    assert sorted(tests.tolist()) == list(range(23))
    assert [len(s.test) for s in splits] == [5, 5, 5, 4, 4]
    assert all(np.array_equal(a.test, b.test) for a, b in zip(splits, kfold_splits(data, k=5, seed=1)))


def test_fold_column_and_too_small_fold():
    data = make_data(np.zeros((8, 2), dtype=np.int8), fold=[0, 0, 0, 1, 1, 1, 1, 2])
    with pytest.raises(
        CnngwpInputError, match=r"column 'fold': fold-2 has 1 phenotyped individual\(s\) in its held-out part"
    ):
        fold_column_splits(data)
    data = make_data(np.zeros((8, 2), dtype=np.int8), fold=[0, 0, 0, 1, 1, 1, 1, 1])
    assert [s.name for s in fold_column_splits(data)] == ["fold-0", "fold-1"]
    with pytest.raises(CnngwpInputError, match="no 'generation' column"):
        split_by_generation(data)
