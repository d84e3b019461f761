"""The markdown of ``bench_embed.py``'s section in docs/benchmarks.md: the linear probe, the
anomaly table with its verdicts (:func:`anomaly_table`), ``--validate``'s selection table and
the time per audio second.
"""

from __future__ import annotations

import platform
from datetime import date

import numpy as np
from anomaly_rounds import CANDIDATES, SELECTION_RULE, SINGLE_TERMS
from embed_settings import (
    AE_DEFAULT,
    AE_MEAN,
    BASELINES,
    METHODS,
    NARROW_AE,
    QUANTILE,
    SHOWN,
    beats,
    cell,
)


def anomaly_table(rows: list[dict]) -> list[str]:
    """Markdown table of AUROC / AP per method with the verdict for the default score."""
    methods = [m.removeprefix("AE ") for m in METHODS]
    lines = [
        "| setting | kind | normal / anomalous | "
        + " | ".join(methods)
        + " | default beats both baselines (AUROC) | standardised mean beats both "
        + f"| flagged by the default at the {QUANTILE} quantile: normal / anomalous |",
        "|---|---|---|" + "---:|" * len(METHODS) + "---|---|---:|",
    ]
    for r in rows:
        best_base = max(r[b][0] for b in BASELINES)
        if r[AE_DEFAULT][0] <= best_base:
            verdict = "no"
        elif r[AE_DEFAULT][0] <= 0.5:
            verdict = "no (AE at or below chance)"
        else:
            verdict = "yes"
        cells = " | ".join(cell(r[m]) for m in METHODS)
        mean_verdict = "yes" if beats(r, AE_MEAN) else "no"
        lines.append(
            f"| {r['setting']} | {r['kind']} | {r['n'][0]} / {r['n'][1]} | {cells} | {verdict} "
            f"| {mean_verdict} | {r['flagged'][0]:.0%} / {r['flagged'][1]:.0%} |"
        )
    workflow = [r for r in rows if "anomaly recipe" in r["setting"]]
    lines.append("")
    for label, subset in (("all settings", rows), ("the documented workflow", workflow)):
        if not subset:
            continue
        counts = {m: sum(beats(r, m) for r in subset) for m in (AE_DEFAULT, AE_MEAN, *SHOWN)}
        lines.append(
            f"In {label}, the default AE score (combined: reconstruction + latent + quiet band) "
            f"beats both baselines in {counts[AE_DEFAULT]} of {len(subset)} cells; the "
            f"standardised mean (the default before round 5) in {counts[AE_MEAN]}; "
            + "; ".join(f"{m.removeprefix('AE ')} in {counts[m]}" for m in SHOWN)
            + "."
        )
    return lines


def selection_table(rows: list[dict]) -> list[str]:
    """``--validate``: AUROC of every candidate combination per cell, cells won, and the choice
    by :data:`SELECTION_RULE`."""
    names = list(CANDIDATES) + list(SINGLE_TERMS)
    lines = [
        "| candidate | "
        + " | ".join(f"{r['setting'][:6]} {r['kind']}" for r in rows)
        + " | won | mean |",
        "|---|" + "---:|" * (len(rows) + 2),
    ]
    summary = {}
    for name in names:
        won = sum(beats(r, name) for r in rows)
        mean = float(np.mean([r[name][0] for r in rows]))
        summary[name] = (won, mean)
        cells = " | ".join(f"{r[name][0]:.3f}{'*' if beats(r, name) else ''}" for r in rows)
        lines.append(f"| {name} | {cells} | {won} | {mean:.3f} |")
    base = " | ".join(f"{max(r[b][0] for b in BASELINES):.3f}" for r in rows)
    lines.append(f"| better baseline | {base} | | |")

    def key(name):
        won, mean = summary[name]
        return (-won, len(CANDIDATES[name][0]), -mean)

    choice = sorted(CANDIDATES, key=key)[0]
    lines += ["", f"Rule: {SELECTION_RULE}.", f"Chosen: {choice} {CANDIDATES[choice]}."]
    return lines


