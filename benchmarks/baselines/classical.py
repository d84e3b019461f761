"""Classical single-channel speech enhancement baselines, in torch: spectral subtraction and a
decision-directed Wiener filter, both driven by the same robust noise-PSD tracker.

Spectral subtraction and the tracker live in the package (:mod:`audioae.baselines`, the demo
report uses them); this module adds the Wiener filter and the tuning search, and re-exports
them so the benchmark has one import.

Every function takes waveforms ``(..., time)`` (any leading batch/channel dimensions, float,
any device) at ``sample_rate`` Hz and returns the enhanced waveform with the same shape, dtype
and device. Analysis is an STFT with a periodic Hann window of ``frame_ms`` (rounded to a power
of two in samples; the tuned 128 ms is ``n_fft = 2048`` at 16 kHz) and a hop of a quarter of
it (75 % overlap); synthesis is the weighted overlap-add inverse with the noisy phase. The STFTs
run in torch on the input's device; the frame recursions run in NumPy float64 on the CPU (their
per-frame vectors are tiny, so torch's per-operation overhead would dominate).

Noise PSD (no oracle: only the noisy input is seen)
    :func:`track_noise_psd` is the speech-presence-probability (SPP) MMSE tracker of
    Gerkmann & Hendriks, "Unbiased MMSE-based noise power estimation with low complexity and
    low tracking delay", IEEE TASLP 20(4), 2012: per frame and bin, the a-posteriori SPP under
    a fixed a-priori SNR of 15 dB and equal priors, stagnation avoidance (SPP capped at 0.99
    where its smoothed value exceeds 0.99), the MMSE noise periodogram ``(1 - P)|Y|^2 + P
    sigma^2`` and recursive smoothing (0.8). On noise-only input it settles about 1 dB below
    the true PSD (high-SPP frames keep the previous estimate). The bundled clips are trimmed to
    start with speech,
    so the tracker is not initialised from leading frames: its initial PSD is a quantile
    estimate (Stahl, Fischer & Bippus, ICASSP 2000) - per bin, the mean power of the
    ``init_quantile`` quietest frames of the clip (by total frame power), scaled by
    ``init_scale``. This initial estimate looks at the whole clip (offline), the tracking is
    causal.

Spectral subtraction
    Power spectral subtraction (Boll, "Suppression of acoustic noise in speech using spectral
    subtraction", IEEE TASSP 1979) with over-subtraction and a spectral floor (Berouti, Schwartz
    & Makhoul, ICASSP 1979): ``|S|^2 = |Y~|^2 - alpha sigma^2``, floored at ``beta sigma^2``,
    where ``|Y~|^2`` is the noisy power smoothed recursively over frames (Boll's magnitude
    averaging) and ``alpha = alpha_0 - slope * SNR_seg`` (segmental a-posteriori SNR in dB)
    clipped to ``[1, alpha_max]``.

Decision-directed Wiener filter
    A-priori SNR by the decision-directed rule of Ephraim & Malah ("Speech enhancement using a
    minimum mean-square error short-time spectral amplitude estimator", IEEE TASSP 1984):
    ``xi = a |S_prev|^2 / sigma^2 + (1 - a) max(gamma - 1, 0)``, floored at ``xi_min``
    (Cappe 1994), and the Wiener gain ``G = xi / (1 + xi)`` (Scalart & Vieira Filho, "Speech
    enhancement based on a priori signal to noise estimation", ICASSP 1996), floored at
    ``gain_floor``.

Parameters were tuned on the TRAIN split only (``python -m benchmarks.baselines.classical
[wiener] [ss]`` from the repository root re-runs the search; see :func:`tune`): 24 speech train
clips mixed with the 7 train noises at 0, 5, 10 and 15 dB, objective mean PESQ-WB + 0.1 x mean
SI-SDR (dB), coordinate search over the grids in :func:`tune` (two rounds). The defaults of the
parameter dataclasses are the tuned values. On those 96 train mixtures: noisy input PESQ 1.598 /
SI-SDR 7.49 dB; Wiener 1.704 / 9.63 dB (the textbook start: 32 ms, dd 0.98, floor -20 dB, gave
1.429 / 7.74 dB); spectral subtraction 1.705 / 9.68 dB. Both ended at 128 ms frames: these
noises are mostly stationary, low-frequency or tonal, where frequency resolution wins, and the
gain floors (-10 dB; beta 0.1) trade residual noise for less speech distortion, which PESQ
rewards.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from audioae.baselines import (
    NoiseTrackerParams,
    SpectralSubtractionParams,
    _analyse,
    _frame_major,
    _synthesise,
    _to_tensor,
    _tracker_numpy,
    spectral_subtraction,
    track_noise_psd,
)

__all__ = [
    "NoiseTrackerParams",
    "SpectralSubtractionParams",
    "WienerParams",
    "track_noise_psd",
    "spectral_subtraction",
    "wiener_dd",
]


@dataclass(frozen=True)
class WienerParams:
    """Decision-directed Wiener filter (Ephraim & Malah 1984; Scalart & Vieira Filho 1996).

    ``frame_ms``: analysis window (ms; hop is a quarter of it); ``dd_alpha``: weight of the
    previous frame's clean estimate in the a-priori SNR; ``xi_min_db``: a-priori SNR floor (dB);
    ``gain_floor_db``: lower bound of the gain (dB).
    """

    frame_ms: float = 128.0
    dd_alpha: float = 0.9
    xi_min_db: float = -25.0
    gain_floor_db: float = -10.0
    tracker: NoiseTrackerParams = NoiseTrackerParams()


def wiener_dd(wav: Tensor, sample_rate: int, params: WienerParams = WienerParams()) -> Tensor:
    """Wiener filter with the decision-directed a-priori SNR (Ephraim & Malah 1984; Scalart 1996).

    Args:
        wav: noisy waveform ``(..., time)``, float, at ``sample_rate`` Hz.
        sample_rate: Hz; sets the frame size (``params.frame_ms``).
        params: see :class:`WienerParams`.

    Returns:
        Enhanced waveform, same shape, dtype and device as ``wav`` (noisy phase).

    Raises:
        TypeError: ``wav`` is not floating point.  ValueError: ``sample_rate <= 0``.
    """
    spec, power, n_fft, hop = _analyse(wav, params.frame_ms, sample_rate)
    p = _frame_major(power)
    noise = _tracker_numpy(p, params.tracker)
    xi_min = 10.0 ** (params.xi_min_db / 10.0)
    g_min = 10.0 ** (params.gain_floor_db / 20.0)
    a = params.dd_alpha
    gain = np.empty_like(p)
    prev_clean = np.zeros_like(p[0])  # |S_hat(t-1)|^2
    for t in range(p.shape[0]):
        sigma = noise[t]
        xi = a * prev_clean / sigma + (1.0 - a) * np.maximum(p[t] / sigma - 1.0, 0.0)
        xi = np.maximum(xi, xi_min)
        g = np.maximum(xi / (1.0 + xi), g_min)
        gain[t] = g
        prev_clean = g * g * p[t]
    return _synthesise(spec, _to_tensor(gain, power), wav, n_fft, hop)


# ----------------------------------------------------------------------------- tuning (train split)


def tune(
    data_dir: str = "data",
    clips: int = 24,
    seed: int = 0,
    which: tuple[str, ...] = ("wiener", "ss"),
    rounds: int = 2,
) -> None:
    """Coordinate search of both baselines' parameters on the TRAIN split; prints every trial.

    Mixtures: ``clips`` train speech clips (a fixed, seeded choice), each mixed with one train
    noise (cycled) at 0, 5, 10 and 15 dB (``audioae.augment.mix_at_snr``, seeded). Objective:
    mean PESQ-WB + 0.1 x mean SI-SDR (dB). Never touches the test split.
    """
    import random
    import time
    from pathlib import Path

    import yaml

    from audioae.audio import load_audio
    from audioae.augment import mix_at_snr
    from audioae.metrics import pesq_wb, si_sdr

    torch.set_num_threads(2)
    root = Path(data_dir)
    splits = yaml.safe_load((root / "splits.yaml").read_text())
    speech = sorted(splits["speech"]["train"])
    random.Random(seed).shuffle(speech)
    noises = [load_audio(root / p)[0][0] for p in splits["noise"]["train"]]
    gen = torch.Generator().manual_seed(seed)
    mixtures = []  # per clip: clean (time,), noisy (4, time) at the four SNRs
    snrs = torch.tensor([0.0, 5.0, 10.0, 15.0])
    for i, path in enumerate(speech[:clips]):
        clean = load_audio(root / path)[0][0]
        noisy = mix_at_snr(clean.expand(4, -1), noises[i % len(noises)], snrs, generator=gen)
        mixtures.append((clean, noisy))

    def score(fn) -> tuple[float, float, float]:
        pesq, sdr = [], []
        for clean, noisy in mixtures:
            est = fn(noisy)
            pesq += pesq_wb(est, clean, 16000).tolist()
            sdr += si_sdr(est, clean).tolist()
        p, s = sum(pesq) / len(pesq), sum(sdr) / len(sdr)
        return p + 0.1 * s, p, s

    def search(name, base, grid, fn):
        best, (obj, p, s) = base, score(lambda x: fn(x, base))
        print(
            f"{name} start {base}: objective {obj:.3f} (PESQ {p:.3f}, SI-SDR {s:.2f})", flush=True
        )
        for _round in range(rounds):
            for key, values in grid.items():
                for value in values:
                    trial = _with(best, key, value)
                    if trial == best:
                        continue
                    t0 = time.perf_counter()
                    o, p, s = score(lambda x, trial=trial: fn(x, trial))
                    print(
                        f"  {key}={value}: {o:.3f} (PESQ {p:.3f}, SI-SDR {s:.2f}) {time.perf_counter() - t0:.0f}s",
                        flush=True,
                    )
                    if o > obj + 1e-4:
                        best, obj = trial, o
        print(f"{name} best {best}: objective {obj:.3f}", flush=True)
        return best

    obj, p, s = score(lambda x: x)
    print(f"noisy input: objective {obj:.3f} (PESQ {p:.3f}, SI-SDR {s:.2f})", flush=True)
    tracker_grid = {
        "tracker.init_quantile": [0.05, 0.1, 0.2, 0.3],
        "tracker.xi_h1_db": [10.0, 15.0, 20.0],
        "tracker.alpha_pow": [0.7, 0.8, 0.9, 0.95],
    }
    if "wiener" in which:
        search(
            "wiener",
            WienerParams(),
            {
                "frame_ms": [32.0, 64.0, 128.0],
                "dd_alpha": [0.9, 0.95, 0.98, 0.99],
                "xi_min_db": [-25.0, -15.0],
                "gain_floor_db": [-6.0, -8.0, -10.0, -12.0, -15.0, -20.0],
                **tracker_grid,
            },
            lambda x, p: wiener_dd(x, 16000, p),
        )
    if "ss" in which:
        search(
            "spectral subtraction",
            SpectralSubtractionParams(),
            {
                "frame_ms": [32.0, 64.0, 128.0],
                "alpha0": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0],
                "alpha_max": [5.0, 6.0, 8.0],
                "slope": [0.0, 0.1, 0.15],
                "beta": [0.005, 0.01, 0.02, 0.05, 0.1, 0.2],
                "smoothing": [0.0, 0.3, 0.5, 0.7],
                **tracker_grid,
            },
            lambda x, p: spectral_subtraction(x, 16000, p),
        )


def _with(params, key: str, value):
    if "." in key:
        head, rest = key.split(".", 1)
        return replace(params, **{head: _with(getattr(params, head), rest, value)})
    return replace(params, **{key: value})


if __name__ == "__main__":
    import sys

    tune(which=tuple(sys.argv[1:]) or ("wiener", "ss"))
