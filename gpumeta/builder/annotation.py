"""Gene models from GTF, GFF3 or SpliceAI's annotation table, and their true splice sites.

Coordinates are 1-based inclusive throughout. True sites of a gene are the union over its transcripts.
SITE CONVENTION ("exon", the default): a site is the exonic base next to the intron, in transcript
orientation: donor = last base of a non-last exon, acceptor = first base of a non-first exon. That is where
SpliceAI's probability peaks. "intron" uses the first/last intronic base instead (the original
MetaSpliceAI extractor's choice).
"""

from __future__ import annotations

import gzip
import itertools
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


def _where(path: Path, line: int) -> str:
    return f"annotation {path} line {line}"


def _check_exons(exons: np.ndarray, lo: int, hi: int, owner: str, where: str) -> None:
    """Exons (sorted by start) inside owner's lo..hi and not overlapping each other."""
    outside = (exons[:, 0] < lo) | (exons[:, 1] > hi)
    if outside.any():
        s, e = exons[outside][0]
        raise GpumetaError(f"{where}: exon {s}-{e} lies outside {owner} {lo}-{hi}; fix the coordinates "
                           "or the gene/transcript bounds")
    overlap = np.nonzero(exons[1:, 0] <= exons[:-1, 1])[0]
    if len(overlap):
        k = overlap[0]
        raise GpumetaError(f"{where}: exons {exons[k, 0]}-{exons[k, 1]} and {exons[k + 1, 0]}-{exons[k + 1, 1]} "
                           f"of {owner} overlap; one transcript's exons must be disjoint")


def _spliceai_ints(text: str, column: str, where: str, trailing_list: bool) -> list[int]:
    parts = text.split(",") if trailing_list else [text]
    if trailing_list and parts and parts[-1] == "":
        parts = parts[:-1]
    bad = [x for x in parts if not re.fullmatch(r"\d+", x.strip())]
    if bad or not parts:
        raise GpumetaError(f"{where}: column {column} has {(bad[0] if bad else text)!r}, not a non-negative "
                           "integer; SpliceAI tables hold 0-based starts and 1-based ends")
    return [int(x) for x in parts]