def section(probe_rows, anomaly_rows, timing_rows, threads: int) -> str:
    lines = [
        "## Embeddings and anomaly scores",
        "",
        f"Measured by `python benchmarks/bench_embed.py --write` on {platform.machine()} with "
        f"{threads} torch thread(s), models from `data/models`, on {date.today().isoformat()}.",
        "",
        "### Linear probe: instrument of the bundled notes (14 classes, 112 notes)",
        "",
        "Logistic regression (standardised features, C = 1, not tuned). Leave-one-pitch-out: 8 "
        "folds, each holding out one pitch position of every instrument. Split: fit on the 84 "
        "train notes, score on the 28 test notes. Chance is 1/14 = 0.071. The conv1d AE trained "
        "here is `recipes/conv1d_ae.yaml` as bundled (latent 32, 1000 steps, seed 0) on the notes "
        "train split less its validation pitches (70 notes, none of the test notes), like the "
        "timbre VAE trained on notes; the codec AE is a speech model.",
        "",
        "| features | leave-one-pitch-out accuracy | split accuracy |",
        "|---|---:|---:|",
    ]
    for r in probe_rows:
        lines.append(f"| {r['features']} | {r['cv']:.3f} ± {r['cv_std']:.3f} | {r['split']:.3f} |")
    mfcc = next(r for r in probe_rows if r["features"].startswith("MFCC"))
    lines.append("")
    for r in probe_rows:
        if not r["features"].startswith("audioae"):
            continue
        verdict = "beats" if r["cv"] > mfcc["cv"] else "does not beat"
        lines.append(
            f"- {r['features']}: {verdict} MFCC statistics "
            f"({r['cv']:.3f} vs {mfcc['cv']:.3f} leave-one-pitch-out; split {r['split']:.3f} vs {mfcc['split']:.3f})."
        )
    lines += [
        "",
        "### Anomaly detection: AUROC / average precision per corruption kind",
        "",
        "Normal: held-out test clips. Anomalous: the same clips corrupted (clicks: 4 impulses/s at "
        "0.8 x peak; dropouts: one 50 ms gap/s; clipping: hard clip at 20 % of peak, re-scaled; "
        "hum: 50 Hz + 4 harmonics, 10 dB below the clip's RMS) or another sound class (speech "
        "setting: the 9 noise recordings in 3 s pieces; notes setting: held-out speech in 1.5 s "
        "pieces). Baselines fitted on the train split only. Higher is better; 0.5 AUROC is chance. "
        "The first two settings are the documented workflow: `recipes/anomaly.yaml` trained in "
        "this run on the speech and on the notes train split, less the validation part (the "
        "recipe was chosen on that validation part, see below). The third is the workflow "
        "documented before: `recipes/conv1d_ae.yaml` with "
        + " ".join(f"`{o}`" for o in NARROW_AE)
        + " (settings fixed before any result was seen). The verdict columns compare one AE "
        "score's AUROC with the better baseline's and require it to be above chance: the "
        "default of `audioae anomaly` with a reference (`combined`: the sum of the reference "
        "z-scores of the logarithms of the standardised error's mean, of the latent distance "
        "and of the band error over the quietest tenth of the frames; chosen on validation, "
        "round 18) and the standardised mean (the default before round 5). `rec+latent+band` "
        "is the default from round 5 to 18 (the band error over all frames), `rec+latent` the "
        "combined score before round 5, `rec+latent+floor` round 4's best candidate (not "
        "chosen). The VAE's negative ELBO is "
        "shown where the model has one.",
        "",
    ]
    lines += anomaly_table(anomaly_rows)
    lines += [
        "",
        "### Time per audio second",
        "",
        "In-process `audioae embed` / `audioae anomaly` over a folder (model loading, reading and "
        "resampling included; writing .npy files and the CSV included). `anomaly` reads "
        "reference statistics from a JSON file fitted beforehand on the train split (not timed).",
        "",
        "| command | model | folder | files | audio (s) | time (s) | ms per audio second |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in timing_rows:
        lines.append(
            f"| {r['cmd']} | {r['model']} | {r['folder']} | {r['files']} | {r['audio_s']:.1f} | "
            f"{r['time_s']:.2f} | {r['per_s'] * 1000:.1f} |"
        )
    return "\n".join(lines) + "\n"
