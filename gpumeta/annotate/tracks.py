"""Genome-browser tracks of per-nucleotide scores: bedGraph and bigWig, one file per score and strand.

Tracks are split by strand (a donor on '+' and one on '-' can share a position); where same-strand
regions overlap, the larger score is shown. Values are rounded to 1e-4 (the Parquet keeps full
precision); the bedGraph merges equal neighbours into one interval; the bigWig stores the same intervals
where they are few, else fixed-step blocks of every position (`_TrackWriter.add`).
All 16 files are written side by side, one chromosome at a time (memory: that chromosome's scored
positions, about 40 bytes each).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from ..atomic import atomic_path

#: Parquet column -> track name.
SIGNALS = {"meta_donor": "meta_donor", "meta_acceptor": "meta_acceptor",
           "base_donor": "base_donor", "base_acceptor": "base_acceptor"}
STRANDS = {"+": "plus", "-": "minus"}
DECIMALS = 4
#: A bigWig entry per merged run costs pyBigWig about 9x a value of a fixed-step block (1.05 vs 0.12 us
#: measured): runs are written as entries when there are fewer than one per this many positions.
RUNS_PER_BLOCK_VALUE = 8


def runs(position: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start0, end, value) intervals of sorted unique 1-based positions, equal contiguous values merged
    (compared exactly: `_TrackWriter.add` rounds them first)."""
    if position.size == 0:
        return (np.empty(0, np.int64),) * 2 + (np.empty(0, np.float64),)
    brk = np.ones(position.size, dtype=bool)
    brk[1:] = (np.diff(position) != 1) | (value[1:] != value[:-1])
    first = np.nonzero(brk)[0]
    last = np.append(first[1:], position.size) - 1
    return position[first] - 1, position[last], value[first]


def write_tracks(nucleotide_files: list[Path], chrom_order: list[str], chrom_lengths: dict[str, int],
                 out_dir: Path) -> list[Path]:
    """bedGraph and bigWig of every signal and strand under out_dir; returns the files written."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    data = ds.dataset([str(f) for f in nucleotide_files], format="parquet")
    present = set(data.to_table(columns=["chrom"]).column("chrom").unique().to_pylist())
    chroms = [c for c in chrom_order if c in present]
    with contextlib.ExitStack() as stack:
        writers = {(strand, signal): _TrackWriter(stack, out_dir, SIGNALS[signal], label, chroms, chrom_lengths)
                   for strand, label in STRANDS.items() for signal in SIGNALS}
        for chrom in chroms:
            table = data.to_table(columns=["strand", "position", *SIGNALS], filter=ds.field("chrom") == chrom)
            for strand in STRANDS:
                # A boolean mask from Arrow's compute: no Python string per nucleotide.
                on_strand = pc.equal(table.column("strand").cast(pa.string()), strand)
                if not pc.any(on_strand).as_py():
                    continue
                position, values = _largest_per_position(table.filter(on_strand))
                for signal in SIGNALS:
                    writers[strand, signal].add(chrom, position, values[signal])
    return [path for w in writers.values() for path in w.paths]


class _TrackWriter:
    """One signal and strand: a bedGraph and a bigWig, filled chromosome by chromosome in header order.
    Both are temporary files until the ExitStack closes without error (atomic_path)."""

    def __init__(self, stack: contextlib.ExitStack, out_dir: Path, name: str, label: str, chroms: list[str],
                 chrom_lengths: dict[str, int]):
        import pyarrow.csv as csv
        import pyBigWig

        self.paths = [out_dir / f"{name}.{label}.bedGraph", out_dir / f"{name}.{label}.bw"]
        graph_tmp, bigwig_tmp = (stack.enter_context(atomic_path(p)) for p in self.paths)
        self.graph = stack.enter_context(open(graph_tmp, "wb"))  # noqa: SIM115 (closed by the stack)
        self.graph.write(f'track type=bedGraph name="{name} ({label})" description="gpumeta {name} score, '
                         f'{label} strand"\n'.encode())
        # Arrow's writer (C++) prints each rounded float in its shortest form; pandas' formatter is 10x slower.
        self.options = csv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
        self.bigwig = pyBigWig.open(str(bigwig_tmp), "w")
        stack.callback(self.bigwig.close)  # runs before atomic_path renames the file (LIFO)
        self.bigwig.addHeader([(c, int(chrom_lengths[c])) for c in chroms], maxZooms=10)

    def add(self, chrom: str, position: np.ndarray, value: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.csv as csv

        value = np.round(value.astype(np.float64), DECIMALS)
        start, end, merged = runs(position, value)
        csv.write_csv(pa.table({"chrom": pa.repeat(pa.scalar(chrom), len(start)).cast(pa.string()),
                                "start": start, "end": end, "value": merged}), self.graph, self.options)
        if len(start) * RUNS_PER_BLOCK_VALUE < len(position):
            # Mostly long runs of one value (real base scores round to 0 almost everywhere): an entry per
            # merged run, as the bedGraph holds them.
            self.bigwig.addEntries([chrom] * len(start), start, ends=end, values=merged)
            return
        # Values that change at most nucleotides: one fixed-step block per stretch of consecutive
        # positions, 6x faster than an entry per run (each entry costs pyBigWig a Python chrom name).
        cuts = np.flatnonzero(np.diff(position) != 1) + 1
        for block_pos, block_value in zip(np.split(position, cuts), np.split(value, cuts)):
            self.bigwig.addEntries(chrom, int(block_pos[0]) - 1, values=block_value, span=1, step=1)


def _largest_per_position(table) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sorted unique positions and, per signal, the largest score there (same-strand regions may overlap)."""
    position = table.column("position").to_numpy()
    if position.size < 2 or bool(np.all(position[1:] > position[:-1])):  # no overlap: regions in genome order
        return position, {signal: table.column(signal).to_numpy() for signal in SIGNALS}
    order = np.argsort(position, kind="stable")
    position = position[order]
    first = np.flatnonzero(np.r_[True, position[1:] != position[:-1]])
    values = {}
    for signal in SIGNALS:
        sorted_values = table.column(signal).to_numpy()[order]
        values[signal] = (sorted_values if first.size == position.size
                          else np.maximum.reduceat(sorted_values, first))
    return position[first], values
