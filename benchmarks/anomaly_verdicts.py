"""The decisions of ``bench_embed.py --validate``'s pre-registered rounds 14-22 (the rules are
in :mod:`anomaly_rounds`): each ``*_verdict`` turns a run's validation rows into lines that
name the cells each candidate wins and the decision its rule makes.
"""

from __future__ import annotations

import numpy as np
from anomaly_rounds import (
    CANDIDATES,
    ROUND_14_RULE,
    ROUND_15_RULE,
    ROUND_16_RULE,
    ROUND_17_RULE,
    ROUND_18,
    ROUND_18_FOLDS,
    ROUND_19,
    ROUND_19_FRACTIONS,
    ROUND_20,
    ROUND_21,
    ROUND_22_OVERRIDES,
)
from embed_settings import AE_DEFAULT, BASELINES, KINDS, WORKFLOW_RECIPES, beats

WIDTH_ROUNDS = {
    14: ("latent2", "latent1"),
    15: ("latent8", "latent16"),
    16: ("mel32", "mel16"),
    17: ("dae", "dae_strong"),
}
"""The rounds whose candidates are the anomaly recipe with some settings changed, decided by
round 14's rule: the bottleneck-width rounds (:data:`ROUND_14_RULE`, :data:`ROUND_15_RULE`),
the mel-grid round (:data:`ROUND_16_RULE`) and the denoising-objective round
(:data:`ROUND_17_RULE`), each in the order its ties go. (The name stays from round 14.)"""
WIDTH_RULES = {14: ROUND_14_RULE, 15: ROUND_15_RULE, 16: ROUND_16_RULE, 17: ROUND_17_RULE}


def width_round_verdict(rows: list[dict], number: int = 14) -> list[str]:
    """Round ``number`` of :data:`WIDTH_ROUNDS`: the default score's validation cells won by
    the anomaly recipe and by each candidate in this run, and the decision by its rule (the
    candidate winning the most cells, ties to the first, replaces the recipe's latent_dim
    only if it wins more cells than the recipe)."""
    candidates = WIDTH_ROUNDS[number]
    won = {}
    for name, label in (
        ("recipe", "/ anomaly recipe "),
        *((r, f"/ {r} candidate ") for r in candidates),
    ):
        picked = [r for r in rows if label in r["setting"]]
        won[name] = (sum(beats(r, AE_DEFAULT) for r in picked), len(picked))
    lines = [f"{name}: the default score wins {w} of {n} cells" for name, (w, n) in won.items()]
    best = max(candidates, key=lambda r: (won[r][0], -candidates.index(r)))
    if won[best][0] > won["recipe"][0]:
        setting = " ".join(WORKFLOW_RECIPES[best][1])
        lines.append(f"Decision: {best} replaces the recipe's setting ({setting})")
    else:
        lines.append(
            f"Decision: the recipe stays ({best} wins {won[best][0]}, the recipe {won['recipe'][0]})"
        )
    return lines


def round_18_rows(
    rows: list[dict],
    speech_setting: str = "speech / anomaly recipe trained here",
    fold_label: str = "notes / pitch fold",
) -> list[dict]:
    """Round 18's 10 validation cells (:data:`ROUND_18_RULE`): the speech rows of the anomaly
    recipe as they are, and per kind one notes row whose every score's (AUROC, AP) is the
    mean over the pitch folds of :data:`ROUND_18_FOLDS` (``notes / pitch fold K`` rows).
    ``speech_setting`` and ``fold_label`` pick another model's rows (round 22's candidate:
    ``speech / conv2d candidate``, ``notes / conv2d pitch fold``).

    Raises:
        ValueError: a fold's rows are missing.
    """
    speech = [r for r in rows if r["setting"] == speech_setting]
    out = list(speech)
    for kind in KINDS:
        folds = [
            r
            for r in rows
            if r["kind"] == kind and r["setting"] in {f"{fold_label} {k}" for k in ROUND_18_FOLDS}
        ]
        if len(folds) != len(ROUND_18_FOLDS):
            raise ValueError(f"{kind}: {len(folds)} pitch-fold rows, not {len(ROUND_18_FOLDS)}")
        row = {
            "setting": "notes / pitch folds (mean)",
            "kind": kind,
            "n": tuple(sum(r["n"][i] for r in folds) for i in (0, 1)),
            "flagged": tuple(float(np.mean([r["flagged"][i] for r in folds])) for i in (0, 1)),
        }
        for method in folds[0]:
            if method not in row and method not in ("setting", "kind"):
                row[method] = tuple(float(np.mean([r[method][i] for r in folds])) for i in (0, 1))
        out.append(row)
    return out


def _won_and_mean(cells: list[dict], name: str) -> tuple[int, float]:
    """The cells score ``name`` wins (:func:`beats`) and its mean AUROC over them."""
    return sum(beats(r, name) for r in cells), float(np.mean([r[name][0] for r in cells]))


def _summary(cells: list[dict], names) -> list[str]:
    lines = []
    for name in names:
        won, mean = _won_and_mean(cells, name)
        lines.append(f"{name}: {won} of {len(cells)} cells, mean AUROC {mean:.4f}")
    return lines


