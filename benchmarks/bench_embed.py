"""Embeddings as features and reconstruction error as an anomaly score, against classical baselines.

    python benchmarks/bench_embed.py [--models data/models] [--threads 1] [--work DIR] [--write]
    python benchmarks/bench_embed.py --validate   # choose the anomaly score (train split only)

1. Linear probe: a scikit-learn logistic regression (standardised inputs, C = 1, no tuning)
   predicts the instrument (one per GM family, 14 classes) of the 112 bundled notes from
   pooled features: audioae embeddings (what ``audioae embed`` writes: per latent channel the
   mean, std and mean absolute frame-to-frame change over frames; mean + std alone as an
   ablation) of the timbre VAE and of the speech codec AE, against MFCC (20) mean + std and log-mel (64) mean + std. Scored by
   leave-one-pitch-out cross-validation (grouped by the pitch's position 0-7 in each
   instrument's range, so no pitch is in both train and test), and by train split -> test
   split (data/splits.yaml).
2. Anomaly detection: normal clips are the held-out test split (speech: the unseen English
   speaker; notes: the held-out pitches); anomalous clips are the same clips corrupted
   (clicks, dropouts, clipping, hum; parameters fixed below, never tuned) and clips of another
   sound class (speech setting: the bundled noise recordings cut into 3 s pieces; notes
   setting: the speech test clips cut to 1.5 s). Models: ``recipes/anomaly.yaml`` (the
   documented workflow) trained here on the speech and on the notes train split less their
   validation part, the narrow conv1d_ae (the workflow before) trained here on speech, the
   shipped codec AE and timbre VAE. AUROC and average precision of the AE scores
   (:mod:`audioae.anomaly`: the default combined score of reconstruction, latent distance and
   quiet-frame band error; the standardised error's mean and 95th percentile over frames; other
   combinations; the compressed and the first, log, error), with their statistics fitted on
   the train split, against a Gaussian (Ledoit-Wolf covariance, Mahalanobis distance) and an
   Isolation Forest on MFCC mean + std, both fitted on the train split only. ``--validate``
   runs the same on a validation split carved from the train split (:func:`fit_split`),
   which is where the recipe, the error and the combination were chosen (rules below).
   ``--work DIR`` keeps the models trained here for the next run.
3. Time per audio second of ``audioae embed`` and ``audioae anomaly`` (in-process CLI runs,
   model loading and file reading included).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]

from anomaly_rounds import (  # noqa: E402  (sibling module)
    CANDIDATES,
    REFERENCE_PITCH,
    REFERENCE_VOICE,
    ROUND_3_RULE,
    ROUND_6_RULE,
    ROUND_8_RULE,
    ROUND_9_RULE,
    ROUND_10_RULE,
    ROUND_11_RULE,
    ROUND_12_RULE,
    ROUND_13_RULE,
    ROUND_18_FOLDS,
    ROUND_18_RULE,
    ROUND_19_FRACTIONS,
    ROUND_19_RULE,
    ROUND_20_RULE,
    ROUND_21_RULE,
    ROUND_22_RULE,
    SINGLE_TERMS,
)
from anomaly_verdicts import (  # noqa: E402  (sibling module)
    WIDTH_ROUNDS,
    WIDTH_RULES,
    round_18_rows,
    round_18_verdict,
    round_19_verdict,
    round_20_verdict,
    round_21_verdict,
    round_22_verdict,
    width_round_verdict,
)
from docs_section import replace_section  # noqa: E402  (sibling module: run as a script)
from embed_settings import (  # noqa: E402  (sibling module)
    AE_DEFAULT,
    AE_MEAN,
    BASELINES,
    KINDS,
    METHODS,
    QUANTILE,
    SHOWN,
    WORKFLOW_RECIPES,
)
from embed_tables import anomaly_table, section, selection_table  # noqa: E402  (sibling module)

SR = 16000


# --------------------------------------------------------------------------- data
def _split(group: str) -> dict[str, list[Path]]:
    splits = yaml.safe_load((ROOT / "data" / "splits.yaml").read_text())[group]
    return {k: [ROOT / "data" / p for p in v] for k, v in splits.items()}


def _load(path: Path) -> np.ndarray:
    from audioae.audio import load_audio

    return load_audio(path, sample_rate=SR, mono=True)[0][0].numpy()


def corrupt(wav: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """One corruption of a mono clip; levels relative to the clip's own peak/RMS, fixed a priori."""
    x = wav.astype(np.float64).copy()
    n = len(x)
    peak = np.abs(x).max()
    if kind == "clicks":  # 4 single-sample impulses per second at 0.8 x peak, random sign
        for i in rng.integers(0, n, max(1, int(4 * n / SR))):
            x[i] = rng.choice([-1.0, 1.0]) * 0.8 * peak
    elif kind == "dropouts":  # 1 gap of 50 ms per second, zeroed
        for i in rng.integers(0, max(1, n - 800), max(1, int(n / SR))):
            x[i : i + 800] = 0.0
    elif kind == "clipping":  # hard clip at 20 % of the peak, then back to the original peak
        x = np.clip(x, -0.2 * peak, 0.2 * peak) / 0.2
    elif kind == "hum":  # 50 Hz mains hum, harmonics 1-5 at 1/k, 10 dB below the clip's RMS
        t = np.arange(n) / SR
        hum = sum(
            np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 6)
        )
        rms = np.sqrt(np.mean(x**2))
        x = x + hum * (rms / np.sqrt(np.mean(hum**2))) * 10 ** (-10 / 20)
    else:
        raise ValueError(kind)
    return (x / max(1.0, np.abs(x).max() / 0.99)).astype(np.float32)


