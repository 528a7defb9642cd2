"""Full-size simulator check: `python benchmarks/bench_simulate.py`.

Runs `cnngwp simulate --seed 1` twice (the same seed) and prints the acceptance
numbers of issue 2: sizes, MAF, LD, trait variance, the added loci, file
identity and the wall time of each run, also written to ``benchmarks/results/simulate.json`` (:mod:`record`).
"""

from __future__ import annotations

import filecmp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bed_reader import open_bed
from record import record  # benchmarks/record.py

from cnngwp.data.genotypes import adjacent_r2, minor_allele_frequency
from cnngwp.data.readers import read_dataset
from cnngwp.data.simulate import DOMINANCE_VALUES


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        seconds = []
        for run in ("a", "b"):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "cnngwp", "simulate", "--seed", "1", "--out", f"{tmp}/{run}"],
                           check=True)
            seconds.append(time.perf_counter() - start)
        a, b = Path(tmp, "a"), Path(tmp, "b")
        identical = all(filecmp.cmp(a / f.name, b / f.name, shallow=False) for f in a.iterdir())
        with open_bed(a / "genotypes.bed") as bed:
            genotypes = bed.read(dtype="int8")
        data = read_dataset(a)
        maf = minor_allele_frequency(genotypes)
        added = data.y - data.samples["y_original"].to_numpy()
        original = data.samples["y_original"]
        figures = {
            "seconds per run": f"{seconds[0]:.1f}, {seconds[1]:.1f}",
            "samples": genotypes.shape[0],
            "SNPs (MAF >= 0.01)": f"{genotypes.shape[1]} ({int((maf >= 0.01).sum())})",
            "generation 5": int((data.samples["generation"] == 5).sum()),
            "phenotype mean, variance": f"{data.y.mean():.2f}, {data.y.var(ddof=1):.1f} (before extension "
                                        f"{original.mean():.2f}, {original.var(ddof=1):.1f})",
            "mean adjacent r2": round(float(np.nanmean(adjacent_r2(data))), 3),
        }
        expected = np.zeros(data.n_samples)
        for kind, values in DOMINANCE_VALUES.items():
            j = int(data.truth.loc[data.truth["kind"] == kind, "snp_index"].iloc[0])
            expected += np.array(values)[genotypes[:, j]]
            figures[kind] = f"SNP index {j}, MAF {maf[j]:.3f}, values {values}"
        figures["added values match table"] = bool(np.abs(added - expected).max() < 1e-9)
        figures["byte-identical files"] = identical
        for name, value in figures.items():
            print(f"{name:<25} {value}")
        record("simulate", figures, f"byte-identical files {identical}")

if __name__ == "__main__":
    main()
