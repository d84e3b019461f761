"""The anomaly benchmark's nearest-neighbour distance (round 13), the bottleneck-width
rounds' decisions (14-17) and round 18's pitch folds, quiet-frame term and decision."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from anomaly_rounds import ROUND_18, ROUND_18_FOLDS, ROUND_19, ROUND_20, ROUND_21  # noqa: E402
from anomaly_verdicts import (  # noqa: E402
    WIDTH_ROUNDS,
    round_18_rows,
    round_18_verdict,
    round_19_verdict,
    round_20_verdict,
    round_21_verdict,
    round_22_verdict,
    width_round_verdict,
)
from bench_embed import fit_split, knn_distance, pitch_fold_split  # noqa: E402
from embed_settings import AE_DEFAULT, BASELINES, KINDS  # noqa: E402


def test_knn_distance_is_the_mean_of_the_k_nearest_scaled_distances() -> None:
    reference = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0]])
    scale = reference.std(0)  # (1, 2)
    v = np.array([0.5, 1.0])
    d = np.sqrt((((reference - v) / scale) ** 2).sum(1) / 2)
    assert knn_distance(reference, v, k=1) == pytest.approx(np.sort(d)[0])
    assert knn_distance(reference, v, k=2) == pytest.approx(np.sort(d)[:2].mean())
    assert knn_distance(reference, reference[1], k=1) == 0.0


def test_knn_distance_grows_with_distance_from_the_nearest_reference_not_the_mean() -> None:
    rng = np.random.default_rng(0)
    # two clusters: a point between them is near the mean but far from every file
    reference = np.r_[rng.normal(-3, 0.1, (10, 4)), rng.normal(3, 0.1, (10, 4))]
    assert knn_distance(reference, np.zeros(4)) > 5 * knn_distance(reference, np.full(4, 3.0))


def test_knn_distance_refuses_too_few_rows_and_wrong_dimensions() -> None:
    with pytest.raises(ValueError, match="fewer than k"):
        knn_distance(np.zeros((1, 3)), np.zeros(3), k=2)
    with pytest.raises(ValueError, match="do not match"):
        knn_distance(np.zeros((4, 3)), np.zeros(2))


def _rows(setting: str, aurocs: list[float]) -> list[dict]:
    """Validation rows of ``setting`` with the default score at ``aurocs`` and both baselines
    at 0.8."""
    return [
        {
            "setting": setting,
            "kind": str(i),
            AE_DEFAULT: (a, a),
            **{b: (0.8, 0.8) for b in BASELINES},
        }
        for i, a in enumerate(aurocs)
    ]


@pytest.mark.parametrize(
    "recipe, latent2, latent1, decision",
    [
        ([0.9] * 8 + [0.7] * 2, [0.9] * 9 + [0.7], [0.9] * 8 + [0.7] * 2, "latent2 replaces"),
        ([0.9] * 8 + [0.7] * 2, [0.9] * 8 + [0.7] * 2, [0.9] * 10, "latent1 replaces"),
        ([0.9] * 8 + [0.7] * 2, [0.9] * 8 + [0.7] * 2, [0.9] * 7 + [0.7] * 3, "recipe stays"),
        ([0.9] * 8 + [0.7] * 2, [0.9] * 9 + [0.7], [0.9] * 9 + [0.7], "latent2 replaces"),
    ],
)
def test_round_14_decision_follows_the_rule(recipe, latent2, latent1, decision) -> None:
    rows = (
        _rows("speech / anomaly recipe trained here", recipe)
        + _rows("speech / latent2 candidate trained here", latent2)
        + _rows("speech / latent1 candidate trained here", latent1)
    )
    lines = width_round_verdict(rows, 14)
    assert lines[0] == f"recipe: the default score wins {sum(a > 0.8 for a in recipe)} of 10 cells"
    assert decision in lines[-1]


def _two_candidate_verdict(number: int, group: str, first, second, other: str) -> list[str]:
    """Round ``number``'s verdict on rows where the recipe wins 8 of 10 cells, its two
    candidates ``first`` and ``second`` (AUROCs), and an earlier round's candidate ``other``
    that wins all 10 and must not be counted; checks the three count lines."""
    names = WIDTH_ROUNDS[number]
    rows = (
        _rows(f"{group} / anomaly recipe trained here", [0.9] * 8 + [0.7] * 2)
        + _rows(f"{group} / {names[0]} candidate trained here", first)
        + _rows(f"{group} / {names[1]} candidate trained here", second)
        + _rows(f"{group} / {other} candidate trained here", [0.9] * 10)
    )
    lines = width_round_verdict(rows, number)
    assert lines[:3] == [
        "recipe: the default score wins 8 of 10 cells",
        f"{names[0]}: the default score wins {sum(a > 0.8 for a in first)} of 10 cells",
        f"{names[1]}: the default score wins {sum(a > 0.8 for a in second)} of 10 cells",
    ]
    return lines


@pytest.mark.parametrize(
    "latent8, latent16, decision",
    [
        ([0.9] * 9 + [0.7], [0.9] * 9 + [0.7], "latent8 replaces"),  # a tie goes to latent8
        ([0.9] * 8 + [0.7] * 2, [0.9] * 10, "latent16 replaces"),
        ([0.9] * 8 + [0.7] * 2, [0.9] * 8 + [0.7] * 2, "recipe stays"),  # a tie keeps it
    ],
)
def test_round_15_decision_follows_the_rule(latent8, latent16, decision) -> None:
    assert decision in _two_candidate_verdict(15, "notes", latent8, latent16, "latent2")[-1]


@pytest.mark.parametrize(
    "mel32, mel16, decision",
    [
        (
            [0.9] * 9 + [0.7],
            [0.9] * 9 + [0.7],
            "mel32 replaces the recipe's setting (features.n_mels=32)",
        ),
        (
            [0.9] * 8 + [0.7] * 2,
            [0.9] * 10,
            "mel16 replaces the recipe's setting (features.n_mels=16)",
        ),
        ([0.9] * 8 + [0.7] * 2, [0.9] * 7 + [0.7] * 3, "recipe stays"),
    ],
)
def test_round_16_decision_follows_the_rule(mel32, mel16, decision) -> None:
    rows = (
        _rows("notes / anomaly recipe trained here", [0.9] * 8 + [0.7] * 2)
        + _rows("notes / mel32 candidate trained here", mel32)
        + _rows("notes / mel16 candidate trained here", mel16)
        + _rows("notes / latent16 candidate trained here", [0.9] * 10)  # round 15's: not counted
    )
    lines = width_round_verdict(rows, 16)
    assert lines[0] == "recipe: the default score wins 8 of 10 cells"
    assert decision in lines[-1]


@pytest.mark.parametrize(
    "dae, dae_strong, decision",
    [
        (
            [0.9] * 9 + [0.7],
            [0.9] * 9 + [0.7],
            "dae replaces the recipe's setting "
            "(data.denoise=true data.snr_db_min=10 data.snr_db_max=30)",
        ),
        ([0.9] * 8 + [0.7] * 2, [0.9] * 10, "dae_strong replaces the recipe's setting"),
        ([0.9] * 8 + [0.7] * 2, [0.9] * 8 + [0.7] * 2, "recipe stays"),
    ],
)
def test_round_17_decision_follows_the_rule(dae, dae_strong, decision) -> None:
    assert decision in _two_candidate_verdict(17, "speech", dae, dae_strong, "mel16")[-1]


def test_pitch_folds_hold_out_one_pitch_of_every_instrument_each() -> None:
    folds = [pitch_fold_split(k) for k in range(6)]
    train = set(folds[0]["fit"]) | set(folds[0]["val"])
    held = [set(f["val"]) for f in folds]
    assert all(len(v) == 14 for v in held)  # one note of each of the 14 instruments
    assert set().union(*held) == train and sum(map(len, held)) == len(train) == 84
    for f in folds:
        assert not set(f["fit"]) & set(f["val"]) and len(f["fit"]) == 70
    assert held[2] == set(fit_split("notes")["val"])  # round 7's split, printed, not counted
    assert 2 not in ROUND_18_FOLDS and len(ROUND_18_FOLDS) == 5


def _round_18_fixture(default: list[float], candidates: dict[str, list[float]]) -> list[dict]:
    """Rows for round 18: 5 speech cells, and per pitch fold 5 notes cells, each score at the
    given AUROC per cell (10 values: speech then notes; every fold alike) and the baselines at
    0.8; fold 2's rows score 1.0 everywhere (printed, never counted)."""
    scores = {"log rec+latent+band": default, **candidates}
    rows = []
    for setting, part, flagged in (
        ("speech / anomaly recipe trained here", slice(0, 5), (0.1, 0.5)),
        *((f"notes / pitch fold {k}", slice(5, 10), (0.2, 0.6)) for k in (*ROUND_18_FOLDS, 2)),
    ):
        for i, kind in enumerate(KINDS):
            row = {"setting": setting, "kind": kind, "n": (14, 14), "flagged": flagged}
            for name, values in scores.items():
                a = 1.0 if setting.endswith("fold 2") else values[part][i]
                row[name] = (a, a)
            row.update({b: (0.8, 0.8) for b in BASELINES})
            rows.append(row)
    return rows