def _pieces(files: list[Path], seconds: float) -> list[np.ndarray]:
    out = []
    for f in files:
        wav = _load(f)
        step = int(seconds * SR)
        out += [wav[i : i + step] for i in range(0, len(wav) - step + 1, step)]
    return out


# --------------------------------------------------------------------------- features
def mfcc_stats(wav: np.ndarray) -> np.ndarray:
    m = librosa.feature.mfcc(y=wav, sr=SR, n_mfcc=20, n_fft=1024, hop_length=256)
    return np.concatenate([m.mean(1), m.std(1)])


def logmel_stats(wav: np.ndarray) -> np.ndarray:
    m = np.log(
        librosa.feature.melspectrogram(y=wav, sr=SR, n_fft=1024, hop_length=256, n_mels=64) + 1e-10
    )
    return np.concatenate([m.mean(1), m.std(1)])


def ae_stats(pipe, wav: np.ndarray) -> np.ndarray:
    """The pooled vector ``audioae embed`` writes: mean, std and mean abs delta per channel."""
    return pipe.embed(torch.from_numpy(wav)).pooled.numpy()


def ae_mean_std(pipe, wav: np.ndarray) -> np.ndarray:
    """The earlier pooled vector (mean and std only), kept as an ablation row."""
    emb = pipe.embed(torch.from_numpy(wav))
    return torch.cat([emb.mean, emb.std]).numpy()


# --------------------------------------------------------------------------- 1. probe
def probe(models: Path, trained: dict[str, Path] | None = None) -> list[dict]:
    """Linear-probe accuracies; ``trained``: also the conv1d_ae recipe trained here on the
    notes (``"notes-conv1d"`` from :func:`train_all`)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from audioae.pipeline import Pipeline

    files = sorted((ROOT / "data" / "notes").glob("*.flac"))
    names = [re.match(r"(.+)_(\d+)$", f.stem) for f in files]
    labels = np.array([m.group(1) for m in names])
    pitches = np.array([int(m.group(2)) for m in names])
    groups = np.array([sorted(pitches[labels == lab]).index(p) for lab, p in zip(labels, pitches)])
    test = {p.name for p in _split("notes")["test"]}
    is_test = np.array([f.name in test for f in files])
    wavs = [_load(f) for f in files]
    timbre = Pipeline.load(models / "timbre.safetensors", device="cpu")
    codec = Pipeline.load(models / "codec.safetensors", device="cpu")
    feats = {
        "audioae timbre VAE (conv2d), mean+std+delta, 3x16": [ae_stats(timbre, w) for w in wavs],
        "audioae codec AE (conv1d), mean+std+delta, 3x64": [ae_stats(codec, w) for w in wavs],
        "audioae timbre VAE (conv2d), mean+std only (ablation), 2x16": [
            ae_mean_std(timbre, w) for w in wavs
        ],
        "audioae codec AE (conv1d), mean+std only (ablation), 2x64": [
            ae_mean_std(codec, w) for w in wavs
        ],
    }
    if trained and "notes-conv1d" in trained:
        notes_ae = Pipeline.load(trained["notes-conv1d"], device="cpu")
        name = "audioae conv1d AE trained here on the notes, mean+std+delta, 3x32"
        feats[name] = [ae_stats(notes_ae, w) for w in wavs]
    feats["MFCC-20 mean+std, 2x20"] = [mfcc_stats(w) for w in wavs]
    feats["log-mel-64 mean+std, 2x64"] = [logmel_stats(w) for w in wavs]
    rows = []
    for name, x in feats.items():
        x = np.stack(x)

        def clf():
            return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))

        cv = cross_val_score(clf(), x, labels, groups=groups, cv=LeaveOneGroupOut())
        split_acc = clf().fit(x[~is_test], labels[~is_test]).score(x[is_test], labels[is_test])
        rows.append({"features": name, "cv": cv.mean(), "cv_std": cv.std(), "split": split_acc})
        print(
            f"probe {name}: leave-one-pitch-out {cv.mean():.3f} +- {cv.std():.3f}, split {split_acc:.3f}"
        )
    return rows


# --------------------------------------------------------------------------- 2. anomaly
VALIDATION_VOICE = "speech/it/carlo"
"""The speech train split's voice held out for choosing the anomaly score (``--validate``):
one whole speaker and language, as the test split is. The narrow AE never trains on it."""


def fit_split(group: str) -> dict[str, list[Path]]:
    """The train split of ``group`` divided into ``fit`` and ``val`` (never the test split).

    speech: ``val`` is :data:`VALIDATION_VOICE`; notes: ``val`` is the third of the six train
    pitches of every instrument (an interior pitch, as the test pitches are).
    """
    train = _split(group)["train"]
    if group == "speech":
        val = [
            f for f in train if f.relative_to(ROOT / "data").as_posix().startswith(VALIDATION_VOICE)
        ]
    else:
        val = [pitches[2] for pitches in _by_instrument(train)]
    return {"fit": [f for f in train if f not in val], "val": val}


def pitch_fold_split(fold: int) -> dict[str, list[Path]]:
    """Round 18: the notes train split with pitch ``fold`` (0-5, low to high) of every
    instrument's six train pitches as ``val`` and the other five as ``fit``; fold 2 is
    :func:`fit_split`'s."""
    train = _split("notes")["train"]
    val = [pitches[fold] for pitches in _by_instrument(sorted(train, key=_pitch))]
    return {"fit": [f for f in train if f not in val], "val": val}