def _read_spliceai_table(path: Path) -> dict[str, Gene]:
    """Genes of SpliceAI's annotation table (one transcript per gene). Every row is checked by array code
    (20 k rows of GRCh37's table: 0.1 s, a per-row loop took 1.1 s); the first failing row, in file order,
    is then checked again by `_spliceai_gene` for its one-line message."""
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    table.columns = [c.lstrip("#").strip().upper() for c in table.columns]
    needed = ["NAME", "CHROM", "STRAND", "TX_START", "TX_END", "EXON_START", "EXON_END"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise GpumetaError(f"annotation {path}: SpliceAI table lacks column {missing[0]}; expected {' '.join(needed)}")
    import pyarrow as pa
    import pyarrow.compute as pc

    text = {c: pa.array(table[c].to_numpy(object), pa.string()) for c in needed[3:]}

    def matches(column: str, pattern: str) -> np.ndarray:
        return pc.match_substring_regex(text[column], f"^(?:{pattern})$").to_numpy(zero_copy_only=False)

    def counts(column: str) -> np.ndarray:
        return pc.count_substring_regex(text[column], r"\d+").to_numpy(zero_copy_only=False)

    def values(column: str, rows: np.ndarray) -> np.ndarray:
        parts = pc.list_flatten(pc.split_pattern(pc.utf8_trim_whitespace(text[column].take(rows)), ","))
        parts = pc.utf8_trim_whitespace(parts)
        return parts.filter(pc.not_equal(parts, "")).cast(pa.int64()).to_numpy()

    number, numbers = r"\s*\d+\s*", r"(?:\s*\d+\s*,)*\s*\d+\s*,?\s*"
    bad = (table["NAME"].duplicated().to_numpy() | ~table["STRAND"].isin(["+", "-"]).to_numpy()
           | ~matches("TX_START", number) | ~matches("TX_END", number) | ~matches("EXON_START", numbers)
           | ~matches("EXON_END", numbers) | (counts("EXON_START") != counts("EXON_END")))
    rows = np.flatnonzero(~bad)
    owner = np.repeat(np.arange(len(rows)), counts("EXON_START")[rows])
    # Starts are 0-based, ends 1-based.
    starts, ends = values("EXON_START", rows) + 1, values("EXON_END", rows)
    tx_start, tx_end = values("TX_START", rows) + 1, values("TX_END", rows)
    order = np.lexsort((starts, owner))
    owner, starts, ends = owner[order], starts[order], ends[order]
    exon_bad = (starts > ends) | (starts < tx_start[owner]) | (ends > tx_end[owner])
    exon_bad[1:] |= (owner[1:] == owner[:-1]) & (starts[1:] <= ends[:-1])
    row_bad = (tx_start > tx_end) | (np.bincount(owner[exon_bad], minlength=len(rows)) > 0)
    bad[rows[row_bad]] = True
    if bad.any():
        first = int(np.argmax(bad))
        seen = set(table["NAME"].iloc[:first])
        _spliceai_gene(table.iloc[first], _where(path, first + 2), seen)  # line 1 is the header
        raise AssertionError(f"row {first + 2} of {path} failed a check that _spliceai_gene passed")
    bounds = np.searchsorted(owner, np.arange(len(rows) + 1))
    exons = np.stack([starts, ends], axis=1)
    return {name: Gene(name, chrom, strand, int(lo), int(hi), [Transcript(name, exons[bounds[k]:bounds[k + 1]])])
            for k, (name, chrom, strand, lo, hi) in enumerate(zip(table["NAME"].iloc[rows], table["CHROM"].iloc[rows],
                                                                   table["STRAND"].iloc[rows], tx_start, tx_end))}


def _spliceai_gene(row: pd.Series, where: str, seen: set[str]) -> Gene:
    """One row of a SpliceAI table as a gene, every check in order with its message (the error path of
    `_read_spliceai_table`)."""
    if row.NAME in seen:
        raise GpumetaError(f"{where}: gene {row.NAME} appears twice; one row per gene")
    if row.STRAND not in ("+", "-"):
        raise GpumetaError(f"{where}: STRAND is {row.STRAND!r}; use + or -")
    tx_start = _spliceai_ints(row.TX_START, "TX_START", where, False)[0] + 1
    tx_end = _spliceai_ints(row.TX_END, "TX_END", where, False)[0]
    if tx_start > tx_end:
        raise GpumetaError(f"{where}: TX_START {tx_start - 1} is not below TX_END {tx_end}; "
                           "starts are 0-based, ends 1-based")
    # Starts are 0-based, ends 1-based; exon lists end with a trailing comma.
    starts = np.array(_spliceai_ints(row.EXON_START, "EXON_START", where, True), dtype=np.int64) + 1
    ends = np.array(_spliceai_ints(row.EXON_END, "EXON_END", where, True), dtype=np.int64)
    if len(starts) != len(ends):
        raise GpumetaError(f"{where}: gene {row.NAME} has {len(starts)} EXON_START but {len(ends)} EXON_END "
                           "values; the lists must pair up")
    empty = np.nonzero(starts > ends)[0]
    if len(empty):
        raise GpumetaError(f"{where}: exon {starts[empty[0]] - 1}-{ends[empty[0]]} of gene {row.NAME} ends "
                           "before it starts; fix EXON_START/EXON_END")
    order = np.argsort(starts)
    exons = np.stack([starts[order], ends[order]], axis=1)
    _check_exons(exons, tx_start, tx_end, f"gene {row.NAME}", where)
    return Gene(row.NAME, row.CHROM, row.STRAND, tx_start, tx_end, [Transcript(row.NAME, exons)])


def _attribute(attributes: pd.Series, key: str, gff3: bool) -> pd.Series:
    pattern = rf"(?:^|;)\s*{key}=([^;]+)" if gff3 else rf'(?:^|;)\s*{key}\s+"?([^";]+)"?'
    return attributes.str.extract(pattern, expand=False)


def _feature_lines(path: Path, kind: str) -> pd.DataFrame:
    """The feature lines of a GTF/GFF3 with their 1-based line numbers, coordinates checked and made int."""
    try:
        frame = pd.read_csv(path, sep="\t", header=None, names=_GTF_COLUMNS, dtype=str, keep_default_na=False,
                            quoting=3, skip_blank_lines=False)
    except pd.errors.ParserError as exc:
        raise GpumetaError(f"annotation {path}: {str(exc).strip().splitlines()[-1]}; a {kind} line has 9 "
                           "tab-separated columns") from exc
    frame["line"] = np.arange(1, len(frame) + 1)
    fasta_section = np.flatnonzero((frame["chrom"] == "##FASTA").to_numpy())
    if len(fasta_section):  # GFF3: sequence lines follow, not features
        frame = frame.iloc[: fasta_section[0]]
    frame = frame[~frame["chrom"].str.startswith("#") & (frame["chrom"] != "")]
    for column in ("start", "end"):
        bad = ~frame[column].str.fullmatch(r"\d+")
        if bad.any():
            row = frame[bad].iloc[0]
            raise GpumetaError(f"{_where(path, row.line)}: {column} is {row[column]!r}, not a positive integer; "
                               f"check the {kind} file (9 tab-separated columns, 1-based coordinates)")
        frame[column] = frame[column].astype(np.int64)
    bad = frame[(frame["start"] < 1) | (frame["start"] > frame["end"])]
    if len(bad):
        row = bad.iloc[0]
        raise GpumetaError(f"{_where(path, row.line)}: {row.feature} {row.start}-{row.end} is impossible; "
                           "coordinates are 1-based with start <= end")
    stranded = frame["feature"].isin(["gene", "transcript", "mRNA", "exon"])
    bad = frame[stranded & ~frame["strand"].isin(["+", "-"])]
    if len(bad):
        row = bad.iloc[0]
        raise GpumetaError(f"{_where(path, row.line)}: {row.feature} has strand {row.strand!r}; use + or -")
    return frame


def _check_inside(path: Path, exons: pd.DataFrame, bounds: pd.DataFrame, key: str, owner: str) -> None:
    """Every exon lies on its gene's/transcript's chromosome and strand and within its start..end."""
    merged = exons.merge(bounds.drop_duplicates(key), on=key, suffixes=("", "_owner"))
    bad = merged[(merged["chrom"] != merged["chrom_owner"]) | (merged["strand"] != merged["strand_owner"])
                 | (merged["start"] < merged["start_owner"]) | (merged["end"] > merged["end_owner"])]
    if len(bad):
        row = bad.sort_values("line").iloc[0]
        raise GpumetaError(
            f"{_where(path, row.line)}: exon {row.chrom}:{row.start}-{row.end}{row.strand} lies outside its "
            f"{owner} {row[key]} ({row.chrom_owner}:{row.start_owner}-{row.end_owner}{row.strand_owner}, line "
            f"{row.line_owner}); fix the coordinates or the {owner} line")


def _read_gff(path: Path, kind: str) -> dict[str, Gene]:
    gff3 = kind == "gff3"
    frame = _feature_lines(path, kind)
    if gff3:
        exons, gene_rows, tx_rows = _gff3_exons(frame, path)
    else:
        exons = frame[frame["feature"] == "exon"].copy()
        exons["gene_id"] = _attribute(exons["attributes"], "gene_id", False)
        exons["transcript_id"] = _attribute(exons["attributes"], "transcript_id", False)
        gene_rows = frame[frame["feature"] == "gene"].copy()
        gene_rows["gene_id"] = _attribute(gene_rows["attributes"], "gene_id", False)
        tx_rows = frame[frame["feature"] == "transcript"].copy()
        tx_rows["transcript_id"] = _attribute(tx_rows["attributes"], "transcript_id", False)
    lacking = exons[exons["gene_id"].isna() | exons["transcript_id"].isna()]
    if len(lacking):
        raise GpumetaError(f"{_where(path, lacking['line'].iloc[0])}: exon lacks gene_id/transcript_id (or a "
                           "Parent chain); check the attributes column")
    gene_rows = gene_rows.dropna(subset=["gene_id"])
    columns = ["chrom", "strand", "start", "end", "line"]
    _check_inside(path, exons, gene_rows[["gene_id", *columns]], "gene_id", "gene")
    _check_inside(path, exons, tx_rows.dropna(subset=["transcript_id"])[["transcript_id", *columns]],
                  "transcript_id", "transcript")
    bounds = {g.gene_id: (int(g.start), int(g.end)) for g in gene_rows.itertuples()}
    return _genes_of_exons(exons, bounds, path)


def _genes_of_exons(exons: pd.DataFrame, bounds: dict[str, tuple[int, int]], path: Path) -> dict[str, Gene]:
    """Genes (in gene_id order) of exon rows (gene_id, transcript_id, chrom, strand, start, end, line), each
    checked: one chromosome and strand per gene, a transcript's exons from base 1 on and disjoint. Array code
    over all exons, then one slice per transcript: a GENCODE annotation has 1.6 M exons."""
    exons = exons.sort_values(["gene_id", "transcript_id", "start"], kind="stable", ignore_index=True)
    gene_ids = exons["gene_id"].astype(str).to_numpy(object)
    tx_ids = exons["transcript_id"].astype(str).to_numpy(object)
    spans = exons[["start", "end"]].to_numpy(np.int64)
    per_gene = exons.groupby("gene_id", sort=True).agg(n_chroms=("chrom", "nunique"), n_strands=("strand", "nunique"),
                                                        start=("start", "min"), end=("end", "max"))
    mixed = per_gene.index[(per_gene["n_chroms"] != 1) | (per_gene["n_strands"] != 1)]
    if len(mixed):
        rows = exons[exons["gene_id"] == mixed[0]]
        raise GpumetaError(f"{_where(path, rows['line'].min())}: gene {mixed[0]} spans several chromosomes/strands "
                           f"({','.join(rows['chrom'].unique())} {','.join(rows['strand'].unique())}); fix or drop it")
    new_gene = np.r_[True, gene_ids[1:] != gene_ids[:-1]]
    new_tx = new_gene | np.r_[True, tx_ids[1:] != tx_ids[:-1]]
    # Errors in (gene, transcript) order: an exon before base 1, or one overlapping its predecessor.
    bad = (spans[:, 0] < 1) | np.r_[False, ~new_tx[1:] & (spans[1:, 0] <= spans[:-1, 1])]
    if bad.any():
        k = int(np.argmax(bad))
        first = int(np.flatnonzero(new_tx[: k + 1])[-1])
        tx_rows = slice(first, first + int(np.argmax(np.r_[new_tx[first + 1:], True])) + 1)
        _check_exons(spans[tx_rows], 1, np.iinfo(np.int64).max, f"transcript {tx_ids[k]}",
                     _where(path, int(exons["line"].iloc[tx_rows].min())))
    tx_starts = np.flatnonzero(new_tx).tolist() + [len(exons)]
    chroms, strands = exons["chrom"].to_numpy(object), exons["strand"].to_numpy(object)
    genes: dict[str, Gene] = {}
    # A gene line's bounds where there is one, else its exons' extent.
    bodies = {**dict(zip(per_gene.index, zip(per_gene["start"], per_gene["end"]))), **bounds}
    for lo, hi in itertools.pairwise(tx_starts):
        gene = genes.get(gene_ids[lo])
        if gene is None:
            start, end = bodies[gene_ids[lo]]
            gene = genes[gene_ids[lo]] = Gene(gene_ids[lo], str(chroms[lo]), str(strands[lo]), int(start), int(end))
        gene.transcripts.append(Transcript(tx_ids[lo], spans[lo:hi]))
    return genes


def _gff3_exons(frame: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Exons with gene_id/transcript_id resolved through GFF3 Parent chains (exon -> transcript -> gene),
    the gene lines and the exons' parent (transcript) lines."""
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
    parents = frame[frame["ID"].isin(set(exons["Parent"].dropna())) & ~frame["ID"].isin(set(genes["ID"]))]
    tx_rows = parents.assign(transcript_id=parents["ID"].map(tx_name))
    return exons, gene_rows, tx_rows


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
