"""Genome-browser tracks of per-nucleotide scores: bedGraph and bigWig, one file per score and strand.

Tracks are split by strand (a donor on '+' and one on '-' can share a position); where same-strand
regions overlap, the larger score is shown. Values are rounded to 1e-4 (the Parquet keeps full
precision); the bedGraph merges equal neighbours into one interval; the bigWig stores the same intervals
where they are few, else fixed-step blocks of every position (`_TrackWriter.add`).

`TrackStream` writes all 16 files side by side as the batches come (annotate feeds it each batch on its
writer thread, so the tracks are written while the next batch is scored): a position is written once no
later region can cover it, so memory is one batch and the overlap carried to the next.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..atomic import atomic_path

#: Parquet column -> track name.
SIGNALS = {"meta_donor": "meta_donor", "meta_acceptor": "meta_acceptor",
           "base_donor": "base_donor", "base_acceptor": "base_acceptor"}
STRANDS = {"+": "plus", "-": "minus"}
#: The columns of a batch table the tracks read.
COLUMNS = ("chrom", "strand", "position", *SIGNALS)
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


class TrackStream:
    """bedGraph and bigWig of every signal and strand under out_dir, fed batch tables in genome order
    (regions sorted by chromosome, then start; `chroms` sorted, as the bigWig header lists them).

    Use as a context manager: the files are temporary until `close()` (or a clean exit) renames them into
    place; an error discards them. `feed(table, next_region)` writes every row of the batch that no later
    region can cover: all rows of chromosomes before `next_region`'s (chrom, start), and rows of its
    chromosome below its start; the rest is carried and merged (largest score per position) with the next
    batch. `next_region=None`: the last batch, everything is written.
    """

    def __init__(self, out_dir: Path, chroms: list[str], chrom_lengths: dict[str, int]):
        self.stack = contextlib.ExitStack()
        self.writers = {(strand, signal): _TrackWriter(self.stack, out_dir, SIGNALS[signal], label, chroms,
                                                       chrom_lengths)
                        for strand, label in STRANDS.items() for signal in SIGNALS}
        self.carried: dict[tuple[str, str], tuple[np.ndarray, dict[str, np.ndarray]]] = {}

    @property
    def paths(self) -> list[Path]:
        return [path for writer in self.writers.values() for path in writer.paths]

    def __enter__(self) -> TrackStream:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.stack.__exit__(kind, error, traceback)

    def close(self) -> None:
        """Finish every file (pyBigWig writes the zoom levels here) and rename it into place."""
        self.stack.close()

    def feed(self, table: pa.Table, next_region: tuple[str, int] | None) -> None:
        """Write a batch: `table` holds COLUMNS (chrom and strand dictionary-coded or text)."""
        chrom_values, chrom_codes = dictionary_parts(table.column("chrom"))
        strand_values, strand_codes = dictionary_parts(table.column("strand"))
        position = table.column("position").to_numpy()
        signals = {signal: table.column(signal).to_numpy() for signal in SIGNALS}
        # Chromosome by chromosome in header order, a stretch carried from the last batch included.
        for chrom in sorted(set(chrom_values) | {c for c, _ in self.carried}):
            for strand in STRANDS:
                on = np.zeros(len(position), dtype=bool)
                if chrom in chrom_values and strand in strand_values:
                    on = (chrom_codes == chrom_values.index(chrom)) & (strand_codes == strand_values.index(strand))
                if on.any() or (chrom, strand) in self.carried:
                    rows = np.flatnonzero(on)
                    self._write(chrom, strand, position[rows], {k: v[rows] for k, v in signals.items()},
                                next_region)

    def _write(self, chrom: str, strand: str, position: np.ndarray, values: dict[str, np.ndarray],
               next_region: tuple[str, int] | None) -> None:
        carried = self.carried.pop((chrom, strand), None)
        if carried is not None:
            position = np.concatenate([carried[0], position])
            values = {k: np.concatenate([carried[1][k], v]) for k, v in values.items()}
        position, values = _largest_per_position(position, values)
        if next_region is not None and next_region[0] == chrom:
            cut = int(np.searchsorted(position, next_region[1]))
            if cut < position.size:
                self.carried[chrom, strand] = position[cut:], {k: v[cut:] for k, v in values.items()}
                position, values = position[:cut], {k: v[:cut] for k, v in values.items()}
        if position.size:
            for signal in SIGNALS:
                self.writers[strand, signal].add(chrom, position, values[signal])


def dictionary_parts(column: pa.ChunkedArray) -> tuple[list[str], np.ndarray]:
    """(distinct values, each row's index into them) of a text column, dictionary-coded or not: decoded
    through the dictionary, not a Python string per row."""
    array = column.combine_chunks()  # one dictionary for every chunk
    if not pa.types.is_dictionary(array.type):
        array = array.dictionary_encode()
    return array.dictionary.to_pylist(), array.indices.to_numpy(zero_copy_only=False)


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


def _largest_per_position(position: np.ndarray, values: dict[str, np.ndarray]
                          ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sorted unique positions and, per signal, the largest score there (same-strand regions may overlap)."""
    if position.size < 2 or bool(np.all(position[1:] > position[:-1])):  # no overlap: regions in genome order
        return position, values
    order = np.argsort(position, kind="stable")
    position = position[order]
    first = np.flatnonzero(np.r_[True, position[1:] != position[:-1]])
    merged = {}
    for signal, value in values.items():
        sorted_values = value[order]
        merged[signal] = sorted_values if first.size == position.size else np.maximum.reduceat(sorted_values, first)
    return position[first], merged