def _pitch(note: Path) -> int:
    return int(note.stem.rsplit("_", 1)[1])


def _by_instrument(notes: list[Path]) -> list[list[Path]]:
    """The note files (``INSTRUMENT_PITCH``) of each instrument, in order of pitch; the
    instruments in the order they first appear in ``notes``."""
    by_instrument: dict[str, list[Path]] = {}
    for f in notes:
        by_instrument.setdefault(f.stem.rsplit("_", 1)[0], []).append(f)
    return [sorted(v, key=_pitch) for v in by_instrument.values()]


def reference_split(group: str) -> dict[str, list[Path]]:
    """Round 11: the ``fit`` files of :func:`fit_split` divided into ``train`` (what the AE
    trains on) and ``reference`` (normal audio it never trains on; speech:
    :data:`REFERENCE_VOICE`, notes: the :data:`REFERENCE_PITCH` th of every instrument's six
    train pitches)."""
    fit = fit_split(group)["fit"]
    if group == "speech":
        ref = [
            f for f in fit if f.relative_to(ROOT / "data").as_posix().startswith(REFERENCE_VOICE)
        ]
    else:
        six = _by_instrument(sorted(_split(group)["train"], key=_pitch))
        ref = [pitches[REFERENCE_PITCH] for pitches in six]
        assert not set(ref) & set(fit_split(group)["val"])
    return {"train": [f for f in fit if f not in ref], "reference": ref}


def train_normal_model(work: Path, group: str = "speech", recipe: str = "narrow") -> Path:
    """Train a :data:`WORKFLOW_RECIPES` model on the ``group`` train split less its validation
    part (links in ``work/GROUP-RECIPE/data``); returns its model file. A model already trained
    in ``work`` by an earlier run is reused."""
    import os
    import shutil

    from audioae.config import load_config
    from audioae.training import train

    name, overrides = WORKFLOW_RECIPES[recipe]
    folder = work / f"{group}-{recipe}"
    done = folder / "model.safetensors"
    if done.is_file():
        print(f"reusing {done}")
        return done
    data = folder / "data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    if recipe == "heldref":
        files = reference_split(group)["train"]
    elif "fold" in recipe:  # rounds 18 and 22: a model on the other five pitches
        files = pitch_fold_split(int(recipe.rsplit("fold", 1)[1]))["fit"]
    else:
        files = fit_split(group)["fit"]
    for f in files:
        os.symlink(f, data / "__".join(f.relative_to(ROOT / "data").parts))
    cfg = load_config(ROOT / "recipes" / f"{name}.yaml", overrides)
    started = time.perf_counter()
    result = train(cfg, data, out_dir=folder / "run", progress=False)
    print(f"trained {recipe} on {group} in {time.perf_counter() - started:.0f} s")
    shutil.copyfile(result.model_file, folder / "model.tmp")
    os.replace(folder / "model.tmp", done)
    return done


