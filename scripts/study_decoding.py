"""Does more of a transcript's shape help the gene-structure decoding? Judged on study_recipe.py's saved
held-out predictions, without training anything (issue 11, session 11).

`gpumeta.structure` decodes a gene's candidate sites (probability >= 0.01) under one assumption: read 5' to 3'
they alternate donor, acceptor, ..., with introns >= 30 nt and exons >= 3 nt. The rules here extend it:

  order        gpumeta.structure's model: the violation and the per-type cuts with the fewest FP+FN
  bonus        + a constant log weight per internal exon (acceptor -> next donor): more or fewer exons than the
               scores alone would call
  exon_length  + a log-normal prior on the internal exon's length, its median and spread those of the training
               genes' annotated exons, at scale 0, 0.5, 1 or 2 (and the bonus)
  mixture      (meta-model only) decoding a mix of both models' log odds ratios, (1 - a) SpliceAI + a meta-model,
               a in 0.25, 0.5, 0.75 (and the violation)

Per outer fold, each rule's parameters are fitted on the other folds' held-out rows (every nucleotide of the
fold's training genes), then the fold's own genes are decoded and judged at every nucleotide. Each model's
probabilities enter at its own tuned thresholds (the fold's, from train's inner out-of-fold rows). The
meta-model's fitting rows were scored by the other folds' models, which trained on the judged fold's genes:
only the handful of decoding parameters is fitted on them, never the judged genes' own rows, but the meta
rows are not as clean a protocol as study_recipe.py --structure's (which fits on train's inner out-of-fold
rows); its `order` row is the check (chr22: 332 here against 334 there).

The extended decoding is semi-Markov (the exon's length enters the weight), so it sums over every earlier
candidate: O(candidates^2) per gene, fine for these genomes' genes (at most a few hundred candidates). With no
bonus and no prior it must equal gpumeta.structure.site_posteriors, which the script checks first.

Usage:
  python scripts/study_recipe.py chr22 --workdir /work/study22 --out docs/study/structure \
      --recipes default --fold-seeds 11,3,5,7,13 --structure          # writes the predictions read here
  python scripts/study_decoding.py /work/study22/study --genome chr22 --out docs/study/decoding
  python scripts/study_decoding.py /work/studysyn/study --genome synth --out docs/study/decoding
Reads STUDY/predictions/<recipe>_<booster tag>.parquet and its -seed<S> siblings (one per fold draw);
writes OUT/<genome>_decoding.csv and OUT/<genome>_decoding.md.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpumeta.atomic import write_text
from gpumeta.calibration import log_odds
from gpumeta.evaluate.metrics import average_precision
from gpumeta.evaluate.statistics import error_change_interval
from gpumeta.features import SITE_TYPES
from gpumeta.schema import LABELS
from gpumeta.structure import VIOLATIONS, GeneStructure, _gene_candidates, best_cuts, site_posteriors

BONUSES = (0.0, 0.5, 1.0, 2.0)
PRIOR_SCALES = (0.0, 0.5, 1.0, 2.0)
MIXTURES = (0.25, 0.5, 0.75)
DEFAULT_TAG = "learning_rate0.3-max_bin256-n_estimators1000"
NO_WEIGHT = -np.inf
RULES = {"order": "gpumeta.structure's decoding", "bonus": "+ a constant log weight per internal exon",
         "exon_length": "+ a log-normal prior on the internal exon's length (and the bonus)",
         "mixture": "the mixed log odds of both models decoded (meta-model only)"}


def gene_posteriors(pos: np.ndarray, kind: np.ndarray, weight: np.ndarray, log_violation: float,
                    exon_weight, structure: GeneStructure) -> np.ndarray:
    """Posterior of each candidate of one gene (sorted by position, kind 0 donor / 1 acceptor, weight its log
    odds ratio): gpumeta.structure's parse model with `exon_weight(length)` added to every acceptor -> donor
    step, by forward-backward over the full transition matrix."""
    m = len(pos)
    dist = pos[None, :] - pos[:, None]
    later = np.triu(np.ones((m, m), dtype=bool), 1)
    step = np.full((m, m), NO_WEIGHT)
    intron = later & (kind[:, None] == 0) & (kind[None, :] == 1) & (dist >= structure.min_intron + 1)
    exon = later & (kind[:, None] == 1) & (kind[None, :] == 0) & (dist >= structure.min_exon - 1)
    step[intron] = 0.0
    step[exon] = exon_weight(dist[exon])
    step[later & (kind[:, None] == kind[None, :])] = log_violation
    start = np.where(kind == 0, 0.0, log_violation)  # an acceptor first is a break of the order
    end = np.where(kind == 1, 0.0, log_violation)  # so is a donor last
    alpha, beta = np.empty(m), np.empty(m)
    for c in range(m):
        alpha[c] = weight[c] + np.logaddexp.reduce(np.r_[start[c], alpha[:c] + step[:c, c]])
    for c in range(m - 1, -1, -1):
        beta[c] = np.logaddexp.reduce(np.r_[end[c], step[c, c + 1:] + weight[c + 1:] + beta[c + 1:]])
    total = np.logaddexp(0.0, np.logaddexp.reduce(alpha + end))
    return np.exp(np.minimum(alpha + beta - total, 0.0))


def candidates(rows: pd.DataFrame, proba: np.ndarray, ratio: np.ndarray, floor: float) -> list:
    """Per gene, in position order (a donor before an acceptor at one position): (row indices, kinds,
    positions, log odds ratios) of the rows whose probability (`proba`, n x 2 donor/acceptor) reaches
    `floor`, chosen by gpumeta.structure's own candidate selection; `ratio` (n x 2): the log odds ratios the
    decoding weighs (gpumeta.structure's are `proba`'s against the thresholds)."""
    genes = _gene_candidates(rows["gene_id"].to_numpy(), rows["position"].to_numpy(), proba[:, 0], proba[:, 1],
                             (0.5, 0.5), floor)
    return [(cand, kind, np.asarray(pos, dtype=np.float64), ratio[cand, kind]) for cand, kind, pos, _, _ in genes]


def decode(genes: list, n: int, violation: float, exon_weight,
           structure: GeneStructure = GeneStructure()) -> np.ndarray:
    out = np.zeros((n, 2))
    log_violation = np.log(violation) if violation > 0 else NO_WEIGHT
    for cand, kind, pos, weight in genes:
        out[cand, kind] = gene_posteriors(pos, kind, weight, log_violation, exon_weight, structure)
    return out


def exon_log_lengths(rows: pd.DataFrame) -> np.ndarray:
    """log length of every annotated internal exon (an acceptor followed by a donor) of the rows' genes."""
    sites = rows[rows["y"].to_numpy() > 0].sort_values(["gene_id", "position"])
    y, pos, gene = sites["y"].to_numpy(), sites["position"].to_numpy(), sites["gene_id"].to_numpy()
    follows = (y[:-1] == LABELS.index("acceptor")) & (y[1:] == LABELS.index("donor")) & (gene[:-1] == gene[1:])
    return np.log((pos[1:] - pos[:-1])[follows].astype(np.float64))


