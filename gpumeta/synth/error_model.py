"""The synthetic base model's error model and the sequence/score machinery both products share.

Site convention (shared with the builder): a true site is the exonic base next to the intron, in
transcript orientation: donor = last base of a non-last exon, acceptor = first base of a non-first exon.
The intron therefore starts with GT and ends with AG on the transcript strand.

Error model of the synthetic base model (knobs in `ErrorModel`). Offsets below are in transcript
orientation relative to the site (+1 = first intron base after a donor, -1 = last intron base before an
acceptor). The base model "reads" only the core dinucleotide and a strength cue; real sites also carry a
signature it ignores, which is what a meta-model can learn from sequence:

* real donors: GT at +1/+2 and the signature R A G T at +3..+6; real acceptors: AG at -2/-1, a pyrimidine
  at -3, G at the site, and a polypyrimidine tract at -18..-5. The core dinucleotide is always there;
  each signature base only with probability ``signature_fidelity`` (else the background base), so the
  evidence is statistical, never certain.
* strong sites (most): a sharp peak at the site, ``strong_peak`` high, tiny shoulders at +-1, +-2.
* weak sites (``weak_site_rate``): the base model's strength cue is absent (donor: no consensus AG on the
  exon side at -1/0; acceptor: a weak polypyrimidine tract), so the peak is low (``weak_peak``, below
  0.5): false negatives, recognisable by the signature.
* shifted peaks (``shift_rate`` of strong sites): the maximum sits 1-2 nt away; the site itself keeps
  ``shifted_site_ratio`` of it: a false negative plus a false positive next door, recognisable by where
  the motif sits relative to the peak.
* cryptic sites (``cryptic_per_kb`` in genomes, ``cryptic_per_site`` in datasets): GT/AG with the base
  model's strength cue but leaning against the signature (donor: C/T at +4 and no G at +5; acceptor: a
  purine at -3 and no G at the site, each with ``signature_fidelity``), peaks ``cryptic_peak`` (0.5-0.9):
  false positives.
* bumps (``bumps_per_kb`` / ``bumps_per_site``): moderate peaks (``bump_peak``) at ordinary GT/AG
  dinucleotides: hard negatives that a tuned threshold cannot separate from weak sites.
* background: log-normal, piled near 0 (``background_log10``), higher and much wider next to a GT (donor
  stream) or AG (acceptor stream) dinucleotide (``motif_background_log10``), capped at ``background_cap``.
  Calibrated on real SpliceAI scores (the 18 genes of the chr22 example, every nucleotide): there 2.3 % of
  nucleotides have max(donor, acceptor) >= 1e-4 and 0.9 % >= 1e-3, 16 and 6.5 times the share >= 0.1,
  so the uncertain nucleotides are peaks and their shoulders, not background. With these defaults a
  synthetic genome has 5.5 % and 3.5 % (8.3 and 5.3 times its share >= 0.1; its genes are denser in
  sites than real ones); the earlier background (-4.5 / -3.0 log10 means) gave 38 % and 8.7 %.

No single feature gives the label away: a weak site and a bump look alike to the base model, and a
cryptic site carries the same core dinucleotide and strength cue as a real one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import GpumetaError
from ..features import NUCLEOTIDES

# Bases are codes 0..3 in NUCLEOTIDES order (A, C, G, T), so the complement of code c is 3 - c.
_A, _C, _G, _T = range(4)
_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)
_BACKGROUND_BASE_FREQ = np.array([0.28, 0.22, 0.22, 0.28])

# Motifs: {offset from the site: allowed bases}, transcript orientation.
# Core dinucleotides are always written (the site convention); signatures (what tells a real site from a
# cryptic one) only with probability ErrorModel.signature_fidelity per base, so evidence is never certain.
_DONOR_CORE = {1: "G", 2: "T"}
_DONOR_SIGNATURE = {3: "AG", 4: "A", 5: "G", 6: "T"}
_DONOR_ANTI_SIGNATURE = {4: "CT", 5: "ACT"}
_DONOR_STRONG_EXON = {-1: "A", 0: "G"}
_DONOR_WEAK_EXON = {-1: "CT", 0: "ACT"}
_ACCEPTOR_CORE = {-2: "A", -1: "G"}
_ACCEPTOR_SIGNATURE = {-3: "CT", 0: "G"}
_ACCEPTOR_ANTI_SIGNATURE = {-3: "AG", 0: "ACT"}
_PPT_OFFSETS = range(-18, -4)
_STRONG_PPT_PYRIMIDINE = 0.9
#: How far a motif reaches from its site (the polypyrimidine tract upstream, the donor signature downstream).
_MOTIF_REACH = (-18, 6)


@dataclass(frozen=True)
class ErrorModel:
    """How the synthetic base model errs (see the module docstring). Ranges are (low, high)."""

    strong_peak: tuple[float, float] = (0.75, 0.99)
    weak_site_rate: float = 0.12
    weak_peak: tuple[float, float] = (0.10, 0.45)
    weak_ppt_pyrimidine: float = 0.35
    shift_rate: float = 0.06
    shifted_site_ratio: tuple[float, float] = (0.2, 0.6)
    cryptic_peak: tuple[float, float] = (0.5, 0.9)
    cryptic_per_kb: float = 0.5
    cryptic_per_site: float = 0.15
    bump_peak: tuple[float, float] = (0.15, 0.45)
    bumps_per_kb: float = 2.0
    bumps_per_site: float = 0.6
    background_log10: tuple[float, float] = (-5.5, 0.5)
    motif_background_log10: tuple[float, float] = (-5.3, 1.5)
    background_cap: float = 0.1
    signature_fidelity: float = 0.5

    def __post_init__(self) -> None:
        for field in ("strong_peak", "weak_peak", "shifted_site_ratio", "cryptic_peak", "bump_peak"):
            low, high = getattr(self, field)
            if not 0 <= low <= high <= 1:
                raise GpumetaError(f"error model {field}=({low}, {high}): need 0 <= low <= high <= 1")
        for field in ("weak_site_rate", "weak_ppt_pyrimidine", "shift_rate", "background_cap",
                      "signature_fidelity"):
            if not 0 <= getattr(self, field) <= 1:
                raise GpumetaError(f"error model {field}={getattr(self, field)}: need a value in [0, 1]")
        for field in ("cryptic_per_kb", "cryptic_per_site", "bumps_per_kb", "bumps_per_site"):
            if not 0 <= getattr(self, field) < 1000:
                raise GpumetaError(f"error model {field}={getattr(self, field)}: need a rate >= 0")
        for field in ("background_log10", "motif_background_log10"):
            mean, sd = getattr(self, field)
            if not (mean < 0 and sd >= 0):
                raise GpumetaError(f"error model {field}=({mean}, {sd}): need a negative log10 mean and sd >= 0")


# ---- shared sequence and score model (NumPy, flat arrays of base codes) ----------------------------------

def _random_bases(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.choice(4, size=shape, p=_BACKGROUND_BASE_FREQ).astype(np.uint8)


def _codes(bases: str) -> np.ndarray:
    return np.array([NUCLEOTIDES.index(b) for b in bases], dtype=np.uint8)


def _write_motif(flat: np.ndarray, sites: np.ndarray, motif: Mapping[int, str], rng: np.random.Generator,
                 fidelity: float = 1.0) -> None:
    """Write `motif` around every site (flat indices) of a flat base-code array.

    Each base follows the motif with probability `fidelity` and is left as it was otherwise.
    """
    for offset, allowed in motif.items():
        choices = _codes(allowed)
        follow = sites[rng.random(sites.size) < fidelity] if fidelity < 1 else sites
        flat[follow + offset] = choices[rng.integers(len(choices), size=follow.size)]


def _write_ppt(flat: np.ndarray, sites: np.ndarray, pyrimidine: float, rng: np.random.Generator) -> None:
    """A polypyrimidine tract upstream of acceptors: each base C/T with probability `pyrimidine`."""
    for offset in _PPT_OFFSETS:
        is_pyr = rng.random(sites.size) < pyrimidine
        pyr = np.where(rng.random(sites.size) < 0.5, _C, _T)
        flat[sites + offset] = np.where(is_pyr, pyr, _random_bases(rng, sites.size))


def _write_site_motifs(flat: np.ndarray, sites: np.ndarray, site_type: str, weak: np.ndarray,
                       em: ErrorModel, rng: np.random.Generator) -> None:
    """Real sites: core and (mostly) signature; the base model's strength cue only where not weak."""
    if site_type == "donor":
        _write_motif(flat, sites, _DONOR_CORE, rng)
        _write_motif(flat, sites, _DONOR_SIGNATURE, rng, em.signature_fidelity)
        _write_motif(flat, sites[~weak], _DONOR_STRONG_EXON, rng)
        _write_motif(flat, sites[weak], _DONOR_WEAK_EXON, rng)
    else:
        _write_ppt(flat, sites[~weak], _STRONG_PPT_PYRIMIDINE, rng)
        _write_ppt(flat, sites[weak], em.weak_ppt_pyrimidine, rng)
        _write_motif(flat, sites, _ACCEPTOR_CORE, rng)
        _write_motif(flat, sites, _ACCEPTOR_SIGNATURE, rng, em.signature_fidelity)