def test_round_18_rows_average_the_counted_folds_only() -> None:
    names = list(ROUND_18)
    rows = _round_18_fixture([0.9] * 8 + [0.7] * 2, {n: [0.9] * 10 for n in names})
    # make fold 0's notes hum differ: the cell is the mean over the five counted folds
    for r in rows:
        if r["setting"] == "notes / pitch fold 0" and r["kind"] == "hum":
            r[names[0]] = (0.4, 0.4)
    cells = round_18_rows(rows)
    assert [r["setting"] for r in cells] == ["speech / anomaly recipe trained here"] * 5 + [
        "notes / pitch folds (mean)"
    ] * 5
    hum = next(r for r in cells if r["setting"].startswith("notes") and r["kind"] == "hum")
    assert hum[names[0]][0] == pytest.approx((0.4 + 4 * 0.9) / 5)
    assert hum[names[1]][0] == pytest.approx(0.9)  # fold 2's 1.0 is not in the mean
    assert hum["n"] == (70, 70) and hum["flagged"] == pytest.approx((0.2, 0.6))


def test_round_18_rows_refuse_a_missing_fold() -> None:
    rows = _round_18_fixture([0.9] * 10, {n: [0.9] * 10 for n in ROUND_18})
    rows = [r for r in rows if r["setting"] != "notes / pitch fold 4"]
    with pytest.raises(ValueError, match="4 pitch-fold rows, not 5"):
        round_18_rows(rows)


