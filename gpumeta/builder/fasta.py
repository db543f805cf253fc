"""Genome access: chromosome names (with the chr-prefix fix), and integer-encoded sequence windows.

Sequence is encoded as uint8 codes A=0, C=1, G=2, T=3, anything else (N, IUPAC, past a chromosome end)
=4, so k-mers and one-hot columns are plain array arithmetic. The input FASTA is never written to: when
it has no .fai (or .gzi) beside it, the index is built in a private temporary directory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..errors import GpumetaError

N_CODE = 4
_ENCODE = np.full(256, N_CODE, dtype=np.uint8)
for _code, _base in enumerate("ACGT"):
    _ENCODE[ord(_base)] = _code
    _ENCODE[ord(_base.lower())] = _code
#: Complement of each code (N stays N).
COMPLEMENT = np.array([3, 2, 1, 0, N_CODE], dtype=np.uint8)

CHROM_ALIASES: tuple[str, ...] = ("none", "strip-chr", "add-chr")


def alias_chrom(name: str, alias: str) -> str:
    """The FASTA name of annotation chromosome `name` under `alias` (none|strip-chr|add-chr)."""
    if alias == "strip-chr":
        return name[3:] if name.lower().startswith("chr") else name
    if alias == "add-chr":
        return name if name.lower().startswith("chr") else f"chr{name}"
    return name


def encode(text: str | bytes) -> np.ndarray:
    """uint8 codes of a sequence string."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    return _ENCODE[np.frombuffer(raw, dtype=np.uint8)]


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    return COMPLEMENT[codes[::-1]]


class Genome:
    """A read-only FASTA (plain or bgzipped) with chromosome-name checks."""

    def __init__(self, path: str | Path, chrom_alias: str = "none"):
        import pyfaidx

        self.path = Path(path)
        if chrom_alias not in CHROM_ALIASES:
            raise GpumetaError(f"--chrom-alias {chrom_alias!r} is not one of {', '.join(CHROM_ALIASES)}")
        self.chrom_alias = chrom_alias
        if not self.path.is_file():
            raise GpumetaError(f"FASTA {self.path} does not exist: pass the genome FASTA (plain or bgzipped)")
        kwargs: dict = {"as_raw": True, "rebuild": False}
        fai = Path(f"{self.path}.fai")
        gzi = Path(f"{self.path}.gzi")
        # Never write an index beside the user's genome: build missing ones in a private directory.
        self._index_dir = None
        if not fai.is_file() or (self.path.suffix == ".gz" and not gzi.is_file()):
            self._index_dir = tempfile.TemporaryDirectory(prefix="gpumeta-fai-")
            if not fai.is_file():
                kwargs["indexname"] = str(Path(self._index_dir.name) / fai.name)
            if self.path.suffix == ".gz" and not gzi.is_file():
                kwargs["gzi_indexname"] = str(Path(self._index_dir.name) / gzi.name)
        try:
            self._fasta = pyfaidx.Fasta(str(self.path), **kwargs)
        except Exception as exc:  # pyfaidx raises several types for unreadable / badly compressed files
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise GpumetaError(f"cannot read FASTA {self.path}: {reason}; "
                               "use plain FASTA, or bgzip (not gzip) compression") from exc
        # The .fai index: iterating a Fasta yields records in pyfaidx 0.9, names before it.
        self.lengths: dict[str, int] = {name: entry.rlen for name, entry in self._fasta.faidx.index.items()}

    def fasta_name(self, chrom: str) -> str:
        return alias_chrom(chrom, self.chrom_alias)

    def check_chroms(self, chroms, source: str) -> None:
        """Every annotation chromosome must be in the FASTA; a chr-prefix mismatch is offered its fix."""
        missing = sorted({c for c in chroms if self.fasta_name(c) not in self.lengths})
        if not missing:
            return
        fixes = [alias for alias in ("strip-chr", "add-chr")
                 if all(alias_chrom(c, alias) in self.lengths for c in missing)]
        hint = (f"rerun with --chrom-alias {fixes[0]}" if fixes
                else f"the FASTA has {', '.join(list(self.lengths)[:5])}{' ...' if len(self.lengths) > 5 else ''}")
        raise GpumetaError(f"chromosome {missing[0]!r} of {source} is not in FASTA {self.path}"
                           f" ({len(missing)} chromosome(s) missing): {hint}")

    def check_spans(self, genes, source: str) -> None:
        """Every gene body lies on its chromosome: sequence past a chromosome's end is not in the FASTA."""
        for gene in genes:
            length = self.lengths[self.fasta_name(gene.chrom)]
            if gene.end > length:
                raise GpumetaError(f"gene {gene.gene_id} of {source} spans {gene.chrom}:{gene.start}-{gene.end} but "
                                   f"{self.fasta_name(gene.chrom)} has {length:,} nt in FASTA {self.path}; use the "
                                   "genome assembly the annotation was made for")

    def fetch(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Codes of chrom:start-end (1-based, inclusive); positions past the chromosome ends are N."""
        name = self.fasta_name(chrom)
        length = self.lengths[name]
        out = np.full(end - start + 1, N_CODE, dtype=np.uint8)
        lo, hi = max(start, 1), min(end, length)
        if lo <= hi:
            out[lo - start: hi - start + 1] = encode(str(self._fasta[name][lo - 1: hi]))
        return out