class ShrunkGaussianTerms:
    """Rounds 8, 13 and 19's terms (:data:`ROUND_8_TERMS`, :data:`ROUND_13_TERMS`,
    :data:`ROUND_19_FRACTIONS`) for one model and
    reference, fitted on the reference (fit) waveforms, each file reconstructed once: of the
    pooled latent and of the error profile, Ledoit-Wolf Gaussians (scikit-learn; round 8) and
    the mean distance to the :data:`KNN_K` nearest reference files (round 13), the reference
    files' own distances left-one-out; ``stats`` is the reference with those terms' ``(mean,
    std, log_mean, log_std)`` added to its ``terms``."""

    def __init__(self, pipe, stats, fit_wavs: list[np.ndarray]):
        import dataclasses

        from audioae.anomaly import _leave_one_out, compressed_error, reconstruct_frames, term_stats

        recs = [reconstruct_frames(pipe, torch.from_numpy(w)) for w in fit_wavs]
        vectors = {
            name: np.stack([self._vector(name, pipe, stats, r) for r in recs])
            for name in ("latent", "profile")
        }
        self.vectors = vectors
        self.gaussians = {
            f"{name}_lw" if name == "latent" else name: self._gaussian(v)
            for name, v in vectors.items()
        }
        terms = dict(stats.terms)
        for name, v in vectors.items():
            lw = f"{name}_lw" if name == "latent" else name
            loo = [self._distance(self._gaussian(np.delete(v, i, 0)), v[i]) for i in range(len(v))]
            terms[lw] = term_stats(loo)  # as fit_reference standardises every term
            knn = [knn_distance(np.delete(v, i, 0), v[i]) for i in range(len(v))]
            terms[f"{name}_knn"] = term_stats(knn)
        # round 19: the quiet-frame band error at other fractions, each reference file under
        # the per-bin statistics of the others (as fit_reference scores its files)
        loo = _leave_one_out([compressed_error(pipe, r) for r in recs])
        for name, fraction in ROUND_19_FRACTIONS.items():
            own = [quiet_band(pipe, r, m, s, fraction) for r, (m, s) in zip(recs, loo, strict=True)]
            terms[name] = term_stats(own)
        # round 20: the quiet frames among the inner frames only
        own = [
            quiet_band(pipe, r, m, s, 0.1, inner=True) for r, (m, s) in zip(recs, loo, strict=True)
        ]
        terms["quiet_band_inner"] = term_stats(own)
        self.stats = dataclasses.replace(stats, terms=terms)

    @staticmethod
    def _vector(name: str, pipe, stats, rec) -> np.ndarray:
        from audioae.anomaly import compressed_error
        from audioae.embed import pool_frames

        if name == "latent":
            return torch.cat(pool_frames(rec.latent)).double().numpy()
        z = (compressed_error(pipe, rec) - stats.mean[:, None]) / stats.std[:, None]
        return z.mean(-1).double().numpy()

    @staticmethod
    def _gaussian(x: np.ndarray):
        from sklearn.covariance import LedoitWolf

        return LedoitWolf().fit(x)

    @staticmethod
    def _distance(gaussian, v: np.ndarray) -> float:
        return float(gaussian.mahalanobis(v[None])[0]) / v.shape[0]

    def terms(self, pipe, stats, rec) -> dict[str, float]:
        """``{term: raw distance}`` of one reconstruction (``stats``: the original reference)."""
        out = {}
        for name, ref in self.vectors.items():
            v = self._vector(name, pipe, stats, rec)
            out[f"{name}_lw" if name == "latent" else name] = self._distance(
                self.gaussians[f"{name}_lw" if name == "latent" else name], v
            )
            out[f"{name}_knn"] = knn_distance(ref, v)
        for name, fraction in ROUND_19_FRACTIONS.items():
            out[name] = quiet_band(pipe, rec, stats.mean, stats.std, fraction)
        out["quiet_band_inner"] = quiet_band(pipe, rec, stats.mean, stats.std, 0.1, inner=True)
        return out


def quiet_band(
    pipe, rec, mean: torch.Tensor, std: torch.Tensor, fraction: float, *, inner: bool = False
) -> float:
    """Rounds 19 and 20's terms (:data:`ROUND_19_FRACTIONS`, ``quiet_band_inner``):
    :func:`audioae.anomaly.band_error` of the standardised error ``(error - mean) / std`` over
    :func:`audioae.anomaly.quiet_frames` at ``fraction`` (``inner``: among the inner frames);
    at the library's ``QUIET_FRACTION`` it is ``file_terms``' ``quiet_band``."""
    from audioae.anomaly import band_error, compressed_error, quiet_frames

    z = (compressed_error(pipe, rec) - mean[:, None]) / std[:, None]
    return band_error(z[:, quiet_frames(pipe, rec, fraction, inner=inner)])


KNN_K = 2
"""Round 13's neighbours: the k of Bergman, Cohen & Hoshen's deep nearest-neighbour anomaly
detection (2020), who score with the mean distance to the k = 2 nearest normal examples."""


def knn_distance(reference: np.ndarray, v: np.ndarray, k: int = KNN_K) -> float:
    """Mean Euclidean distance of ``v`` ``(dim,)`` to its ``k`` nearest rows of ``reference``
    ``(files, dim)``, every dimension divided by the reference rows' standard deviation
    (floored at 1e-6), over ``sqrt(dim)`` (round 13; Bergman, Cohen & Hoshen 2020).

    Raises:
        ValueError: fewer than ``k`` reference rows, or mismatched dimensions.
    """
    if reference.ndim != 2 or reference.shape[1] != v.shape[0]:
        raise ValueError(f"reference {reference.shape} and vector {v.shape} do not match")
    if reference.shape[0] < k:
        raise ValueError(f"{reference.shape[0]} reference rows, fewer than k = {k}")
    scale = np.maximum(reference.std(0), 1e-6)
    d = np.sqrt((((reference - v) / scale) ** 2).sum(1) / v.shape[0])
    return float(np.sort(d)[:k].mean())


