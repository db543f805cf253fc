"""The build parameters: defaults, validation, and what a resumed build must share with the first run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import GpumetaError
from .annotation import SITE_CONVENTIONS
from .fasta import CHROM_ALIASES
from .partners import INTRON_MIN

SUBSET_POLICIES: tuple[str, ...] = ("error_total", "random")  # see subset.py

#: Parameters that change speed or memory, never the output: a resume may differ in them.
RUN_ONLY = frozenset({"chunk_rows"})


@dataclass(frozen=True)
class BuildParams:
    threshold: float = 0.5          # a nucleotide is called when its probability >= threshold
    window: int = 2                 # a call within +-window nt of a true site matches it
    hard_prob: float = 0.001        # negatives with max(donor, acceptor) >= this are kept whole
    tn_window: int = 75             # negatives within +-tn_window nt of a site or call are kept whole
    easy_ratio: float = 0.5         # easy negatives drawn = easy_ratio x rows kept otherwise, per gene
    seed: int = 0
    all_positions: bool = False     # one row per nucleotide, no sampling (evaluation sets)
    batch_size: int = 100           # genes per batch file
    batch_rows: int | None = None   # instead of batch_size: batches of at most this many gene-body nt (plan_batches)
    context_width: int = 2          # donor/acceptor_context_* offsets +-1..width
    shape_width: int = 0            # donor/acceptor_shape_* over neighbours within +-shape_width (0: none)
    site_strength: bool = False     # splice-site sequence strength columns (site_strength.py)
    partner_window: int = 0         # exon-definition partner columns, introns up to this many nt (partners.py; 0: none)
    kmer_sizes: tuple[int, ...] = (3,)
    kmer_window: int = 20           # k-mers counted within +-kmer_window nt of the row
    seq_window: int = 10            # one-hot bases at offsets +-seq_window
    site_convention: str = "exon"
    chrom_alias: str = "none"
    genes: tuple[str, ...] | None = None  # build only these genes (default: every predicted gene)
    n_genes: int | None = None      # build this many of them, chosen by subset_policy (subset.py)
    subset_policy: str = "error_total"
    chunk_rows: int = 200_000       # rows whose features are computed at once (memory bound)

    @classmethod
    def from_kwargs(cls, **kwargs) -> BuildParams:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise GpumetaError(f"unknown build parameter {unknown[0]!r}: use one of {', '.join(sorted(names))}")
        if kwargs.get("kmer_sizes") is not None:
            kwargs["kmer_sizes"] = tuple(int(k) for k in kwargs["kmer_sizes"])
        if kwargs.get("genes") is not None:
            kwargs["genes"] = tuple(sorted(dict.fromkeys(kwargs["genes"])))
        if kwargs.get("batch_rows") is not None and kwargs.get("batch_size") is not None:
            raise GpumetaError("pass --batch-size (genes per batch file) or --batch-rows (nucleotides per batch "
                               "file), not both")
        params = cls(**{k: v for k, v in kwargs.items() if v is not None})
        params.validate()
        return params

    def validate(self) -> None:
        checks = [
            (0 < self.threshold <= 1, "threshold", "a probability in (0, 1]"),
            (self.window >= 0, "window", ">= 0"),
            (0 <= self.hard_prob <= 1, "hard_prob", "in [0, 1]"),
            (self.tn_window >= 0, "tn_window", ">= 0"),
            (self.easy_ratio >= 0, "easy_ratio", ">= 0"),
            (self.batch_size >= 1, "batch_size", ">= 1"),
            (self.batch_rows is None or self.batch_rows >= 1, "batch_rows", ">= 1"),
            (self.n_genes is None or self.n_genes >= 1, "n_genes", ">= 1 (leave it out to build every gene)"),
            (self.subset_policy in SUBSET_POLICIES, "subset_policy", f"one of {', '.join(SUBSET_POLICIES)}"),
            (2 <= self.context_width <= 1000, "context_width", "in 2..1000 (the derived features need +-2)"),
            (0 <= self.shape_width <= 1000, "shape_width", "in 0..1000 (0 leaves the score-shape features out)"),
            (isinstance(self.site_strength, bool), "site_strength", "true or false"),
            (self.partner_window == 0 or INTRON_MIN < self.partner_window <= 100_000, "partner_window",
             f"0 (no partner columns) or in {INTRON_MIN + 1}..100000"),
            (all(1 <= k <= 6 for k in self.kmer_sizes), "kmer_sizes", "each in 1..6"),
            (self.kmer_window <= 10_000 and all(2 * self.kmer_window + 1 >= k for k in self.kmer_sizes),
             "kmer_window", "in (k - 1) / 2..10000 for every k (counts are int16)"),
            (0 <= self.seq_window <= 1000, "seq_window", "in 0..1000"),
            (self.site_convention in SITE_CONVENTIONS, "site_convention", f"one of {', '.join(SITE_CONVENTIONS)}"),
            (self.chrom_alias in CHROM_ALIASES, "chrom_alias", f"one of {', '.join(CHROM_ALIASES)}"),
            (self.chunk_rows >= 1, "chunk_rows", ">= 1"),
        ]
        for ok, name, rule in checks:
            if not ok:
                raise GpumetaError(f"build parameter {name}={getattr(self, name)!r} is invalid: must be {rule}")

    @property
    def score_pad(self) -> int:
        """Zeros each side of a score track so every context and shape offset is one gather."""
        return max(self.context_width, self.shape_width)

    @property
    def flank(self) -> int:
        """Sequence needed beyond the gene body for windows centred on its end bases."""
        from .site_strength import reach

        return max(self.kmer_window, self.seq_window, *(reach() if self.site_strength else ())) + 1

    def plan_batches(self, genes: list, lengths: list[int]) -> list[list]:
        """Genes (in order) grouped into batch files: `batch_size` genes each, or with `batch_rows` as many
        consecutive genes as fit in `batch_rows` gene-body nucleotides (at least one gene per file). Rows are
        not known before a gene is built, so nucleotides stand in for them: exact with all_positions (one
        row per nucleotide), an upper bound when negatives are sampled."""
        if self.batch_rows is None:
            return [genes[i: i + self.batch_size] for i in range(0, len(genes), self.batch_size)]
        plan, current, size = [], [], 0
        for gene, length in zip(genes, lengths):
            if current and size + length > self.batch_rows:
                plan.append(current)
                current, size = [], 0
            current.append(gene)
            size += length
        return plan + ([current] if current else [])

    def fingerprint(self) -> dict:
        """The parameters that determine the output (stored; a resume must match them)."""
        out = dataclasses.asdict(self)
        for name in RUN_ONLY:
            out.pop(name)
        out["kmer_sizes"] = list(self.kmer_sizes)
        for option in ("site_strength", "partner_window"):
            if not out[option]:  # off: the card and resume state of builds made before the option
                out.pop(option)
        out["genes"] = list(self.genes) if self.genes is not None else None
        return out
