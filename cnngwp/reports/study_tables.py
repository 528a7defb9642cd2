"""Reading a study table (:func:`cnngwp.runs.study.run_study`): test MSE relative to GBLUP, generated verdicts and
the paper protocol's optimism.

Every comparison is paired: two models on the same data set (the same animals and
phenotypes). Comparisons are made on the log of the test-MSE ratio, whose scale does not
change from replicate to replicate as a raw MSE difference's does (a replicate with a
noisier test generation has larger MSEs for every model); intervals are t intervals of its
mean over the replicates of a scenario (an architecture at one heritability), shown back on
the ratio's scale or as a percentage. The honest comparisons leave out the CNN ensemble fitted under
the paper protocol, which only :func:`protocol_optimism` reads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cnngwp.models.names import CNN_ENSEMBLE, KERNEL_MODELS, PAPER_PROTOCOL_CNN
from cnngwp.reports.tables import CNN_BASED_MODELS, t_half_width, t_interval

__all__ = ["EQUIVALENCE_MARGIN", "JUDGEMENTS", "MAX_REPLICATES", "NO_INTERVAL", "POOLED_TERMS", "dataset_shares",
           "honest_models", "judge", "kernel_log_ratios", "protocol_optimism", "protocol_sentence", "relative_mse",
           "relative_mse_table", "replicates_to_decide", "scenario_components", "signed", "study_verdicts",
           "verdict_markdown", "verdict_summary"]

#: The judgements a verdict gives a model against the best kernel model, by where its interval lies (:func:`judge`).
JUDGEMENTS = ("better", "equivalent", "undecided", "worse")
#: A model is equivalent to the best kernel model where the whole interval of its test MSE's change lies within
#: ± this many percent: a margin written here before any study's data were seen, not fitted to them.
EQUIVALENCE_MARGIN = 2.0
#: The judgement of a scenario with one replicate so far (no interval, so no verdict), as in a grid built up in chunks.
NO_INTERVAL = "no interval yet"
#: A data set's terms in the pooled model (:mod:`cnngwp.reports.pooled`), with how the answer names them.
POOLED_TERMS = {"dominance_share": "dominance share", "epistatic_share": "epistatic share", "h2": "h²"}
_SCENARIO = ["architecture", "h2"]


def judge(lower: float, upper: float, *, margin: float = EQUIVALENCE_MARGIN) -> str:
    """The judgement (:data:`JUDGEMENTS`) of an interval, in percent, of how much higher a model's test MSE is than
    the best kernel model's: **equivalent** where it lies within ±`margin` (a difference too small to matter,
    decided or not), else **better** or **worse** where it excludes zero, else **undecided**; :data:`NO_INTERVAL`
    from one replicate."""
    if np.isnan(lower) or np.isnan(upper):
        return NO_INTERVAL
    if -margin <= lower and upper <= margin:
        return "equivalent"
    return "better" if upper < 0 else "worse" if lower > 0 else "undecided"


def honest_models(study: pd.DataFrame) -> pd.DataFrame:
    """The rows of `study` fitted under the honest protocol (every model but the paper protocol's CNN)."""
    return study[study["model"] != PAPER_PROTOCOL_CNN]


def _percent(log_ratio: float) -> float:
    """A log ratio as the percentage change of the ratio (negative: a lower test MSE)."""
    return float(100 * np.expm1(log_ratio))


def signed(percent: float) -> str:
    """A percentage with its sign, to one decimal (a change that rounds to zero reads +0.0, not -0.0)."""
    return f"{round(percent, 1) + 0.0:+.1f}"


def _scenario_order(table: pd.DataFrame) -> pd.DataFrame:
    order = {a: i for i, a in enumerate(dict.fromkeys(table["architecture"]))}
    return table.sort_values(["h2", "architecture"], key=lambda c: c.map(order) if c.name == "architecture" else c)


def relative_mse(study: pd.DataFrame, *, reference: str = "GBLUP", level: float = 0.95) -> pd.DataFrame:
    """Per scenario and honest model: test MSE over `reference`'s on the same data set, over the replicates.

    Parameters
    ----------
    study
        A study's tidy table (:data:`cnngwp.runs.study.STUDY_COLUMNS`, ``study.csv``).
    reference
        The model every other is divided by.
    level
        The intervals' confidence level.

    Returns
    -------
    pandas.DataFrame
        ``architecture``, ``h2``, ``model``, ``replicates``, ``mse`` (mean), ``ratio`` (the
        geometric mean of the per-replicate ratios) with the t interval of the mean log ratio,
        ``lower`` / ``upper``, on the ratio's scale (below 1: better than `reference`).
    """
    study = honest_models(study)
    base = study.loc[study["model"] == reference, ["dataset", "mse"]].rename(columns={"mse": "reference_mse"})
    table = study.merge(base, on="dataset", validate="many_to_one")
    table["log_ratio"] = np.log(table["mse"] / table["reference_mse"])
    rows = []
    for (architecture, h2, model), group in table.groupby([*_SCENARIO, "model"], sort=False):
        mean, lower, upper = t_interval(group["log_ratio"], level=level)
        rows.append({"architecture": architecture, "h2": h2, "model": model, "replicates": len(group),
                     "mse": float(group["mse"].mean()), "ratio": float(np.exp(mean)), "lower": float(np.exp(lower)),
                     "upper": float(np.exp(upper))})
    return _scenario_order(pd.DataFrame(rows)).reset_index(drop=True)


def relative_mse_table(relative: pd.DataFrame, *, reference: str = "GBLUP") -> pd.DataFrame:
    """:func:`relative_mse` for reading: one row per scenario, one column per model, each cell
    ``ratio (lower to upper)``.

    Parameters
    ----------
    relative
        :func:`relative_mse`'s table.
    reference
        The model the ratios are to (left out of the columns).

    Returns
    -------
    pandas.DataFrame
        ``architecture``, ``h²`` and one column per model, as text.
    """
    table = relative[relative["model"] != reference].copy()
    table["cell"] = [f"{r:.3f} ({lo:.2f} to {hi:.2f})" for r, lo, hi in zip(table["ratio"], table["lower"],
                                                                          table["upper"], strict=True)]
    wide = table.pivot(index=_SCENARIO, columns="model", values="cell")
    wide = wide.loc[list(dict.fromkeys(zip(table["architecture"], table["h2"], strict=True))),
                    list(dict.fromkeys(table["model"]))]
    wide = wide.reset_index().rename_axis(columns=None)
    wide["h2"] = wide["h2"].map(lambda h: f"{h:g}")
    return wide.rename(columns={"h2": "h²"})


def _listed(values: pd.Series) -> str:
    """Each value with how many replicates chose it, e.g. ``0.25 (4), 1.5 (2)`` (NaN, where a model was not
    fitted, left out)."""
    return ", ".join(f"{v:g} ({n})" for v, n in values.dropna().value_counts().sort_index().items())


def dataset_shares(study: pd.DataFrame) -> pd.DataFrame:
    """Per data set: ``dataset``, its scenario, ``replicate``, ``h2_realised`` and the ``dominance_share`` and
    ``epistatic_share`` of the genetic variance it realised in the training generations.

    Parameters
    ----------
    study
        A study's tidy table (:data:`cnngwp.runs.study.STUDY_COLUMNS`, ``study.csv``).

    Returns
    -------
    pandas.DataFrame
        One row per data set.
    """
    per_dataset = study.drop_duplicates("dataset")
    genetic = per_dataset["additive"] + per_dataset["dominance"] + per_dataset["epistatic"]
    return pd.DataFrame({"dataset": per_dataset["dataset"], "architecture": per_dataset["architecture"],
                         "h2": per_dataset["h2"], "replicate": per_dataset["replicate"],
                         "h2_realised": per_dataset["h2_realised"],
                         # a least-squares remainder can be -1e-16
                         "dominance_share": (per_dataset["dominance"] / genetic).clip(lower=0.0),
                         "epistatic_share": (per_dataset["epistatic"] / genetic).clip(lower=0.0)})


def scenario_components(study: pd.DataFrame) -> pd.DataFrame:
    """Per scenario: the realised heritability and the dominance and epistatic shares of the genetic variance
    in the training generations, averaged over replicates, and how often the CNNs chose each lambda.

    Parameters
    ----------
    study
        A study's tidy table (:data:`cnngwp.runs.study.STUDY_COLUMNS`, ``study.csv``).

    Returns
    -------
    pandas.DataFrame
        ``architecture``, ``h2``, ``replicates``, ``h2_realised``, ``dominance_share``, ``epistatic_share``,
        ``non_additive_share`` and the lambdas chosen per CNN-based model.
    """
    per_dataset = study.drop_duplicates("dataset").merge(dataset_shares(study)[["dataset", "dominance_share",
                                                                                 "epistatic_share"]], on="dataset")
    table = per_dataset.groupby(_SCENARIO, sort=False).agg(
        replicates=("dataset", "size"), h2_realised=("h2_realised", "mean"),
        dominance_share=("dominance_share", "mean"), epistatic_share=("epistatic_share", "mean"),
        **{c: (c, _listed) for c in ("cnn_l1", "genotypic_l1", "backbone_l1", "paper_l1")
           if c in per_dataset}).reset_index()
    table["non_additive_share"] = table["dominance_share"] + table["epistatic_share"]
    return _scenario_order(table).reset_index(drop=True)


#: The most replicates :func:`replicates_to_decide` looks for.
MAX_REPLICATES = 1000


def replicates_to_decide(log_ratios, *, level: float = 0.95) -> int | None:
    """How many replicates a study like this one would need for the t interval of the mean of `log_ratios` to
    exclude zero, if a new study saw the same mean and spread: the smallest n with
    t(n - 1) · SD / √n below the absolute mean. A planning figure from a pilot study, not a test.

    None where it cannot be said: fewer than two replicates, no mean difference, or more than
    :data:`MAX_REPLICATES` needed.
    """
    values = np.asarray(log_ratios, dtype=np.float64)
    if len(values) < 2 or values.mean() == 0:
        return None
    mean, sd = abs(float(values.mean())), float(values.std(ddof=1))
    n = np.arange(2, MAX_REPLICATES + 1)
    decided = n[t_half_width(sd, n, level=level) < mean]
    return int(decided[0]) if len(decided) else None


def _scenario_means(study: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and honest model: the mean test MSE over its replicates (scenario rows, model columns)."""
    return honest_models(study).pivot_table(index=_SCENARIO, columns="model", values="mse", sort=False)


def _best_kernel(means: pd.Series) -> str:
    """The kernel model (:data:`~cnngwp.models.names.KERNEL_MODELS`) with the lowest mean test MSE of a scenario's
    `means` (studies before EGBLUP lack it)."""
    return str(means[[m for m in KERNEL_MODELS if m in means]].idxmin())


def kernel_log_ratios(study: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per data set: the log of `model`'s test MSE over that of its scenario's best kernel model (the kernel model
    with the lowest mean test MSE over the scenario's replicates).

    Parameters
    ----------
    study
        A study's tidy table (:data:`cnngwp.runs.study.STUDY_COLUMNS`, ``study.csv``).
    model
        The model compared.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``architecture``, ``h2``, ``replicate``, ``kernel_model`` and ``log_ratio``.
    """
    kernels = _scenario_means(study).apply(_best_kernel, axis=1).rename("kernel_model").reset_index()
    honest = honest_models(study)
    kernel_mse = honest[["dataset", "model", "mse"]].rename(columns={"model": "kernel_model", "mse": "kernel_mse"})
    table = (honest.loc[honest["model"] == model, ["dataset", *_SCENARIO, "replicate", "mse"]]
             .merge(kernels, on=_SCENARIO).merge(kernel_mse, on=["dataset", "kernel_model"], validate="one_to_one"))
    out = table[["dataset", *_SCENARIO, "replicate", "kernel_model"]].assign(
        log_ratio=np.log(table["mse"] / table["kernel_mse"]))
    return _scenario_order(out).reset_index(drop=True)


def study_verdicts(study: pd.DataFrame, *, cnn: str = CNN_ENSEMBLE, level: float = 0.95) -> pd.DataFrame:
    """Per scenario: the best honest model, and `cnn` against the best kernel model, from the numbers.

    The best model has the lowest mean test MSE over the replicates; the best kernel model
    is the best of :data:`~cnngwp.models.names.KERNEL_MODELS` by the same rule. ``percent`` is how much
    higher (positive) or lower `cnn`'s test MSE is than that model's on the same data sets, from the mean log
    ratio, with the paired t interval ``lower`` / ``upper`` over replicates; ``judgement`` is one of :data:`JUDGEMENTS`
    (:func:`judge`) and ``verdict`` one generated sentence.

    Parameters
    ----------
    study
        A study's tidy table (:data:`cnngwp.runs.study.STUDY_COLUMNS`, ``study.csv``).
    cnn
        The model judged (a CNN-based model's name).
    level
        The intervals' confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per scenario: the best model, the best kernel model, ``percent``, ``lower``, ``upper``,
        ``judgement`` and ``verdict``, among others.
    """
    means = _scenario_means(study)
    rows = []
    for (architecture, h2), group in kernel_log_ratios(study, cnn).groupby(_SCENARIO, sort=False):
        scenario = means.loc[(architecture, h2)]
        best, kernel = str(scenario.idxmin()), group["kernel_model"].iloc[0]
        mean, lower, upper = t_interval(group["log_ratio"], level=level)
        needed = replicates_to_decide(group["log_ratio"], level=level)
        judgement = judge(_percent(lower), _percent(upper))
        interval = ("one replicate" if len(group) == 1 else f"{round(level * 100)} % t interval "
                    f"{signed(_percent(lower))} % to {signed(_percent(upper))} % over {len(group)} replicates")
        verdict = (f"{architecture}, h² {h2:g}: best model {best} (mean test MSE {scenario[best]:.2f}, GBLUP "
                   f"{scenario['GBLUP']:.2f}); {cnn} against {kernel}, the best kernel model: test MSE "
                   f"{signed(_percent(mean))} % ({interval}): **{judgement}**.")
        if judgement == "undecided" and needed:
            verdict += (f" At the spread seen, a difference of this size would need about {needed} replicates to be "
                        "decided.")
        elif judgement == "undecided":
            verdict += (f" At the spread seen, no study of up to {MAX_REPLICATES} replicates would decide a difference "
                        "of this size.")
        rows.append({"architecture": architecture, "h2": h2, "best_model": best, "best_mse": float(scenario[best]),
                     "kernel_model": kernel, "percent": _percent(mean), "lower": _percent(lower),
                     "upper": _percent(upper), "replicates": len(group), "judgement": judgement,
                     "replicates_needed": needed, "verdict": verdict})
    return _scenario_order(pd.DataFrame(rows)).reset_index(drop=True)


def verdict_summary(study: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """For each model that contains a CNN (:data:`cnngwp.reports.tables.CNN_BASED_MODELS`, those in `study`): in how
    many scenarios it is better than, equivalent to, undecided against, or worse than the best kernel model
    (:func:`study_verdicts`), and, where some scenario has one replicate so far, in how many it has
    :data:`NO_INTERVAL`; the counts add up to ``scenarios``.

    Parameters
    ----------
    study
        A study's tidy table (:data:`cnngwp.runs.study.STUDY_COLUMNS`, ``study.csv``).
    level
        The intervals' confidence level.

    Returns
    -------
    pandas.DataFrame
        ``model``, one count column per judgement (:data:`JUDGEMENTS`, then :data:`NO_INTERVAL` where it
        occurs) and ``scenarios``.
    """
    counts = {model: study_verdicts(study, cnn=model, level=level)["judgement"].value_counts()
              for model in CNN_BASED_MODELS if model in set(study["model"])}
    columns = [*JUDGEMENTS, *[NO_INTERVAL] * any(NO_INTERVAL in judged for judged in counts.values())]
    rows = [{"model": model, **{j: int(judged.get(j, 0)) for j in columns}, "scenarios": int(judged.sum())}
            for model, judged in counts.items()]
    return pd.DataFrame(rows, columns=["model", *columns, "scenarios"])


def verdict_markdown(verdicts: pd.DataFrame) -> str:
    """The verdicts of one model as a Markdown list, closed by a count of how often each model was best.

    Parameters
    ----------
    verdicts
        :func:`study_verdicts`'s table.

    Returns
    -------
    str
        Markdown.
    """
    lines = [f"- {v}" for v in verdicts["verdict"]]
    counts = ", ".join(f"{model} {n}" for model, n in verdicts["best_model"].value_counts().items())
    lines.append(f"\nBest model per scenario ({len(verdicts)} scenarios): {counts}.")
    return "\n".join(lines)


def protocol_optimism(study: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """The CNN ensemble under the paper protocol against the same model and budget under the honest protocol.

    Per scenario, and over every data set that has both (``architecture`` "all"): the mean test MSE under each
    protocol, and ``optimism``, the percentage by which the paper protocol's test MSE is lower, from the mean
    log ratio, with its paired t interval ``lower`` / ``upper`` over the data sets. Also each protocol's gain
    over GBLUP on the same data sets (percent lower test MSE): the part of the paper protocol's gain that the
    honest protocol does not confirm is what the test rows manufactured.

    Parameters
    ----------
    study
        A study's tidy table (:data:`cnngwp.runs.study.STUDY_COLUMNS`, ``study.csv``).
    level
        The intervals' confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per scenario and a last over every data set; empty without paper-protocol rows.
    """
    wide = study.pivot_table(index=["dataset", *_SCENARIO], columns="model", values="mse").reset_index()
    if PAPER_PROTOCOL_CNN not in wide:
        return pd.DataFrame()
    wide = wide.dropna(subset=[PAPER_PROTOCOL_CNN])  # a grid fits it on its first replicates only

    def row(architecture, h2, group) -> dict:
        mean, lower, upper = t_interval(np.log(group[PAPER_PROTOCOL_CNN] / group[CNN_ENSEMBLE]), level=level)
        gain = {name: -_percent(float(np.log(group[column] / group["GBLUP"]).mean()))
                for name, column in (("honest_gain", CNN_ENSEMBLE), ("paper_gain", PAPER_PROTOCOL_CNN))}
        return {"architecture": architecture, "h2": h2, "data_sets": len(group),
                "honest_mse": float(group[CNN_ENSEMBLE].mean()), "paper_mse": float(group[PAPER_PROTOCOL_CNN].mean()),
                "optimism": -_percent(mean), "lower": -_percent(upper), "upper": -_percent(lower), **gain}

    rows = [row(a, h, g) for (a, h), g in wide.groupby(_SCENARIO, sort=False)]
    table = _scenario_order(pd.DataFrame(rows)).reset_index(drop=True)
    return pd.concat([table, pd.DataFrame([row("all", np.nan, wide)])], ignore_index=True)


def protocol_sentence(optimism: pd.DataFrame, *, level: float = 0.95) -> str:
    """What :func:`protocol_optimism` found over every data set, in one sentence.

    Parameters
    ----------
    optimism
        :func:`protocol_optimism`'s table.
    level
        Its intervals' confidence level.

    Returns
    -------
    str
        The sentence, or "" without paper-protocol rows.
    """
    if optimism.empty:
        return ""
    a = optimism.iloc[-1]
    interval = (f"{round(level * 100)} % t interval {a['lower']:.1f} % to {a['upper']:.1f} % over {a['data_sets']} "
                f"data sets")
    return (f"Fitted under the paper protocol (λ and epochs chosen on the test generation), the same CNN ensemble "
            f"had a test MSE {a['optimism']:.1f} % lower than under the honest protocol ({interval}; mean "
            f"{a['paper_mse']:.2f} against {a['honest_mse']:.2f}): it claimed a gain over GBLUP of "
            f"{a['paper_gain']:+.1f} % where the honest protocol measured {a['honest_gain']:+.1f} %.")
