"""Every seed of a run, derived in one place from the user's one seed.

The tree (each child is a :class:`numpy.random.SeedSequence` of its path, so siblings are
independent and adding a branch never changes another)::

    seed
    ├── (seed, replicate)                      Bayesian-optimisation replicate: its optimiser
    │   └── (seed, replicate, iteration)       one BO evaluation's estimator
    ├── (seed, ENSEMBLE_BRANCH, first member)  one chunk of ensemble members' estimator
    └── estimator seed s → members s·1000 + i  each network of one estimator (initialisation, batch order)

The last level is arithmetic rather than a SeedSequence because saved runs and the book's
numbers were made with it; it lives here and nowhere else.
"""

from __future__ import annotations

import random

import numpy as np

__all__ = ["ENSEMBLE_BRANCH", "ensemble_chunk_seed", "evaluation_seed", "member_seeds", "optimizer_seed",
           "seed_frameworks", "seed_from"]

#: The path element that separates the ensemble's seeds from the tuning replicates'.
ENSEMBLE_BRANCH = 7_919
#: Estimator seeds stay below this (they are multiplied by 1000 for the members).
_ESTIMATOR_SEEDS = 1_000_000


def seed_from(*path: int) -> int:
    """The 32-bit seed of the node `path` of the tree (``SeedSequence(path)``'s first word)."""
    return int(np.random.SeedSequence(list(path)).generate_state(1)[0])


def optimizer_seed(seed: int, replicate: int) -> int:
    """The Bayesian optimiser's random state for one replicate."""
    return seed_from(seed, replicate)


def evaluation_seed(seed: int, replicate: int, iteration: int) -> int:
    """The estimator seed of BO evaluation `iteration` of `replicate`."""
    return seed_from(seed, replicate, iteration) % _ESTIMATOR_SEEDS


def ensemble_chunk_seed(seed: int, first_member: int) -> int:
    """The estimator seed of the chunk of ensemble members that starts at `first_member`."""
    return seed_from(seed, ENSEMBLE_BRANCH, first_member) % _ESTIMATOR_SEEDS


def member_seeds(estimator_seed: int, n_members: int) -> list[int]:
    """The seed of each network an estimator trains (initialisers and mini-batch order)."""
    return [estimator_seed * 1000 + member for member in range(n_members)]


def seed_frameworks(seed: int) -> None:
    """Seed Python's and NumPy's global generators and, only where it is Keras' backend, TensorFlow's.

    ``keras.utils.set_random_seed`` imports TensorFlow whenever it is installed, whatever the
    backend; every initialiser here is seeded explicitly, so other backends need no more.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)
