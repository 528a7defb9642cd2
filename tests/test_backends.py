"""Keras 3 on JAX: the estimator, members trained together and refit, with TensorFlow out of reach."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

# Run in a subprocess with KERAS_BACKEND=jax and `import tensorflow` blocked, as on a GPU machine without it.
SCRIPT = r"""
import json, sys

class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("TensorFlow is blocked in this test")
        return None

sys.meta_path.insert(0, NoTensorFlow())
import numpy as np
import keras
from cnngwp.model import CNNGWPRegressor, accelerator_available

rng = np.random.default_rng(0)
X = rng.binomial(2, 0.4, (400, 120)).astype(np.int8)
y = 10 + 2 * (X[:, 30] - 0.8) + np.array([0.0, 1.5, 0.0])[X[:, 90]] + rng.normal(0, 1, 400)
base = float(np.mean((y[:300].mean() - y[300:]) ** 2))
settings = dict(filters=8, kernel_size=5, l1=0.5, learning_rate=0.005, batch_size=32, epochs=30, patience=10,
                engine="keras", seed=1)
scores = {}
for name, extra in {"one": {}, "together": {"n_members": 3, "ensemble_mode": "together"},
                    "refit": {"refit": True}}.items():
    model = CNNGWPRegressor(**settings, **extra).fit(X[:300], y[:300])
    scores[name] = float(np.mean((model.predict(X[300:]) - y[300:]) ** 2)) / base
print(json.dumps({"backend": keras.backend.backend(), "gpu": accelerator_available(), "scores": scores,
                  "members": len(model.members_), "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (it is in the test extra)")
def test_estimator_trains_on_jax_without_tensorflow():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    finished = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900,
                              check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax" and result["gpu"] is False and result["tensorflow"] is False
    for name, score in result["scores"].items():
        assert score < 0.85, f"{name}: MSE {score:.3f} of the training mean's"
