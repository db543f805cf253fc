"""Hand-made builder inputs shared by the build tests: a 2.6 kb chromosome with three genes (both
strands, alternative transcripts), their annotation as GTF, GFF3 and SpliceAI table, and predictions with
planted calls and misses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

CHROM_LEN = 2600
# gene: (strand, start, end, {transcript: exons})
GENES = {
    "G1": ("+", 101, 900, {"T1": [(101, 200), (301, 400), (601, 900)],
                           "T2": [(101, 200), (451, 500), (601, 900)]}),
    "G2": ("-", 1201, 2000, {"T3": [(1201, 1300), (1501, 1600), (1801, 2000)]}),
    "G3": ("+", 2101, 2500, {"T4": [(2101, 2200), (2301, 2500)]}),
}
TRUE_DONORS = {"G1": [200, 400, 500], "G2": [1501, 1801], "G3": [2200]}
TRUE_ACCEPTORS = {"G1": [301, 451, 601], "G2": [1300, 1600], "G3": [2301]}
# Probabilities planted: (gene, type, position, prob). 401 is a call 1 nt off site 400 (TP);
# 500 and 601 are missed (FN); 700 and 1900 are calls far from any site (FP).
PLANTED = [("G1", "donor", 200, 0.9), ("G1", "donor", 401, 0.7), ("G1", "donor", 500, 0.3),
           ("G1", "donor", 700, 0.8), ("G1", "acceptor", 301, 0.95), ("G1", "acceptor", 451, 0.6),
           ("G1", "acceptor", 601, 0.2), ("G2", "donor", 1501, 0.9), ("G2", "donor", 1801, 0.9),
           ("G2", "acceptor", 1300, 0.8), ("G2", "acceptor", 1600, 0.1), ("G2", "acceptor", 1900, 0.6),
           ("G3", "donor", 2200, 0.99), ("G3", "acceptor", 2301, 0.99)]


def write_genome(path: Path, chrom: str = "chr1") -> None:
    rng = np.random.default_rng(1)
    seq = np.array(list("ACGT"))[rng.integers(0, 4, CHROM_LEN)]
    for g, donors in TRUE_DONORS.items():  # plant the GT of each donor, on the gene's strand
        for p in donors:
            if GENES[g][0] == "+":
                seq[p: p + 2] = ["G", "T"]          # genomic p+1, p+2 (0-based p, p+1)
            else:
                seq[p - 3: p - 1] = ["A", "C"]      # genomic p-2, p-1 = reverse complement of GT
    seq[2550:2560] = "N"
    text = "".join(seq)
    path.write_text(f">{chrom}\n" + "\n".join(text[i: i + 60] for i in range(0, len(text), 60)) + "\n")


def write_gtf(path: Path, chrom: str = "chr1") -> None:
    lines = []
    for g, (strand, start, end, txs) in GENES.items():
        lines.append(f'{chrom}\tt\tgene\t{start}\t{end}\t.\t{strand}\t.\tgene_id "{g}";')
        for t, exons in txs.items():
            for s, e in exons:
                lines.append(f'{chrom}\tt\texon\t{s}\t{e}\t.\t{strand}\t.\tgene_id "{g}"; transcript_id "{t}";')
    path.write_text("\n".join(lines) + "\n")


def write_predictions(directory: Path, chrom: str = "chr1", genes=GENES, edit=None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    for g in genes:
        strand, start, end, _ = GENES[g]
        pos = np.arange(start, end + 1)
        frame = pd.DataFrame({"gene_id": g, "chrom": chrom, "strand": strand, "position": pos,
                              "donor_prob": rng.uniform(0, 0.002, len(pos)),
                              "acceptor_prob": rng.uniform(0, 0.002, len(pos))})
        for gene, kind, p, prob in PLANTED:
            if gene == g:
                frame.loc[frame["position"] == p, f"{kind}_prob"] = prob
        frame["neither_prob"] = 1 - frame["donor_prob"] - frame["acceptor_prob"]
        if edit is not None:
            frame = edit(g, frame)
        frame.to_parquet(directory / f"{g}.parquet", index=False)


def write_gff3(path: Path, chrom: str = "chr1") -> None:
    gff = ["##gff-version 3"]
    for g, (strand, start, end, txs) in GENES.items():
        gff.append(f"{chrom}\tt\tgene\t{start}\t{end}\t.\t{strand}\t.\tID=gene:{g};gene_id={g}")
        for t, exons in txs.items():
            gff.append(f"{chrom}\tt\tmRNA\t{exons[0][0]}\t{exons[-1][1]}\t.\t{strand}\t.\tID={t};Parent=gene:{g}")
            gff += [f"{chrom}\tt\texon\t{s}\t{e}\t.\t{strand}\t.\tParent={t}" for s, e in exons]
    path.write_text("\n".join(gff) + "\n")


def write_spliceai_table(path: Path, chrom: str = "1") -> None:
    """SpliceAI's table: one transcript per gene (the first), 0-based starts, trailing commas."""
    table = ["#NAME\tCHROM\tSTRAND\tTX_START\tTX_END\tEXON_START\tEXON_END"]
    for g, (strand, start, end, txs) in GENES.items():
        exons = next(iter(txs.values()))
        table.append(f"{g}\t{chrom}\t{strand}\t{start - 1}\t{end}\t{''.join(f'{s - 1},' for s, _ in exons)}"
                     f"\t{''.join(f'{e},' for _, e in exons)}")
    path.write_text("\n".join(table) + "\n")


def digests(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}
