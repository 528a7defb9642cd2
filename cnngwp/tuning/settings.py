"""Every setting of a run in one place: the protocols, the training settings, the profiles, the bounds of gamma and
a run's settings, with the defaults a run and a chapter start from.

Two protocols:

``honest`` (default)
    Networks are judged on validation rows carved from the training rows (the youngest
    training generation where generations exist, else a seeded random fraction); the
    test rows are not touched until the ensemble's final prediction.
``paper``
    Networks are judged on the *test* rows, as in the published script; no refit.
    Results are optimistic: tuned on the test set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from cnngwp.errors import CnngwpInputError
from cnngwp.models.paper import PAPER_BATCH_SIZE, PAPER_EPOCHS, PAPER_LEARNING_RATE

__all__ = ["CHAPTER_PROFILE", "DEFAULT_PROFILE", "DEFAULT_PROTOCOL", "DEFAULT_SEED", "DEFAULT_SPACE", "OPTIMISTIC",
           "PROFILES", "PROTOCOLS", "SEARCH_SPACES", "Profile", "RunSettings", "SearchSpace", "TrainingSettings",
           "check_protocol", "search_space"]

#: The two protocols (the module's docstring says what each tunes on).
PROTOCOLS = ("honest", "paper")
#: The settings a run starts from when none are given (``cnngwp run``, :func:`cnngwp.runs.notebooks.run_notebooks`).
DEFAULT_PROFILE = "quick"
DEFAULT_PROTOCOL = "honest"
DEFAULT_SPACE = "qtlmas2010"
DEFAULT_SEED = 1
#: The profile of a chapter opened on its own (its default data set is the tiny example, which trains in seconds).
CHAPTER_PROFILE = "smoke"
#: The label every table or figure made under the paper protocol carries.
OPTIMISTIC = "optimistic: tuned on the test set"


@dataclass(frozen=True)
class TrainingSettings:
    """How each CNN is trained (gamma aside).

    Attributes
    ----------
    learning_rate, batch_size, epochs
        Adam's learning rate, the batch size and the epoch cap.
    patience
        Stop after this many epochs without a better validation MSE (None: train to the cap).
    refit
        Honest protocol: after choosing its epoch count on the validation rows, each
        ensemble member is retrained on all training rows for that many epochs. BO
        evaluations never refit; the paper protocol has nothing to refit.
    encoding
        The network's input (:data:`cnngwp.models.cnn.network.ENCODINGS`): every profile's is the paper's
        ``additive``; chapter 8's study and ``benchmarks/bench_models.py`` also fit a ``genotypic`` CNN.
    """

    learning_rate: float = PAPER_LEARNING_RATE
    batch_size: int = PAPER_BATCH_SIZE
    epochs: int = PAPER_EPOCHS
    patience: int | None = None
    refit: bool = True
    encoding: str = "additive"

    def refits(self, protocol: str) -> bool:
        """Whether ensemble members are refitted under `protocol` (only honest runs have rows to add back)."""
        return self.refit and protocol == "honest"


@dataclass(frozen=True)
class Profile:
    """The costly settings bundled: BO points, replicates S, ensemble size and training."""

    name: str
    n_initial: int
    n_guided: int
    replicates: int
    n_members: int
    training: TrainingSettings = field(default_factory=TrainingSettings)
    description: str = ""

    @property
    def n_points(self) -> int:
        """T, the BO evaluations per replicate."""
        return self.n_initial + self.n_guided


#: The named profiles, from the published settings to seconds on the tiny example.
PROFILES = {
    "paper": Profile("paper", 15, 25, 25, 25, TrainingSettings(),  # its defaults are the paper's training
                     "the published numbers: T = 40, S = 25, 250 epochs at lr 2.5e-4; for a GPU or a cluster"),
    # lr 2e-3 with patience 10 stops far earlier than the paper's 2.5e-4 for the same test MSE after refit
    # (benchmarks/bench_training.py measures both); the cap is never reached. T, S and the members are sized so
    # that make book (with chapter 8's study) fits 25 minutes on a 2-core machine (benchmarks/bench_tuning.py
    # times the BO).
    "quick": Profile("quick", 4, 2, 2, 4, TrainingSettings(2e-3, 48, 100, 10, True),
                     "a laptop CPU: T = 6 (4 random + 2 guided), S = 2, 4 members, lr 2e-3 stopped by patience 10 "
                     "(cap 100 epochs), refit"),
    "smoke": Profile("smoke", 3, 2, 2, 2, TrainingSettings(2e-3, 32, 3, None, True),
                     "seconds on a tiny data set, for tests"),
}


def check_protocol(protocol: str) -> None:
    """Raise :class:`cnngwp.errors.CnngwpInputError` unless `protocol` is ``honest`` or ``paper``."""
    if protocol not in PROTOCOLS:
        raise CnngwpInputError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


@dataclass(frozen=True)
class SearchSpace:
    """Closed bounds of gamma: integer filters and kernel size, real lambda (uniform or log-uniform)."""

    filters: tuple[int, int]
    kernel_size: tuple[int, int]
    l1: tuple[float, float]
    l1_prior: str = "uniform"

    def __post_init__(self) -> None:
        for name in ("filters", "kernel_size", "l1"):
            low, high = getattr(self, name)
            if not 0 < low < high:
                raise CnngwpInputError(f"search space {name}: expected 0 < low < high, got ({low}, {high})")
        if self.l1_prior not in ("uniform", "log-uniform"):
            raise CnngwpInputError(f"search space l1_prior: expected 'uniform' or 'log-uniform', got {self.l1_prior!r}")

    def dimensions(self) -> list:
        """The scikit-optimize dimensions."""
        from skopt.space import Integer, Real  # scikit-optimize takes 1 s to import; only the search needs it

        return [
            Integer(*self.filters, name="filters"),
            Integer(*self.kernel_size, name="kernel_size"),
            Real(*self.l1, prior=self.l1_prior, name="l1"),
        ]


#: The named bounds of gamma; ``qtlmas2010`` is the paper's (filters 20-100, kernel 10-50,
#: lambda 0.1-1.0). lambda acts on the trait rescaled to SD 10, about the QTLMAS2010 trait's
#: own SD, so the bounds carry over to any trait's scale; but a less heritable trait wants
#: more shrinkage (on the mice body length, lambda 2 beat 0.63 and 5: benchmarks/bench_penalty.py), and the paper re-set
#: the bounds by hand for its pig data. ``wide`` keeps the filters and kernel bounds and
#: searches lambda over 0.1-10 on a log scale, for data whose heritability is not known;
#: :func:`search_space` takes a data set's own bounds.
SEARCH_SPACES = {
    "qtlmas2010": SearchSpace((20, 100), (10, 50), (0.1, 1.0)),
    "wide": SearchSpace((20, 100), (10, 50), (0.1, 10.0), "log-uniform"),
}


def search_space(text: str) -> SearchSpace:
    """Bounds of gamma from a name of :data:`SEARCH_SPACES` or own bounds, e.g. ``"filters=8:64,l1=0.05:0.5"``.

    Own bounds replace those of ``qtlmas2010`` for the names given (``filters``,
    ``kernel_size``, ``l1``; each ``LOW:HIGH``).

    Parameters
    ----------
    text
        A name of :data:`SEARCH_SPACES`, or ``name=LOW:HIGH`` pairs separated by commas.

    Returns
    -------
    SearchSpace
        The bounds of filters, kernel size and lambda.

    Raises
    ------
    CnngwpInputError
        Unknown name or malformed bounds, naming the part and what was expected.
    """
    if text in SEARCH_SPACES:
        return SEARCH_SPACES[text]
    bounds = asdict(SEARCH_SPACES["qtlmas2010"])
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        low, _, high = value.partition(":")
        if name not in bounds or not low or not high:
            raise CnngwpInputError(
                f"search space {text!r}: part {part!r}: expected one of {sorted(SEARCH_SPACES)} "
                "or NAME=LOW:HIGH with NAME filters, kernel_size or l1"
            )
        cast = float if name == "l1" else int
        try:
            bounds[name] = (cast(low), cast(high))
        except ValueError as error:
            raise CnngwpInputError(f"search space {text!r}: part {part!r}: {error}") from error
    return SearchSpace(**{name: value if name == "l1_prior" else tuple(value) for name, value in bounds.items()})


@dataclass(frozen=True)
class RunSettings:
    """One run's settings, passed whole to the tuning, the ensemble and the run: the profile's overrides are
    applied here, once.

    Attributes
    ----------
    space, profile
        Bounds of gamma; BO points, S, ensemble size and training settings.
    protocol
        ``"honest"`` or ``"paper"`` (module docstring).
    seed
        Seeds the optimisers and every CNN (:mod:`cnngwp.seeds`); the same seed gives the same run.
    replicates, n_members
        S and the ensemble size; None on construction means the profile's.
    batch_points
        k points asked at once per replicate (constant liar), so k workers stay busy
        within one replicate; 1 is the paper's sequential BO.
    """

    space: SearchSpace
    profile: Profile
    protocol: str = DEFAULT_PROTOCOL
    seed: int = DEFAULT_SEED
    replicates: int | None = None
    n_members: int | None = None
    batch_points: int = 1

    def __post_init__(self):
        check_protocol(self.protocol)
        if self.batch_points < 1:
            raise CnngwpInputError(f"batch_points must be at least 1, got {self.batch_points}")
        if self.replicates is None:
            object.__setattr__(self, "replicates", self.profile.replicates)
        if self.n_members is None:
            object.__setattr__(self, "n_members", self.profile.n_members)

    @classmethod
    def named(cls, *, profile: str = DEFAULT_PROFILE, protocol: str = DEFAULT_PROTOCOL, space: str = DEFAULT_SPACE,
              seed: int = DEFAULT_SEED) -> RunSettings:
        """The settings of a profile (``PROFILES``) and a search space
        (:func:`search_space`), by name, as a chapter's parameters give them.

        Raises
        ------
        CnngwpInputError
            An unknown profile, protocol or search space, naming what was expected.
        """
        if profile not in PROFILES:
            raise CnngwpInputError(f"profile={profile!r}: expected one of {sorted(PROFILES)}")
        return cls(search_space(space), PROFILES[profile], protocol, seed)

    @property
    def training(self) -> TrainingSettings:
        """How each CNN is trained (the profile's)."""
        return self.profile.training

    def record(self) -> dict:
        """The settings a tuning folder is tied to (compared when resuming)."""
        return {
            "space": asdict(self.space),
            "profile": asdict(self.profile),
            "protocol": self.protocol,
            "seed": self.seed,
            "replicates": self.replicates,
            "batch_points": self.batch_points,
        }