def exon_weight_of(bonus: float, scale: float, median_log: float, spread: float):
    """log weight of an internal exon of length L: bonus - scale (log L - median)^2 / (2 spread^2)."""
    return lambda length: bonus - scale * (np.log(length) - median_log) ** 2 / (2 * spread * spread)


def rule_grid(rule: str, median_log: float, spread: float) -> list[tuple[dict, object]]:
    """(parameters, exon weight) of every setting a rule chooses among (the violation included)."""
    if rule == "bonus":
        settings = [{"violation": v, "bonus": b} for v, b in itertools.product(VIOLATIONS, BONUSES)]
    elif rule == "exon_length":
        settings = [{"violation": v, "bonus": b, "scale": s}
                    for v, b, s in itertools.product(VIOLATIONS, BONUSES, PRIOR_SCALES)]
    elif rule == "mixture":
        settings = [{"violation": v, "mix": a} for v, a in itertools.product(VIOLATIONS, MIXTURES)]
    else:
        settings = [{"violation": v} for v in VIOLATIONS]
    return [(s, exon_weight_of(s.get("bonus", 0.0), s.get("scale", 0.0), median_log, spread)) for s in settings]


def scores_of(rows: pd.DataFrame, thresholds: dict[str, tuple[float, float]]) -> dict:
    """source -> (probabilities that choose candidates, log odds ratios at the source's thresholds), for each
    model and each mixture."""
    ratio = {who: np.column_stack([log_odds(rows[f"{who}_{t}"].to_numpy(np.float64)) - log_odds(th)
                                   for t, th in zip(SITE_TYPES, thresholds[who])]) for who in ("base", "meta")}
    out = {who: (rows[[f"{who}_{t}" for t in SITE_TYPES]].to_numpy(np.float64), ratio[who]) for who in ratio}
    for a in MIXTURES:
        mixed = (1 - a) * ratio["base"] + a * ratio["meta"]
        # the mixture's candidates: the nucleotides either model scores at or above the floor
        out[f"mix{a:g}"] = (np.maximum(out["base"][0], out["meta"][0]), mixed)
    return out