def _write_cryptic_motifs(flat: np.ndarray, sites: np.ndarray, site_type: str, em: ErrorModel,
                          rng: np.random.Generator) -> None:
    """Cryptic sites: core and strength cue (the base model is fooled), (mostly) against the signature."""
    if site_type == "donor":
        _write_motif(flat, sites, {**_DONOR_STRONG_EXON, **_DONOR_CORE}, rng)
        _write_motif(flat, sites, _DONOR_ANTI_SIGNATURE, rng, em.signature_fidelity)
    else:
        _write_ppt(flat, sites, _STRONG_PPT_PYRIMIDINE, rng)
        _write_motif(flat, sites, _ACCEPTOR_CORE, rng)
        _write_motif(flat, sites, _ACCEPTOR_ANTI_SIGNATURE, rng, em.signature_fidelity)


def _has_core(seq: np.ndarray, site_type: str) -> np.ndarray:
    """Per position of a 1-D or 2-D (rows x positions) code array: does the core dinucleotide sit there?

    Donor: GT at +1/+2; acceptor: AG at -2/-1 (False where the pair runs off the end).
    """
    out = np.zeros(seq.shape, dtype=bool)
    if site_type == "donor":
        out[..., :-2] = (seq[..., 1:-1] == _G) & (seq[..., 2:] == _T)
    else:
        out[..., 2:] = (seq[..., :-2] == _A) & (seq[..., 1:-1] == _G)
    return out


