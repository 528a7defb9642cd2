"""The ``cnngwp`` commands: their options and what each runs (:mod:`cnngwp.cli` reads the command first, so
``cnngwp --help`` loads none of this)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from cnngwp.atomic import atomic_directory, atomic_write
from cnngwp.cli import COMMANDS, DESCRIPTION
from cnngwp.data.catalogue import DatasetSpec, dataset_splits, load_dataset, select_split
from cnngwp.data.covariates import covariate_design, parse_columns
from cnngwp.data.genotypes import summarise_dataset
from cnngwp.data.readers import read_candidates, read_dataset, write_dataset
from cnngwp.data.simulate import ARCHITECTURES, SimulationConfig, realised_variance_components, simulate_qtlmas2010
from cnngwp.data.splits import split_by_generation
from cnngwp.errors import CnngwpInputError
from cnngwp.models.baselines import BASELINE_MODELS
from cnngwp.models.baselines.on_split import compare_baselines
from cnngwp.models.saved_model import MAX_MISSING_SNPS, load_model
from cnngwp.reports.book import book_inputs, build_book
from cnngwp.runs.notebooks import (
    NOTEBOOK_DIR,
    NotebookError,
    NotebookSettings,
    run_folder,
    run_notebooks,
    run_study_notebook,
)
from cnngwp.runs.parallel import IN_PROCESS, open_client
from cnngwp.runs.study import GRIDS, run_study, study_context, study_folder
from cnngwp.tuning.settings import (
    DEFAULT_PROFILE,
    DEFAULT_PROTOCOL,
    DEFAULT_SEED,
    DEFAULT_SPACE,
    OPTIMISTIC,
    PROFILES,
    PROTOCOLS,
    RunSettings,
    search_space,
)

SPACE_HELP = ("bounds of gamma: 'qtlmas2010' (the paper's: lambda 0.1-1 on the trait rescaled to SD 10), 'wide' "
              "(lambda 0.1-10, log scale: for real traits of unknown heritability) or own bounds replacing some of "
              "the paper's, e.g. 'filters=8:64,kernel_size=5:30,l1=0.5:5'")


def _simulate(args: argparse.Namespace) -> None:
    config = replace(SimulationConfig.small() if args.small else SimulationConfig(), architecture=args.architecture,
                     heritability=args.h2)
    start = time.perf_counter()
    data = simulate_qtlmas2010(seed=args.seed, config=config)
    bed = write_dataset(data, args.out)
    components = realised_variance_components(data)
    summary = {"seed": args.seed, "small": args.small, "architecture": args.architecture, "h2_target": args.h2,
               "realised_in_training_generations": components}
    atomic_write(bed.parent / "summary.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2)))
    print(f"wrote {bed.parent}/ ({data.n_samples} samples x {data.n_snps} SNPs) in {time.perf_counter() - start:.1f} s")
    print("realised in the training generations: " + ", ".join(f"{k} {v:.3f}" for k, v in components.items()))


def _summary(args: argparse.Namespace) -> None:
    data = read_dataset(args.data, trait=args.trait)
    stats = summarise_dataset(data)
    width = max(map(len, stats.index))
    for name, value in stats.items():
        print(f"{name:<{width}}  {value:.4g}" if isinstance(value, float) else f"{name:<{width}}  {value}")
    if data.truth is not None:
        print("\ncausal loci (0-based SNP index):")
        for kind, loci in data.truth.groupby("kind", sort=False)["snp_index"]:
            print(f"{kind:<{width}}  {', '.join(map(str, loci))}")


def _baselines(args: argparse.Namespace) -> None:
    data = read_dataset(args.data, trait=args.trait).require_varying_trait()
    split = split_by_generation(data, test_generations=tuple(args.test_generation))
    table = compare_baselines(data, split, seed=args.seed)
    print(f"{len(split.train)} training and {len(split.test)} test animals (test generation(s) {args.test_generation})")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _genotype_path(args: argparse.Namespace) -> str | None:
    """The genotype file given by --bed, --pgen or --vcf (None: none of them)."""
    return args.bed or args.pgen or args.vcf


def _genotype_spec(args: argparse.Namespace, key: str) -> DatasetSpec:
    return DatasetSpec(key=key, kind="genotypes", path=_genotype_path(args), dosages=args.dosages,
                       phenotypes=args.phenotypes, trait=args.trait,
                       folds=args.folds, k=args.k, seed=args.seed)


def _file_key(path: str) -> str:
    """A data set key from a genotype file's name (``mice.bed`` -> ``mice``, ``chr1.vcf.gz`` -> ``chr1``)."""
    name = Path(path).name
    for suffix in (".vcf.gz", ".vcf.bgz", ".vcf", ".bcf", ".pgen", ".bed"):
        name = name.removesuffix(suffix)
    return name


