"""Figures of the book, each a function of fitted objects returning a matplotlib Axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from cnngwp.simulate import DOMINANCE_VALUES

#: Kinds marked as additive (red +) in the weight map, as in the paper's Figure 1.
ADDITIVE_KINDS = ("additive-major", "epistatic")


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
                    ax: plt.Axes | None = None) -> plt.Axes:
    """The paper's Figure 1: model-averaged output-layer weight against weight index.

    True major additive QTLs are marked with red +, dominance loci with green ×,
    at the weight index their SNP maps to.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4))
    sns.scatterplot(data=weight_map, x="weight_index", y="weight", s=4, linewidth=0, color="0.3", ax=ax)
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