def _background(seq: np.ndarray, site_type: str, em: ErrorModel, rng: np.random.Generator) -> np.ndarray:
    """Sequence-dependent background probabilities of one stream, piled near 0 like SpliceAI's."""
    core = _has_core(seq, site_type)
    mean = np.where(core, em.motif_background_log10[0], em.background_log10[0])
    sd = np.where(core, em.motif_background_log10[1], em.background_log10[1])
    return np.minimum(10.0 ** (mean + sd * rng.standard_normal(seq.shape)), em.background_cap)


def _place_peaks(stream: np.ndarray, peaks: np.ndarray, height: np.ndarray, rng: np.random.Generator) -> None:
    """Sharp peaks at flat indices `peaks` with small shoulders at +-1 and +-2, as SpliceAI's."""
    for offset, (low, high) in ((-2, (0.001, 0.01)), (-1, (0.005, 0.03)), (1, (0.005, 0.03)), (2, (0.001, 0.01))):
        np.maximum.at(stream, peaks + offset, height * rng.uniform(low, high, peaks.size))
    stream[peaks] = height


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(bounds[0], bounds[1], n)


def _shift_offsets(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(np.array([-2, -1, 1, 2]), size=n)


def _place_site_peaks(stream: np.ndarray, sites: np.ndarray, weak: np.ndarray, shift: np.ndarray,
                      em: ErrorModel, rng: np.random.Generator) -> None:
    """Peaks of real sites: strong, weak (low) or shifted (the maximum 1-2 nt away, `shift` != 0)."""
    height = np.where(weak, _uniform(rng, em.weak_peak, sites.size), _uniform(rng, em.strong_peak, sites.size))
    _place_peaks(stream, sites + shift, height, rng)
    shifted = shift != 0
    stream[sites[shifted]] = height[shifted] * _uniform(rng, em.shifted_site_ratio, int(shifted.sum()))


def _to_probabilities(donor: np.ndarray, acceptor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(donor, acceptor, neither) float32 summing to 1 (donor + acceptor scaled down where they exceed it)."""
    total = donor + acceptor
    scale = np.where(total > 0.999, 0.999 / np.maximum(total, 1e-12), 1.0)
    d = (donor * scale).astype(np.float32)
    a = (acceptor * scale).astype(np.float32)
    n = np.clip(1.0 - d.astype(np.float64) - a.astype(np.float64), 0.0, 1.0).astype(np.float32)
    return d, a, n
