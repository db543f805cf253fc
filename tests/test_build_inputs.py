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
    "spliceai overlapping exons": ("genes.txt", _replace("genes.txt", "1200,1500,1800,", "1200,1250,1800,"),
                                   "exons 1201-1300 and 1251-1600 of gene G2 overlap", []),
    "spliceai exon ending before it starts": ("genes.txt", _replace("genes.txt", "2200,2500,", "2050,2500,"),
                                              "line 4: exon 2100-2050 of gene G3 ends before it starts", []),
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


# ---- the original builder's flags (issue 14) --------------------------------------------------------------

def _built_genes(out: Path) -> list[str]:
    return sorted(pd.read_csv(out / "gene_manifest.csv")["gene_id"])


def _run(inputs: Path, out: Path, *extra: str) -> int:
    return main(_build_args(inputs, "genes.gtf", out, []) + list(extra))


def test_n_genes_error_total_takes_the_genes_with_most_base_model_errors(inputs, tmp_path, capsys):
    # Planted (build_inputs.PLANTED) at threshold 0.5: G1 misses donor 500 and acceptor 601 and calls
    # donor 700 (3 errors); G2 misses acceptor 1600 and calls acceptor 1900 (2); G3 none.
    assert _run(inputs, tmp_path / "two", "--n-genes", "2", "--subset-policy", "error_total") == 0
    assert _built_genes(tmp_path / "two") == ["G1", "G2"]
    assert _run(inputs, tmp_path / "one", "--n-genes", "1") == 0  # error_total is the default
    assert _built_genes(tmp_path / "one") == ["G1"]
    # At threshold 0.25 G1's donor 500 (0.3) is found: G1 2 errors, G2 2 errors (1600 is 0.1): a tie, by id.
    assert _run(inputs, tmp_path / "tie", "--n-genes", "1", "--threshold", "0.25") == 0
    assert _built_genes(tmp_path / "tie") == ["G1"]


def test_n_genes_random_is_seeded(inputs, tmp_path, capsys):
    chosen = {}
    for seed in range(6):
        assert _run(inputs, tmp_path / f"s{seed}", "--n-genes", "2", "--subset-policy", "random",
                    "--seed", str(seed)) == 0
        chosen[seed] = _built_genes(tmp_path / f"s{seed}")
    assert _run(inputs, tmp_path / "again", "--n-genes", "2", "--subset-policy", "random", "--seed", "3") == 0
    assert _built_genes(tmp_path / "again") == chosen[3]
    assert all(len(genes) == 2 for genes in chosen.values())
    assert len({tuple(genes) for genes in chosen.values()}) > 1  # the seed matters


@pytest.mark.parametrize("text, extra", [
    ("gene_id\tscore\nG3\t1\nG1\t2\n", []),                          # TSV, default column
    ("name,gene\nx,G1\ny,G3\n", ["--gene-col", "gene"]),             # CSV, named column
    ("G3\nG1\n\n", []),                                              # one per line
])
def test_gene_ids_file_in_each_layout(text, extra, inputs, tmp_path, capsys):
    (tmp_path / "ids").write_text(text)
    assert _run(inputs, tmp_path / "out", "--gene-ids-file", str(tmp_path / "ids"), *extra) == 0
    assert _built_genes(tmp_path / "out") == ["G1", "G3"]


@pytest.mark.parametrize("text, extra, expected", [
    ("name,gene\nx,G1\n", ["--gene-col", "gene_id"], "no column 'gene_id'"),
    ("name\tscore\nG1\t1\n", [], "name the column with --gene-col"),
    ("G1\nG9\n", [], "gene G9 (1 of 2 requested) is not in the predictions"),
    ("G1\n", ["--genes", "G1"], "not both"),
])
def test_gene_ids_file_mistakes_are_one_line(text, extra, expected, inputs, tmp_path, capsys):
    (tmp_path / "ids").write_text(text)
    assert _run(inputs, tmp_path / "out", "--gene-ids-file", str(tmp_path / "ids"), *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "out").exists()


def test_batch_rows_groups_genes_up_to_that_many_nucleotides(inputs, tmp_path, capsys):
    # Genes in genomic order: G1 800 nt, G2 800 nt, G3 400 nt.
    assert _run(inputs, tmp_path / "out", "--batch-rows", "1200", "--all-positions") == 0
    files = sorted((tmp_path / "out" / "master").glob("*.parquet"))
    assert [pq.read_metadata(f).num_rows for f in files] == [800, 1200]
    assert _run(inputs, tmp_path / "both", "--batch-rows", "1200", "--batch-size", "2") == 2
    assert "not both" in capsys.readouterr().err


def test_output_dir_alias_and_verbose_log(inputs, tmp_path, capsys):
    args = ["build", "--fasta", str(inputs / "genome.fa"), "--annotation", str(inputs / "genes.gtf"),
            "--predictions", str(inputs / "pred"), "--output-dir", str(tmp_path / "out"), "-v"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert (tmp_path / "out" / "dataset_card.json").exists()
    assert "build: batch 1/1: 3 genes, 2,000 nt" in captured.err
    assert captured.out.index("building batches: 1/1") < captured.out.index("ok: ")


# ---- help text and output order ----------------------------------------------------------------------------

def test_help_texts_keep_their_brackets():
    """Rich markup eats `[word]` unless escaped: every bracketed word of every option's help must show."""
    import re

    import typer
    from typer.testing import CliRunner

    from gpumeta.cli.app import app

    command = typer.main.get_command(app)
    runner = CliRunner()
    checked = 0
    for name, sub in command.commands.items():
        shown = runner.invoke(app, [name, "--help"], env={"COLUMNS": "300"}).output
        for param in sub.params:
            for word in re.findall(r"\[(\w+)\]", (getattr(param, "help", None) or "").replace("\\[", "[")):
                assert f"[{word}]" in shown, f"{name} {param.name}: [{word}] missing from --help"
                checked += 1
    assert checked >= 1  # gpumeta[spliceai] at least


def test_redirected_progress_prints_in_order_and_nothing_before_an_error(capsys):
    from gpumeta.progress import Progress

    with Progress() as progress:
        advance = progress.task("step one", 2)
        advance()
        advance()
        progress.note("done: here")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("step one: 2/2 in ") and lines[1] == "done: here"
    with pytest.raises(RuntimeError), Progress():
        raise RuntimeError("before any task")
    assert capsys.readouterr().out == ""


def test_gff3_sequence_section_is_not_read_as_features(inputs):
    from gpumeta.builder.annotation import read_annotation

    plain = read_annotation(inputs / "genes.gff3")
    with open(inputs / "genes.gff3", "a") as handle:
        handle.write("##FASTA\n>chr1\nACGTACGT\n")
    with_sequence = read_annotation(inputs / "genes.gff3")
    assert {g: (v.start, v.end) for g, v in with_sequence.items()} == {g: (v.start, v.end) for g, v in plain.items()}
