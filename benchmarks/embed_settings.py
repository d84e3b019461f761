"""The fixed settings of ``bench_embed.py``'s anomaly benchmark: the corruption kinds, the
scores compared (:data:`METHODS`) and the baselines, the models trained on normal audio
(:data:`WORKFLOW_RECIPES`), and the verdict of one cell (:func:`beats`).
"""

from __future__ import annotations

import numpy as np
from anomaly_rounds import ROUND_18_FOLDS, ROUND_22_OVERRIDES

KINDS = ("clicks", "dropouts", "clipping", "hum", "other class")
QUANTILE = 0.95
"""``audioae anomaly``'s default ``--quantile``: the threshold whose flags the tables count."""


NARROW_AE = [
    "model.latent_dim=4",
    "model.hidden_dim=64",
    "training.max_steps=2000",
    "training.val_every=500",
    "training.checkpoint_every=500",
    "training.seed=0",
]
"""The documented workflow's model: recipes/conv1d_ae.yaml with a 4-channel bottleneck, trained
here on the speech train split (settings fixed before any result was seen, not tuned)."""


WORKFLOW_RECIPES = {
    "narrow": ("conv1d_ae", NARROW_AE),
    "anomaly": ("anomaly", []),
    "conv1d": ("conv1d_ae", []),
    "fine": ("anomaly", ["features.n_fft=1024", "features.n_mels=128"]),
    "inpaint": ("anomaly", ["model.inpaint_groups=8"]),
    "speed": ("anomaly", ["data.speed_perturb=0.2"]),
    "speed_inpaint": ("anomaly", ["data.speed_perturb=0.2", "model.inpaint_groups=8"]),
    "heldref": ("anomaly", []),
    "latent2": ("anomaly", ["model.latent_dim=2"]),
    "latent1": ("anomaly", ["model.latent_dim=1"]),
    "latent8": ("anomaly", ["model.latent_dim=8"]),
    "latent16": ("anomaly", ["model.latent_dim=16"]),
    "mel32": ("anomaly", ["features.n_mels=32"]),
    "mel16": ("anomaly", ["features.n_mels=16"]),
    "dae": ("anomaly", ["data.denoise=true", "data.snr_db_min=10", "data.snr_db_max=30"]),
    "dae_strong": ("anomaly", ["data.denoise=true"]),
    **{f"fold{k}": ("anomaly", []) for k in ROUND_18_FOLDS},
    "conv2d": ("anomaly", list(ROUND_22_OVERRIDES)),
    **{f"conv2d_fold{k}": ("anomaly", list(ROUND_22_OVERRIDES)) for k in ROUND_18_FOLDS},
}
"""Models trained in the benchmark on normal audio: the narrow conv1d_ae (the documented
workflow until round 3) and ``recipes/anomaly.yaml`` (round 3: the same network on a 32 ms /
8 ms grid), as ``(recipe, overrides)``; and, for the linear probe, ``recipes/conv1d_ae.yaml`` as
bundled (latent 32, 1000 steps), trained on the notes (settings fixed before it was scored);
round 6's candidate ``fine`` (:data:`ROUND_6_RULE`), round 9's ``inpaint``
(:data:`ROUND_9_RULE`), round 10's ``speed`` and ``speed_inpaint`` (:data:`ROUND_10_RULE`) and
round 11's ``heldref`` (the recipe trained on the fit files less the reference part,
:func:`reference_split`; :data:`ROUND_11_RULE`), round 14's ``latent2`` and ``latent1``
(:data:`ROUND_14_RULE`), round 15's ``latent8`` and ``latent16`` (:data:`ROUND_15_RULE`) and
round 16's ``mel32`` and ``mel16`` (:data:`ROUND_16_RULE`) and round 17's denoising
autoencoders ``dae`` and ``dae_strong`` (:data:`ROUND_17_RULE`), and round 18's recipe on
the notes' pitch folds ``fold0`` ... (:func:`pitch_fold_split`, :data:`ROUND_18_RULE`), and
round 22's conv2d candidate on the speech fit split (``conv2d``) and on the folds
(``conv2d_fold0`` ...; :data:`ROUND_22_RULE`), trained with ``--validate`` only."""


METHODS = [
    "AE combined (default)",
    "AE standardised mean",
    "AE rec+latent+band",
    "AE rec+latent",
    "AE rec+latent+floor",
    "AE standardised p95",
    "AE compressed mean",
    "AE log mean (old)",
    "VAE neg ELBO",
    "MFCC Gaussian",
    "MFCC Isolation Forest",
]
AE_DEFAULT = "AE combined (default)"
"""The score the verdict is about: ``audioae anomaly``'s default with a reference, the combined
score of :data:`audioae.anomaly.COMBINED_TERMS` (reconstruction, latent and quiet-frame band
error; chosen on validation splits, round 18)."""
AE_MEAN = "AE standardised mean"
"""The default before round 5 (the standardised error, mean over frames)."""
SHOWN = {
    "AE rec+latent+band": ("reconstruction", "latent", "band"),
    "AE rec+latent": ("reconstruction", "latent"),
    "AE rec+latent+floor": ("reconstruction", "latent", "floor"),
}
"""Combinations shown beside the default: the default from round 5 to round 18 (band error over
all frames), the combined score before round 5, and round 4's best (``log rec+latent+floor``:
it tied the default's 7 validation cells with more terms)."""
BASELINES = ("MFCC Gaussian", "MFCC Isolation Forest")


def beats(row: dict, method: str) -> bool:
    """AUROC above chance and above both baselines'."""
    auroc = row[method][0]
    return auroc > 0.5 and auroc > max(row[b][0] for b in BASELINES)


def cell(value: tuple[float, float]) -> str:
    return "—" if np.isnan(value[0]) else f"{value[0]:.3f} / {value[1]:.3f}"
