"""Benchmark the default model architectures: parameters, training-step time, latent rate.

For each architecture (dense, conv1d, conv2d; every other ``ModelConfig`` field at its default)
and bottleneck (deterministic, gaussian): the parameter count, the time of one forward +
backward pass (model, ``compute_loss`` with the default ``LossConfig``, ``backward``) on a
batch of 16 x 2 s at 16 kHz in default log-mel features (n_fft 1024, hop 256, 80 mels ->
126 frames), on CPU with ``torch.set_num_threads(THREADS)``, and the latent rate (values/s).

Ratios are against references measured in the same run: ``x real time`` is the 32 s of audio
in a batch divided by the step time; ``vs dense`` is the step time over that of the
deterministic dense model.

Usage::

    python benchmarks/bench_models.py [--repeats 5] [--write]   # --write updates docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from docs_section import replace_section  # noqa: E402  (sibling module: run as a script)

from audioae.config import FeatureConfig, LossConfig, ModelConfig
from audioae.features import build_frontend
from audioae.losses import compute_loss
from audioae.models import build_model

THREADS = 2
BATCH = 16
SECONDS = 2.0
SAMPLE_RATE = 16000
DOCS = Path(__file__).parents[1] / "docs" / "benchmarks.md"


def one_step(model: torch.nn.Module, x: torch.Tensor, loss_cfg: LossConfig) -> float:
    """Seconds for one forward + loss + backward."""
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    compute_loss(model(x), x, loss_cfg, step=1000).total.backward()
    return time.perf_counter() - start


def run(repeats: int) -> tuple[list[dict], str]:
    """Time every model; rounds are interleaved so load changes hit all models alike."""
    load_before = os.getloadavg()[0]
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    features = build_frontend(FeatureConfig(), SAMPLE_RATE)
    loss_cfg = LossConfig()
    frames = features.num_frames(int(SECONDS * SAMPLE_RATE))
    # log-mel-like values (the step time does not depend on them)
    x = torch.randn(BATCH, features.n_bins, frames) * 2.5 - 6.0
    names = [(a, b) for a in ("dense", "conv1d", "conv2d") for b in ("deterministic", "gaussian")]
    models = [
        build_model(ModelConfig(architecture=a, bottleneck=b), features).train() for a, b in names
    ]
    for model in models:  # warm-up
        for _ in range(2):
            one_step(model, x, loss_cfg)
    times: list[list[float]] = [[] for _ in models]
    for r in range(repeats):
        for i, model in enumerate(models):
            times[i].append(one_step(model, x, loss_cfg))
        print(
            f"round {r + 1}/{repeats}: " + " ".join(f"{t[-1] * 1000:.0f}" for t in times) + " ms",
            flush=True,
        )
    rows = []
    for (arch, bottleneck), model, t in zip(names, models, times):
        rows.append(
            {
                "arch": arch,
                "bottleneck": bottleneck,
                "params": model.n_parameters,
                "median_s": statistics.median(t),
                "min_s": min(t),
                "latent_rate": model.latent_rate(SAMPLE_RATE, features.hop_length),
                "latent_shape": tuple(model.encode(x[:1]).sample.shape[1:]),
            }
        )
    reference = rows[0]["median_s"]
    audio_seconds = BATCH * SECONDS
    lines = [
        f"Forward + loss + backward on a batch of {BATCH} x {SECONDS:g} s at {SAMPLE_RATE} Hz "
        f"(log-mel: n_fft {features.n_fft}, hop {features.hop_length}, {features.n_mels} mels, "
        f"{frames} frames), CPU, `torch.set_num_threads({THREADS})`, median and minimum of {repeats} "
        f"steps after 2 warm-up steps, the models timed in interleaved rounds. Model configs are the `ModelConfig` defaults with the architecture and "
        f"bottleneck set. `x real time` = {audio_seconds:g} s of audio / step time; `vs dense` = "
        f"step time / that of dense-deterministic, same run.",
        "",
        f"Measured with torch {torch.__version__} on {platform.machine()} "
        f"({os.cpu_count()} CPUs shared with other jobs; 1-min load average {load_before:.1f} before "
        f"and {os.getloadavg()[0]:.1f} after the run, so times are inflated and noisy; the minimum "
        "is the least disturbed).",
        "",
        "| architecture | bottleneck | parameters | latent (dim x frames / 2 s) | latent rate (values/s) "
        "| step median (ms) | step min (ms) | x real time | vs dense |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        dim, lf = r["latent_shape"]
        lines.append(
            f"| {r['arch']} | {r['bottleneck']} | {r['params']:,} | {dim} x {lf} | {r['latent_rate']:.0f} "
            f"| {r['median_s'] * 1000:.0f} | {r['min_s'] * 1000:.0f} | {audio_seconds / r['median_s']:.0f} "
            f"| {r['median_s'] / reference:.2f} |"
        )
    return rows, "\n".join(lines)


def write_section(table: str) -> None:
    """Replace (or append) the ``## Models`` section of ``docs/benchmarks.md``, keeping the rest."""
    replace_section(
        f"## Models\n\nMeasured by `python benchmarks/bench_models.py --write`.\n\n{table}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per model (default 5)")
    parser.add_argument(
        "--write", action="store_true", help="write the table into docs/benchmarks.md"
    )
    args = parser.parse_args()
    _, table = run(args.repeats)
    print()
    print(table)
    if args.write:
        write_section(table)
        print(f"\nwrote the ## Models section of {DOCS}")


if __name__ == "__main__":
    main()
