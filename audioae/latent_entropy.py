"""The latent file's quantiser and entropy model (the format is in :mod:`audioae.codec`).

Each latent dimension is quantised uniformly to ``levels`` bins over its ``[lo, hi]`` range
(:func:`quantise`, bin centres back with :func:`dequantise`). Symbols are range-coded
(``constriction``, Bamler 2022) under a quantized Laplace whose mean is an adaptive linear
prediction from the previous frame and whose scale is a running mean absolute error
(:class:`AdaptiveLaplace`; the exact update rules are in :mod:`audioae.codec`'s docstring).
The encoder picks the window and the per-dimension predictors of least estimated code length
(:func:`choose_model`); the decoder recomputes the same parameters with the same float64
operations, so both sides agree bit for bit.
"""

from __future__ import annotations

import constriction
import numpy as np

PREDICTOR_COEFFS = (0.0, 0.5, 0.75, 1.0)
WINDOW_CODES = (1, 2, 3, 4, 5, 6)
MIN_SCALE = 0.05
INIT_SCALE_DIVISOR = 4.0
RANGE_SLACK = 1.01
PROBABILITY_BITS = 24  # constriction's default leaky quantizer precision


def outward_bounds(
    lo: np.ndarray, hi: np.ndarray, dtype: type
) -> tuple[np.ndarray, np.ndarray, bool]:
    """lo/hi rounded outwards to ``dtype``; ok is False when that overflows or widens a
    range by more than 1 % (a zero-width range must then be exact)."""
    with np.errstate(over="ignore", invalid="ignore"):
        lo_s, hi_s = lo.astype(dtype), hi.astype(dtype)
        lo_s = np.where(lo_s.astype(np.float64) > lo, np.nextafter(lo_s, dtype(-np.inf)), lo_s)
        hi_s = np.where(hi_s.astype(np.float64) < hi, np.nextafter(hi_s, dtype(np.inf)), hi_s)
        lo64, hi64 = lo_s.astype(np.float64), hi_s.astype(np.float64)
        ok = np.isfinite(lo64) & np.isfinite(hi64) & (hi64 - lo64 <= RANGE_SLACK * (hi - lo))
    return lo_s.astype(dtype), hi_s.astype(dtype), bool(ok.all())


def quantise(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, levels: int) -> np.ndarray:
    """x (C, D, T) float64 -> symbols int64 in 0..levels-1 (lo/hi (D,) float64)."""
    width = (hi - lo)[None, :, None]
    safe = np.where(width > 0, width, 1.0)
    q = np.floor((x - lo[None, :, None]) * (levels / safe))
    q = np.where(width > 0, q, 0.0)
    return np.clip(q, 0, levels - 1).astype(np.int64)


def dequantise(q: np.ndarray, lo: np.ndarray, hi: np.ndarray, levels: int) -> np.ndarray:
    """symbols (C, D, T) -> bin centres float64."""
    step = ((hi - lo) / levels)[None, :, None]
    return lo[None, :, None] + (q + 0.5) * step


# ----------------------------------------------------------------------------- entropy model


class AdaptiveLaplace:
    """The adaptive model of the module docstring, for arrays of streams of any shape.

    ``coeffs`` and ``window`` broadcast against ``shape``; every operation is elementwise
    float64 ``+ - * /``, so encoder and decoder produce identical parameters.
    """

    def __init__(self, levels: int, coeffs: np.ndarray, window: np.ndarray, shape: tuple[int, ...]):
        self.top = float(levels - 1)
        self.center = self.top / 2.0
        self.coeffs = np.asarray(coeffs, dtype=np.float64)
        self.window = np.asarray(window, dtype=np.float64)
        self.prev = np.full(shape, self.center)
        self.total = np.zeros(shape, dtype=np.int64)
        self.count = 0
        self.scale = np.full(shape, levels / INIT_SCALE_DIVISOR)

    def params(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.total / self.count if self.count else np.full(self.prev.shape, self.center)
        pred = np.clip(mean + self.coeffs * (self.prev - mean), 0.0, self.top)
        return pred, self.scale

    def update(self, q: np.ndarray, pred: np.ndarray) -> None:
        rate = np.minimum(float(self.count + 2), self.window)
        self.scale = np.maximum(self.scale + (np.abs(q - pred) - self.scale) / rate, MIN_SCALE)
        self.prev = q.astype(np.float64)
        self.total = self.total + q
        self.count += 1


def laplace_bits(q: np.ndarray, pred: np.ndarray, scale: np.ndarray, top: float) -> np.ndarray:
    """Approximate code length (bits) of q under the quantized Laplace, tails folded."""

    def cdf(x: np.ndarray) -> np.ndarray:
        z = (x - pred) / scale
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0)), 1 - 0.5 * np.exp(-np.maximum(z, 0)))

    upper = np.where(q >= top, 1.0, cdf(q + 0.5))
    lower = np.where(q <= 0, 0.0, cdf(q - 0.5))
    return -np.log2(np.maximum(upper - lower, 2.0**-24))