def _method_scores(
    pipe, stats, gauss, forest, clips, extra=None, shrunk=None
) -> dict[str, np.ndarray]:
    """Every method's score per clip; ``extra``: further ``{name: (terms, how)}`` combinations;
    ``shrunk``: a :class:`ShrunkGaussianTerms` whose terms ``extra`` may use."""
    from audioae.anomaly import combined_score, errors_of, file_terms, reconstruct_frames

    combos = dict(extra or {})
    out: dict[str, list[float]] = {m: [] for m in METHODS if m not in BASELINES}
    out.update({name: [] for name in combos})
    for w in clips:
        rec = reconstruct_frames(pipe, torch.from_numpy(w))
        std = errors_of(pipe, rec, "standardised", stats)
        e = std.error.double()
        terms = file_terms(pipe, rec, stats)
        if shrunk is not None:
            terms.update(shrunk.terms(pipe, stats, rec))
        out[AE_DEFAULT].append(combined_score(terms, stats))
        for name, names in SHOWN.items():
            out[name].append(combined_score(terms, stats, names))
        out[AE_MEAN].append(float(e.mean()))
        out["AE standardised p95"].append(float(torch.quantile(e, 0.95)))
        out["AE compressed mean"].append(float(errors_of(pipe, rec, "compressed").error.mean()))
        out["AE log mean (old)"].append(float(errors_of(pipe, rec, "log").error.mean()))
        elbo = std.neg_elbo
        out["VAE neg ELBO"].append(float("nan") if elbo is None else float(elbo.mean()))
        for name, (names, how, log) in combos.items():
            ref = stats if shrunk is None else shrunk.stats
            out[name].append(combined_score(terms, ref, names, how, log))
    m = np.stack([mfcc_stats(w) for w in clips])
    result = {k: np.array(v) for k, v in out.items()}
    result["MFCC Gaussian"] = gauss.mahalanobis(m)
    result["MFCC Isolation Forest"] = -forest.score_samples(m)
    return result


def train_all(
    work: Path, validate: bool = False, candidates: bool = True, rounds: tuple[int, ...] = ()
) -> dict[str, Path]:
    """Every model the benchmark trains: ``{"speech-narrow", "speech-anomaly",
    "notes-anomaly", "notes-conv1d"}`` to model files; ``validate``: also the candidates of
    rounds 6, 9, 10 and 11 (``GROUP-fine``, ``GROUP-inpaint``, ``GROUP-speed``,
    ``GROUP-speed_inpaint``, ``GROUP-heldref`` for the speech and the notes; not with
    ``candidates=False``) and not the probe's ``notes-conv1d``; ``rounds``: the candidates of
    these :data:`WIDTH_ROUNDS` (``GROUP-latent2`` ..., with ``validate``), and with 18 the
    recipe on round 18's pitch folds (``notes-fold0`` ...)."""
    runs = [("speech", "narrow"), ("speech", "anomaly"), ("notes", "anomaly")]
    if not validate:
        runs += [("notes", "conv1d")]
    elif candidates:
        runs += [
            (group, recipe)
            for recipe in ("fine", "inpaint", "speed", "speed_inpaint", "heldref")
            for group in ("speech", "notes")
        ]
    for number in rounds if validate else ():
        if number == 18:  # the recipe on the notes' pitch folds
            runs += [("notes", f"fold{k}") for k in ROUND_18_FOLDS]
            continue
        if number == 22:  # the conv2d candidate on speech and on the pitch folds
            runs += [("speech", "conv2d")] + [("notes", f"conv2d_fold{k}") for k in ROUND_18_FOLDS]
            continue
        runs += [(g, recipe) for recipe in WIDTH_ROUNDS[number] for g in ("speech", "notes")]
    return {f"{g}-{r}": train_normal_model(work, g, r) for g, r in runs}


