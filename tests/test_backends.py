"""Keras 3 on JAX: the estimator on both engines, members trained together and refit, a saved model, and no
TensorFlow imported even where it is installed."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

# Run in a subprocess with KERAS_BACKEND=jax, as on a GPU machine. Where TensorFlow is installed (here), fitting may
# not import it; Keras' own saving imports it wherever it is installed, so `import tensorflow` is blocked before the
# model is saved and loaded, as on a machine without it.
SCRIPT = r"""
import json, sys

class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("TensorFlow is blocked in this test")
        return None

import tempfile
import numpy as np
import pandas as pd
import keras
from cnngwp.models.cnn.device import accelerator_available
from cnngwp.models.cnn.estimator import CNNGWPRegressor
from cnngwp.data.covariates import CovariateDesign
from cnngwp.models.saved_model import GenomicModel, load_model

rng = np.random.default_rng(0)
X = rng.binomial(2, 0.4, (400, 120)).astype(np.int8)
y = 10 + 2 * (X[:, 30] - 0.8) + np.array([0.0, 1.5, 0.0])[X[:, 90]] + rng.normal(0, 1, 400)
base = float(np.mean((y[:300].mean() - y[300:]) ** 2))
settings = dict(filters=8, kernel_size=5, l1=0.5, learning_rate=0.005, batch_size=32, epochs=30, patience=10,
                engine="keras", seed=1)
scores = {}
for name, extra in {"one": {}, "together": {"n_members": 3, "ensemble_mode": "together"},
                    "refit": {"refit": True, "n_members": 2},
                    "numba engine": {"engine": "numba", "n_members": 2, "refit": True},
                    "genotypic together": {"n_members": 3, "ensemble_mode": "together",
                                           "encoding": "genotypic"}}.items():
    model = CNNGWPRegressor(**{**settings, **extra}).fit(X[:300], y[:300])
    scores[name] = float(np.mean((model.predict(X[300:]) - y[300:]) ** 2)) / base
# a genotypic model with a covariate saved in Keras' format and loaded back predicts the same
sex = pd.DataFrame({"sex": rng.integers(0, 2, 400).astype(float)})
model = CNNGWPRegressor(**settings, n_members=2, encoding="genotypic").fit(X[:300], y[:300] + 3 * sex["sex"][:300],
                                                                      covariates=sex[:300])
snps = pd.DataFrame({"snp_id": [f"s{j}" for j in range(120)], "chromosome": "1", "position": range(120),
                     "allele_1": "A", "allele_2": "G"})
design = CovariateDesign.fit(sex, ("sex",))
fitting_imported = sorted(name for name in sys.modules if name.split(".")[0] == "tensorflow")
sys.meta_path.insert(0, NoTensorFlow())
with tempfile.TemporaryDirectory() as folder:
    GenomicModel.from_estimators(model, {}, snps=snps, covariates=design).save(folder)
    loaded = load_model(folder).predict_members(X[300:], covariates=sex[300:])
same = float(np.max(np.abs(loaded - model.predict_members(X[300:], covariates=sex[300:]))))
print(json.dumps({"backend": keras.backend.backend(), "gpu": accelerator_available(), "scores": scores,
                  "members": len(model.members_), "round_trip": same, "tensorflow": fitting_imported}))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (it is in the test extra)")
def test_estimator_trains_on_jax_and_imports_no_tensorflow_even_where_it_is_installed():
    """Seeding goes through cnngwp.seeds.seed_frameworks, not keras.utils.set_random_seed (which imports TensorFlow
    whenever it is installed, and its start-up lines reach the terminal)."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    finished = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900,
                              check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax" and result["gpu"] is False and result["tensorflow"] == []
    for name, score in result["scores"].items():
        assert score < 0.85, f"{name}: MSE {score:.3f} of the training mean's"
    assert result["round_trip"] < 1e-5
