"""`gpumeta build` on broken inputs: each problem is one line `error: ...` naming the file, line, column or
value, exit 2, no output directory, and the inputs byte-identical (a corpus like test_dataset.py's BROKEN)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from build_inputs import digests, write_genome, write_gff3, write_gtf, write_predictions, write_spliceai_table

from gpumeta.cli import main


def _replace(name: str, old: str, new: str):
    """An edit replacing the first `old` in input file `name` (the text must be there)."""
    def edit(inputs: Path) -> None:
        path = inputs / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new, 1))
    return edit


def _append(name: str, line: str):
    def edit(inputs: Path) -> None:
        with open(inputs / name, "a") as handle:
            handle.write(line + "\n")
    return edit


def _predictions(edit_frame):
    """Rewrite the prediction files through edit_frame(gene_id, frame)."""
    def edit(inputs: Path) -> None:
        for path in (inputs / "pred").glob("*.parquet"):
            frame = pd.read_parquet(path)
            edit_frame(path.stem, frame).to_parquet(path, index=False)
    return edit


def _on(gene: str, change):
    return _predictions(lambda g, f: change(f) if g == gene else f)


def _nan_probability(inputs: Path) -> None:
    """A real NaN (pandas would store it as a null)."""
    path = inputs / "pred" / "G2.parquet"
    table = pq.read_table(path)
    values = table["donor_prob"].to_numpy().copy()
    values[5] = np.nan
    pq.write_table(table.set_column(table.schema.get_field_index("donor_prob"), "donor_prob",
                                    pa.array(values, from_pandas=False)), path)


def _truncate_genome(inputs: Path) -> None:
    """The chromosome ends at 2,450 nt, inside gene G3 (2101-2500)."""
    path = inputs / "genome.fa"
    lines = path.read_text().splitlines()
    sequence = "".join(lines[1:])[:2450]
    path.write_text(lines[0] + "\n" + "\n".join(sequence[i: i + 60] for i in range(0, len(sequence), 60)) + "\n")


def _gzip_genome(inputs: Path) -> None:
    data = (inputs / "genome.fa").read_bytes()
    (inputs / "genome.fa").unlink()
    (inputs / "genome.fa.gz").write_bytes(gzip.compress(data))


G3_EXON = 'exon\t2301\t2500\t.\t+\t.\tgene_id "G3"; transcript_id "T4";'
SPLICEAI_HEADER = "#NAME\tCHROM\tSTRAND\tTX_START\tTX_END\tEXON_START\tEXON_END"
# case: (annotation file, edit of the inputs, expected text, extra CLI arguments)
BROKEN = {
    # annotation coordinates (GTF)
    "gtf exon start after end": ("genes.gtf", _replace("genes.gtf", "exon\t301\t400", "exon\t400\t301"),
                                 "line 3: exon 400-301 is impossible", []),
    "gtf zero start": ("genes.gtf", _replace("genes.gtf", "gene\t2101\t2500", "gene\t0\t2500"),
                       "gene 0-2500 is impossible", []),
    "gtf negative coordinate": ("genes.gtf", _replace("genes.gtf", "exon\t301\t400", "exon\t-301\t400"),
                                "line 3: start is '-301', not a positive integer", []),
    "gtf fractional coordinate": ("genes.gtf", _replace("genes.gtf", "exon\t301\t400", "exon\t301\t400.5"),
                                  "line 3: end is '400.5', not a positive integer", []),
    "gtf strand not +/-": ("genes.gtf", _replace("genes.gtf", G3_EXON, G3_EXON.replace("\t+\t", "\t.\t")),
                           "exon has strand '.'; use + or -", []),
    "gtf exon outside its gene": ("genes.gtf", _replace("genes.gtf", "gene\t2101\t2500", "gene\t2101\t2400"),
                                  "exon chr1:2301-2500+ lies outside its gene G3", []),
    "gtf exon on the other strand": ("genes.gtf", _replace("genes.gtf", G3_EXON, G3_EXON.replace("\t+\t", "\t-\t")),
                                     "lies outside its gene G3 (chr1:2101-2500+", []),
    "gtf exon outside its transcript": (
        "genes.gtf", _append("genes.gtf", 'chr1\tt\ttranscript\t2101\t2400\t.\t+\t.\tgene_id "G3"; '
                                          'transcript_id "T4";'), "outside its transcript T4", []),
    "gtf overlapping exons": ("genes.gtf", _replace("genes.gtf", "exon\t2101\t2200", "exon\t2101\t2350"),
                              "exons 2101-2350 and 2301-2500 of transcript T4 overlap", []),
    "gtf ten columns": ("genes.gtf", _replace("genes.gtf", "gene_id \"G2\";\n", "gene_id \"G2\";\textra\n"),
                        "9 tab-separated columns", []),
    "gtf exon without transcript_id": ("genes.gtf", _replace("genes.gtf", ' transcript_id "T4";', ""),
                                       "exon lacks gene_id/transcript_id", []),
    "gff3 exon outside its mRNA": ("genes.gff3", _replace("genes.gff3", "mRNA\t2101\t2500", "mRNA\t2101\t2400"),
                                   "outside its transcript T4", []),
    "unreadable annotation": ("genes.gtf", _replace("genes.gtf", "chr1\tt\tgene", "junk"), "not GTF, GFF3", []),
    # SpliceAI's annotation table
    "spliceai table lacks a column": (
        "genes.txt", _replace("genes.txt", SPLICEAI_HEADER, SPLICEAI_HEADER.replace("EXON_END", "EXON_ENDS")),
        "lacks column EXON_END", []),
    "spliceai non-integer start": ("genes.txt", _replace("genes.txt", "\t100\t900\t", "\tabc\t900\t"),
                                   "line 2: column TX_START has 'abc'", []),
    "spliceai unpaired exon lists": ("genes.txt", _replace("genes.txt", "200,400,900,", "200,400,"),
                                     "3 EXON_START but 2 EXON_END", []),
    "spliceai strand": ("genes.txt", _replace("genes.txt", "G3\tchr1\t+", "G3\tchr1\t*"), "STRAND is '*'", []),
    "spliceai exon outside transcript": ("genes.txt", _replace("genes.txt", "\t100\t900\t", "\t150\t900\t"),
                                         "exon 101-200 lies outside gene G1 151-900", []),
    "spliceai start after end": ("genes.txt", _replace("genes.txt", "\t100\t900\t", "\t950\t900\t"),
                                 "TX_START 950 is not below TX_END 900", []),
    "spliceai duplicated gene": ("genes.txt", _replace("genes.txt", "G2\t", "G1\t"), "gene G1 appears twice", []),
    # genome
    "chromosome not in the FASTA": ("genes.gtf", lambda i: write_genome(i / "genome.fa", chrom="chrX"),
                                    "chromosome 'chr1' of annotation", []),
    "chr prefix mismatch": ("genes.gtf", lambda i: write_genome(i / "genome.fa", chrom="1"),
                            "rerun with --chrom-alias strip-chr", []),
    "gene past the chromosome end": ("genes.gtf", _truncate_genome, "spans chr1:2101-2500 but chr1 has 2,450 nt", []),
    "gzip instead of bgzip": ("genes.gtf", _gzip_genome, "bgzip (not gzip)", ["--fasta", "genome.fa.gz"]),
    "missing FASTA": ("genes.gtf", lambda i: (i / "genome.fa").unlink(), "genome.fa does not exist", []),
    # predictions
    "predictions lack a column": ("genes.gtf", _on("G1", lambda f: f.drop(columns="neither_prob")),
                                  "G1.parquet: column 'neither_prob' is missing", []),
    "position stored as text": ("genes.gtf", _on("G2", lambda f: f.assign(position=f["position"].astype(str))),
                                "G2.parquet: column 'position' has type", []),
    "position stored as float": ("genes.gtf", _on("G2", lambda f: f.assign(position=f["position"] + 0.0)),
                                 "column 'position' has type double", []),
    "probability stored as text": (
        "genes.gtf", _on("G3", lambda f: f.assign(donor_prob=f["donor_prob"].astype(str))),
        "G3.parquet: column 'donor_prob' has type", []),
    "probability above 1": ("genes.gtf", _on("G2", lambda f: f.assign(donor_prob=f["donor_prob"] * 100)),
                            "column donor_prob has value", []),
    "negative probability": ("genes.gtf", _on("G1", lambda f: f.assign(acceptor_prob=-f["acceptor_prob"])),
                             "outside [0, 1]", []),
    "NaN probability": ("genes.gtf", _nan_probability, "G2.parquet: column donor_prob has value nan", []),
    "infinite probability": ("genes.gtf", _on("G1", lambda f: f.assign(neither_prob=np.inf)),
                             "column neither_prob has value inf", []),
    "missing probability": ("genes.gtf", _on("G2", lambda f: f.assign(acceptor_prob=f["acceptor_prob"].where(
                            f.index > 0, None))), "column acceptor_prob has 1 missing value(s)", []),
    "probability column all empty": ("genes.gtf", _on("G2", lambda f: f.assign(acceptor_prob=None)),
                                     "column 'acceptor_prob' has type null; it must hold numbers", []),
    "missing gene id": ("genes.gtf", _on("G3", lambda f: f.assign(gene_id=f["gene_id"].where(f.index > 0, None))),
                        "column gene_id has 1 missing value(s)", []),
    "position outside the gene": ("genes.gtf", _on("G1", lambda f: f.assign(position=f["position"] + 1)),
                                  "G1.parquet: gene G1 has position 901 outside its body chr1:101-900", []),
    "duplicated position": ("genes.gtf", _on("G1", lambda f: pd.concat([f, f.iloc[[10]]])),
                            "gene G1 has position 111 2 times", []),
    "gene not fully covered": ("genes.gtf", _on("G2", lambda f: f[f["position"] != 1500]),
                               "gene G2 lacks 1 of the 800 positions of its body chr1:1201-2000 (first 1500)", []),
    "gene not in the annotation": ("genes.gtf", _on("G3", lambda f: f.assign(gene_id="GX")),
                                   "gene GX is not in the annotation", []),
    "gene on another strand": ("genes.gtf", _on("G2", lambda f: f.assign(strand="+")),
                               "gene G2 is on chr1+ there but chr1- in the annotation", []),
    "requested gene not predicted": ("genes.gtf", lambda i: (i / "pred" / "G3.parquet").unlink(),
                                     "gene G3 (1 of 2 requested) is not in the predictions", ["--genes", "G1,G3"]),
    "not a Parquet file": ("genes.gtf", lambda i: (i / "pred" / "G1.parquet").write_bytes(b"not parquet"),
                           "G1.parquet: not a readable Parquet file", []),
    "no prediction files": ("genes.gtf", lambda i: [p.unlink() for p in (i / "pred").glob("*")],
                            "no .parquet files found", []),
}


@pytest.fixture()
def inputs(tmp_path):
    directory = tmp_path / "in"
    directory.mkdir()
    write_genome(directory / "genome.fa")
    write_gtf(directory / "genes.gtf")
    write_gff3(directory / "genes.gff3")
    write_spliceai_table(directory / "genes.txt", chrom="chr1")
    write_predictions(directory / "pred")
    return directory


def _build_args(inputs: Path, annotation: str, out: Path, extra: list[str]) -> list[str]:
    args = {"--fasta": "genome.fa", "--annotation": annotation, "--predictions": "pred"}
    for option, value in zip(extra[::2], extra[1::2]):
        args[option] = value
    paths = {"--fasta", "--annotation", "--predictions"}
    return ["build", "--out", str(out), "--device", "cpu",
            *[x for option, value in args.items()
              for x in (option, str(inputs / value) if option in paths else value)]]


def test_the_corpus_inputs_build(inputs, tmp_path, capsys):
    """Unbroken, every annotation format builds: the failures below come from the breakage alone."""
    for annotation in ("genes.gtf", "genes.gff3"):
        assert main(_build_args(inputs, annotation, tmp_path / annotation, [])) == 0, capsys.readouterr().err
    assert main(_build_args(inputs, "genes.txt", tmp_path / "spliceai", ["--genes", "G1"])) == 0


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_broken_input_is_one_line_exit_2_and_nothing_written(case, inputs, tmp_path, capsys):
    annotation, edit, expected, extra = BROKEN[case]
    edit(inputs)
    before = digests(inputs)
    out = tmp_path / "out"
    code = main(_build_args(inputs, annotation, out, extra))
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert expected in captured.err, captured.err
    assert captured.out == ""
    assert not out.exists()
    assert digests(inputs) == before