def choose_model(q: np.ndarray, levels: int) -> tuple[int, np.ndarray]:
    """Pick the window code and per-dimension predictor codes of least estimated length.

    q: (C, D, T) symbols. Returns (window_code, codes (D,) int).
    """
    channels, dims, frames = q.shape
    shape = (len(WINDOW_CODES), len(PREDICTOR_COEFFS), channels, dims)
    coeffs = np.asarray(PREDICTOR_COEFFS)[None, :, None, None]
    windows = np.asarray([2.0**w for w in WINDOW_CODES])[:, None, None, None]
    model = AdaptiveLaplace(levels, coeffs, windows, shape)
    cost = np.zeros(shape)
    for t in range(frames):
        pred, scale = model.params()
        cost += laplace_bits(q[:, :, t], pred, scale, model.top)
        model.update(np.broadcast_to(q[:, :, t], shape), pred)
    per_dim = cost.sum(axis=2)  # (windows, coeffs, D)
    best = per_dim.min(axis=1).sum(axis=1)
    w_index = int(np.argmin(best))
    return WINDOW_CODES[w_index], np.argmin(per_dim[w_index], axis=0)


def run_params(q: np.ndarray, levels: int, window_code: int, codes: np.ndarray):
    """Model parameters for every symbol, (T, C, D) each, as the decoder will compute them."""
    channels, dims, frames = q.shape
    coeffs = np.asarray(PREDICTOR_COEFFS)[codes][None, :]
    model = AdaptiveLaplace(levels, coeffs, np.float64(2.0**window_code), (channels, dims))
    preds = np.empty((frames, channels, dims))
    scales = np.empty((frames, channels, dims))
    for t in range(frames):
        preds[t], scales[t] = model.params()
        model.update(q[:, :, t], preds[t])
    return preds, scales


def laplace_family(levels: int):
    return constriction.stream.model.QuantizedLaplace(0, levels - 1)


def words_to_bytes(words: np.ndarray, drop: int) -> bytes:
    raw = words.astype(">u4").tobytes()
    return raw[: len(raw) - drop]


def bytes_to_words(payload: bytes) -> np.ndarray:
    padded = payload + b"\0" * (-len(payload) % 4)
    return np.frombuffer(padded, dtype=">u4").astype(np.uint32)


def entropy_encode(
    symbols: np.ndarray, preds: np.ndarray, scales: np.ndarray, levels: int
) -> bytes:
    """Range-code flat symbols; shorten the last word when a rounded-up value still decodes."""
    if symbols.size == 0:
        return b""
    family = laplace_family(levels)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(symbols.astype(np.int32), family, preds, scales)
    words = encoder.get_compressed()
    for drop in (3, 2, 1):
        unit = 1 << (8 * drop)
        last = -(-int(words[-1]) // unit) * unit
        if last >= 1 << 32:
            continue
        trial = words.copy()
        trial[-1] = last
        try:
            decoded = constriction.stream.queue.RangeDecoder(trial).decode(family, preds, scales)
        except Exception:  # constriction rejects data that is invalid for the model
            continue
        if np.array_equal(decoded, symbols):
            return words_to_bytes(trial, drop)
    return words_to_bytes(words, 0)
