"""The published script's training pattern, the reference every speed benchmark compares against.

A plain Keras Sequential model on a standardised float32 matrix, the validation (in the
published script: test) set evaluated every epoch, ModelCheckpoint(save_best_only=True)
writing to disk; the paper's gamma (64, 27, 0.571), Adam 2.5e-4, batch 48.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras

from cnngwp.data.genotypes import Standardizer
from cnngwp.models.paper import PAPER_BATCH_SIZE, PAPER_FILTERS, PAPER_KERNEL_SIZE, PAPER_L1, PAPER_LEARNING_RATE

GAMMA = {"filters": PAPER_FILTERS, "kernel_size": PAPER_KERNEL_SIZE, "l1": PAPER_L1}
LEARNING_RATE, BATCH = PAPER_LEARNING_RATE, PAPER_BATCH_SIZE


def published_pattern(x, y, x_val, y_val, epochs: int, folder: Path) -> float:
    """Train the published pattern for `epochs`; returns wall seconds of ``fit``."""
    scaler = Standardizer().fit(x)
    z, z_val = scaler.transform(x)[..., None], scaler.transform(x_val)[..., None]
    model = keras.Sequential([
        keras.Input(shape=(x.shape[1], 1)),
        keras.layers.Conv1D(GAMMA["filters"], GAMMA["kernel_size"], strides=2, padding="same", activation="linear"),
        keras.layers.MaxPooling1D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(1, activation="linear", kernel_regularizer=keras.regularizers.L1(GAMMA["l1"])),
    ])
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="mse", metrics=["mse"])
    checkpoint = keras.callbacks.ModelCheckpoint(Path(folder) / "best.keras", monitor="val_mse", save_best_only=True)
    start = time.perf_counter()
    model.fit(z, y, batch_size=BATCH, epochs=epochs, validation_data=(z_val, y_val), callbacks=[checkpoint], verbose=0)
    return time.perf_counter() - start