def anomaly(models: Path, trained: dict[str, Path], validate: bool = False) -> list[dict]:
    """AUROC / AP per setting and kind. Test: statistics and baselines fitted on the train split,
    normals from the test split. ``validate``: fitted on the train split less the validation
    part, normals from the validation part, other class from train-split material only."""
    from sklearn.covariance import LedoitWolf
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import average_precision_score, roc_auc_score

    from audioae.anomaly import fit_reference
    from audioae.pipeline import Pipeline

    if validate:
        speech, notes = fit_split("speech"), fit_split("notes")
        noise = [ROOT / "data" / p for p in _split("noise")["train"]]
        speech_other = speech["val"]
    else:
        speech = {"fit": _split("speech")["train"], "val": _split("speech")["test"]}
        notes = {"fit": _split("notes")["train"], "val": _split("notes")["test"]}
        noise = sorted((ROOT / "data" / "noise").glob("*.flac"))
        speech_other = _split("speech")["test"]
    settings = [
        ("speech / anomaly recipe trained here", trained["speech-anomaly"], speech, noise, 3.0),
        ("notes / anomaly recipe trained here", trained["notes-anomaly"], notes, speech_other, 1.5),
        (
            "speech / narrow AE trained here (conv1d, latent 4)",
            trained["speech-narrow"],
            speech,
            noise,
            3.0,
        ),
        ("speech / codec AE (conv1d, latent 64)", models / "codec.safetensors", speech, noise, 3.0),
        ("notes / timbre VAE (conv2d)", models / "timbre.safetensors", notes, speech_other, 1.5),
    ]
    if "speech-fine" in trained:  # round 6's candidate recipe (validation only)
        settings += [
            ("speech / fine candidate trained here", trained["speech-fine"], speech, noise, 3.0),
            (
                "notes / fine candidate trained here",
                trained["notes-fine"],
                notes,
                speech_other,
                1.5,
            ),
        ]
    widths = [r for candidates in WIDTH_ROUNDS.values() for r in candidates]
    for recipe in ("inpaint", "speed", "speed_inpaint", *widths):  # rounds 9, 10, 14-17
        if f"speech-{recipe}" in trained:
            label = f"{recipe} candidate trained here"
            settings += [
                (f"speech / {label}", trained[f"speech-{recipe}"], speech, noise, 3.0),
                (f"notes / {label}", trained[f"notes-{recipe}"], notes, speech_other, 1.5),
            ]
    for k in ROUND_18_FOLDS:  # round 18: the recipe on the notes' pitch folds
        if f"notes-fold{k}" in trained:
            split = pitch_fold_split(k)
            settings.append(
                (f"notes / pitch fold {k}", trained[f"notes-fold{k}"], split, speech_other, 1.5)
            )
    if "speech-conv2d" in trained:  # round 22: the conv2d candidate
        settings.append(("speech / conv2d candidate", trained["speech-conv2d"], speech, noise, 3.0))
    for k in ROUND_18_FOLDS:
        if f"notes-conv2d_fold{k}" in trained:
            model = trained[f"notes-conv2d_fold{k}"]
            split = pitch_fold_split(k)
            settings.append((f"notes / conv2d pitch fold {k}", model, split, speech_other, 1.5))
    settings = [(*s, None) for s in settings]  # the AE's reference: all of split["fit"]
    if "speech-heldref" in trained:  # round 11: one AE, its reference held out or not
        for group, split, other_files, piece_s in (
            ("speech", speech, noise, 3.0),
            ("notes", notes, speech_other, 1.5),
        ):
            model = trained[f"{group}-heldref"]
            held = reference_split(group)["reference"]
            settings += [
                (
                    f"{group} / round 11 reference held out",
                    model,
                    split,
                    other_files,
                    piece_s,
                    held,
                ),
                (
                    f"{group} / round 11 reference on all fit",
                    model,
                    split,
                    other_files,
                    piece_s,
                    None,
                ),
            ]
    rows = []
    for setting, model, split, other_files, piece_s, reference in settings:
        pipe = Pipeline.load(model, device="cpu")
        fit_wavs = [_load(f) for f in split["fit"]]
        ref_wavs = fit_wavs if reference is None else [_load(f) for f in reference]
        stats, _ = fit_reference(pipe, [torch.from_numpy(w) for w in ref_wavs])
        train = np.stack([mfcc_stats(w) for w in fit_wavs])
        gauss = LedoitWolf().fit(train)
        forest = IsolationForest(n_estimators=200, random_state=0).fit(train)
        normal = [_load(f) for f in split["val"]]

        def other(files=other_files, piece_s=piece_s):
            return _pieces(files, piece_s)

        extra = {**CANDIDATES, **SINGLE_TERMS} if validate else None
        shrunk = ShrunkGaussianTerms(pipe, stats, ref_wavs) if validate else None

        def scores(
            clips, pipe=pipe, stats=stats, gauss=gauss, forest=forest, extra=extra, shrunk=shrunk
        ):
            return _method_scores(pipe, stats, gauss, forest, clips, extra, shrunk)

        base = scores(normal)
        # what `audioae anomaly --reference` flags: the default score above the reference
        # files' 0.95 quantile (their in-sample scores; the latent term left-one-out)
        threshold = stats.threshold("standardised", "combined", QUANTILE)
        for kind in KINDS:
            rng = np.random.default_rng(0)
            if kind == "other class":
                bad = other()
            else:
                bad = [corrupt(w, kind, rng) for w in normal]
            s = scores(bad)
            y = np.r_[np.zeros(len(normal)), np.ones(len(bad))]
            row = {"setting": setting, "kind": kind, "n": (len(normal), len(bad))}
            row["flagged"] = (
                float(np.mean(base[AE_DEFAULT] > threshold)),
                float(np.mean(s[AE_DEFAULT] > threshold)),
            )
            for method in base:
                v = np.r_[base[method], s[method]]
                if np.isnan(v).any():  # the ELBO of a deterministic model
                    row[method] = (float("nan"), float("nan"))
                else:
                    row[method] = (roc_auc_score(y, v), average_precision_score(y, v))
            rows.append(row)
            print(
                f"{setting} {kind}: "
                + ", ".join(f"{m} {row[m][0]:.3f}/{row[m][1]:.3f}" for m in base)
                + f"; flagged at the {QUANTILE} quantile: normal {row['flagged'][0]:.3f}, "
                f"anomalous {row['flagged'][1]:.3f}"
            )
    return rows


