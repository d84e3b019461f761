"""Diagnosis (validation split only): the reconstruction error of a file's quietest frames.

    python benchmarks/anomaly_quiet_frames.py notes RUNS/notes-anomaly/model.safetensors
    python benchmarks/anomaly_quiet_frames.py speech RUNS/speech-anomaly/model.safetensors

``RUNS`` is ``bench_embed.py --work``'s folder (the models it trains on the fit split). For the
validation clips of ``bench_embed.fit_split`` and their corruptions (``bench_embed.corrupt``), it
prints AUROCs of: the default combined score (:data:`audioae.anomaly.COMBINED_TERMS`); the
standardised error's mean over the quietest ``q`` of frames (by the features' energy) and its
band error (:func:`audioae.anomaly.band_error`) there; and the reconstruction and latent terms
plus that quiet-frame band error (log z-scores over the fit files, summed). A stationary
sound added under a decaying one (mains hum under a note) fills the quiet frames, where the
model has least to reconstruct. Not a candidate of any round: no rule was written for it.
"""

from __future__ import annotations

import math
import sys

import bench_embed as b
import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from audioae.anomaly import (
    band_error,
    combined_score,
    compressed_error,
    file_terms,
    fit_reference,
    reconstruct_frames,
)
from audioae.pipeline import Pipeline

QUANTILES = (0.1, 0.25)


def main() -> None:
    torch.set_num_threads(1)
    group, model = sys.argv[1], sys.argv[2]
    split = b.fit_split(group)
    pipe = Pipeline.load(model, device="cpu")
    fit = [b._load(f) for f in split["fit"]]
    val = [b._load(f) for f in split["val"]]
    stats, _ = fit_reference(pipe, [torch.from_numpy(w) for w in fit])

    def quiet_terms(rec) -> dict[str, float]:
        z = (compressed_error(pipe, rec) - stats.mean[:, None]) / stats.std[:, None]
        energy = rec.magnitude(pipe).square().sum(0)
        out = {}
        for q in QUANTILES:
            quiet = energy <= energy.quantile(q)
            out[f"quiet{q} mean"] = float(z[:, quiet].square().mean())
            out[f"quiet{q} band"] = band_error(z[:, quiet])
        return out

    ref = [quiet_terms(reconstruct_frames(pipe, torch.from_numpy(w))) for w in fit]
    logs = {k: np.log([r[k] for r in ref]) for k in ref[0]}

    def scores(w: np.ndarray) -> dict[str, float]:
        rec = reconstruct_frames(pipe, torch.from_numpy(w))
        terms = file_terms(pipe, rec, stats)
        out = {"default": combined_score(terms, stats), **quiet_terms(rec)}
        base = combined_score(terms, stats, ("reconstruction", "latent"))
        for q in QUANTILES:
            k = f"quiet{q} band"
            out[f"rec+latent+{k}"] = base + (math.log(out[k]) - logs[k].mean()) / logs[k].std()
        return out

    normal = [scores(w) for w in val]
    for kind in ("clicks", "dropouts", "clipping", "hum"):
        rng = np.random.default_rng(0)
        bad = [scores(b.corrupt(w, kind, rng)) for w in val]
        y = np.r_[np.zeros(len(normal)), np.ones(len(bad))]
        cells = [f"{k} {roc_auc_score(y, [d[k] for d in normal + bad]):.3f}" for k in normal[0]]
        print(f"{group} {kind}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
