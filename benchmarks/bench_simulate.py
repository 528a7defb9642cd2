"""Full-size simulator check: `python benchmarks/bench_simulate.py`.

Runs `cnngwp simulate --seed 1` twice (the same seed) and prints the acceptance
numbers of issue 2: sizes, MAF, LD, trait variance, the added loci, file
identity and the wall time of each run.
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
        print(f"seconds per run           {seconds[0]:.1f}, {seconds[1]:.1f}")
        print(f"samples                   {genotypes.shape[0]}")
        print(f"SNPs (MAF >= 0.01)        {genotypes.shape[1]} ({int((maf >= 0.01).sum())})")
        print(f"generation 5              {int((data.samples['generation'] == 5).sum())}")
        print(
            f"phenotype mean, variance  {data.y.mean():.2f}, {data.y.var(ddof=1):.1f} "
            f"(before extension {data.samples['y_original'].mean():.2f}, {data.samples['y_original'].var(ddof=1):.1f})"
        )
        print(f"mean adjacent r2          {np.nanmean(adjacent_r2(data)):.3f}")
        added = data.y - data.samples["y_original"].to_numpy()
        expected = np.zeros(data.n_samples)
        for kind, values in DOMINANCE_VALUES.items():
            j = int(data.truth.loc[data.truth["kind"] == kind, "snp_index"].iloc[0])
            expected += np.array(values)[genotypes[:, j]]
            print(f"{kind:<25} SNP index {j}, MAF {maf[j]:.3f}, values {values}")
        print(f"added values match table  {bool(np.abs(added - expected).max() < 1e-9)}")
        print(f"byte-identical files      {identical}")


if __name__ == "__main__":
    main()
