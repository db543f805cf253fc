"""Gene models from GTF, GFF3 or SpliceAI's annotation table, and their true splice sites.

Coordinates are 1-based inclusive throughout. True sites of a gene are the union over its transcripts.
SITE CONVENTION ("exon", the default): a site is the exonic base next to the intron, in transcript
orientation: donor = last base of a non-last exon, acceptor = first base of a non-first exon. That is where
SpliceAI's probability peaks. "intron" uses the first/last intronic base instead (the original
MetaSpliceAI extractor's choice).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import GpumetaError

SITE_CONVENTIONS: tuple[str, ...] = ("exon", "intron")
_GTF_COLUMNS = ["chrom", "source", "feature", "start", "end", "score", "strand", "frame", "attributes"]


@dataclass
class Transcript:
    transcript_id: str
    exons: np.ndarray  # (n, 2) int64 [start, end], sorted by start


@dataclass
class Gene:
    gene_id: str
    chrom: str
    strand: str
    start: int
    end: int
    transcripts: list[Transcript] = field(default_factory=list)

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass
class GeneSites:
    """True sites of one gene: genomic positions per type, and one transcript holding each site."""

    donor: np.ndarray
    acceptor: np.ndarray
    donor_transcripts: list[str]
    acceptor_transcripts: list[str]

    def positions(self, site_type: str) -> np.ndarray:
        return self.donor if site_type == "donor" else self.acceptor

    def transcripts(self, site_type: str) -> list[str]:
        return self.donor_transcripts if site_type == "donor" else self.acceptor_transcripts


def _open_text(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def detect_format(path: Path) -> str:
    """'spliceai', 'gff3' or 'gtf', from the header or the first feature line."""
    with _open_text(path) as handle:
        for line in handle:
            if line.startswith("#NAME") or line.startswith("NAME\t"):
                return "spliceai"
            if line.startswith("##gff-version 3"):
                return "gff3"
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 9:
                return "gff3" if re.search(r"(^|;)\s*(ID|Parent)=", fields[8]) else "gtf"
            break
    raise GpumetaError(f"annotation {path}: not GTF, GFF3 or SpliceAI's table (#NAME CHROM STRAND "
                       "TX_START TX_END EXON_START EXON_END); check the file")


def read_annotation(path: str | Path) -> dict[str, Gene]:
    """Genes by gene_id, from GTF, GFF3 or SpliceAI's annotation table (format detected)."""
    path = Path(path)
    if not path.is_file():
        raise GpumetaError(f"annotation {path} does not exist: pass a GTF, GFF3 or SpliceAI annotation table")
    kind = detect_format(path)
    genes = _read_spliceai_table(path) if kind == "spliceai" else _read_gff(path, kind)
    if not genes:
        raise GpumetaError(f"annotation {path} holds no gene with exons: check it is a {kind} file with exon features")
    return genes


