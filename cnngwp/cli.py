"""The ``cnngwp`` command line: the commands by name, read before anything heavy is imported.

``cnngwp`` and ``cnngwp --help`` list the commands from :data:`COMMANDS` alone; any other call
hands its arguments to :func:`cnngwp.commands.run_command`, which knows every command's options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

#: What the command line does, in a sentence.
DESCRIPTION = ("Sparse convolutional neural networks for genome-wide prediction: simulate, fit baselines, tune and "
               "ensemble the CNN, save a model and rank selection candidates with it, run the notebooks, build the "
               "book.")
#: Every command and what it does (the one line ``cnngwp --help`` shows).
COMMANDS = {
    "simulate": "simulate a QTLMAS2010-like population and a trait of one architecture",
    "summary": "print the headline numbers of a data folder",
    "baselines": "the kernel baselines: train on older generations, test on the youngest",
    "tune": "Bayesian optimisation, the model-averaged CNN ensemble and the baselines on one split",
    "fit": "train on every phenotyped animal and save the model (tuning and epochs on rows carved from them); "
           "animals without a phenotype are predicted",
    "predict": "rank genotyped selection candidates with a saved model",
    "run": "execute the notebooks with papermill per data set and fold into RUNS/<dataset>/fold-<k>/ (complete runs "
           "are skipped)",
    "study": "the simulation study of chapter 8: every model on a grid of architectures, heritabilities and "
             "replicates into RUNS/study-<grid>/ (finished data sets are skipped)",
    "chapters": "copy the chapters (MyST notebooks) out of the installed package, to read and run in JupyterLab",
    "book": "build the Jupyter Book from the executed runs",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input, 1 for a failed notebook)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:  # the overview, or argparse's error naming the commands
        overview = argparse.ArgumentParser(prog="cnngwp", description=DESCRIPTION)
        commands = overview.add_subparsers(dest="command", required=True)
        for name, text in COMMANDS.items():
            commands.add_parser(name, help=text)
        overview.parse_args(args)
    from cnngwp.commands import run_command

    return run_command(args)