# --------------------------------------------------------------------------- 3. timing
def timing(models: Path, trained: dict[str, Path] | None = None) -> list[dict]:
    """In-process CLI runs over a folder; ``trained``: also the anomaly recipe trained on speech
    (from :func:`train_all`), the documented workflow's model, on the same folder."""
    from audioae.cli import main

    speech, notes = ROOT / "data" / "speech" / "en", ROOT / "data" / "notes"
    runs = [
        ("embed", "codec.safetensors", models / "codec.safetensors", speech),
        ("anomaly", "codec.safetensors", models / "codec.safetensors", speech),
        ("embed", "timbre.safetensors", models / "timbre.safetensors", notes),
        ("anomaly", "timbre.safetensors", models / "timbre.safetensors", notes),
    ]
    if trained:
        anomaly_model = trained["speech-anomaly"]
        runs += [
            ("embed", "anomaly recipe (speech)", anomaly_model, speech),
            ("anomaly", "anomaly recipe (speech)", anomaly_model, speech),
        ]
    rows = []
    for cmd, model, model_file, folder in runs:
        files = sorted(folder.rglob("*.flac"))
        seconds = sum(len(_load(f)) for f in files) / SR
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / ("emb" if cmd == "embed" else "scores.csv")
            extra = []
            if cmd == "anomaly":  # fit the reference statistics first (not timed)
                group = "notes" if folder == notes else "speech"
                ref = Path(tmp) / "reference"
                ref.mkdir()
                for f in _split(group)["train"]:
                    (ref / "__".join(f.relative_to(ROOT / "data").parts)).symlink_to(f)
                stats = Path(tmp) / "reference.json"
                fit = [cmd, str(model_file), str(ref), "-o", str(Path(tmp) / "ref.csv")]
                fit += ["--reference", str(ref), "--save-reference", str(stats), "--quiet"]
                assert main([*fit, "--device", "cpu"]) == 0, "reference fit failed"
                extra = ["--reference", str(stats)]
            started = time.perf_counter()
            rc = main(
                [
                    cmd,
                    str(model_file),
                    str(folder),
                    "-o",
                    str(out),
                    "--quiet",
                    "--device",
                    "cpu",
                    *extra,
                ]
            )
            elapsed = time.perf_counter() - started
        assert rc == 0, f"{cmd} failed"
        rows.append(
            {
                "cmd": cmd,
                "model": model,
                "folder": folder.relative_to(ROOT),
                "files": len(files),
                "audio_s": seconds,
                "time_s": elapsed,
                "per_s": elapsed / seconds,
            }
        )
        print(
            f"{cmd} {model}: {elapsed:.2f} s for {seconds:.1f} s of audio ({elapsed / seconds * 1000:.1f} ms per audio second)"
        )
    return rows


