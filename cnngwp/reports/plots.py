"""Figures of the book, each a function of fitted objects returning a matplotlib Axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from cnngwp.data.simulate import DOMINANCE_VALUES
from cnngwp.models.names import BACKBONE_KERNEL, BASELINE_NAMES, STACK, backbone_name
from cnngwp.reports.comparison import top_rows
from cnngwp.reports.study_tables import EQUIVALENCE_MARGIN, POOLED_TERMS

__all__ = ["ADDITIVE_KINDS", "OBSERVED_VS_PREDICTED", "plot_dominance_values", "plot_max_pooling",
           "plot_observed_vs_predicted", "plot_paired_differences", "plot_phenotypes_by_generation",
           "plot_pooled", "plot_prediction_intervals", "plot_search_points", "plot_search_trace", "plot_selection",
           "plot_snp_effects", "plot_study", "plot_training_curves", "plot_weight_map",
           "true_qtl_weight_positions"]

#: Kinds marked as additive (red +) in the weight map, as in the paper's Figure 1.
ADDITIVE_KINDS = ("additive-major", "epistatic")
#: The panels of :func:`plot_observed_vs_predicted`, by prediction column: every baseline, the CNN ensemble
#: (``prediction``), the backbone model and the stack.
OBSERVED_VS_PREDICTED = (*BASELINE_NAMES, "prediction", backbone_name(BACKBONE_KERNEL), STACK)


def true_qtl_weight_positions(truth: pd.DataFrame, n_weights: int, n_snps: int) -> pd.DataFrame:
    """Weight index of each marked causal locus: SNP index × weights per SNP (the paper's factor).

    Marked are the major additive loci, the first locus of each epistatic pair
    (its additive part) and the three dominance loci.
    """
    factor = n_weights / n_snps
    epistatic = truth[truth["kind"] == "epistatic"]
    first_of_pair = epistatic[epistatic["snp_index"] < epistatic["partner"]]
    marked = pd.concat([
        truth[truth["kind"] == "additive-major"].assign(group="additive"),
        first_of_pair.assign(group="additive"),
        truth[truth["kind"].isin(list(DOMINANCE_VALUES))].assign(group="dominance"),
    ])
    marked = marked.dropna(subset=["snp_index"])
    return marked.assign(weight_index=np.round(marked["snp_index"].astype(float) * factor).astype(int))[
        ["snp_index", "kind", "group", "weight_index"]
    ].reset_index(drop=True)


def plot_weight_map(weight_map: pd.DataFrame, truth: pd.DataFrame | None = None, *, n_snps: int | None = None,
                    ax: plt.Axes | None = None) -> plt.Axes | np.ndarray:
    """The paper's Figure 1: model-averaged output-layer weight against weight index.

    True major additive QTLs are marked with red +, dominance loci with green ×,
    at the weight index their SNP maps to. The map of a genotypic network
    (:func:`cnngwp.models.cnn.network.map_weights`) gets one panel per input channel, each
    against the weight's index among its channel's.

    Parameters
    ----------
    weight_map
        A fitted CNN's :meth:`~cnngwp.models.cnn.estimator.CNNGWPRegressor.weight_map` (or an ensemble's).
    truth
        The simulation's causal loci, or None (real data).
    n_snps
        The SNPs the network read (default: the map's), to place the loci.
    ax
        The axes to draw on (None: a new figure's).

    Returns
    -------
    matplotlib.axes.Axes or numpy.ndarray
        The axes drawn on; an array of them for a genotypic network.
    """
    channels = list(dict.fromkeys(weight_map["channel"]))
    if len(channels) > 1:
        _, axes = plt.subplots(len(channels), 1, figsize=(10, 3.2 * len(channels)), sharex=True)
        for channel, panel in zip(channels, axes, strict=True):
            plot_weight_map(weight_map[weight_map["channel"] == channel], truth, n_snps=n_snps, ax=panel)
            panel.set_title(f"{channel} channel", fontsize=10)
        return axes
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4))
    sns.scatterplot(data=weight_map, x="channel_index", y="weight", s=4, linewidth=0, color="0.3", ax=ax)
    if truth is not None:
        n_snps = int(weight_map["snp_index"].max()) + 1 if n_snps is None else n_snps
        marks = true_qtl_weight_positions(truth, len(weight_map), n_snps)
        top = weight_map["weight"].abs().max()
        for group, marker, colour in (("additive", "+", "red"), ("dominance", "x", "green")):
            rows = marks[marks["group"] == group]
            ax.scatter(rows["weight_index"], np.full(len(rows), 1.05 * top), marker=marker, s=80, color=colour,
                       label=f"true {group} QTL")
        ax.legend(loc="lower left")
    ax.set(xlabel="weight index", ylabel="model-averaged weight")
    return ax


def plot_dominance_values(truth: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Value added to the trait by genotype class (0/1/2) at the dominance, over- and under-dominance loci.

    Parameters
    ----------
    truth
        The simulation's causal loci (a data set's ``truth`` table), with the added dominance loci.
    ax
        The axes to draw on (None: a new figure's).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    rows = truth[truth["kind"].isin(list(DOMINANCE_VALUES))]
    long = rows.melt(id_vars=["kind", "snp_index"], value_vars=["value_0", "value_1", "value_2"],
                     var_name="genotype", value_name="added value")
    long["genotype"] = long["genotype"].str[-1]
    sns.barplot(data=long, x="genotype", y="added value", hue="kind", ax=ax)
    ax.set(xlabel="genotype code (copies of allele 1)")
    return ax


def plot_phenotypes_by_generation(data, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Trait distribution per generation (QTLMAS2010: 1-4 train, 5 test).

    Parameters
    ----------
    data
        A :class:`~cnngwp.data.genotypes.GenotypeData` whose samples have a ``generation`` column.
    ax
        The axes to draw on (None: a new figure's).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    frame = pd.DataFrame({"generation": data.generations, data.trait: data.y})
    sns.boxplot(data=frame, x="generation", y=data.trait, color="0.8", ax=ax)
    return ax


def plot_snp_effects(effects: pd.DataFrame, truth: pd.DataFrame | None = None, *,
                     models: tuple[str, ...] = ("GBLUP", "BLASSO")) -> plt.Figure:
    """Each baseline's SNP effects along the genome, true causal loci as vertical lines.

    Parameters
    ----------
    effects
        ``snp_index`` and one column of effects per marker-effect model
        (:attr:`BaselineFits.effects <cnngwp.models.baselines.on_split.BaselineFits>`).
    truth
        The simulation's causal loci, or None (real data).
    models
        The models to draw, one panel each.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    fig, axes = plt.subplots(len(models), 1, figsize=(10, 2.6 * len(models)), sharex=True, squeeze=False)
    for ax, model in zip(axes[:, 0], models):
        sns.scatterplot(data=effects, x="snp_index", y=model, s=4, linewidth=0, color="0.3", ax=ax)
        if truth is not None:
            for loci, colour in ((truth[truth["kind"].isin(ADDITIVE_KINDS)], "red"),
                                 (truth[truth["kind"].isin(list(DOMINANCE_VALUES))], "green")):
                for snp in loci["snp_index"].dropna():
                    ax.axvline(int(snp), color=colour, alpha=0.25, linewidth=0.8)
        ax.set(ylabel=f"{model} effect")
    axes[-1, 0].set(xlabel="SNP index")
    return fig


def plot_training_curves(history: pd.DataFrame, *, best_epoch: int | None = None,
                         ax: plt.Axes | None = None) -> plt.Axes:
    """Training and validation MSE per epoch, the chosen epoch marked.

    Parameters
    ----------
    history
        One network's history (``epoch``, ``train_mse``, ``validation_mse``: a CNN's ``history_`` entry).
    best_epoch
        The epoch to mark, or None.
    ax
        The axes to draw on (None: a new figure's).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    long = history.melt(id_vars="epoch", value_vars=["train_mse", "validation_mse"], var_name="part",
                        value_name="MSE")
    sns.lineplot(data=long, x="epoch", y="MSE", hue="part", marker="o", ax=ax)
    if best_epoch is not None:
        ax.axvline(best_epoch, color="0.5", linestyle="--", label="best epoch")
    return ax


def plot_search_trace(evaluations: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """The Bayesian optimisation: objective of each evaluation and its running minimum, per replicate.

    Parameters
    ----------
    evaluations
        A run's Bayesian optimisation (``evaluations.csv``: ``replicate``, ``iteration``, ``validation_mse``).
    ax
        The axes to draw on (None: a new figure's).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    frame = evaluations.sort_values(["replicate", "iteration"]).assign(
        best_so_far=lambda f: f.groupby("replicate")["validation_mse"].cummin(),
        replicate=lambda f: f["replicate"].astype(str))
    sns.scatterplot(data=frame, x="iteration", y="validation_mse", hue="replicate", ax=ax, legend=False)
    sns.lineplot(data=frame, x="iteration", y="best_so_far", hue="replicate", drawstyle="steps-post", ax=ax)
    ax.set(xlabel="BO iteration", ylabel="objective MSE")
    return ax


def plot_observed_vs_predicted(predictions: pd.DataFrame, *,
                               models: tuple[str, ...] = OBSERVED_VS_PREDICTED) -> plt.Figure:
    """Observed against predicted test values per model, four panels a row.

    Parameters
    ----------
    predictions
        A run's ``predictions.csv``: ``observed`` and one column per model (``prediction`` is the CNN ensemble, drawn
        with its interval where ``lower_90`` and ``upper_90`` are there).
    models
        The models to draw, in order; those without a column in `predictions` are left out.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    models = tuple(m for m in models if m in predictions.columns)
    columns = min(4, len(models))
    rows = -(-len(models) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows), sharey=True, squeeze=False)
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    for ax, model in zip(axes.flat, models):
        if model == "prediction" and "lower_90" in predictions:
            ax.errorbar(predictions[model], predictions["observed"], linestyle="none", color="0.7", linewidth=0.6,
                        xerr=[predictions[model] - predictions["lower_90"],
                              predictions["upper_90"] - predictions[model]])
        sns.regplot(
            data=predictions,
            x=model,
            y="observed",
            scatter_kws={"s": 6},
            line_kws={"color": "red"},
            ax=ax,
        )
        ax.set(xlabel="CNN ensemble" if model == "prediction" else model)
    return fig


def plot_max_pooling(
    convolution: np.ndarray,
    pooled: np.ndarray,
    *,
    positions: int = 200,
    pool_size: int = 2,
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """One filter's convolution output along the first `positions` and what max-pooling keeps of it.

    Parameters
    ----------
    convolution, pooled
        One animal's maps for one filter (:func:`cnngwp.models.cnn.network.feature_maps`).
    positions
        How many convolution positions to draw.
    pool_size
        The pooling window (the paper's 2).
    ax
        The axes to draw on (None: a new figure's).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3))
    conv, kept = convolution[:positions], pooled[: positions // pool_size]
    ax.plot(range(len(conv)), conv, color="0.6", label="convolution output")
    ax.step(
        range(0, pool_size * len(kept), pool_size),
        kept,
        where="post",
        color="red",
        label="after max-pooling",
    )
    ax.set(xlabel=f"position (first {positions})", ylabel="filter output")
    ax.legend()
    return ax


def plot_prediction_intervals(
    observed: np.ndarray,
    prediction: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    ylabel: str = "trait",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Test animals sorted by their ensemble prediction: the members' interval, the prediction, the observation.

    Parameters
    ----------
    observed, prediction, lower, upper
        Per animal: the observed value, the ensemble's prediction and its interval's bounds.
    ylabel
        The vertical axis's label.
    ax
        The axes to draw on (None: a new figure's).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.5))
    order = np.argsort(prediction)
    x = np.arange(len(order))
    ax.fill_between(
        x, lower[order], upper[order], color="0.8", label="90 % interval of the members"
    )
    ax.plot(x, prediction[order], color="red", label="ensemble prediction")
    ax.scatter(x, np.asarray(observed)[order], s=4, color="0.2", label="observed")
    ax.set(xlabel="test animals (sorted by prediction)", ylabel=ylabel)
    ax.legend()
    return ax


def plot_search_points(evaluations: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Every evaluated gamma: filters against kernel size, coloured by objective MSE, sized by lambda.

    Parameters
    ----------
    evaluations
        A run's Bayesian optimisation (``evaluations.csv``: ``filters``, ``kernel_size``, ``l1``,
        ``validation_mse``).
    ax
        The axes to draw on (None: a new figure's).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    sns.scatterplot(
        data=evaluations,
        x="filters",
        y="kernel_size",
        hue="validation_mse",
        size="l1",
        palette="viridis_r",
        ax=ax,
    )
    ax.set(title="evaluated points")
    return ax


def plot_selection(
    truth: np.ndarray,
    predicted: np.ndarray,
    *,
    top: float = 0.1,
    label: str = "CNN ensemble",
    truth_label: str = "true genetic value",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Candidates' predictions against their true values; the predicted top fraction (selected) highlighted.

    Parameters
    ----------
    truth, predicted
        Per candidate: its true value (or withheld phenotype) and its prediction.
    top
        The share selected by prediction.
    label, truth_label
        What the prediction and the truth are called on the axes.
    ax
        The axes to draw on (None: a new figure's).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    ax = ax or plt.subplots(figsize=(5.5, 4.5))[1]
    truth, predicted = np.asarray(truth, float), np.asarray(predicted, float)
    selected = np.zeros(len(truth), dtype=bool)
    selected[top_rows(predicted, top)] = True
    ax.scatter(predicted[~selected], truth[~selected], s=10, color="0.6", label="not selected")
    ax.scatter(
        predicted[selected],
        truth[selected],
        s=14,
        color="tab:red",
        label=f"selected: top {top:.0%}",
    )
    ax.axhline(
        truth[top_rows(truth, top)].min(),
        color="tab:red",
        lw=0.8,
        ls="--",
        label=f"true top {top:.0%} threshold",
    )
    ax.set_xlabel(f"predicted ({label})")
    ax.set_ylabel(truth_label)
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_study(relative: pd.DataFrame, components: pd.DataFrame) -> plt.Figure:
    """Each model's test MSE relative to GBLUP against the scenario's non-additive share of the genetic variance,
    one panel per heritability; bars are the t intervals over replicates (every one inside the axes), the line at
    1 is GBLUP.

    Parameters
    ----------
    relative
        :func:`cnngwp.reports.study_tables.relative_mse_table` of a study.
    components
        :func:`cnngwp.reports.study_tables.scenario_components` of the same study.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    table = relative.merge(
        components[["architecture", "h2", "non_additive_share"]], on=["architecture", "h2"]
    )
    table = table[table["model"] != "GBLUP"]
    heritabilities = sorted(table["h2"].unique())
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(
        1, len(heritabilities), figsize=(5.2 * len(heritabilities), 4), sharey=True, squeeze=False
    )
    offsets = np.linspace(-0.012, 0.012, len(models))  # side by side where the shares coincide
    ends = pd.concat([table["lower"], table["upper"], table["ratio"]]).dropna()
    limits = (min(0.9, ends.min()) - 0.03, max(1.1, ends.max()) + 0.03)  # every interval inside the axes
    for ax, h2 in zip(axes[0], heritabilities, strict=True):
        panel = table[table["h2"] == h2]
        for offset, (model, colour) in zip(
            offsets,
            zip(models, sns.color_palette("colorblind", len(models)), strict=True),
            strict=True,
        ):
            rows = panel[panel["model"] == model].sort_values("non_additive_share")
            x = rows["non_additive_share"] + offset
            error = np.vstack([rows["ratio"] - rows["lower"], rows["upper"] - rows["ratio"]])
            ax.errorbar(
                x,
                rows["ratio"],
                yerr=np.nan_to_num(error),
                marker="o",
                linestyle="none",
                capsize=3,
                color=colour,
                label=model,
            )
        for row in panel.drop_duplicates(
            "architecture"
        ).itertuples():  # scenario names along the top
            ax.annotate(
                row.architecture,
                (row.non_additive_share, 0.98),
                xycoords=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                rotation=90,
                fontsize="x-small",
                color="0.35",
            )
        ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
        ax.set(
            title=f"h² = {h2:g}",
            xlabel="dominance + epistatic share of the genetic variance",
            ylim=limits,
        )
    axes[0, 0].set_ylabel("test MSE / GBLUP's (same data set)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="lower center", ncol=len(models), frameon=False, fontsize="small"
    )
    fig.subplots_adjust(bottom=0.22)
    return fig


def plot_paired_differences(differences: pd.DataFrame) -> plt.Figure:
    """Each model's test-MSE difference from the reference (GBLUP) with its 95 % interval, one panel per data set;
    left of the dashed line at 0 is better than the reference.

    Parameters
    ----------
    differences
        The table of :func:`cnngwp.reports.tables.paired_differences`.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    datasets = list(dict.fromkeys(differences["dataset"]))
    fig, axes = plt.subplots(len(datasets), 1, figsize=(7, 0.45 * differences["model"].nunique() * len(datasets) + 1.2),
                             squeeze=False)
    for ax, dataset in zip(axes[:, 0], datasets, strict=True):
        rows = differences[differences["dataset"] == dataset].reset_index(drop=True)
        y = np.arange(len(rows))[::-1]
        ax.errorbar(rows["mse_difference"], y, xerr=[rows["mse_difference"] - rows["lower_95"],
                                                     rows["upper_95"] - rows["mse_difference"]],
                    marker="o", linestyle="none", capsize=3, color="tab:blue")
        ax.axvline(0.0, color="0.4", lw=0.8, ls="--")
        ax.set_yticks(y, rows["model"])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_title(f"{dataset}: {rows['method'].iloc[0]}", fontsize="small")
        ax.set_xlabel(f"test MSE minus {rows['reference'].iloc[0]}'s (95 % interval)")
    fig.tight_layout()
    return fig


def plot_pooled(fits: list) -> plt.Figure:
    """The pooled answer (:func:`cnngwp.reports.pooled.pooled_fit`) of each model, one row of panels per model and one
    panel per share the study varies: the predicted test MSE over the best kernel model's against that share (the
    other at zero), one line per heritability with its interval as a band; the data sets as points, each in every
    panel whose share it has (more than 1 %, and every purely additive one), at that share. The grey band is the
    equivalence margin around 1.

    Parameters
    ----------
    fits
        :class:`cnngwp.reports.pooled.PooledFit` of each model (None entries are left out).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    fits = [fit for fit in fits if fit is not None]
    kinds = [k for k in ("dominance_share", "epistatic_share") if any(k in fit.terms for fit in fits)]
    heritabilities = sorted({h for fit in fits for h in fit.data["h2"]})
    colours = dict(zip(heritabilities, sns.color_palette("colorblind", len(heritabilities)), strict=True))
    fig, axes = plt.subplots(len(fits), max(1, len(kinds)), figsize=(5.2 * max(1, len(kinds)), 3.2 * len(fits)),
                             sharey="row", squeeze=False)
    for row, fit in zip(axes, fits, strict=True):
        curves = fit.curves()
        shares = fit.data[["dominance_share", "epistatic_share"]]
        additive = (shares <= 0.01).all(axis=1)
        for ax, kind in zip(row, kinds, strict=False):
            ax.axhspan(1 - EQUIVALENCE_MARGIN / 100, 1 + EQUIVALENCE_MARGIN / 100, color="0.88", lw=0)
            ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
            for h2, colour in colours.items():
                line = curves[(curves["kind"] == kind) & (curves["h2"] == h2)] if len(curves) else curves
                if len(line):
                    ax.plot(line["share"], 1 + line["percent"] / 100, color=colour, label=f"h² {h2:g}")
                    ax.fill_between(line["share"], 1 + line["lower"] / 100, 1 + line["upper"] / 100, color=colour,
                                    alpha=0.2, lw=0)
                points = fit.data[(fit.data["h2"] == h2) & ((fit.data[kind] > 0.01) | additive)]
                ax.scatter(points[kind], np.exp(points["log_ratio"]), s=12, color=colour, alpha=0.6)
            ax.set(xlabel=f"{POOLED_TERMS[kind]} of the genetic variance", title=fit.model)
        row[0].set_ylabel("test MSE / best kernel model's")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize="small")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig
