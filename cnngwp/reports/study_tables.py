"""Reading a study table (:func:`cnngwp.runs.study.run_study`): test MSE relative to GBLUP, and generated verdicts.

Every comparison is paired: two models on the same data set (the same animals and
phenotypes), and intervals are t intervals over the replicates of a scenario (an
architecture at one heritability).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["KERNEL_MODELS", "relative_mse", "relative_mse_table", "scenario_components", "study_verdicts",
           "verdict_markdown"]

#: The non-additive kernel models the CNN is held against.
KERNEL_MODELS = ("GDBLUP", "EGBLUP", "RKHS")
_SCENARIO = ["architecture", "h2"]


def _t_interval(values: np.ndarray, level: float) -> tuple[float, float, float]:
    """Mean and t interval of `values` (NaN bounds with fewer than two values)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def _scenario_order(table: pd.DataFrame) -> pd.DataFrame:
    order = {a: i for i, a in enumerate(dict.fromkeys(table["architecture"]))}
    return table.sort_values(["h2", "architecture"], key=lambda c: c.map(order) if c.name == "architecture" else c)


def relative_mse(study: pd.DataFrame, *, reference: str = "GBLUP", level: float = 0.95) -> pd.DataFrame:
    """Per scenario and model: test MSE over `reference`'s on the same data set, averaged over replicates.

    Returns
    -------
    pandas.DataFrame
        ``architecture``, ``h2``, ``model``, ``replicates``, ``mse`` (mean), ``ratio`` (mean of
        the per-replicate ratios) with its t interval ``lower`` / ``upper`` (below 1: better
        than `reference`).
    """
    base = study.loc[study["model"] == reference, ["dataset", "mse"]].rename(columns={"mse": "reference_mse"})
    table = study.merge(base, on="dataset", validate="many_to_one")
    table["ratio"] = table["mse"] / table["reference_mse"]
    rows = []
    for (architecture, h2, model), group in table.groupby([*_SCENARIO, "model"], sort=False):
        ratio, lower, upper = _t_interval(group["ratio"], level)
        rows.append({"architecture": architecture, "h2": h2, "model": model, "replicates": len(group),
                     "mse": float(group["mse"].mean()), "ratio": ratio, "lower": lower, "upper": upper})
    return _scenario_order(pd.DataFrame(rows)).reset_index(drop=True)


def relative_mse_table(relative: pd.DataFrame, *, reference: str = "GBLUP") -> pd.DataFrame:
    """:func:`relative_mse` for reading: one row per scenario, one column per model (`reference` left out), each
    cell ``ratio (lower to upper)``."""
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
    return ", ".join(f"{x:g}" for x in values)


def scenario_components(study: pd.DataFrame) -> pd.DataFrame:
    """Per scenario: the realised heritability and the dominance and epistatic shares of the genetic variance
    in the training generations, averaged over replicates, and the lambdas the CNNs chose per replicate."""
    per_dataset = study.drop_duplicates("dataset").assign(
        genetic=lambda t: t["additive"] + t["dominance"] + t["epistatic"],
        dominance_share=lambda t: (t["dominance"] / t["genetic"]).clip(lower=0.0),  # a least-squares remainder
        epistatic_share=lambda t: (t["epistatic"] / t["genetic"]).clip(lower=0.0))  # can be -1e-16
    table = per_dataset.groupby(_SCENARIO, sort=False).agg(
        replicates=("dataset", "size"), h2_realised=("h2_realised", "mean"),
        dominance_share=("dominance_share", "mean"), epistatic_share=("epistatic_share", "mean"),
        **{c: (c, _listed) for c in ("cnn_l1", "genotypic_l1", "backbone_l1") if c in per_dataset}).reset_index()
    table["non_additive_share"] = table["dominance_share"] + table["epistatic_share"]
    return _scenario_order(table).reset_index(drop=True)


def study_verdicts(study: pd.DataFrame, *, cnn: str = "CNN ensemble", level: float = 0.95) -> pd.DataFrame:
    """Per scenario: the best model, and the CNN ensemble against the best kernel model, from the numbers.

    The best model has the lowest mean test MSE over the replicates; the best kernel model
    is the better of :data:`KERNEL_MODELS` by the same rule. ``difference`` is the CNN's test
    MSE minus that model's on the same data sets, with its paired t interval over replicates;
    ``verdict`` is one generated sentence.
    """
    wide = study.pivot_table(index=[*_SCENARIO, "replicate"], columns="model", values="mse").reset_index()
    rows = []
    for (architecture, h2), group in wide.groupby(_SCENARIO, sort=False):
        means = group.drop(columns=[*_SCENARIO, "replicate"]).mean()
        best = str(means.idxmin())
        kernel = str(means[[m for m in KERNEL_MODELS if m in means]].idxmin())  # studies before EGBLUP lack it
        difference, lower, upper = _t_interval(group[cnn] - group[kernel], level)
        if np.isnan(lower):
            judgement = "one replicate: no interval"
        elif upper < 0:
            judgement = f"the {cnn} is better"
        elif lower > 0:
            judgement = f"{kernel} is better"
        else:
            judgement = "no clear difference"
        percent = f"{round(level * 100)} %"
        verdict = (f"{architecture}, h² {h2:g}: best model {best} (mean test MSE {means[best]:.2f}, GBLUP "
                   f"{means['GBLUP']:.2f}); {cnn} minus {kernel}, the better kernel model: {difference:+.2f} "
                   f"({percent} t interval {lower:+.2f} to {upper:+.2f} over {len(group)} replicates): {judgement}.")
        rows.append({"architecture": architecture, "h2": h2, "best_model": best, "best_mse": float(means[best]),
                     "kernel_model": kernel, "difference": difference, "lower": lower, "upper": upper,
                     "replicates": len(group), "judgement": judgement, "verdict": verdict})
    return _scenario_order(pd.DataFrame(rows)).reset_index(drop=True)


def verdict_markdown(verdicts: pd.DataFrame, *, cnn: str = "CNN ensemble") -> str:
    """The verdicts as a Markdown list, closed by a count of how often each model was best and how often the CNN
    ensemble beat, tied with or lost to the better kernel model."""
    lines = [f"- {v}" for v in verdicts["verdict"]]
    best = verdicts["best_model"].value_counts()
    counts = ", ".join(f"{model} {n}" for model, n in best.items())
    judged = verdicts["judgement"].value_counts()
    wins = int(judged.get(f"the {cnn} is better", 0))
    ties = int(judged.get("no clear difference", 0))
    losses = int(verdicts["judgement"].str.endswith(" is better").sum()) - wins
    lines.append(f"\nBest model per scenario ({len(verdicts)} scenarios): {counts}. Against the better kernel model "
                 f"the {cnn} was better in {wins}, not clearly different in {ties} and worse in {losses}.")
    return "\n".join(lines)
