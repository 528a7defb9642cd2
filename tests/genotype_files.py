"""Writers of VCF and PLINK 2 files from a data set, for the reader tests (the library reads these formats only)."""

from pathlib import Path

import numpy as np
import pgenlib

from cnngwp.data.genotypes import GenotypeData

_GT = {0: "0/0", 1: "0/1", 2: "1/1", -1: "./."}


def write_vcf(data: GenotypeData, path: Path, *, dosages: bool = False, swapped=()) -> Path:
    """A VCF of `data` (ALT = the counted allele_1); `swapped` SNP columns written with REF and ALT exchanged and
    their counts flipped; with `dosages` a DS field a little off each count (rounding recovers it)."""
    swapped = set(swapped)
    rng = np.random.default_rng(0)
    lines = ["##fileformat=VCFv4.2", '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">']
    if dosages:
        lines.append('##FORMAT=<ID=DS,Number=1,Type=Float,Description="Dosage">')
    lines += [f"##contig=<ID={c}>" for c in dict.fromkeys(data.snps["chromosome"])]
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                            *data.samples.index.astype(str)]))
    for j, snp in enumerate(data.snps.itertuples(index=False)):
        codes = data.genotypes[:, j].astype(int)
        ref, alt = snp.allele_2, snp.allele_1
        if j in swapped:
            ref, alt = alt, ref
            codes = np.where(codes >= 0, 2 - codes, -1)
        fields = [_GT[c] for c in codes]
        if dosages:
            noise = rng.uniform(-0.3, 0.3, len(codes))
            fields = [f"{g}:{'.' if c < 0 else f'{min(max(c + e, 0), 2):.3f}'}"
                      for g, c, e in zip(fields, codes, noise, strict=True)]
        lines.append("\t".join([str(snp.chromosome), str(snp.position), snp.snp_id, ref, alt, ".", "PASS", ".",
                                "GT:DS" if dosages else "GT", *fields]))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_pgen(data: GenotypeData, prefix: Path) -> Path:
    """A PLINK 2 fileset of `data` (ALT = allele_1) written by pgenlib."""
    pgen = prefix.with_suffix(".pgen")
    with pgenlib.PgenWriter(bytes(pgen), data.n_samples, data.n_snps, False) as writer:
        for j in range(data.n_snps):
            codes = data.genotypes[:, j].copy()
            codes[codes < 0] = -9
            writer.append_biallelic(np.ascontiguousarray(codes, dtype=np.int8))
    snps = data.snps
    pvar = ["#CHROM\tPOS\tID\tREF\tALT"] + [f"{s.chromosome}\t{s.position}\t{s.snp_id}\t{s.allele_2}\t{s.allele_1}"
                                           for s in snps.itertuples(index=False)]
    prefix.with_suffix(".pvar").write_text("\n".join(pvar) + "\n")
    prefix.with_suffix(".psam").write_text("\n".join(["#IID\tSEX", *(f"{i}\t1" for i in data.samples.index)]) + "\n")
    return pgen
