"""Gene-aware splits: a gene's rows never straddle train and test, and overlapping genes travel together.

Genes whose bodies overlap on a chromosome share nucleotides (and, in a builder dataset, identical rows),
so they form one group whenever coordinates are present. Every split is seeded and reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def gene_groups(genes: np.ndarray, coordinates: pd.DataFrame | None) -> dict[str, int]:
    """Group id per gene: overlapping gene bodies (same chrom) share one; other genes their own."""
    genes = np.asarray(sorted(set(genes)), dtype=object)
    group = {g: i for i, g in enumerate(genes)}
    if coordinates is None or coordinates.empty:
        return group
    coords = coordinates[coordinates["gene_id"].isin(group)].sort_values(["chrom", "gene_start", "gene_id"])
    current, current_chrom, current_end = None, None, -1
    for gene, chrom, start, end in coords[["gene_id", "chrom", "gene_start", "gene_end"]].itertuples(index=False):
        if chrom == current_chrom and start <= current_end:
            group[gene] = current
            current_end = max(current_end, end)
        else:
            current, current_chrom, current_end = group[gene], chrom, end
    # Renumber densely in gene order so ids do not depend on the sweep.
    dense = {old: new for new, old in enumerate(dict.fromkeys(group[g] for g in genes))}
    return {g: dense[group[g]] for g in genes}


@dataclass
class GeneSplitter:
    """Seeded splits over the groups of a set of genes."""

    groups: dict[str, int]
    seed: int

    def shuffled_groups(self, genes, salt: int) -> list[list[str]]:
        members: dict[int, list[str]] = {}
        for g in sorted(genes):
            members.setdefault(self.groups[g], []).append(g)
        keys = sorted(members)
        np.random.default_rng([self.seed, salt]).shuffle(keys)
        return [members[k] for k in keys]

    def holdout(self, genes, fraction: float, salt: int = 0) -> tuple[list[str], list[str]]:
        """(train genes, test genes) with about `fraction` of the genes in test, whole groups only."""
        target = max(1, round(fraction * len(genes)))
        test: list[str] = []
        train: list[str] = []
        for members in self.shuffled_groups(genes, salt):
            (test if len(test) < target else train).extend(members)
        return sorted(train), sorted(test)

    def kfold(self, genes, n_folds: int, rows_per_gene: dict[str, int], salt: int = 1) -> list[list[str]]:
        """`n_folds` disjoint gene lists, groups whole, balanced by row count."""
        folds: list[list[str]] = [[] for _ in range(n_folds)]
        load = np.zeros(n_folds)
        for members in self.shuffled_groups(genes, salt):
            k = int(load.argmin())
            folds[k].extend(members)
            load[k] += sum(rows_per_gene.get(g, 0) for g in members)
        return [sorted(f) for f in folds]
