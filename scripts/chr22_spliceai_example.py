"""Real-data example: SpliceAI on a 1 Mb slice of GRCh37 chr22, built into a gpumeta dataset.

Needs the spliceai extra (pip install 'gpumeta[spliceai]') and apt-get (Debian/Ubuntu). Steps:
  1. the slice 22:20,000,001-21,000,000 shipped in Debian's hisat2 package (apt-get download + dpkg -x,
     /usr/share/doc/hisat2/examples/reference/22_20-21M.fa); written as a FASTA of chromosome "22" with
     the slice at its own coordinates (N before it), so GRCh37 annotation coordinates apply unchanged;
  2. SpliceAI's GRCh37 annotation (annotations/grch37.txt in the spliceai package): the genes wholly
     inside the slice;
  3. gpumeta build --base-model spliceai over those genes (sampled), then the same genes with
     --all-positions from the same predictions (an evaluation set), and a summary of each;
  4. gpumeta.train on the sampled set, held-out genes scored on the all-positions set (when it exists);
  5. gpumeta annotate with that model over every nucleotide of the genes (SpliceAI's scores from step 3):
     Parquet, site calls, bigWig/bedGraph tracks, per-gene table, held-out evaluation, timed; and a
     figure of the held-out gene whose calls changed most (work/annotate_example.png).
Rerunning resumes: finished SpliceAI parts and batches are reused.
Usage: python scripts/chr22_spliceai_example.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import time
from pathlib import Path

import pandas as pd

SLICE_START, SLICE_END = 20_000_001, 21_000_000
SLICE_MEMBER = "usr/share/doc/hisat2/examples/reference/22_20-21M.fa"


def fetch_slice(work: Path) -> Path:
    """The hisat2 example FASTA (downloaded once into work/)."""
    target = work / "hisat2" / SLICE_MEMBER
    if not target.exists():
        (work / "hisat2").mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "hisat2"], cwd=work, check=True)
        deb = sorted(work.glob("hisat2_*.deb"))[-1]
        subprocess.run(["dpkg", "-x", str(deb), str(work / "hisat2")], check=True)
    return target


def write_chromosome(slice_fa: Path, out: Path) -> Path:
    """FASTA of chromosome "22" holding the slice at 20,000,001.. (N before it)."""
    lines = slice_fa.read_text().splitlines()
    header = lines[0].lstrip(">")
    if header != f"22:{SLICE_START}-{SLICE_END}":
        raise SystemExit(f"unexpected slice header {header!r}")
    seq = "N" * (SLICE_START - 1) + "".join(lines[1:])
    if not out.exists():
        with open(out, "w") as handle:
            handle.write(">22\n")
            for i in range(0, len(seq), 60):
                handle.write(seq[i: i + 60] + "\n")
    return out


def genes_inside(annotation: Path) -> list[str]:
    table = pd.read_csv(annotation, sep="\t")
    table.columns = [c.lstrip("#") for c in table.columns]
    inside = table[(table.CHROM.astype(str) == "22") & (table.TX_START + 1 >= SLICE_START)
                   & (table.TX_END <= SLICE_END)]
    return sorted(inside.NAME)


def heldout_figures(evaluation: dict) -> dict:
    """Base vs meta per site type on the held-out genes: TP/FP/FN/F1 at 0.5 and at the tuned thresholds."""
    headline = evaluation[evaluation["headline"]]
    figures = {"scored_on": evaluation["headline"], "n_test_genes": evaluation["n_test_genes"],
               "n_rows": headline["n_rows"], "macro_f1": headline["macro_f1"]}
    for site_type, by_threshold in headline["site_types"].items():
        for at, entry in by_threshold.items():
            figures[f"{site_type}_{at}"] = {model: {k: entry[model][k] for k in ("tp", "fp", "fn", "f1")}
                                            for model in ("base", "meta")}
            figures[f"{site_type}_{at}"]["thresholds"] = [entry["base_threshold"], entry["meta_threshold"]]
    return figures


def annotate_genes(work: Path, fasta: Path, annotation: Path, genes: list[str]) -> dict:
    """`gpumeta annotate` (the CLI, as a user runs it) over the genes with the trained model, timed from
    process start; and the figure of one held-out gene."""
    import sys

    from gpumeta.annotate.figure import pick_gene, plot_gene
    from gpumeta.model import load_model

    (work / "genes.txt").write_text("\n".join(genes) + "\n")
    command = [sys.executable, "-m", "gpumeta", "annotate", "--model", str(work / "run" / "model"),
               "--fasta", str(fasta), "--annotation", str(annotation), "--genes", f"@{work / 'genes.txt'}",
               "--predictions", str(work / "ds_sampled" / "predictions"), "--out-dir", str(work / "annotate"),
               "--device", "cpu", "--overwrite"]
    print(" ".join(command))
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    card = json.loads((work / "annotate" / "annotate_card.json").read_text())
    held_out = sorted(set(genes) - set(load_model(work / "run" / "model", "cpu").training_genes))
    gene = pick_gene(work / "annotate", held_out)
    plot_gene(work / "annotate", gene, work / "annotate_example.png", note="held out, SpliceAI on GRCh37")
    return {"seconds_from_process_start": round(seconds, 1), "seconds_in_annotate": card["seconds"],
            "cpu_seconds": card.get("cpu_seconds"), "counts": card["counts"], "timings": card["timings"],
            "evaluation": card["evaluation"], "figure": {"path": str(work / "annotate_example.png"), "gene": gene}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gpumeta-chr22"))
    args = parser.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    from gpumeta.builder import build_dataset, summarize

    fasta = write_chromosome(fetch_slice(work), work / "chr22_slice.fa")
    spec = importlib.util.find_spec("spliceai")
    if spec is None:
        raise SystemExit("pip install 'gpumeta[spliceai]' first")
    annotation = Path(next(iter(spec.submodule_search_locations))) / "annotations" / "grch37.txt"
    genes = genes_inside(annotation)
    print(f"{len(genes)} genes wholly inside 22:{SLICE_START:,}-{SLICE_END:,}: {', '.join(genes)}")
    report = {"genes": genes}
    for name, extra in (("sampled", {}), ("all_positions", {"all_positions": True})):
        started = time.perf_counter()
        # SpliceAI runs once (sampled build); the all-positions build reuses its prediction files.
        source = {"base_model": "spliceai"} if name == "sampled" else {
            "predictions": work / "ds_sampled" / "predictions"}
        result = build_dataset(fasta, annotation, work / f"ds_{name}", genes=genes, device="cpu", **source, **extra)
        report[name] = {"seconds": round(time.perf_counter() - started, 1), "rows": result.n_rows,
                        "streams": result.counts["streams"], "summary": summarize(result.out_dir)}
        print(json.dumps(report[name], indent=2))
    if importlib.util.find_spec("gpumeta.train") is not None:
        from gpumeta.train import train

        # Held-out genes are scored at full resolution on the --all-positions build of the same genes.
        started = time.perf_counter()
        result = train(work / "ds_sampled", work / "run", device="cpu", eval_dataset=work / "ds_all_positions",
                       overwrite=True, quiet=True)
        report["training"] = {"seconds": round(time.perf_counter() - started, 1),
                              **heldout_figures(result.evaluation),
                              "warnings": json.loads((work / "run" / "run_info.json").read_text())["warnings"]}
        report["training_summary"] = str(work / "run" / "training_summary.txt")
        print(json.dumps(report["training"], indent=2))
        print(f"trained: see {report['training_summary']}")
        report["annotate"] = annotate_genes(work, fasta, annotation, genes)
        print(json.dumps(report["annotate"], indent=2))
    (work / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
