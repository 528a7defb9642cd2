"""cnngwp: sparse convolutional neural networks for genome-wide prediction (Waldmann et al. 2020).

The modules are grouped by stage, so the tree reads like the method::

    data/      genotypes in memory, file readers, named data sets, splits, covariates, the simulator
    models/    the kernel baselines, the CNN (network, estimator, training loops, fused engine), saved models
    tuning/    the run's arrays and settings, Bayesian optimisation of gamma, the model-averaged ensemble
    runs/      one whole run, the notebooks through papermill, Dask clients, the simulation study
    reports/   test metrics, tables over runs and studies, figures, the book

The names a user writes (the estimators, the readers, the run and its saved model, what the chapters call) are
importable from ``cnngwp`` itself (``from cnngwp import CNNGWPRegressor``), loaded with their module on first use;
the plumbing is reached through its module.
"""

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own info and warning logs
# OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s) after each call, and numpy and scipy each load an
# OpenBLAS of their own: on 2 cores REML's numpy products and scipy factorisations made the two spin against each
# other (a 338 x 338 Cholesky in a study data set took 8 ms instead of 1.4 ms). 2^4 cycles lets them sleep at once;
# the arithmetic, so every number, is unchanged. It acts where cnngwp is imported before numpy (the command line,
# and the chapters' kernels and Dask workers it starts, which inherit it); a value already set wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"

#: Where each name of the ``cnngwp`` namespace lives: the names the README and the chapters import, and the entry
#: points the API page lists under "The cnngwp namespace" (tests/test_packaging.py keeps the three in step). Every
#: other name is reached through its module (``from cnngwp.atomic import atomic_write``), where its ``__all__``
#: declares it.
PUBLIC_MODULES = {
    "cnngwp.data.covariates": (
        "CovariateDesign",
    ),
    "cnngwp.data.genotypes": (
        "GenotypeData", "Standardizer", "adjacent_r2", "quality_control", "summarise_dataset",
    ),
    "cnngwp.data.readers": (
        "read_candidates", "read_dataset", "read_genotypes", "read_qtlmas_csv", "write_candidates",
        "write_dataset",
    ),
    "cnngwp.data.simulate": (
        "SimulationConfig", "add_dominance_loci", "simulate_qtlmas2010",
    ),
    "cnngwp.data.splits": (
        "split_by_generation",
    ),
    "cnngwp.models.backbone": (
        "KernelBackboneCNN",
    ),
    "cnngwp.models.l1_grid": (
        "L1GridCNN",
    ),
    "cnngwp.errors": (
        "CnngwpInputError",
    ),
    "cnngwp.models.baselines.blasso": (
        "BayesianLasso",
    ),
    "cnngwp.models.baselines.egblup": (
        "EGBLUP",
    ),
    "cnngwp.models.baselines.gblup": (
        "GBLUP",
    ),
    "cnngwp.models.baselines.gdblup": (
        "GDBLUP",
    ),
    "cnngwp.models.baselines.on_split": (
        "fit_baselines",
    ),
    "cnngwp.models.baselines.rkhs": (
        "RKHS",
    ),
    "cnngwp.models.cnn.estimator": (
        "CNNGWPRegressor",
    ),
    "cnngwp.models.cnn.network": (
        "NetworkSpec", "build_cnngwp", "feature_maps", "model_summary", "snp_weight_summary",
    ),
    "cnngwp.models.metrics": (
        "prediction_metrics",
    ),
    "cnngwp.models.names": (
        "CNN_ENSEMBLE", "shown_name",
    ),
    "cnngwp.models.saved_model": (
        "GenomicModel", "load_model",
    ),
    "cnngwp.models.stack": (
        "ModelStack", "StackRegressor", "simplex_weights",
    ),
    "cnngwp.reports.book": (
        "protocol_benchmark_sentence",
    ),
    "cnngwp.reports.comparison": (
        "fixed_effects_table", "ranking_agreement", "variance_components_table",
    ),
    "cnngwp.reports.plots": (
        "plot_dominance_values", "plot_max_pooling", "plot_observed_vs_predicted", "plot_paired_differences",
        "plot_phenotypes_by_generation", "plot_prediction_intervals", "plot_search_points", "plot_search_trace",
        "plot_pooled", "plot_selection", "plot_snp_effects", "plot_study", "plot_training_curves", "plot_weight_map",
    ),
    "cnngwp.reports.pooled": (
        "planned_replicates", "pooled_fits", "pooled_markdown",
    ),
    "cnngwp.reports.study_tables": (
        "protocol_optimism", "protocol_sentence", "relative_mse", "relative_mse_table", "scenario_components",
        "study_verdicts", "verdict_markdown", "verdict_summary",
    ),
    "cnngwp.reports.tables": (
        "CNN_BASED_MODELS", "bootstrap_mse_difference", "collect_comparisons", "paired_differences",
        "read_comparison", "run_counts", "shown", "t_interval", "table2",
    ),
    "cnngwp.runs.baselines": (
        "baselines_for_run",
    ),
    "cnngwp.runs.notebooks": (
        "open_run",
    ),
    "cnngwp.runs.parallel": (
        "open_client",
    ),
    "cnngwp.runs.study": (
        "GRIDS", "committed_study", "run_study", "study_context",
    ),
    "cnngwp.runs.summary": (
        "RunSummary",
    ),
    "cnngwp.runs.workflow": (
        "backbone_for_run", "finish_run", "fit_model", "run_cnngwp", "stack_for_run",
    ),
    "cnngwp.tuning.combined": (
        "why_no_stack",
    ),
    "cnngwp.tuning.ensemble": (
        "ModelAveragedEnsemble", "fit_ensemble",
    ),
    "cnngwp.tuning.problem": (
        "TuningProblem",
    ),
    "cnngwp.tuning.search": (
        "tune",
    ),
    "cnngwp.tuning.settings": (
        "PROFILES", "RunSettings", "TrainingSettings", "search_space",
    ),
}
_WHERE = {name: module for module, names in PUBLIC_MODULES.items() for name in names}


def __getattr__(name: str):
    """A public name of a submodule, imported on first use."""
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnngwp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