def _dataset_from_args(args: argparse.Namespace) -> DatasetSpec:
    if _genotype_path(args) is not None:
        return _genotype_spec(args, _file_key(_genotype_path(args)))
    return DatasetSpec(key=Path(args.data).name, kind="folder", path=args.data, trait=args.trait)


def _run_settings(args: argparse.Namespace, protocol: str) -> RunSettings:
    """The run's settings from the training arguments (the search space only through :func:`search_space`)."""
    return RunSettings(search_space(args.space), PROFILES[args.profile], protocol, args.seed, args.replicates,
                       args.members, args.batch_points)


def _print_tuning(run) -> None:
    gamma = run.tuning.gamma
    if run.tuning.label:
        print(f"NOTE: {run.tuning.label}")
    print(run.tuning.best[["replicate", "filters", "kernel_size", "l1", "validation_mse"]].to_string(index=False))
    print(f"gamma_MA: filters {gamma.filters}, kernel {gamma.kernel_size}, lambda {gamma.l1:.4f}")


def _print_outputs(run, out: str, start: float) -> None:
    covariates = run.model.covariates
    print(f"fixed effects: {', '.join(covariates.names) if covariates else 'none (intercept only)'}")
    print(run.summary.no_stack if run.stack is None else
          f"stack weights (fitted on {run.stack.rows} animals of {run.stack.rule}): {run.stack.describe()}")
    if len(run.candidates):
        print(f"{len(run.candidates)} animals without a phenotype predicted: {out}/candidates.csv")
    print(f"model saved to {out}/model (cnngwp predict --model {out}/model ...)")
    print(f"wrote {out}/ in {time.perf_counter() - start:.0f} s")