def fold_rules(train: pd.DataFrame, test: pd.DataFrame, thresholds: dict) -> dict[tuple[str, str], tuple]:
    """(scorer, rule) -> (the judged genes' posteriors, the parameters fitted on `train`)."""
    exons = exon_log_lengths(train)
    median_log, spread = float(np.median(exons)), float(exons.std())
    truth = [train["y"].to_numpy() == LABELS.index(t) for t in SITE_TYPES]
    sources = {name: {source: candidates(rows, proba, ratio, 0.01)
                      for source, (proba, ratio) in scores_of(rows, thresholds).items()}
               for name, rows in (("train", train), ("test", test))}
    out = {}
    for who in ("base", "meta"):
        for rule in RULES:
            if rule == "mixture" and who == "base":
                continue
            best = None
            for setting, weight in rule_grid(rule, median_log, spread):
                source = f"mix{setting['mix']:g}" if "mix" in setting else who
                errors, cuts = best_cuts(decode(sources["train"][source], len(train), setting["violation"],
                                                weight), truth)
                if best is None or errors < best[0]:
                    best = (errors, setting, weight, cuts, source)
            _, setting, weight, cuts, source = best
            out[who, rule] = (decode(sources["test"][source], len(test), setting["violation"], weight),
                              {**setting, "cuts": cuts})
    return out


def check_against_structure(rows: pd.DataFrame, thresholds: tuple[float, float]) -> None:
    """The `order` rule must be gpumeta.structure's decoding: same posteriors at two violations."""
    ratio = np.column_stack([log_odds(rows[f"base_{t}"].to_numpy(np.float64)) - log_odds(th)
                             for t, th in zip(SITE_TYPES, thresholds)])
    genes = candidates(rows, rows[["base_donor", "base_acceptor"]].to_numpy(np.float64), ratio, 0.01)
    for violation in (0.0, 0.1):
        ours = decode(genes, len(rows), violation, exon_weight_of(0.0, 0.0, 0.0, 1.0))
        theirs = site_posteriors(rows["gene_id"].to_numpy(), rows["position"].to_numpy(), rows["base_donor"],
                                 rows["base_acceptor"], thresholds, GeneStructure(violation=violation))
        if not np.allclose(ours, theirs, atol=1e-9):
            raise SystemExit(f"the semi-Markov decoding differs from gpumeta.structure at violation {violation} "
                             f"(largest difference {np.abs(ours - theirs).max():.3g})")


def judged(pred: pd.DataFrame, posterior: np.ndarray, cuts_per_row: np.ndarray) -> np.ndarray:
    """Per-row FP+FN of decoded calls (posterior >= the row's fold's cut per type)."""
    errors = np.zeros(len(pred), dtype=np.int64)
    for kind, t in enumerate(SITE_TYPES):
        errors += (posterior[:, kind] >= cuts_per_row[:, kind]) ^ (pred["y"].to_numpy() == LABELS.index(t))
    return errors


def study_draw(pred: pd.DataFrame) -> dict[tuple[str, str], tuple[pd.Series, np.ndarray, list]]:
    """One fold draw: (scorer, rule) -> (errors per gene, posteriors of every row, parameters per fold), plus
    the plain tuned calls of both models as rule "plain"."""
    posterior: dict = {}
    cuts: dict = {}
    params: dict = {}
    for fold in sorted(pred["fold"].unique()):
        held = pred["fold"].to_numpy() == fold
        test, train = pred[held].reset_index(drop=True), pred[~held].reset_index(drop=True)
        thresholds = {who: tuple(float(test[f"{who}_threshold_{t}"].iat[0]) for t in SITE_TYPES)
                      for who in ("base", "meta")}
        for key, (fold_posterior, setting) in fold_rules(train, test, thresholds).items():
            posterior.setdefault(key, np.zeros((len(pred), 2)))[held] = fold_posterior
            cuts.setdefault(key, np.zeros((len(pred), 2)))[held] = setting["cuts"]
            params.setdefault(key, []).append(setting)
        print(f"  fold {fold}: " + "; ".join(f"{w} {r} {s}" for (w, r), s in
                                               ((k, params[k][-1]) for k in params)), flush=True)
    genes = pred["gene_id"].to_numpy()
    out = {}
    for who in ("base", "meta"):
        plain = np.zeros(len(pred), dtype=np.int64)
        for t in SITE_TYPES:
            plain += pred[f"{who}_call_{t}"].to_numpy() ^ (pred["y"].to_numpy() == LABELS.index(t))
        out[who, "plain"] = (pd.Series(plain).groupby(genes).sum(),
                             pred[[f"{who}_{t}" for t in SITE_TYPES]].to_numpy(np.float64), [])
    for key in posterior:
        out[key] = (pd.Series(judged(pred, posterior[key], cuts[key])).groupby(genes).sum(), posterior[key],
                    params[key])
    return out


