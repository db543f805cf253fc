"""A picture of one gene of an annotate run: base vs meta donor and acceptor scores along the gene, with
the annotated sites (the README's figure; `scripts/bench_annotate.py` and the chr22 example draw it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..errors import GpumetaError


def pick_gene(out_dir: str | Path, candidates: list[str]) -> str:
    """Of `candidates` (e.g. genes the model did not train on), the one whose calls changed most: the
    gene where the meta-model does most."""
    calls = pd.read_csv(Path(out_dir) / "site_calls.tsv", sep="\t")
    changed = calls[(calls["change"] != "kept") & calls["gene_id"].isin(candidates)]
    return str(changed["gene_id"].value_counts().index[0]) if len(changed) else candidates[0]


def plot_gene(out_dir: str | Path, gene: str, path: str | Path, note: str = "") -> Path:
    """PNG of `gene`'s base (grey) and meta (colour) donor and acceptor scores, annotated sites dashed
    (from the run's `annotated_type`, present when it was given an annotation)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nt = pd.read_parquet(Path(out_dir) / "nucleotides", filters=[("gene_id", "==", gene)])
    if nt.empty:
        raise GpumetaError(f"gene {gene} is not in the annotate run {out_dir}; pick one of its genes")
    nt = nt.sort_values("position")
    fig, axes = plt.subplots(2, 1, figsize=(11, 5), sharex=True)
    for ax, t, colour in ((axes[0], "donor", "tab:blue"), (axes[1], "acceptor", "tab:orange")):
        ax.plot(nt["position"], nt[f"base_{t}"], color="grey", lw=0.8, label=f"base {t}")
        ax.plot(nt["position"], nt[f"meta_{t}"], color=colour, lw=0.8, label=f"meta {t}")
        if "annotated_type" in nt:
            for p in nt.loc[nt["annotated_type"] == t, "position"]:
                ax.axvline(p, color="green", lw=0.6, ls="--", alpha=0.6)
        ax.set_ylabel("probability")
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="upper right", fontsize=8)
    title = f"{gene} ({nt['chrom'].iloc[0]}{nt['strand'].iloc[0]}{', ' + note if note else ''}): base vs meta scores"
    axes[0].set_title(title + ("; dashed = annotated sites" if "annotated_type" in nt else ""))
    axes[1].set_xlabel("position")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