def _tune(args: argparse.Namespace) -> None:
    spec = _dataset_from_args(args)
    data = load_dataset(spec)
    split = select_split(dataset_splits(data, spec), args.fold, spec)
    design = covariate_design(data, split, parse_columns(args.covariates), parse_columns(args.categorical))
    settings = _run_settings(args, args.protocol)
    from cnngwp.runs.workflow import run_cnngwp  # loads Keras: only the commands that train a network

    start = time.perf_counter()
    with open_client(args.scheduler, n_workers=args.workers) as client:
        run = run_cnngwp(data, split, args.out, client, settings, progress=not args.no_progress, covariates=design)
    print(f"{data.source} {split.name}: {len(split.train)} training, {len(split.test)} test animals, "
          f"{data.n_snps} SNPs; profile {settings.profile.name}, protocol {args.protocol}")
    _print_tuning(run)
    print(run.comparison.drop(columns="note").to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    _print_outputs(run, args.out, start)


def _fit(args: argparse.Namespace) -> None:
    data = load_dataset(_dataset_from_args(args))
    settings = _run_settings(args, DEFAULT_PROTOCOL)
    from cnngwp.runs.workflow import fit_model  # loads Keras: only the commands that train a network

    start = time.perf_counter()
    with open_client(args.scheduler, n_workers=args.workers) as client:
        run = fit_model(data, args.out, client, settings, progress=not args.no_progress,
                        covariates=parse_columns(args.covariates), categorical=parse_columns(args.categorical))
    print(f"{data.source}: trained on all {run.summary.n_train} phenotyped animals, {data.n_snps} SNPs; "
          f"profile {settings.profile.name}, honest protocol (tuning and epochs on rows carved from them)")
    _print_tuning(run)
    _print_outputs(run, args.out, start)


def _predict(args: argparse.Namespace) -> None:
    model = load_model(args.model)
    candidates = read_candidates(_genotype_path(args), args.covariates_csv, id_column=args.id_column,
                                 dosages=args.dosages)
    table, alignment = model.predict_table(candidates, level=args.level, ascending=args.ascending,
                                           max_missing=args.max_missing)
    atomic_write(args.out, lambda tmp: table.to_csv(tmp, index=False))
    print(f"{candidates.source}: {candidates.n_samples} animals; {alignment.summary()}")
    others = ", ".join(table.columns[4:-1])
    print(f"wrote {args.out}: ensemble prediction, {args.level:.0%} interval, {others} and rank "
          f"(1 = {'lowest' if args.ascending else 'highest'} ensemble prediction) per animal")
    if model.stack is not None:
        print(f"stack weights: {model.stack.describe()}")


def _run(args: argparse.Namespace) -> None:
    if _genotype_path(args) is not None:
        spec = _genotype_spec(args, args.name or _file_key(_genotype_path(args)))
    elif args.csv is not None:
        spec = DatasetSpec(key=args.name or "qtlmas2010-csv", kind="qtlmas2010-csv", path=args.csv,
                           dominance_in_file=args.dominance_in_file)
    else:
        small = args.small
        key = args.name or ("tiny-sim" if small else "qtlmas2010-sim")
        spec = DatasetSpec(key=key, kind="simulated", path=str(Path(args.runs) / "data" / key), seed=args.seed,
                           small=small)
    settings = NotebookSettings(args.profile, args.protocol, args.space, args.seed, args.covariates, args.categorical)
    records = run_notebooks(spec, settings, runs_root=args.runs, scheduler=args.scheduler, folds=args.only_folds)
    for record in records:
        p = record["parameters"]
        state = "already complete, skipped" if record["skipped"] else f"executed in {record['seconds']:.0f} s"
        print(f"{run_folder(args.runs, p['dataset'], p['fold'])}/: {len(record['notebooks'])} notebooks {state}")


def _book(args: argparse.Namespace) -> None:
    default_run, study = book_inputs(args.runs, default_run=args.default_run, study=args.study)
    index = build_book(args.runs, default_run, study=study, out=args.out)
    print(f"wrote {index}")


def _chapters(args: argparse.Namespace) -> None:
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise CnngwpInputError(f"{out}: not empty; expected a new or empty folder for the chapters")
    with atomic_directory(out) as staging:
        for source in sorted(NOTEBOOK_DIR.glob("*.md")):
            shutil.copyfile(source, staging / source.name)
    print(f"wrote the chapters' MyST sources to {out}/: open them with 'jupyter lab {out}' (jupytext opens each "
          "as a notebook: right-click, Open With, Notebook)")


def _study(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    if args.replicates is None and args.datasets is None and args.records is None:
        notebook = run_study_notebook(args.grid, runs_root=args.runs, scheduler=args.scheduler)
        print(f"study {args.grid}: {notebook.parent}/study.csv and {notebook.name} in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        return
    ctx = study_context(grid=args.grid, runs_root=args.runs, scheduler=args.scheduler or "")
    datasets = ctx.grid.select(replicates=args.replicates, keys=args.datasets)
    with ctx.client() as client:
        table = run_study(ctx.grid, ctx.runs_root, client, datasets=datasets, records=args.records)
    where = f"; a record of each in {args.records}/" if args.records else ""
    print(f"study {args.grid}: {table['dataset'].nunique()} data sets in {study_folder(ctx.runs_root, ctx.grid)}/"
          f"study.csv{where} ({time.perf_counter() - start:.0f} s); chapter 8 is not run on a chunk of a grid",
          flush=True)


def _add_data_arguments(parser: argparse.ArgumentParser, *, folds: bool = True) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="folder written by 'cnngwp simulate'" +
                        (" (generations 1-4 train, 5 test)" if folds else ""))
    _add_genotype_file_arguments(source, " (k-fold cross-validation)" if folds else "")
    _add_plink_arguments(parser)
    if folds:
        parser.add_argument("--fold", type=int, default=0, help="which split to run (0-based; 0 for generation data)")
    _add_covariate_arguments(parser)


def _add_covariate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--covariates", default="",
                        help="fixed effects of every model: comma-separated columns of the phenotype table, "
                             "e.g. GENDER,Litter")
    parser.add_argument("--categorical", default="", help="which of the covariates are categorical, e.g. GENDER "
                                                          "(the others must be numbers)")


def _add_settings_arguments(parser: argparse.ArgumentParser, *, protocol: bool = True) -> None:
    """The run's settings: profile, protocol (`protocol`), seed and search space."""
    parser.add_argument("--profile", choices=sorted(PROFILES), default=DEFAULT_PROFILE,
                        help="; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()))
    if protocol:
        parser.add_argument("--protocol", choices=PROTOCOLS, default=DEFAULT_PROTOCOL,
                            help="honest: tune on validation rows carved from the training rows (default); "
                                 f"paper: tune on the test set as the published code ({OPTIMISTIC})")
    _add_seed_argument(parser, "seed of the simulated data set, random folds, the optimisers and the CNNs")
    parser.add_argument("--space", default=DEFAULT_SPACE, help=SPACE_HELP)


def _add_parallel_arguments(parser: argparse.ArgumentParser, *, workers: bool = False) -> None:
    """Where the work runs: a Dask scheduler, or a local cluster (of `workers` workers, where offered)."""
    parser.add_argument("--scheduler", help=f"Dask scheduler address (tcp://host:8786) or {IN_PROCESS!r}; "
                                            "default a local cluster with one worker per core")
    if workers:
        parser.add_argument("--workers", type=int, help="workers of the local cluster (default: one per core)")


def _add_tuning_arguments(parser: argparse.ArgumentParser, *, protocol: bool = True) -> None:
    """A whole run without notebooks: its settings, the tuning's and ensemble's sizes, where they run."""
    _add_settings_arguments(parser, protocol=protocol)
    parser.add_argument("--replicates", type=int, help="S, the BO replicates (default: the profile's)")
    parser.add_argument("--members", type=int, help="ensemble size (default: the profile's)")
    parser.add_argument("--batch-points", type=int, default=1,
                        help="points asked at once per replicate (constant liar) to keep more workers busy")
    _add_parallel_arguments(parser, workers=True)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_runs_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", default="runs", help="folder of the run folders (default runs)")


def _add_genotype_file_arguments(group, purpose: str) -> None:
    group.add_argument("--bed", help="PLINK 1 .bed file or prefix" + purpose)
    group.add_argument("--pgen", help="PLINK 2 .pgen file or prefix (.pvar, .psam beside it)" + purpose)
    group.add_argument("--vcf", help="VCF or BCF file (.vcf, .vcf.gz, .bcf; biallelic sites, ALT counted)" + purpose)


def _add_plink_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dosages", action="store_true",
                        help="--vcf/--pgen: read dosages (VCF DS, PLINK 2 dosages) rounded to counts, not hard calls")
    parser.add_argument("--phenotypes", help="phenotype CSV for a genotype file (an id column and trait columns)")
    parser.add_argument("--folds", help="fold CSV for a genotype file (columns fold and id or row); "
                                        "default seeded k folds")
    parser.add_argument("--k", type=int, default=5, help="number of random folds when --folds is not given")
    _add_trait_argument(parser, "the phenotype file")


def _add_seed_argument(parser: argparse.ArgumentParser, purpose: str, *, required: bool = False) -> None:
    """``--seed``, declared here only: default :data:`~cnngwp.tuning.settings.DEFAULT_SEED` unless `required`."""
    parser.add_argument("--seed", type=int, required=required, default=None if required else DEFAULT_SEED,
                        help=purpose if required else f"{purpose} (default {DEFAULT_SEED})")


def _add_trait_argument(parser: argparse.ArgumentParser, table: str) -> None:
    """``--trait``, declared here only: the trait column of `table`, default ``y``."""
    parser.add_argument("--trait", default="y", help=f"trait column of {table} (default y)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cnngwp`` command."""
    parser = argparse.ArgumentParser(prog="cnngwp", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    sim = commands.add_parser("simulate", help=COMMANDS["simulate"])
    _add_seed_argument(sim, "random seed; the same seed gives identical files", required=True)
    sim.add_argument("--out", required=True, help="output folder for genotypes.bed/.bim/.fam, phenotypes.csv, "
                                                      "truth.csv")
    sim.add_argument(
        "--small", action="store_true", help="a few hundred animals and SNPs (seconds)"
    )
    sim.add_argument(
        "--architecture",
        choices=ARCHITECTURES,
        default="qtlmas2010",
        help="genetic architecture of the trait (default: QTLMAS2010's plus the paper's three dominance "
        "loci, the book's data set)",
    )
    sim.add_argument(
        "--h2",
        type=float,
        default=None,
        help="target heritability in the training generations (default: qtlmas2010's own construction; "
        "0.45 for the other architectures)",
    )
    sim.set_defaults(run=_simulate)
    summ = commands.add_parser("summary", help=COMMANDS["summary"])
    summ.add_argument("--data", required=True, help="folder written by 'cnngwp simulate'")
    _add_trait_argument(summ, "phenotypes.csv")
    summ.set_defaults(run=_summary)
    base = commands.add_parser("baselines", help=COMMANDS["baselines"],
                               description=f"{COMMANDS['baselines']} ({', '.join(BASELINE_MODELS)})")
    base.add_argument("--data", required=True, help="folder written by 'cnngwp simulate'")
    _add_trait_argument(base, "phenotypes.csv")
    base.add_argument(
        "--test-generation",
        type=int,
        nargs="+",
        default=[5],
        help="generation(s) held out (default 5)",
    )
    _add_seed_argument(base, "seed of the Bayesian LASSO sampler")
    base.set_defaults(run=_baselines)
    tun = commands.add_parser("tune", help=COMMANDS["tune"])
    _add_data_arguments(tun)
    tun.add_argument(
        "--out",
        required=True,
        help="run folder (evaluations.csv, members/, model/, summary.json); resumable",
    )
    _add_tuning_arguments(tun)
    tun.set_defaults(run=_tune)
    fit = commands.add_parser("fit", help=COMMANDS["fit"])
    _add_data_arguments(fit, folds=False)
    fit.add_argument(
        "--out",
        required=True,
        help="folder for the model (OUT/model), candidates.csv and the training logs; resumable",
    )
    _add_tuning_arguments(fit, protocol=False)
    fit.set_defaults(run=_fit)
    pred = commands.add_parser("predict", help=COMMANDS["predict"])
    pred.add_argument(
        "--model", required=True, help="model folder (from 'cnngwp fit', or a run's model/)"
    )
    candidates = pred.add_mutually_exclusive_group(required=True)
    _add_genotype_file_arguments(candidates, ": the candidates; SNPs are matched by id, alleles flipped")
    pred.add_argument("--dosages", action="store_true",
                      help="--vcf/--pgen: read dosages rounded to counts, not hard calls")
    pred.add_argument(
        "--covariates-csv",
        help="CSV of the candidates' covariates (an id column and the model's "
        "covariate columns), when the model has covariates",
    )
    pred.add_argument(
        "--id-column", help="id column of --covariates-csv (default id, else the first column)"
    )
    pred.add_argument("--out", required=True, help="CSV to write: one row per animal")
    pred.add_argument(
        "--max-missing",
        type=float,
        default=MAX_MISSING_SNPS,
        help="largest share of the model's SNPs the candidates may lack; they are mean-imputed "
        f"(default {MAX_MISSING_SNPS})",
    )
    pred.add_argument(
        "--level", type=float, default=0.9, help="coverage of the members' interval (default 0.9)"
    )
    pred.add_argument("--ascending", action="store_true", help="rank the lowest prediction first")
    pred.set_defaults(run=_predict)
    run = commands.add_parser("run", help=COMMANDS["run"])
    source = run.add_mutually_exclusive_group()
    _add_genotype_file_arguments(source, ": k-fold cross-validation, one run per fold")
    source.add_argument("--csv", help="a QTLMAS2010ny012.csv file: generations 1-4 -> 5")
    _add_plink_arguments(run)
    run.add_argument(
        "--dominance-in-file", action="store_true", help="--csv: the dominance loci are in the file"
    )
    run.add_argument(
        "--small", action="store_true", help="no genotype file or --csv: the tiny simulated data set"
    )
    run.add_argument(
        "--name",
        help="data set key (default: qtlmas2010-sim, tiny-sim, qtlmas2010-csv or the genotype file name)",
    )
    _add_runs_argument(run)
    run.add_argument("--only-folds", type=int, nargs="+", help="run only these folds (0-based)")
    _add_settings_arguments(run)
    _add_covariate_arguments(run)
    _add_parallel_arguments(run)
    run.set_defaults(run=_run)
    study = commands.add_parser("study", help=COMMANDS["study"])
    study.add_argument(
        "--grid",
        choices=sorted(GRIDS),
        default="default",
        help="; ".join(f"{name}: {grid.description}" for name, grid in GRIDS.items()).replace("%", "%%"),
    )
    _add_runs_argument(study)
    chunk = study.add_argument_group("a chunk of the grid, fitted without chapter 8 (a grid built up over machines "
                                     "and days)")
    chunk.add_argument("--replicates", type=int, nargs="+", metavar="R", help="only these replicates (0-based)")
    chunk.add_argument("--datasets", nargs="+", metavar="KEY", help="only these data sets, e.g. dominance-h2-0.3-rep-0")
    chunk.add_argument("--records", metavar="DIR",
                       help="skip the data sets recorded in DIR and write a record of each other one to DIR, to "
                            "commit (chapter 8 shows the full grid from benchmarks/results/study-full)")
    _add_parallel_arguments(study)
    study.set_defaults(run=_study)
    chapters = commands.add_parser("chapters", help=COMMANDS["chapters"])
    chapters.add_argument("--out", required=True, help="a new or empty folder")
    chapters.set_defaults(run=_chapters)
    book = commands.add_parser("book", help=COMMANDS["book"])
    _add_runs_argument(book)
    book.add_argument(
        "--default-run",
        help="the run whose notebooks are the chapters (default "
        "qtlmas2010-sim/fold-0, or the only complete run folder)",
    )
    book.add_argument(
        "--study",
        choices=sorted(GRIDS),
        help="the study grid whose chapter 8 the book shows (default: default, or the only one run; with none, "
        "chapter 8 says how to add one)",
    )
    book.add_argument("--out", default=".", help="the site goes to OUT/_build/html (default .)")
    book.set_defaults(run=_book)
    return parser


def run_command(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` with every command's options and run it; returns the exit status (2 for bad input, 1 for a
    failed notebook)."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except CnngwpInputError as error:
        print(f"cnngwp: error: {error}", file=sys.stderr)
        return 2
    except NotebookError as error:
        print(f"cnngwp: notebook failed: {error}", file=sys.stderr)
        return 1
    return 0