def _read_spliceai_table(path: Path) -> dict[str, Gene]:
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    table.columns = [c.lstrip("#").strip().upper() for c in table.columns]
    needed = ["NAME", "CHROM", "STRAND", "TX_START", "TX_END", "EXON_START", "EXON_END"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise GpumetaError(f"annotation {path}: SpliceAI table lacks column {missing[0]}; expected {' '.join(needed)}")
    genes: dict[str, Gene] = {}
    for row in table.itertuples(index=False):
        # Starts are 0-based, ends 1-based; exon lists end with a trailing comma.
        starts = np.array([int(x) + 1 for x in row.EXON_START.split(",") if x], dtype=np.int64)
        ends = np.array([int(x) for x in row.EXON_END.split(",") if x], dtype=np.int64)
        if len(starts) != len(ends) or row.STRAND not in "+-" or len(row.STRAND) != 1:
            raise GpumetaError(f"annotation {path}: gene {row.NAME} has mismatched exon lists or strand {row.STRAND!r}")
        order = np.argsort(starts)
        exons = np.stack([starts[order], ends[order]], axis=1)
        genes[row.NAME] = Gene(row.NAME, row.CHROM, row.STRAND, int(row.TX_START) + 1, int(row.TX_END),
                               [Transcript(row.NAME, exons)])
    return genes


def _attribute(attributes: pd.Series, key: str, gff3: bool) -> pd.Series:
    pattern = rf"(?:^|;)\s*{key}=([^;]+)" if gff3 else rf'(?:^|;)\s*{key}\s+"?([^";]+)"?'
    return attributes.str.extract(pattern, expand=False)


def _read_gff(path: Path, kind: str) -> dict[str, Gene]:
    gff3 = kind == "gff3"
    frame = pd.read_csv(path, sep="\t", comment="#", header=None, names=_GTF_COLUMNS, dtype=str,
                        keep_default_na=False, quoting=3)
    frame = frame[frame["feature"] != ""]
    frame["start"] = pd.to_numeric(frame["start"], errors="coerce")
    frame["end"] = pd.to_numeric(frame["end"], errors="coerce")
    if frame[["start", "end"]].isna().any().any():
        raise GpumetaError(f"annotation {path}: non-integer start/end on some lines; check the {kind} file")
    if gff3:
        exons, gene_rows = _gff3_exons(frame, path)
    else:
        exons = frame[frame["feature"] == "exon"].copy()
        exons["gene_id"] = _attribute(exons["attributes"], "gene_id", False)
        exons["transcript_id"] = _attribute(exons["attributes"], "transcript_id", False)
        gene_rows = frame[frame["feature"] == "gene"].copy()
        gene_rows["gene_id"] = _attribute(gene_rows["attributes"], "gene_id", False)
    if exons["gene_id"].isna().any() or exons["transcript_id"].isna().any():
        raise GpumetaError(f"annotation {path}: an exon line lacks gene_id/transcript_id (or a Parent chain); "
                           "check the attributes column")
    bounds = {g.gene_id: (int(g.start), int(g.end)) for g in gene_rows.dropna(subset=["gene_id"]).itertuples()}
    genes: dict[str, Gene] = {}
    exons = exons.sort_values(["gene_id", "transcript_id", "start"], kind="stable")
    for gene_id, gene_exons in exons.groupby("gene_id", sort=False):
        chroms, strands = gene_exons["chrom"].unique(), gene_exons["strand"].unique()
        if len(chroms) != 1 or len(strands) != 1 or strands[0] not in ("+", "-"):
            raise GpumetaError(f"annotation {path}: gene {gene_id} spans several chromosomes/strands "
                               f"({','.join(chroms)} {','.join(strands)}); fix or drop it")
        transcripts = [Transcript(str(tid), tx[["start", "end"]].to_numpy(np.int64))
                       for tid, tx in gene_exons.groupby("transcript_id", sort=True)]
        start, end = bounds.get(gene_id, (int(gene_exons["start"].min()), int(gene_exons["end"].max())))
        start, end = min(start, int(gene_exons["start"].min())), max(end, int(gene_exons["end"].max()))
        genes[str(gene_id)] = Gene(str(gene_id), str(chroms[0]), str(strands[0]), start, end, transcripts)
    return genes


def _gff3_exons(frame: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exons with gene_id/transcript_id resolved through GFF3 Parent chains (exon -> transcript -> gene)."""
    attrs = frame["attributes"]
    frame = frame.assign(ID=_attribute(attrs, "ID", True), Parent=_attribute(attrs, "Parent", True),
                         gene_id_attr=_attribute(attrs, "gene_id", True),
                         transcript_id_attr=_attribute(attrs, "transcript_id", True))
    parent_of = dict(zip(frame["ID"].dropna(), frame.loc[frame["ID"].notna(), "Parent"]))
    genes = frame[frame["Parent"].isna() & frame["ID"].notna()]
    gene_name = dict(zip(genes["ID"], genes["gene_id_attr"].fillna(genes["ID"])))
    tx_rows = frame[frame["ID"].notna()]
    tx_name = dict(zip(tx_rows["ID"], tx_rows["transcript_id_attr"].fillna(tx_rows["ID"])))
    exons = frame[frame["feature"] == "exon"].copy()
    # An exon may belong to several transcripts: one row per parent.
    exons["Parent"] = exons["Parent"].str.split(",")
    exons = exons.explode("Parent")

    def root(node):
        seen = 0
        while isinstance(parent_of.get(node), str) and seen < 10:
            node, seen = parent_of[node].split(",")[0], seen + 1
        return node

    exons["transcript_id"] = exons["Parent"].map(lambda p: tx_name.get(p, p) if isinstance(p, str) else None)
    exons["gene_id"] = exons["Parent"].map(lambda p: gene_name.get(root(p)) if isinstance(p, str) else None)
    gene_rows = genes.assign(gene_id=genes["ID"].map(gene_name))
    return exons, gene_rows


def gene_sites(gene: Gene, convention: str = "exon") -> GeneSites:
    """True donor and acceptor positions of a gene (union over transcripts), inside the gene body."""
    if convention not in SITE_CONVENTIONS:
        raise GpumetaError(f"--site-convention {convention!r} is not one of {', '.join(SITE_CONVENTIONS)}")
    intron = convention == "intron"
    found: dict[str, dict[int, str]] = {"donor": {}, "acceptor": {}}
    for tx in gene.transcripts:
        if len(tx.exons) < 2:
            continue
        # Intron k lies between exon k's end (left) and exon k+1's start (right), genomic order.
        left, right = tx.exons[:-1, 1], tx.exons[1:, 0]
        if gene.strand == "+":
            donors, acceptors = left + intron, right - intron
        else:  # transcript runs right to left: the donor is the right exon's first genomic base
            donors, acceptors = right - intron, left + intron
        for site_type, positions in (("donor", donors), ("acceptor", acceptors)):
            for p in positions.tolist():
                if gene.start <= p <= gene.end:
                    found[site_type].setdefault(int(p), tx.transcript_id)
    out = {}
    for site_type in ("donor", "acceptor"):
        ordered = sorted(found[site_type])
        out[site_type] = (np.array(ordered, dtype=np.int64), [found[site_type][p] for p in ordered])
    return GeneSites(out["donor"][0], out["acceptor"][0], out["donor"][1], out["acceptor"][1])