@pytest.mark.parametrize(
    "four, three, decision",
    [
        ([0.9] * 9 + [0.7], [0.9] * 8 + [0.7] * 2, "rec+latent+band+quiet_band becomes"),
        ([0.9] * 9 + [0.7], [0.9] * 9 + [0.7], "rec+latent+quiet_band becomes"),  # fewer terms
        ([0.9] * 8 + [0.7] * 2, [0.9] * 7 + [0.7] * 3, "default stays"),  # a tie keeps it
        ([0.9] * 7 + [0.7] * 3, [0.95] * 10, "rec+latent+quiet_band becomes"),
    ],
)
def test_round_18_decision_follows_the_rule(four, three, decision) -> None:
    rows = _round_18_fixture(
        [0.9] * 8 + [0.7] * 2,
        {"log rec+latent+band+quiet_band": four, "log rec+latent+quiet_band": three},
    )
    assert decision in round_18_verdict(rows)[-1]


@pytest.mark.parametrize(
    "five, twenty, decision",
    [
        ([0.9] * 9 + [0.7], [0.9] * 9 + [0.7], "stays 0.1"),  # exact tie with the default
        ([0.9] * 8 + [0.91, 0.7], [0.9] * 9 + [0.7], "QUIET_FRACTION becomes 0.05"),  # mean
        ([0.9] * 9 + [0.7], [0.9] * 10, "QUIET_FRACTION becomes 0.2"),  # one more cell
        ([0.9] * 8 + [0.7] * 2, [0.95] * 8 + [0.7] * 2, "stays 0.1"),  # fewer cells
        ([0.9] * 8 + [0.91, 0.7], [0.9] * 8 + [0.91, 0.7], "becomes 0.05"),  # candidates tie
    ],
)
def test_round_19_decision_follows_the_rule(five, twenty, decision) -> None:
    names = list(ROUND_19)
    rows = _round_18_fixture(
        [0.9] * 8 + [0.7] * 2,  # round 5's default: present in every row, not compared
        {"log rec+latent+quiet_band": [0.9] * 9 + [0.7], names[0]: five, names[1]: twenty},
    )
    assert decision in round_19_verdict(rows)[-1]


def test_round_19_term_at_the_default_fraction_is_the_library_term() -> None:
    import torch
    from bench_embed import quiet_band

    from audioae.anomaly import QUIET_FRACTION, file_terms, fit_reference, reconstruct_frames
    from audioae.pipeline import Pipeline

    pipe = Pipeline.load("codec", device="cpu")
    gen = torch.Generator().manual_seed(0)
    wavs = [torch.randn(1, 8000 + 800 * i, generator=gen) * 0.1 for i in range(5)]
    stats, _ = fit_reference(pipe, wavs)
    rec = reconstruct_frames(pipe, wavs[0] * torch.linspace(0, 1, 8000))
    expected = file_terms(pipe, rec, stats)["quiet_band"]
    assert quiet_band(pipe, rec, stats.mean, stats.std, QUIET_FRACTION) == pytest.approx(expected)


