"""Genome-browser tracks of per-nucleotide scores: bedGraph and bigWig, one file per score and strand.

Tracks are split by strand (a donor on '+' and one on '-' can share a position); where same-strand
regions overlap, the larger score is shown. Values are rounded to 1e-4 and equal neighbours merged into
one interval, which shrinks files by orders of magnitude (the Parquet keeps full precision). Memory: one
chromosome strand's scored positions at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_path

#: Parquet column -> track name.
SIGNALS = {"meta_donor": "meta_donor", "meta_acceptor": "meta_acceptor",
           "base_donor": "base_donor", "base_acceptor": "base_acceptor"}
STRANDS = {"+": "plus", "-": "minus"}
DECIMALS = 4


def runs(position: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start0, end, value) intervals of sorted unique 1-based positions, equal contiguous values merged."""
    if position.size == 0:
        return (np.empty(0, np.int64),) * 2 + (np.empty(0, np.float64),)
    value = np.round(value.astype(np.float64), DECIMALS)
    brk = np.ones(position.size, dtype=bool)
    brk[1:] = (np.diff(position) != 1) | (value[1:] != value[:-1])
    first = np.nonzero(brk)[0]
    last = np.append(first[1:], position.size) - 1
    return position[first] - 1, position[last], value[first]


def write_tracks(nucleotide_files: list[Path], chrom_order: list[str], chrom_lengths: dict[str, int],
                 out_dir: Path) -> list[Path]:
    """bedGraph and bigWig of every signal and strand under out_dir; returns the files written."""
    import pyarrow.dataset as ds
    import pyBigWig

    data = ds.dataset([str(f) for f in nucleotide_files], format="parquet")
    present = set(data.to_table(columns=["chrom"]).column("chrom").unique().to_pylist())
    chroms = [c for c in chrom_order if c in present]
    written = []
    for strand, label in STRANDS.items():
        intervals: dict[str, list] = {s: [] for s in SIGNALS}
        for chrom in chroms:
            table = data.to_table(columns=["position", *SIGNALS],
                                  filter=(ds.field("chrom") == chrom) & (ds.field("strand") == strand))
            if table.num_rows == 0:
                continue
            position, values = _largest_per_position(table)
            for signal in SIGNALS:
                intervals[signal].append((chrom, *runs(position, values[signal])))
        for signal, name in SIGNALS.items():
            parts = intervals[signal]
            if not parts:
                continue
            written.append(_write_bedgraph(out_dir / f"{name}.{label}.bedGraph", parts, name, label))
            written.append(_write_bigwig(out_dir / f"{name}.{label}.bw", parts, chroms, chrom_lengths, pyBigWig))
    return written


def _largest_per_position(table) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sorted unique positions and, per signal, the largest score there (same-strand regions may overlap)."""
    position = table.column("position").to_numpy()
    order = np.argsort(position, kind="stable")
    position = position[order]
    first = np.flatnonzero(np.r_[True, position[1:] != position[:-1]])
    values = {}
    for signal in SIGNALS:
        sorted_values = table.column(signal).to_numpy()[order]
        values[signal] = (sorted_values if first.size == position.size
                          else np.maximum.reduceat(sorted_values, first))
    return position[first], values


def _write_bedgraph(path: Path, parts: list, name: str, label: str) -> Path:
    import pyarrow as pa
    import pyarrow.csv as csv

    # Arrow's writer (C++) prints each rounded float in its shortest form; pandas' formatter is 10x slower.
    options = csv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(f'track type=bedGraph name="{name} ({label})" description="gpumeta {name} score, '
                     f'{label} strand"\n'.encode())
        for chrom, start, end, value in parts:
            table = pa.table({"chrom": pa.repeat(pa.scalar(chrom), len(start)).cast(pa.string()),
                              "start": start, "end": end, "value": value})
            csv.write_csv(table, handle, options)
    return path


def _write_bigwig(path: Path, parts: list, chroms: list[str], chrom_lengths: dict[str, int], pyBigWig) -> Path:
    with atomic_path(path) as tmp:
        handle = pyBigWig.open(str(tmp), "w")
        try:
            handle.addHeader([(c, int(chrom_lengths[c])) for c in chroms], maxZooms=10)
            for chrom, start, end, value in parts:
                handle.addEntries([chrom] * len(start), start.astype(np.int64), ends=end.astype(np.int64),
                                  values=value.astype(np.float64))
        finally:
            handle.close()
    return path
