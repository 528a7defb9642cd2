"""One answer over every data set of a study: where a CNN-based model is better than, equivalent to or worse than the
best kernel model, as a function of the data set's non-additive variance and heritability.

A scenario's six replicates can rarely decide a verdict (:func:`cnngwp.reports.study_tables.study_verdicts`): the
degree of dominance is drawn per locus, so each population realises another dominance share, and every model's
ratio moves with it. Pooled, the question is asked of all data sets at once: for each CNN-based model::

    log(test MSE / the scenario's best kernel model's) = b0 + b_d · dominance share + b_e · epistatic share
                                                          + b_h · h² + population + error,

a linear mixed model (``statsmodels``' ``MixedLM``, REML) over every replicate and
scenario. The shares are the data set's realised shares of the genetic variance in the training generations; h² is
the scenario's; the population (replicate) is a random intercept: the data sets of one population share its animals,
and the answer is for the populations such a simulation draws, not for the few it drew. A study that does not vary a
term (one heritability, no epistasis) does not estimate it. Intervals are Wald intervals, as statsmodels gives them.

Where the model stands is read from the fit: at each heritability of the study, along each kind of non-additive
variance (the other kind at zero) from none to the largest share a data set realised, the predicted ratio's interval
is judged as a scenario's is (:func:`cnngwp.reports.study_tables.judge`).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from cnngwp.reports.study_tables import (
    EQUIVALENCE_MARGIN,
    POOLED_TERMS,
    dataset_shares,
    judge,
    kernel_log_ratios,
    signed,
)
from cnngwp.reports.tables import CNN_BASED_MODELS

__all__ = ["MIN_POPULATIONS", "PooledFit", "planned_replicates", "pooled_answer", "pooled_fit", "pooled_fits",
           "pooled_markdown", "replicates_for_precision"]

#: The fewest populations the pooled model is fitted on, since the spread between populations, which every
#: predicted ratio carries, is not estimated from two.
MIN_POPULATIONS = 3
#: How finely the answer reads the fit along each share.
_STEPS = 41
#: The response is fitted in hundredths of a log ratio (about percent): statsmodels calls a variance below 0.01 "on
#: the boundary" whatever its units, and a log ratio's population variance is of that order.
_UNIT = 100.0
#: statsmodels' own line for a variance "on the boundary" (zero), in the fit's units: a population standard deviation
#: under 0.1 % of a ratio.
_BOUNDARY = 0.01


def _per_step(log_effect: float) -> float:
    """A log effect per unit as the percentage change of the ratio per 0.1 of the term."""
    return float(100 * np.expm1(0.1 * log_effect))


@dataclass(frozen=True)
class PooledFit:
    """The pooled model of one CNN-based model (:func:`pooled_fit`).

    Attributes
    ----------
    model
        The model judged.
    data
        Per data set: ``dataset``, ``replicate``, ``architecture``, the terms
        (:data:`~cnngwp.reports.study_tables.POOLED_TERMS`), ``kernel_model`` and ``log_ratio``.
    terms
        The terms the study varies, so the fit estimates.
    effects
        Per term: ``term``, ``percent`` (the ratio's change per 0.1 of the term) and its interval ``lower`` /
        ``upper``.
    params, cov
        The intercept's and terms' coefficients (per unit of the term, on the log ratio) and their covariance.
    residual_sd, population_sd
        The standard deviations of a data set's log ratio within a population and of the populations' intercepts.
    level
        The intervals' confidence level.
    """

    model: str
    data: pd.DataFrame
    terms: tuple[str, ...]
    effects: pd.DataFrame
    params: pd.Series
    cov: pd.DataFrame
    residual_sd: float
    population_sd: float
    level: float

    @property
    def populations(self) -> int:
        """How many populations (replicates) the data sets come from."""
        return int(self.data["replicate"].nunique())

    def predict(self, points: pd.DataFrame) -> pd.DataFrame:
        """The mean population's predicted ratio at `points` (a column per term; a term the fit lacks is ignored):
        ``percent`` (the test MSE's change against the best kernel model), its interval ``lower`` / ``upper`` and
        the ``judgement``.

        Returns
        -------
        pandas.DataFrame
            `points` with those columns added.
        """
        names = ["Intercept", *self.terms]
        design = np.column_stack([np.ones(len(points)), *(points[t].to_numpy(float) for t in self.terms)])
        mean = design @ self.params[names].to_numpy()
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, self.cov.loc[names, names].to_numpy(), design))
        half = stats.norm.ppf(0.5 + self.level / 2) * se
        out = points.copy()
        out["percent"], out["lower"], out["upper"] = (100 * np.expm1(v) for v in (mean, mean - half, mean + half))
        out["judgement"] = [judge(lo, hi) for lo, hi in zip(out["lower"], out["upper"], strict=True)]
        return out

    def curves(self) -> pd.DataFrame:
        """:meth:`predict` along each share the study varies (the other at zero), from none to the largest a data set
        realised, at each heritability of the study: ``kind`` (the share's term), ``share`` and ``h2``."""
        frames = []
        for kind in (t for t in ("dominance_share", "epistatic_share") if t in self.terms):
            share = np.linspace(0.0, self.data[kind].max(), _STEPS)
            for h2 in sorted(self.data["h2"].unique()):
                points = pd.DataFrame({"dominance_share": 0.0, "epistatic_share": 0.0, "h2": h2, "share": share})
                points[kind] = share
                frames.append(self.predict(points).assign(kind=kind))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def pooled_fit(study: pd.DataFrame, model: str, *, level: float = 0.95) -> PooledFit | None:
    """Fit the pooled model of `model` over every data set of `study` (the module's model).

    Parameters
    ----------
    study
        A study's tidy table (:data:`cnngwp.runs.study.STUDY_COLUMNS`).
    model
        The CNN-based model judged.
    level
        The intervals' confidence level.

    Returns
    -------
    PooledFit or None
        None where the study has data sets of fewer than :data:`MIN_POPULATIONS` populations, or fewer data sets
        than the fit has coefficients plus three.
    """
    shares = dataset_shares(study)[["dataset", "dominance_share", "epistatic_share"]]
    data = kernel_log_ratios(study, model).merge(shares, on="dataset", validate="one_to_one")
    terms = tuple(t for t in POOLED_TERMS if np.ptp(data[t].to_numpy(float)) > 1e-9)
    if data["replicate"].nunique() < MIN_POPULATIONS or len(data) < len(terms) + 4:
        return None
    scaled = data.assign(response=_UNIT * data["log_ratio"])
    mixed = smf.mixedlm("response ~ " + " + ".join(["1", *terms]), scaled, groups=scaled["replicate"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = mixed.fit(reml=True, method=["powell"])
    # With the populations' variance estimated at zero the fit is least squares, as it should be: Powell's
    # derivative-free search reaches that boundary, where the gradient methods fail on a singular matrix, and
    # statsmodels then warns that the MLE is on the boundary and that the Hessian is not positive definite (its
    # variance entry is flat there). Those warnings are expected at the boundary only; any other is passed on.
    boundary = float(result.cov_re.iloc[0, 0]) < _BOUNDARY
    for caught_warning in caught:
        if not (boundary and issubclass(caught_warning.category, ConvergenceWarning)):
            warnings.warn_explicit(caught_warning.message, caught_warning.category, caught_warning.filename,
                                   caught_warning.lineno)
    names = ["Intercept", *terms]
    params = result.fe_params[names] / _UNIT
    cov = result.cov_params().loc[names, names] / _UNIT**2
    half = stats.norm.ppf(0.5 + level / 2) * np.sqrt(np.diag(cov))[1:]
    effects = pd.DataFrame({"term": list(terms), "percent": [_per_step(params[t]) for t in terms],
                            "lower": [_per_step(b) for b in params[list(terms)] - half],
                            "upper": [_per_step(b) for b in params[list(terms)] + half]})
    return PooledFit(model, data, terms, effects, params, cov, float(np.sqrt(result.scale)) / _UNIT,
                     float(np.sqrt(result.cov_re.iloc[0, 0])) / _UNIT, level)


def pooled_fits(study: pd.DataFrame, *, level: float = 0.95) -> dict[str, PooledFit | None]:
    """:func:`pooled_fit` of every CNN-based model (:data:`~cnngwp.reports.tables.CNN_BASED_MODELS`) in `study`.

    Parameters
    ----------
    study
        A study's tidy table (:data:`cnngwp.runs.study.STUDY_COLUMNS`).
    level
        The intervals' confidence level.

    Returns
    -------
    dict
        Model -> its :class:`PooledFit`, or None where the study is too small for it.
    """
    present = set(study["model"])
    return {model: pooled_fit(study, model, level=level) for model in CNN_BASED_MODELS if model in present}


def pooled_markdown(fits: dict[str, PooledFit | None]) -> str:
    """:func:`pooled_answer` of each model of :func:`pooled_fits`, a paragraph each (one sentence where the study is
    too small for any).

    Parameters
    ----------
    fits
        :func:`pooled_fits`'s result.

    Returns
    -------
    str
        Markdown.
    """
    if all(fit is None for fit in fits.values()):
        return (f"Too few data sets for the pooled model of any model (it needs data sets of at least "
                f"{MIN_POPULATIONS} populations).")
    return "\n\n".join(pooled_answer(fit, model) for model, fit in fits.items())


def _ranges(curve: pd.DataFrame, name: str) -> str:
    """Where along one share the judgement holds, e.g. ``undecided up to a dominance share of 0.12, worse from there
    to 0.51`` (a change of judgement placed halfway between the shares read)."""
    runs = [run for _, run in curve.groupby((curve["judgement"] != curve["judgement"].shift()).cumsum(), sort=False)]
    top = curve["share"].iloc[-1]
    if len(runs) == 1:
        return f"{runs[0]['judgement'].iloc[0]} at every {name} up to {top:.2f}"
    edges = [(a["share"].iloc[-1] + b["share"].iloc[0]) / 2 for a, b in itertools.pairwise(runs)]
    article = "an" if name[0] in "aeiou" else "a"
    parts = []
    for index, (run, low, high) in enumerate(zip(runs, [0.0, *edges], [*edges, top], strict=True)):
        judgement = run["judgement"].iloc[0]
        where = f"{article} {name} of " if index == 0 else ""
        if f"{low:.2f}" == f"{high:.2f}":  # narrower than the shares as printed: one share, not a range
            parts.append(f"{judgement} at {where}{high:.2f}")
        elif index == 0:
            parts.append(f"{judgement} up to {where}{high:.2f}")
        else:
            parts.append(f"{judgement} from {low:.2f} to {high:.2f}")
    return ", ".join(parts)


def pooled_answer(fit: PooledFit | None, model: str = "") -> str:
    """The pooled answer for one model in generated sentences (Markdown): its effects with their intervals, then
    where it is better than, equivalent to or worse than the best kernel model.

    Parameters
    ----------
    fit
        :func:`pooled_fit`'s result.
    model
        The model's name, for a study too small to fit (`fit` None).

    Returns
    -------
    str
        One paragraph.
    """
    if fit is None:
        return (f"**{model}.** Too few data sets for the pooled model (it needs data sets of at least "
                f"{MIN_POPULATIONS} populations).")
    pct = round(fit.level * 100)
    effects = "; ".join(f"per 0.1 more {POOLED_TERMS[e.term]}, {signed(e.percent)} % ({pct} % interval "
                        f"{signed(e.lower)} % to {signed(e.upper)} %)" for e in fit.effects.itertuples())
    where = [f"at h² {h2:g}, " + " and ".join(_ranges(curve, POOLED_TERMS[kind])
                                              for kind, curve in at.groupby("kind", sort=False))
             for h2, at in fit.curves().groupby("h2", sort=True)]
    mean_h2 = float(fit.data["h2"].mean())
    first = fit.predict(pd.DataFrame({"dominance_share": [0.0], "epistatic_share": [0.0], "h2": [mean_h2]})).iloc[0]
    return (f"**{fit.model}**, pooled over {len(fit.data)} data sets of {fit.populations} populations: against the "
            f"best kernel model, its test MSE changes {effects or 'with no term the study varies'}. Without "
            f"non-additive variance, at the study's mean h² ({mean_h2:.2g}), it is {signed(first['percent'])} % "
            f"({signed(first['lower'])} % to {signed(first['upper'])} %): **{first['judgement']}**. Over what the "
            f"study covers, it is " + "; ".join(where) + ".")


def replicates_for_precision(fit: PooledFit, scenarios: pd.DataFrame, *, target: float = EQUIVALENCE_MARGIN) -> int:
    """How many replicates (populations) of a grid with `scenarios` would give the pooled model of `fit` (a pilot
    study's) a predicted ratio known within ±`target` percent (the 95 % half-width) at every scenario, at the pilot's
    spread within and between populations.

    Each population of the planned grid carries every scenario once, so the fixed effects' covariance is that of
    one population divided by the replicates. The default target is the equivalence margin: a grid that meets it
    can show a model equivalent to the best kernel model wherever it is.

    Parameters
    ----------
    fit
        The pilot's pooled fit (its residual and population standard deviations are the planning spread).
    scenarios
        One row per scenario of the planned grid, a column per term of `fit` (the shares a scenario is expected to
        realise: the pilot's means for its architecture).
    target
        The largest half-width, in percent.

    Returns
    -------
    int
        The replicates, at least 2.
    """
    design = np.column_stack([np.ones(len(scenarios)), scenarios[list(fit.terms)].to_numpy(float)])
    within = fit.population_sd**2 * np.ones((len(design), len(design))) + fit.residual_sd**2 * np.eye(len(design))
    per_population = np.linalg.inv(design.T @ np.linalg.solve(within, design))  # covariance with one population
    variance = np.einsum("ij,jk,ik->i", design, per_population, design)
    z = stats.norm.ppf(0.5 + fit.level / 2)
    return max(2, int(np.ceil(z**2 * variance.max() / np.log1p(target / 100) ** 2)))


def planned_replicates(pilot: pd.DataFrame, heritabilities, models, *, target: float = EQUIVALENCE_MARGIN) -> int:
    """The replicates a grid of the `pilot` study's architectures at `heritabilities` needs for every one of `models`
    (:func:`replicates_for_precision`, each scenario at the shares its architecture realised in the pilot, on
    average): how the full grid's replicates are fixed from the default grid.

    Parameters
    ----------
    pilot
        The pilot study's tidy table.
    heritabilities
        The planned grid's heritabilities.
    models
        The CNN-based models whose pooled answers must meet the target.
    target
        The largest half-width of a scenario's predicted ratio, in percent.

    Returns
    -------
    int
        The largest number of replicates any model needs.
    """
    shares = dataset_shares(pilot).groupby("architecture", sort=False)[["dominance_share", "epistatic_share"]].mean()
    scenarios = pd.DataFrame([{**row, "h2": h2} for row in shares.to_dict("records") for h2 in heritabilities])
    fits = [fit for fit in (pooled_fit(pilot, model) for model in models) if fit is not None]
    return max(replicates_for_precision(fit, scenarios, target=target) for fit in fits)