@pytest.mark.parametrize(
    "inner, decision",
    [
        ([0.9] * 9 + [0.7], "among the inner frames"),  # a tie: the correction is kept
        ([0.85] * 9 + [0.7], "among the inner frames"),  # lower mean, same cells: kept
        ([0.9] * 8 + [0.7] * 2, "the default stays"),  # one cell fewer
        ([0.9] * 10, "among the inner frames"),
    ],
)
def test_round_20_decision_follows_the_rule(inner, decision) -> None:
    rows = _round_18_fixture(
        [0.9] * 8 + [0.7] * 2,
        {"log rec+latent+quiet_band": [0.9] * 9 + [0.7], next(iter(ROUND_20)): inner},
    )
    assert decision in round_20_verdict(rows)[-1]


@pytest.mark.parametrize(
    "two_terms, maximum, decision",
    [
        # a tie in cells goes to fewer terms: the two-term candidate ranks above the default
        ([0.9] * 9 + [0.7], [0.9] * 9 + [0.7], "rec+quiet_band ranks above"),
        # the max candidate has the default's three terms: a tie in cells goes to the mean
        ([0.9] * 8 + [0.7] * 2, [0.91] * 9 + [0.7], "max(rec, latent, quiet_band) ranks above"),
        ([0.9] * 8 + [0.7] * 2, [0.89] * 9 + [0.7], "the default stays"),
        ([0.9] * 8 + [0.7] * 2, [0.9] * 8 + [0.7] * 2, "the default stays"),  # fewer cells
        ([0.9] * 10, [0.9] * 10, "rec+quiet_band ranks above"),  # fewer terms
    ],
)
def test_round_21_decision_follows_the_rule(two_terms, maximum, decision) -> None:
    names = list(ROUND_21)
    rows = _round_18_fixture(
        [0.9] * 8 + [0.7] * 2,
        {"log rec+latent+quiet_band": [0.9] * 9 + [0.7], names[0]: two_terms, names[1]: maximum},
    )
    verdict = round_21_verdict(rows)[-1]
    assert decision in verdict
    if "ranks above" in verdict:
        assert "COMBINED_TERMS becomes" in verdict


def _round_22_fixture(recipe: list[float], conv2d: list[float]) -> list[dict]:
    """Round 18's rows with the default score (``AE_DEFAULT``) at ``recipe``, and the same
    rows of the conv2d candidate (``speech / conv2d candidate``, ``notes / conv2d pitch fold
    K``) at ``conv2d``."""
    rows = []
    for values, speech, fold in (
        (recipe, "speech / anomaly recipe trained here", "notes / pitch fold"),
        (conv2d, "speech / conv2d candidate", "notes / conv2d pitch fold"),
    ):
        for r in _round_18_fixture(values, {}):
            r = dict(r)
            r[AE_DEFAULT] = r.pop("log rec+latent+band")
            if r["setting"].startswith("notes"):
                r["setting"] = r["setting"].replace("notes / pitch fold", fold)
            else:
                r["setting"] = speech
            rows.append(r)
    return rows


@pytest.mark.parametrize(
    "conv2d, decision",
    [
        ([0.9] * 10, "conv2d replaces the recipe's network"),
        ([0.9] * 9 + [0.7], "the recipe stays"),  # a tie keeps the recipe
        ([0.95] * 8 + [0.7] * 2, "the recipe stays"),  # fewer cells, higher AUROC
    ],
)
def test_round_22_decision_follows_the_rule(conv2d, decision) -> None:
    rows = _round_22_fixture([0.9] * 9 + [0.7], conv2d)
    verdict = round_22_verdict(rows)
    assert decision in verdict[-1]
    assert verdict[0].startswith("recipe: the default score wins 9 of 10 cells")


def test_round_22_verdict_refuses_missing_candidate_rows() -> None:
    rows = _round_22_fixture([0.9] * 10, [0.9] * 10)
    rows = [r for r in rows if r["setting"] != "speech / conv2d candidate"]
    with pytest.raises(ValueError, match="conv2d candidate cells"):
        round_22_verdict(rows)
