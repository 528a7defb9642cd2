"""The ``cnngwp`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from cnngwp.data import summarise_dataset
from cnngwp.errors import CnngwpInputError
from cnngwp.evaluate import compare_baselines
from cnngwp.io import read_dataset, write_dataset
from cnngwp.simulate import SimulationConfig, simulate_qtlmas2010
from cnngwp.splits import split_by_generation


def _simulate(args: argparse.Namespace) -> None:
    config = SimulationConfig.small() if args.small else SimulationConfig()
    start = time.perf_counter()
    data = simulate_qtlmas2010(seed=args.seed, config=config)
    bed = write_dataset(data, args.out)
    print(f"wrote {bed.parent}/ ({data.n_samples} samples x {data.n_snps} SNPs) in {time.perf_counter() - start:.1f} s")


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
    data = read_dataset(args.data, trait=args.trait)
    split = split_by_generation(data, test_generations=tuple(args.test_generation))
    table = compare_baselines(data, split, seed=args.seed)
    print(f"{len(split.train)} training and {len(split.test)} test animals (test generation(s) {args.test_generation})")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cnngwp`` command."""
    parser = argparse.ArgumentParser(prog="cnngwp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    sim = commands.add_parser("simulate", help="simulate a QTLMAS2010-like data set with the dominance loci")
    sim.add_argument("--seed", type=int, required=True, help="random seed; the same seed gives identical files")
    sim.add_argument("--out", required=True, help="output folder for genotypes.bed/.bim/.fam, phenotypes.csv, truth.csv")
    sim.add_argument("--small", action="store_true", help="a few hundred animals and SNPs (seconds)")
    sim.set_defaults(run=_simulate)
    summ = commands.add_parser("summary", help="print the headline numbers of a data folder")
    summ.add_argument("--data", required=True, help="folder written by 'cnngwp simulate'")
    summ.add_argument("--trait", default="y", help="trait column of phenotypes.csv")
    summ.set_defaults(run=_summary)
    base = commands.add_parser("baselines", help="GBLUP and Bayesian LASSO: train on older generations, test on the youngest")
    base.add_argument("--data", required=True, help="folder written by 'cnngwp simulate'")
    base.add_argument("--trait", default="y", help="trait column of phenotypes.csv")
    base.add_argument("--test-generation", type=int, nargs="+", default=[5], help="generation(s) held out (default 5)")
    base.add_argument("--seed", type=int, default=1, help="seed of the Bayesian LASSO sampler")
    base.set_defaults(run=_baselines)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input)."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except CnngwpInputError as error:
        print(f"cnngwp: error: {error}", file=sys.stderr)
        return 2
    return 0