def chosen(params: list[dict]) -> str:
    """The most frequent value of each parameter over the folds and draws."""
    if not params:
        return "tuned thresholds"
    frame = pd.DataFrame([{k: v for k, v in p.items() if k != "cuts"} for p in params])
    return ", ".join(f"{k} {frame[k].mode().iat[0]:g}" for k in frame.columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("study", type=Path, help="study_recipe.py's work folder (WORKDIR/study)")
    parser.add_argument("--genome", required=True, help="its name in the output files (chr22, synth)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--tag", default=DEFAULT_TAG, help="the booster tag of the predictions' file names")
    args = parser.parse_args()
    files = sorted((args.study / "predictions").glob(f"{args.recipe}_{args.tag}*.parquet"))
    if not files:
        raise SystemExit(f"{args.study / 'predictions'}: no {args.recipe}_{args.tag}*.parquet; run "
                         "scripts/study_recipe.py first")
    draws = [pd.read_parquet(f) for f in files]
    first_fold = draws[0][draws[0]["fold"] == draws[0]["fold"].min()].reset_index(drop=True)
    check_against_structure(first_fold, tuple(float(first_fold[f"base_threshold_{t}"].iat[0])
                                               for t in SITE_TYPES))
    results = []
    for path, pred in zip(files, draws):
        print(path.name, flush=True)
        results.append(study_draw(pred))
    reference = sum(r["base", "plain"][0] for r in results)
    rows = []
    for key in results[0]:
        per_gene = sum(r[key][0] for r in results)
        change, low, high = error_change_interval(reference, per_gene)
        ap = {t: float(np.mean([average_precision(pred["y"].to_numpy() == LABELS.index(t), r[key][1][:, k])
                                for pred, r in zip(draws, results)])) for k, t in enumerate(SITE_TYPES)}
        rows.append({"scorer": key[0], "rule": key[1], "fp_fn": int(per_gene.sum()), "change": change,
                     "change_low": low, "change_high": high, "ap_donor": ap["donor"],
                     "ap_acceptor": ap["acceptor"], "chosen": chosen([p for r in results for p in r[key][2]])})
    table = pd.DataFrame(rows).sort_values(["scorer", "rule"], key=lambda c: c.map(
        {"base": 0, "meta": 1, "plain": 0, **{r: i + 1 for i, r in enumerate(RULES)}}))
    first = draws[0]
    lines = [f"### {args.genome}: {first['gene_id'].nunique()} genes, {len(first):,} nucleotides, "
             f"{(first['y'] == 1).sum()} donor + {(first['y'] == 2).sum()} acceptor sites; {len(draws)} fold "
             "draws of outer 5-fold gene CV, every nucleotide; FP+FN summed over draws, AP their mean", "",
             "| scorer | rule | FP+FN (change vs tuned SpliceAI [95 % gene bootstrap]) | AP donor / acceptor | "
             "chosen most often |", "|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {'SpliceAI' if r.scorer == 'base' else 'meta-model'} | {r.rule} | {r.fp_fn} "
                     f"({r.change:+.1%} [{r.change_low:+.1%}, {r.change_high:+.1%}]) | {r.ap_donor:.3f} / "
                     f"{r.ap_acceptor:.3f} | {r.chosen} |")
    lines += ["", "Rules: **plain**: the tuned thresholds, no decoding; "
              + "; ".join(f"**{r}**: {d}" for r, d in RULES.items()) + ". Parameters fitted per outer fold on "
              "the other folds' held-out rows (fewest FP+FN), cuts per type included.", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / f"{args.genome}_decoding.md", "\n".join(lines))
    write_text(args.out / f"{args.genome}_decoding.csv", table.to_csv(index=False))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
