"""Time `synth_dataset` (target: the default 1,000 genes in < 30 s on 2 cores) and `synth_genome`.

Usage: python scripts/bench_synth.py [--genes 1000] [--rows-per-gene 400] [--preset NAME] [--out DIR]
Prints seconds, rows and rows/s; the output goes to a temporary directory unless --out is given.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from gpumeta.synth import synth_dataset, synth_genome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=None, help="genes (default 1000, or the preset's)")
    parser.add_argument("--rows-per-gene", type=int, default=None, help="mean rows per gene (default 400)")
    parser.add_argument("--preset", default=None, help="dataset preset, e.g. metaspliceai-large")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep the output here (default: a temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or Path(scratch)
        start = time.perf_counter()
        synth_dataset(root / "dataset", n_genes=args.genes, seed=args.seed, rows_per_gene=args.rows_per_gene,
                      preset=args.preset)
        seconds = time.perf_counter() - start
        card = json.loads((root / "dataset" / "dataset_card.json").read_text())
        size = sum(f.stat().st_size for f in (root / "dataset" / "master").glob("*.parquet"))
        print(f"synth_dataset: {card['n_genes']:,} genes, {card['n_rows']:,} rows x {card['n_features']} features "
              f"in {seconds:.1f} s = {card['n_rows'] / seconds:,.0f} rows/s; {size / 1e6:.0f} MB Parquet"
              + ("" if args.preset or args.genes not in (None, 1000) else
                 f" ({'PASS' if seconds < 30 else 'FAIL'}: target < 30 s)"))

        start = time.perf_counter()
        result = synth_genome(root / "genome", n_genes=40, seed=args.seed)
        seconds = time.perf_counter() - start
        print(f"synth_genome: 40 genes, {result.counts['prediction_rows']:,} prediction rows in {seconds:.1f} s")


if __name__ == "__main__":
    main()
