"""cnngwp: sparse convolutional neural networks for genome-wide prediction (Waldmann et al. 2020).

The modules are grouped by stage, so the tree reads like the method::

    data/      genotypes in memory, file readers, named data sets, splits, covariates, the simulator
    models/    the kernel baselines, the CNN (network, estimator, training loops, fused engine), saved models
    tuning/    the run's arrays and settings, Bayesian optimisation of gamma, the model-averaged ensemble
    runs/      one whole run, the notebooks through papermill, Dask clients, the simulation study
    reports/   test metrics, tables over runs and studies, figures, the book

Every public name is importable from ``cnngwp`` itself (``from cnngwp import CNNGWPRegressor``),
loaded with its module on first use.
"""

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own info and warning logs

__version__ = "0.1.0"

#: Where each public name lives (each module's ``__all__``; tests/test_packaging.py keeps them in step).
PUBLIC_MODULES = {
    "cnngwp.atomic": (
        "atomic_directory", "atomic_write", "json_scalar", "replace_directory", "tie_to_settings",
    ),
    "cnngwp.data.catalogue": (
        "DatasetSpec", "KINDS", "dataset_splits", "load_dataset", "select_split",
    ),
    "cnngwp.data.covariates": (
        "CovariateDesign", "as_covariate_matrix", "check_full_rank", "covariate_design", "parse_columns",
    ),
    "cnngwp.data.genotypes": (
        "COLUMN_BLOCK", "GenotypeData", "GenotypeFile", "MISSING", "QCReport", "SNP_COLUMNS", "Standardizer",
        "adjacent_r2", "allele_counts", "as_genotype_codes", "check_genotype_codes", "check_unique_ids",
        "column_blocks", "minor_allele_frequency",
        "quality_control", "summarise_dataset",
    ),
    "cnngwp.data.pgen": (
        "is_pgen", "pgen_path", "read_pgen_genotypes",
    ),
    "cnngwp.data.readers": (
        "QTLMAS2010_GENERATION_SIZES", "read_candidates", "read_dataset", "read_genotype_file", "read_genotypes",
        "read_qtlmas_csv", "write_candidates", "write_dataset",
    ),
    "cnngwp.data.simulate": (
        "ARCHITECTURES", "DOMINANCE_VALUES", "PAPER_DOMINANCE_SNPS", "Population", "QTLMAS2010_N_SNPS",
        "SimulationConfig", "TRUTH_COLUMNS", "add_dominance_loci", "realised_variance_components",
        "simulate_architecture", "simulate_genomes", "simulate_pedigree", "simulate_population",
        "simulate_qtlmas2010", "simulate_trait",
    ),
    "cnngwp.data.splits": (
        "Split", "all_phenotyped", "fold_column_splits", "kfold_splits", "split_by_generation", "validation_split",
    ),
    "cnngwp.data.store": (
        "Stored", "discard", "read_and_call", "store",
    ),
    "cnngwp.data.vcf": (
        "VCF_SUFFIXES", "is_vcf", "read_vcf_genotypes",
    ),
    "cnngwp.errors": (
        "CnngwpInputError",
    ),
    "cnngwp.models.backbone": (
        "KernelBackboneCNN", "out_of_fold_predictions",
    ),
    "cnngwp.models.baselines.blasso": (
        "BayesianLasso",
    ),
    "cnngwp.models.baselines.common": (
        "ITERATIVE_FROM",
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
    "cnngwp.models.baselines.registry": (
        "BASELINE_MODELS", "baseline_models",
    ),
    "cnngwp.models.baselines.on_split": (
        "BaselineFits", "compare_baselines", "fit_baselines",
    ),
    "cnngwp.models.baselines.rkhs": (
        "RKHS",
    ),
    "cnngwp.models.cnn.device": (
        "ENGINES", "ENSEMBLE_MODES", "Placement", "accelerator_available", "members_per_task", "place",
    ),
    "cnngwp.models.cnn.estimator": (
        "CNNGWPRegressor", "fit_for_epochs",
    ),
    "cnngwp.models.cnn.fused": (
        "AdamState", "FusedLayout", "batch_gradients", "batched", "from_network", "predict", "supports", "to_network",
        "train_epoch",
    ),
    "cnngwp.models.cnn.network": (
        "ENCODINGS", "GroupedConv1D", "MemberDense", "NetworkInputs", "NetworkSpec",
        "StandardizeColumns", "StandardizeGenotypes", "TARGET_SD", "build_cnngwp", "channel_filters", "feature_maps",
        "glorot_limit", "map_weights", "member_interval", "member_weights",
        "model_summary", "network_predictions", "network_with_weights", "output_weights", "set_fixed_effect_start",
        "snp_weight_summary",
    ),
    "cnngwp.models.cnn.training": (
        "BestEpoch", "Trained", "TrainingRun", "train_keras", "train_numba", "train_together",
    ),
    "cnngwp.models.kernels": (
        "additive_kernel", "dominance_codes", "dominance_kernel", "dominance_scale", "gaussian_kernels",
        "median_distance", "squared_distances",
    ),
    "cnngwp.models.large_scale": (
        "KernelOperator", "LanczosQuadrature", "NystromPreconditioner", "SumOperator", "conjugate_gradient",
        "nystrom_factor",
    ),
    "cnngwp.models.metrics": (
        "prediction_metrics",
    ),
    "cnngwp.models.names": (
        "BACKBONE_KERNEL", "BASELINE_NAMES", "CNN_ENSEMBLE", "GENOTYPIC_CNN", "KERNEL_MODELS", "PAPER_PROTOCOL_CNN",
        "STACK", "backbone_name",
    ),
    "cnngwp.models.saved_model": (
        "BackboneNetworks", "GenomicModel", "MAX_MISSING_SNPS", "MODEL_FORMAT", "SnpAlignment", "align_snps",
        "keras_archive", "load_model", "network_from_archive", "save_network",
    ),
    "cnngwp.models.stack": (
        "ModelStack", "simplex_weights",
    ),
    "cnngwp.models.variance_components": (
        "IterativeREML", "LOG_RATIO_BOUNDS", "LowRankREMLFit", "REMLFit", "iterative_reml", "low_rank_reml",
        "moment_variance_components", "profile_search", "reml_variance_components", "reml_variance_ratio",
    ),
    "cnngwp.reports.book": (
        "CHAPTER_TOPICS", "CLASS_MINUTES", "COMPUTE_SHARE", "book_inputs", "build_book", "headline_markdown",
        "headline_sentence", "no_study_page", "performance_page", "protocol_benchmark_sentence", "teaching_page",
        "write_headline",
    ),
    "cnngwp.reports.comparison": (
        "fixed_effects_table", "ranking_agreement", "top_rows", "variance_components_table",
    ),
    "cnngwp.reports.plots": (
        "ADDITIVE_KINDS", "plot_dominance_values", "plot_max_pooling", "plot_observed_vs_predicted",
        "plot_paired_differences", "plot_phenotypes_by_generation", "plot_prediction_intervals", "plot_search_points",
        "plot_search_trace", "plot_selection", "plot_snp_effects", "plot_study", "plot_training_curves",
        "plot_weight_map", "true_qtl_weight_positions",
    ),
    "cnngwp.reports.study_tables": (
        "JUDGEMENTS", "MAX_REPLICATES", "honest_models", "protocol_optimism", "protocol_sentence",
        "relative_mse", "relative_mse_table", "replicates_to_decide", "scenario_components", "study_verdicts",
        "verdict_markdown", "verdict_summary",
    ),
    "cnngwp.reports.tables": (
        "CNN_BASED_MODELS", "MODEL_ORDER", "PREDICTION_COLUMNS", "bootstrap_mse_difference", "collect_comparisons",
        "paired_differences", "read_comparison", "run_counts", "shown", "stack_sentence", "t_half_width", "t_interval",
        "table2",
    ),
    "cnngwp.runs.baselines": (
        "baselines_for_run",
    ),
    "cnngwp.runs.notebooks": (
        "CHAPTER_PARAMETERS", "DATASET_FILE", "EXAMPLES", "MAX_CHAPTER_PARAMETERS", "NOTEBOOKS", "NOTEBOOK_DIR",
        "RUN_PARAMETERS",
        "ChapterRun", "NotebookError", "NotebookSettings", "SOURCES", "chapter_parameters", "copy_run_notebooks",
        "example", "execute_notebook", "open_run", "prepare_for_book", "run_folder", "run_notebooks",
        "run_study_notebook",
    ),
    "cnngwp.runs.parallel": (
        "IN_PROCESS", "open_client", "worker_environment",
    ),
    "cnngwp.runs.study": (
        "EveryModelFit", "GRIDS", "STUDY_COLUMNS", "StudyContext", "StudyDataset", "StudyGrid", "fit_every_model",
        "fit_study_dataset",
        "run_study", "study_context", "study_folder",
    ),
    "cnngwp.runs.workflow": (
        "BackboneFit", "CnngwpRun", "backbone_for_run", "comparison_table", "finish_run", "fit_model", "run_cnngwp",
        "save_trained_model", "stack_for_run",
    ),
    "cnngwp.seeds": (
        "ENSEMBLE_BRANCH", "ensemble_chunk_seed", "evaluation_seed", "member_seeds", "optimizer_seed",
        "seed_frameworks", "seed_from",
    ),
    "cnngwp.tuning.combined": (
        "BACKBONE_ENCODING", "BACKBONE_FOLDS", "BACKBONE_MEMBERS", "STACK_FOLDS",
        "backbone_training", "cross_fitted_part", "fit_stack", "held_out_parts", "held_out_splits",
        "kernel_out_of_fold", "residual_problem", "why_no_stack",
    ),
    "cnngwp.tuning.ensemble": (
        "MemberFit", "ModelAveragedEnsemble", "fit_ensemble", "fit_members",
    ),
    "cnngwp.tuning.evaluation_log": (
        "EvaluationLog",
    ),
    "cnngwp.tuning.problem": (
        "PROBLEM_FOLDER", "TuningProblem", "fit_cnn", "fit_cnn_for_epochs",
    ),
    "cnngwp.tuning.search": (
        "Gamma", "KAPPA", "TuningResult", "evaluate_gamma", "gamma_ma", "tune",
    ),
    "cnngwp.tuning.settings": (
        "CHAPTER_PROFILE", "DEFAULT_PROFILE", "DEFAULT_PROTOCOL", "DEFAULT_SEED", "DEFAULT_SPACE", "OPTIMISTIC",
        "PROFILES", "PROTOCOLS", "SEARCH_SPACES", "Profile", "RunSettings", "SearchSpace", "TrainingSettings",
        "check_protocol", "search_space",
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
