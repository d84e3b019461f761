"""Training throughput of the bundled recipes on this CPU, and the share of time spent waiting for data.

For each recipe: the datasets and DataLoader that ``audioae train`` builds (in-memory clips,
``data.num_workers`` workers), the same :class:`~audioae.training.AutoEncoderModule`, and N
optimisation steps done by hand the way Lightning's automatic optimisation does them
(features, forward, loss, backward, gradient clipping, AdamW step, LR scheduler step). Each
step is timed as ``next(loader)`` (data wait) plus the compute; reported are

* throughput: seconds of training audio per wall-clock second (``batch_size *
  segment_seconds / mean step time``), i.e. the ratio to real time;
* data wait: ``sum(next() time) / sum(step time)`` (target < 10 %).

Lightning's per-step bookkeeping (logging, progress bar) is not included. The first
``--warmup`` steps are not timed. Run from the repository root::

    python benchmarks/bench_train.py --threads 1 --steps 20 --write
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from docs_section import replace_section  # noqa: E402  (sibling module: run as a script)

from audioae.config import load_config  # noqa: E402
from audioae.data import EpochSampler, build_datasets  # noqa: E402
from audioae.training import AutoEncoderModule, _loader  # noqa: E402

DATA = {
    "dense_ae": ("notes", None),
    "sparse_ae": ("notes", None),
    "conv1d_ae": ("speech", None),
    "conv1d_vae": ("speech", None),
    "conv2d_ae": ("notes", None),
    "conv2d_vae": ("notes", None),
    "denoise": ("speech", "noise"),
    "codec": ("speech", None),
}


def bench(recipe: str, steps: int, warmup: int) -> dict[str, float]:
    cfg = load_config(ROOT / "recipes" / f"{recipe}.yaml")
    data, noise = DATA[recipe]
    ds = build_datasets(
        cfg, ROOT / "data" / data, ROOT / "data" / noise if noise else None, report=False
    )
    sampler = EpochSampler(len(ds.train))
    loader = _loader(ds.train, cfg, sampler, drop_last=True, pin=False, workers=0)
    module = AutoEncoderModule(cfg)
    module.train()
    opt = module.configure_optimizers()
    optimizer, scheduler = opt["optimizer"], opt["lr_scheduler"]["scheduler"]
    it, epoch = iter(loader), 0
    waits, totals = [], []
    for step in range(steps + warmup):
        t0 = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            epoch += 1
            sampler.set_epoch(epoch)
            it = iter(loader)
            batch = next(it)
        t1 = time.perf_counter()
        *_, result = module._step(batch)
        optimizer.zero_grad(set_to_none=True)
        result.total.backward()
        if cfg.training.gradient_clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.training.gradient_clip)
        optimizer.step()
        scheduler.step()
        t2 = time.perf_counter()
        if step >= warmup:
            waits.append(t1 - t0)
            totals.append(t2 - t0)
    audio_per_step = cfg.data.batch_size * cfg.data.segment_seconds
    step_time = statistics.mean(totals)
    return {
        "params": sum(p.numel() for p in module.model.parameters()) / 1e6,
        "batch": f"{cfg.data.batch_size} x {cfg.data.segment_seconds:g} s",
        "step_ms": 1000 * step_time,
        "median_ms": 1000 * statistics.median(totals),
        "throughput": audio_per_step / step_time,
        "data_share": sum(waits) / sum(totals),
        "minutes": cfg.training.max_steps * step_time / 60,
        "max_steps": cfg.training.max_steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (set explicitly)"
    )
    parser.add_argument("--steps", type=int, default=20, help="timed steps per recipe")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument(
        "--write", action="store_true", help="write the table to docs/benchmarks.md (## Training)"
    )
    parser.add_argument("recipes", nargs="*", default=list(DATA))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = os.getloadavg()[0]
    rows = [
        "| recipe | params (M) | batch x segment | step mean (ms) | step median (ms) | audio s / wall s "
        "| data wait / step | est. full run (min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(rows), flush=True)
    for recipe in args.recipes:
        r = bench(recipe, args.steps, args.warmup)
        rows.append(
            f"| {recipe} | {r['params']:.2f} | {r['batch']} | {r['step_ms']:.0f} | {r['median_ms']:.0f} | "
            f"{r['throughput']:.0f} | {100 * r['data_share']:.1f} % | {r['minutes']:.1f} ({r['max_steps']} steps) |"
        )
        print(rows[-1], flush=True)
    load_after = os.getloadavg()[0]
    setup = (
        f"Measured with torch {torch.__version__} on {platform.machine()}, `torch.set_num_threads({args.threads})`, "
        f"{args.steps} timed steps per recipe after {args.warmup} warm-up steps; {os.cpu_count()} CPUs shared with "
        f"other jobs (1-min load average {load_before:.1f} before and {load_after:.1f} after the run, so times are "
        f"inflated and noisy)."
    )
    print(setup)
    if args.write:
        cmd = f"python benchmarks/bench_train.py --threads {args.threads} --steps {args.steps} --write"
        text = (
            "## Training\n\n"
            f"Measured by `{cmd}`.\n\n"
            "Each bundled recipe at its own settings on the data it names (`data/notes`, `data/speech`, "
            "`data/noise`), with the DataLoader that `audioae train` builds (clips decoded once into memory, "
            "`data.num_workers: 0`) and the training module's step done by hand as Lightning's automatic "
            "optimisation does it (features on the device, forward, loss, backward, gradient clipping, AdamW, "
            "LR scheduler). `data wait / step` = total time in `next(loader)` / total step time (target < 10 %); "
            "`audio s / wall s` = seconds of training audio per wall-clock second (batch x segment / mean step "
            "time); `est. full run` = the recipe's `training.max_steps` x mean step time (Lightning's logging, "
            "validation and checkpoints come on top).\n\n"
            f"{setup}\n\n" + "\n".join(rows) + "\n"
        )
        replace_section(text)


if __name__ == "__main__":
    main()
