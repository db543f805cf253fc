"""What both synth products share: card names, the output-directory rule, argument checks, `read_card`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import GpumetaError

GENOME_CARD = "synth_card.json"
DATASET_CARD = "dataset_card.json"


def _prepare_out_dir(out_dir: Path, card: str) -> None:
    """Refuse to replace a non-empty directory that is not an earlier output of the same kind."""
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / card).exists())):
        raise GpumetaError(f"output {out_dir}: exists and is not an earlier synth output (no {card}); "
                           "choose a new or empty directory")


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise GpumetaError(f"{name}={value!r}: need an integer >= {minimum}")
    return int(value)


def _check_seed(seed: int) -> int:
    return _check_count("seed", seed, 0)


def read_card(out_dir: str | Path) -> dict:
    """The card of a synth output directory (genome or dataset)."""
    out_dir = Path(out_dir)
    for name in (DATASET_CARD, GENOME_CARD):
        if (out_dir / name).exists():
            return json.loads((out_dir / name).read_text())
    raise GpumetaError(f"{out_dir}: no {DATASET_CARD} or {GENOME_CARD}; not a synth output")
