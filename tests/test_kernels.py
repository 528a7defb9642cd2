import numpy as np
import pytest

from cnngwp.data.genotypes import Standardizer
from cnngwp.models.kernels import (
    dominance_codes,
    gaussian_kernels,
    median_distance,
    squared_distances,
)


def additive_dominance_trait(n=300, p=400, seed=0):
    """HWE genotypes and a trait with additive and dominance effects at every marker (both variances sizeable)."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.2, 0.5, p)
    X = rng.binomial(2, freq, size=(n, p)).astype(np.int8)
    additive = (X - 2 * freq) @ rng.normal(size=p)
    dominance = dominance_codes(X, freq) @ rng.normal(0, 2.0, size=p)
    y = 5 + additive / additive.std() * 1.2 + dominance / dominance.std() + rng.normal(0, 1.0, n)
    return X, y


def test_dominance_coding_matches_vitezica_and_is_centred_under_hardy_weinberg():
    freq = np.array([0.2, 0.5, 0.9])
    codes = np.array([[0, 1, 2], [1, 2, 0], [2, 0, 1], [-1, -1, -1]], dtype=np.int8)
    w = dominance_codes(codes, freq)
    p, q = freq, 1 - freq
    expected = {0: -2 * p**2, 1: 2 * p * q, 2: -2 * q**2}
    for i in range(3):
        for j in range(3):
            assert w[i, j] == pytest.approx(expected[codes[i, j]][j], abs=1e-6)
    assert (w[3] == 0).all()
    hwe_mean = p**2 * expected[2] + 2 * p * q * expected[1] + q**2 * expected[0]
    np.testing.assert_allclose(hwe_mean, 0.0, atol=1e-12)


def test_compiled_dominance_coding_of_codes_equals_the_dosage_formula_to_the_last_bit():
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 3, size=(200, 333)).astype(np.int8)
    codes[rng.random(codes.shape) < 0.03] = -1
    freq = rng.uniform(0.01, 0.99, 333)
    expected = dominance_codes(codes.astype(np.float32), freq)  # the NumPy path that codes dosages
    expected[codes == -1] = 0.0
    np.testing.assert_array_equal(dominance_codes(codes, freq), expected)
    np.testing.assert_array_equal(dominance_codes(codes[:, 7:100], freq[7:100]), expected[:, 7:100])


def test_gaussian_kernels_and_distances():
    rng = np.random.default_rng(3)
    X = rng.integers(0, 3, size=(30, 50)).astype(np.int8)
    scaler = Standardizer().fit(X)
    d = squared_distances(scaler, X)
    z = scaler.transform(X, dtype=np.float64)
    np.testing.assert_allclose(d, ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(squared_distances(scaler, X[:5], X), d[:5], rtol=1e-6, atol=1e-4)
    scale = median_distance(d)
    sharp, smooth = gaussian_kernels(d, (0.5, 2.0), scale)
    assert np.allclose(np.diag(sharp), 1.0) and (smooth >= sharp).all()
    off = ~np.eye(30, dtype=bool)
    assert np.median(gaussian_kernels(d, (1.0,), scale)[0][off]) == pytest.approx(np.exp(-1.0), rel=0.05)