def round_18_verdict(rows: list[dict]) -> list[str]:
    """The decision of :data:`ROUND_18_RULE` over :func:`round_18_rows`: the cells each
    :data:`ROUND_18` candidate and the default (``log rec+latent+band``) win, the candidate
    :data:`SELECTION_RULE` chooses, and whether it replaces the default."""
    cells = round_18_rows(rows)
    default = "log rec+latent+band"
    score = {n: _won_and_mean(cells, n) for n in (default, *ROUND_18)}
    choice = min(ROUND_18, key=lambda n: (-score[n][0], len(ROUND_18[n][0]), -score[n][1]))
    changes = score[choice][0] > score[default][0]
    return _summary(cells, score) + [
        f"Decision: {choice} becomes the default score"
        if changes
        else f"Decision: the default stays ({choice} wins {score[choice][0]}, the default "
        f"{score[default][0]})"
    ]


def round_19_verdict(rows: list[dict]) -> list[str]:
    """The decision of :data:`ROUND_19_RULE` over round 18's cells (:func:`round_18_rows`): the
    default (``log rec+latent+quiet_band``, the quietest 10 %) and each :data:`ROUND_19`
    candidate ranked by :data:`SELECTION_RULE` (cells won, terms, mean AUROC)."""
    cells = round_18_rows(rows)
    default = "log rec+latent+quiet_band"

    def key(name: str) -> tuple[int, int, float]:
        return _rank_key(cells, name)

    best = min(ROUND_19, key=lambda n: (key(n), list(ROUND_19).index(n)))
    fraction = ROUND_19_FRACTIONS[best.rsplit("+", 1)[1]]
    return _summary(cells, (default, *ROUND_19)) + [
        f"Decision: {best} ranks above the default; QUIET_FRACTION becomes {fraction}"
        if key(best) < key(default)
        else f"Decision: QUIET_FRACTION stays 0.1 ({best} does not rank above the default)"
    ]


def _rank_key(cells: list[dict], name: str) -> tuple[int, int, float]:
    """:data:`SELECTION_RULE`'s order (smaller ranks higher): cells won, then fewer terms, then
    the higher mean AUROC."""
    won, mean = _won_and_mean(cells, name)
    return (-won, len(CANDIDATES[name][0]), -mean)


def round_21_verdict(rows: list[dict]) -> list[str]:
    """The decision of :data:`ROUND_21_RULE` over round 18's cells (:func:`round_18_rows`): the
    default (``log rec+latent+quiet_band``) and each :data:`ROUND_21` candidate ranked by
    :data:`SELECTION_RULE`; the best candidate replaces the default's combination if it ranks
    above it."""
    cells = round_18_rows(rows)
    default = "log rec+latent+quiet_band"
    best = min(ROUND_21, key=lambda n: (_rank_key(cells, n), list(ROUND_21).index(n)))
    terms, how, _ = CANDIDATES[best]
    return _summary(cells, (default, *ROUND_21)) + [
        f"Decision: {best} ranks above the default; COMBINED_TERMS becomes {terms}, COMBINE {how!r}"
        if _rank_key(cells, best) < _rank_key(cells, default)
        else f"Decision: the default stays ({best} does not rank above it)"
    ]


def round_22_verdict(rows: list[dict]) -> list[str]:
    """The decision of :data:`ROUND_22_RULE`: the cells of round 18's split (:func:`round_18_rows`)
    that the default score wins with the anomaly recipe and with the conv2d candidate; the
    candidate replaces the recipe's network only if it wins more."""
    recipe = round_18_rows(rows)
    candidate = round_18_rows(rows, "speech / conv2d candidate", "notes / conv2d pitch fold")
    if len(candidate) != len(recipe):
        raise ValueError(f"{len(candidate)} conv2d candidate cells, not {len(recipe)}")
    won = {
        "recipe": _won_and_mean(recipe, AE_DEFAULT),
        "conv2d": _won_and_mean(candidate, AE_DEFAULT),
    }
    lines = [
        f"{name}: the default score wins {w} of {len(recipe)} cells, mean AUROC {m:.4f}"
        for name, (w, m) in won.items()
    ]
    hum = [
        next(r for r in c if r["kind"] == "hum" and r["setting"].startswith("notes"))
        for c in (recipe, candidate)
    ]
    lines.append(
        f"notes hum (fold mean): recipe {hum[0][AE_DEFAULT][0]:.3f}, conv2d "
        f"{hum[1][AE_DEFAULT][0]:.3f}, better baseline "
        f"{max(hum[1][b][0] for b in BASELINES):.3f}"
    )
    if won["conv2d"][0] > won["recipe"][0]:
        lines.append(
            f"Decision: conv2d replaces the recipe's network ({' '.join(ROUND_22_OVERRIDES)})"
        )
    else:
        lines.append(
            f"Decision: the recipe stays (conv2d wins {won['conv2d'][0]}, the recipe "
            f"{won['recipe'][0]})"
        )
    return lines


def round_20_verdict(rows: list[dict]) -> list[str]:
    """The decision of :data:`ROUND_20_RULE` over round 18's cells (:func:`round_18_rows`):
    the candidate replaces the default unless it wins fewer cells."""
    cells = round_18_rows(rows)
    default, candidate = "log rec+latent+quiet_band", next(iter(ROUND_20))
    won = {n: _won_and_mean(cells, n)[0] for n in (default, candidate)}
    return _summary(cells, won) + [
        "Decision: the quiet frames are chosen among the inner frames (inner=True)"
        if won[candidate] >= won[default]
        else f"Decision: the default stays ({candidate} wins {won[candidate]}, the default "
        f"{won[default]})"
    ]