# --------------------------------------------------------------------------- report
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=Path, default=ROOT / "data" / "models")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--write", action="store_true", help="replace the section in docs/benchmarks.md"
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="score on the validation split carved from the train split (for choosing the "
        "anomaly score; never the test clips) and print the table only",
    )
    parser.add_argument(
        "--work",
        type=Path,
        help="keep the models trained here in this folder and reuse them on the next run "
        "(default: a temporary folder)",
    )
    parser.add_argument(
        "--round-14",
        action="store_true",
        help="with --validate: also train and score round 14's candidates (the anomaly recipe "
        "with a 2- and a 1-channel latent)",
    )
    parser.add_argument(
        "--round-15",
        action="store_true",
        help="with --validate: also train and score round 15's candidates (the anomaly recipe "
        "with an 8- and a 16-channel latent)",
    )
    parser.add_argument(
        "--round-16",
        action="store_true",
        help="with --validate: also train and score round 16's candidates (the anomaly recipe "
        "with 32 and 16 mel bands)",
    )
    parser.add_argument(
        "--round-17",
        action="store_true",
        help="with --validate: also train and score round 17's candidates (the anomaly recipe "
        "trained as a denoising autoencoder on synthetic noise, SNR 10-30 dB and -5-20 dB)",
    )
    parser.add_argument(
        "--round-18",
        action="store_true",
        help="with --validate: also train the recipe on the notes' pitch folds and decide "
        "round 18 (the quiet-frame band error as a term)",
    )
    parser.add_argument(
        "--round-19",
        action="store_true",
        help="with --validate and --round-18: also decide round 19 (the quiet fraction, 5 %% "
        "and 20 %% of the frames) on round 18's cells",
    )
    parser.add_argument(
        "--round-20",
        action="store_true",
        help="with --validate and --round-18: also decide round 20 (the quiet frames among "
        "the inner frames only) on round 18's cells",
    )
    parser.add_argument(
        "--round-21",
        action="store_true",
        help="with --validate and --round-18: also decide round 21 (the default's terms without "
        "the latent distance, and combined by their maximum) on round 18's cells",
    )
    parser.add_argument(
        "--round-22",
        action="store_true",
        help="with --validate and --round-18: also train round 22's candidate (the anomaly "
        "recipe with a conv2d network) on speech and on the pitch folds and decide it",
    )
    parser.add_argument(
        "--no-recipe-candidates",
        action="store_true",
        help="with --validate: skip the candidate recipes of rounds 6, 9, 10 and 11 (their "
        "models take most of the run; the score rounds need only the recipe's)",
    )
    args = parser.parse_args()
    for flag, on in (
        ("--round-19", args.round_19),
        ("--round-20", args.round_20),
        ("--round-21", args.round_21),
        ("--round-22", args.round_22),
    ):
        if on and not (args.validate and args.round_18):
            parser.error(f"{flag} is decided on round 18's cells: give --validate --round-18")
    torch.set_num_threads(args.threads)
    rounds = tuple(
        n
        for n, on in (
            (14, args.round_14),
            (15, args.round_15),
            (16, args.round_16),
            (17, args.round_17),
            (18, args.round_18),
            (22, args.round_22),
        )
        if on
    )
    if args.validate:
        with tempfile.TemporaryDirectory() as tmp:
            trained = train_all(
                args.work or Path(tmp),
                validate=True,
                candidates=not args.no_recipe_candidates,
                rounds=rounds,
            )
            rows = anomaly(args.models, trained, validate=True)
            print("\n".join(anomaly_table(rows)))
            for label in ("anomaly recipe", "narrow AE"):
                print(f"\nSelection over the {label} cells ({ROUND_3_RULE}):")
                print("\n".join(selection_table([r for r in rows if label in r["setting"]])))
            print(f"\nRound 8 ({ROUND_8_RULE}): the anomaly recipe's selection above.")
            print(f"\nRound 13 ({ROUND_13_RULE}): the anomaly recipe's selection above.")
            if not args.no_recipe_candidates:
                print(f"\nSelection over the fine candidate's cells ({ROUND_6_RULE}):")
                print("\n".join(selection_table([r for r in rows if "fine" in r["setting"]])))
                print(f"\nSelection over the inpaint candidate's cells ({ROUND_9_RULE}):")
                print("\n".join(selection_table([r for r in rows if "/ inpaint " in r["setting"]])))
                print(f"\nRound 10 ({ROUND_10_RULE}):")
                for recipe in ("speed", "speed_inpaint"):
                    print(f"\nSelection over the {recipe} candidate's cells:")
                    picked = [r for r in rows if f"/ {recipe} " in r["setting"]]
                    print("\n".join(selection_table(picked)))
                print(f"\nRound 11 ({ROUND_11_RULE}):")
                for protocol in ("reference held out", "reference on all fit"):
                    print(f"\nSelection over the cells with the {protocol}:")
                    picked = [r for r in rows if f"round 11 {protocol}" in r["setting"]]
                    print("\n".join(selection_table(picked)))
            print(f"\nRound 12 ({ROUND_12_RULE}): the flagged shares in the rows above.")
            for number in rounds:
                if number == 18:
                    print(f"\nRound 18 ({ROUND_18_RULE}):")
                    print("\n".join(selection_table(round_18_rows(rows))))
                    print("\n" + "\n".join(round_18_verdict(rows)))
                    if args.round_19:
                        print(f"\nRound 19 ({ROUND_19_RULE}):")
                        print("\n".join(round_19_verdict(rows)))
                    if args.round_20:
                        print(f"\nRound 20 ({ROUND_20_RULE}):")
                        print("\n".join(round_20_verdict(rows)))
                    if args.round_21:
                        print(f"\nRound 21 ({ROUND_21_RULE}):")
                        print("\n".join(round_21_verdict(rows)))
                    continue
                if number == 22:
                    print(f"\nRound 22 ({ROUND_22_RULE}):")
                    picked = round_18_rows(
                        rows, "speech / conv2d candidate", "notes / conv2d pitch fold"
                    )
                    print("\n".join(selection_table(picked)))
                    print("\n" + "\n".join(round_22_verdict(rows)))
                    continue
                print(f"\nRound {number} ({WIDTH_RULES[number]}):")
                for recipe in WIDTH_ROUNDS[number]:
                    print(f"\nSelection over the {recipe} candidate's cells:")
                    picked = [r for r in rows if f"/ {recipe} " in r["setting"]]
                    print("\n".join(selection_table(picked)))
                print("\n" + "\n".join(width_round_verdict(rows, number)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        trained = train_all(args.work or Path(tmp))
        rows = anomaly(args.models, trained)
        times = timing(args.models, trained)
        probe_rows = probe(args.models, trained)
    text = section(probe_rows, rows, times, args.threads)
    print(text)
    if args.write:
        replace_section(text)


if __name__ == "__main__":
    main()
