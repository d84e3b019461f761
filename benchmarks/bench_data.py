"""The data pipeline at scale: start-up, memory and data wait from 1 hour to 100 hours of audio.

Generates corpora under a temporary folder (removed afterwards) by tiling and transforming
the bundled speech (``data/speech``): every file is a window of the concatenated speech at a
random offset, with a random gain (+-6 dB) and polarity, ``--file-seconds`` long, 16 kHz
PCM_16 mono; plus a 44.1 kHz stereo set (the same speech upsampled, a delayed copy in the
second channel). Every measurement runs ``audioae``'s ``train()`` in a fresh child process
(under ``nice``) and reports:

* time from launch to the first training step (imports, index, datasets, trainer set-up,
  the sanity validation step), with a cold index (no cache) and a warm one;
* peak resident memory of the training process (``ru_maxrss``; ``data.num_workers=0`` so
  every byte is in that process);
* the same for the previous in-memory loader (the code of ``--baseline-commit``, run from a
  ``git archive`` of it) where it fits;
* data wait as a share of the step, per recipe, with 0 and 2 DataLoader workers (the
  manual training step of ``bench_train.py``, on the largest corpus);
* ``--devices 2`` (DDP, gloo on the CPU): each rank's peak memory and the time to the first
  step, against one process.

Run from the repository root (needs ~12 GB of free disk for 100 h)::

    nice python benchmarks/bench_data.py --hours 1 10 100 --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SR = 16000


# --- child: one measured training start ------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """Run ``train()`` for one step and write the first-step time and peak memory as JSON.

    As ``audioae train`` does, the other DDP ranks are started before the trainer's imports.
    """
    from audioae.launch import local_ranks

    with local_ranks(args.devices or 1):
        _child_run(args)


def _child_run(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    from audioae.config import load_config, resolve_recipe
    from audioae.training import AutoEncoderModule, train

    first: dict[str, float] = {}

    def on_train_batch_start(self, batch, batch_idx):
        first.setdefault("wall", time.time())
        first.setdefault("rss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

    AutoEncoderModule.on_train_batch_start = on_train_batch_start
    overrides = [f"data.num_workers={args.workers}", "training.log_every=1"]
    cfg = load_config(resolve_recipe(args.recipe), overrides)
    train(
        cfg,
        args.data,
        noise_dir=args.noise,
        out_dir=args.run,
        max_steps=1,
        devices=args.devices,
        progress=False,
    )
    rank = int(os.environ.get("LOCAL_RANK", 0))
    result = {
        "first_step_wall": first["wall"],
        "rss_at_first_step_mib": first["rss_kib"] / 1024,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    Path(f"{args.out}.rank{rank}.json").write_text(json.dumps(result))


# --- parent ----------------------------------------------------------------------------------


def speech_source():
    """The bundled 16 kHz speech concatenated, mono float32 ``(time,)``."""
    import numpy as np
    import soundfile as sf

    parts = []
    for path in sorted((ROOT / "data" / "speech").rglob("*.flac")):
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        if sr == SR:
            parts.append(data.mean(axis=1))
    return np.concatenate(parts)


def make_corpus(
    folder: Path, hours: float, file_seconds: float, source, *, stereo_44k: bool = False
) -> dict[str, float]:
    """Write ``hours`` of audio as files of ``file_seconds`` under ``folder``; return its size."""
    import numpy as np
    import soundfile as sf
    import soxr

    rng = np.random.default_rng(int(hours * 1000) + stereo_44k)
    n_files = max(1, round(hours * 3600 / file_seconds))
    length = int(file_seconds * SR)
    tiled = np.concatenate([source, source[::-1]])
    for i in range(n_files):
        start = int(rng.integers(0, tiled.size - length))
        x = tiled[start : start + length] * (10 ** (rng.uniform(-6, 6) / 20))
        x = -x if rng.random() < 0.5 else x
        path = folder / f"spk{i % 50:02d}" / f"utt{i:06d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        if stereo_44k:
            y = soxr.resample(x, SR, 44100)
            sf.write(str(path), np.stack([y, np.roll(y, 37)], axis=1), 44100, subtype="PCM_16")
        else:
            sf.write(str(path), x, SR, subtype="PCM_16")
    size = sum(p.stat().st_size for p in folder.rglob("*.wav"))
    return {"files": n_files, "gib": size / 2**30}


def measure(
    data: Path,
    *,
    code: Path,
    recipe: str,
    workers: int = 0,
    devices: int | None = None,
    noise: Path | None = None,
    timeout: float = 3600,
) -> dict:
    """Launch a child training process on ``data`` with the package at ``code``."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_data_run_"))
    out = tmp / "result"
    cmd = ["nice", sys.executable, str(Path(__file__).resolve()), "--child", "--data", str(data)]
    cmd += ["--run", str(tmp / "run"), "--out", str(out), "--recipe", recipe]
    cmd += ["--workers", str(workers)]
    if devices:
        cmd += ["--devices", str(devices)]
    if noise:
        cmd += ["--noise", str(noise)]
    env = dict(os.environ, PYTHONPATH=str(code), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    ranks = sorted(tmp.glob("result.rank*.json"))
    results = [json.loads(p.read_text()) for p in ranks]
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "startup_s": min(r["first_step_wall"] for r in results) - t0,
        "startup_last_rank_s": max(r["first_step_wall"] for r in results) - t0,
        "peak_rss_mib": [r["peak_rss_mib"] for r in results],
        "rss_at_first_step_mib": [r["rss_at_first_step_mib"] for r in results],
    }


def data_wait(recipe: str, data: Path, noise: Path | None, workers: int, steps: int) -> dict:
    """Share of step time spent in ``next(loader)`` (bench_train's manual step), in a child."""
    code = f"""
import sys, json, time, torch
torch.set_num_threads(1)
sys.path.insert(0, {str(ROOT / "benchmarks")!r})
from audioae.config import load_config, resolve_recipe
from audioae.data import build_datasets
from audioae.training import build_data_loaders, build_module
cfg = load_config(resolve_recipe({recipe!r}), ["data.num_workers={workers}", "training.max_steps={steps + 3}"])
ds = build_datasets(cfg, {str(data)!r}, {str(noise) if noise else None!r}, report=False)
loader, _ = build_data_loaders(cfg, ds, pin_memory=False)
module = build_module(cfg); module.train()
opt = module.configure_optimizers(); optimizer = opt["optimizer"]
it = iter(loader); waits, totals = [], []
for step in range({steps} + 3):
    t0 = time.perf_counter(); batch = next(it); t1 = time.perf_counter()
    result = next(p for p in module._step(batch) if hasattr(p, "total"))
    optimizer.zero_grad(set_to_none=True); result.total.backward()
    torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.training.gradient_clip or 1e9)
    optimizer.step(); t2 = time.perf_counter()
    if step >= 3:
        waits.append(t1 - t0); totals.append(t2 - t0)
print(json.dumps({{"share": sum(waits) / sum(totals), "step_ms": 1000 * sum(totals) / len(totals)}}))
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        ["nice", sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def baseline_code(commit: str, into: Path) -> Path:
    """Extract the package at ``commit`` (the in-memory loader) into ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "audioae", "recipes"],
        capture_output=True,
        check=True,
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


RECIPES = {
    "dense_ae": None,
    "sparse_ae": None,
    "conv1d_ae": None,
    "conv1d_vae": None,
    "conv2d_ae": None,
    "conv2d_vae": None,
    "denoise": "noise",
    "denoise_stream": "noise",
    "codec": None,
    "vocoder": None,
    "tiny": None,
}


def pct(a: float, b: float) -> str:
    return f"{100 * (a / b - 1):+.0f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--noise", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--recipe", default="dense_ae", help="recipe for the start-up runs")
    parser.add_argument("--hours", type=float, nargs="+", default=[1, 10, 100])
    parser.add_argument("--stereo-hours", type=float, default=1.0, help="44.1 kHz stereo set")
    parser.add_argument("--file-seconds", type=float, default=30.0)
    parser.add_argument("--in-memory-max-hours", type=float, default=10.0)
    parser.add_argument("--baseline-commit", default="02407b8")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs (median reported)")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), help="data-wait recipes")
    parser.add_argument("--steps", type=int, default=100, help="timed steps for the data wait")
    parser.add_argument("--tmp", default=tempfile.gettempdir(), help="where corpora are written")
    parser.add_argument("--keep", action="store_true", help="keep the corpora")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md section")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    import torch

    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="bench_data_", dir=args.tmp))
    lines: list[str] = []
    try:
        old = baseline_code(args.baseline_commit, work / "baseline")
        source = speech_source()
        corpora = {}
        for hours in args.hours:
            t = time.time()
            folder = work / f"speech_{hours:g}h"
            corpora[hours] = (folder, make_corpus(folder, hours, args.file_seconds, source))
            print(
                f"generated {hours:g} h in {time.time() - t:.0f} s: {corpora[hours][1]}", flush=True
            )
        stereo = None
        if args.stereo_hours > 0:
            folder = work / "music_44k_stereo"
            stereo = (
                folder,
                make_corpus(folder, args.stereo_hours, args.file_seconds, source, stereo_44k=True),
            )

        rows = []
        sets = [
            (f"speech {hours:g} h, 16 kHz mono", folder, info, hours)
            for hours, (folder, info) in corpora.items()
        ]
        if stereo is not None:
            sets.append((f"music {args.stereo_hours:g} h, 44.1 kHz stereo", *stereo, 1.0))
        # cold first, then the warm runs in rounds over every corpus, so a change of the
        # machine's load during the run falls on every corpus alike
        cold = {label: measure(folder, code=ROOT, recipe=args.recipe) for label, folder, *_ in sets}
        warm_runs: dict[str, list[dict]] = {label: [] for label, *_ in sets}
        for _ in range(args.repeats):
            for label, folder, *_ in sets:
                warm_runs[label].append(measure(folder, code=ROOT, recipe=args.recipe))
        results = {}
        for label, folder, info, hours in sets:
            runs = sorted(warm_runs[label], key=lambda r: r["startup_s"])
            warm = runs[len(runs) // 2]  # the median run
            out = {"cold": cold[label], "warm": warm}
            row = [label, f"{info['files']}", f"{info['gib']:.2f}"]
            row += [f"{cold[label]['startup_s']:.1f}", f"{warm['startup_s']:.1f}"]
            row += [f"{warm['peak_rss_mib'][0]:.0f}"]
            if hours <= args.in_memory_max_hours:
                mem = measure(folder, code=old, recipe=args.recipe)
                out["old"] = mem
                row += [f"{mem['startup_s']:.1f}", f"{mem['peak_rss_mib'][0]:.0f}"]
            else:
                row += ["(does not fit)", "-"]
            rows.append("| " + " | ".join(row) + " |")
            print(rows[-1], flush=True)
            if label.startswith("speech"):
                results[hours] = out

        hs = sorted(results)
        small, large = hs[0], hs[-1]
        warm_small = results[small]["warm"]["startup_s"]
        warm_large = results[large]["warm"]["startup_s"]
        mem_small = results[small]["warm"]["peak_rss_mib"][0]
        mem_large = results[large]["warm"]["peak_rss_mib"][0]
        warm_max = max(results[h]["warm"]["startup_s"] for h in hs)

        # inspect, warm
        t = time.time()
        subprocess.run(
            ["nice", sys.executable, "-m", "audioae.cli", "inspect", str(corpora[large][0])],
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            capture_output=True,
            check=True,
        )
        inspect_s = time.time() - t

        # DDP x2 against one process, on the largest corpus (warm index)
        ddp_folder = corpora[large][0]
        singles, ddps = [], []
        for _ in range(args.repeats):  # alternating, median of each
            singles.append(measure(ddp_folder, code=ROOT, recipe=args.recipe))
            ddps.append(measure(ddp_folder, code=ROOT, recipe=args.recipe, devices=2))
        single = sorted(singles, key=lambda r: r["startup_s"])[len(singles) // 2]
        ddp = sorted(ddps, key=lambda r: r["startup_last_rank_s"])[len(ddps) // 2]
        ddp_ratio = ddp["startup_last_rank_s"] / single["startup_s"]
        ddp_mem = max(ddp["peak_rss_mib"]) / single["peak_rss_mib"][0]

        # data wait per recipe, 0 and 2 workers, on the largest corpus
        wait_rows = []
        worst2 = 0.0
        for recipe in args.recipes:
            noise = RECIPES[recipe]
            noise_dir = ROOT / "data" / noise if noise else None
            w0 = data_wait(recipe, corpora[large][0], noise_dir, 0, args.steps)
            w2 = data_wait(recipe, corpora[large][0], noise_dir, 2, args.steps)
            worst2 = max(worst2, w2["share"])
            wait_rows.append(
                f"| {recipe} | {w0['step_ms']:.0f} | {100 * w0['share']:.1f} % | "
                f"{w2['step_ms']:.0f} | {100 * w2['share']:.1f} % |"
            )
            print(wait_rows[-1], flush=True)
        if stereo is not None:  # read at 44.1 kHz stereo, mixed down and resampled per crop
            w0 = data_wait(args.recipe, stereo[0], None, 0, args.steps)
            w2 = data_wait(args.recipe, stereo[0], None, 2, args.steps)
            worst2 = max(worst2, w2["share"])
            wait_rows.append(
                f"| {args.recipe}, 44.1 kHz stereo corpus | {w0['step_ms']:.0f} | "
                f"{100 * w0['share']:.1f} % | {w2['step_ms']:.0f} | {100 * w2['share']:.1f} % |"
            )
            print(wait_rows[-1], flush=True)

        load_after = os.getloadavg()[0]
        ok = lambda flag: "met" if flag else "MISSED"  # noqa: E731
        spread = warm_large / warm_small
        targets = [
            f"- warm start-up <= 15 s: largest {warm_max:.1f} s, {ok(warm_max <= 15)}.",
            f"- warm start-up within +-20 % from {small:g} h to {large:g} h: "
            f"{pct(warm_large, warm_small)}, {ok(0.8 <= spread <= 1.2)}.",
            f"- peak memory at {large:g} h within +10 % of {small:g} h: {mem_large:.0f} vs "
            f"{mem_small:.0f} MiB ({pct(mem_large, mem_small)}), {ok(mem_large <= 1.1 * mem_small)}.",
            f"- data wait < 10 % with 2 workers for every recipe: worst {100 * worst2:.1f} %, "
            f"{ok(worst2 < 0.10)}.",
            f"- DDP x2 per-rank memory equal to one process: "
            f"{', '.join(f'{m:.0f}' for m in ddp['peak_rss_mib'])} vs {single['peak_rss_mib'][0]:.0f} MiB "
            f"({pct(max(ddp['peak_rss_mib']), single['peak_rss_mib'][0])}), {ok(ddp_mem <= 1.1)}.",
            f"- DDP x2 start-up <= 1.3x: {ddp['startup_last_rank_s']:.1f} s (last rank's first step) vs "
            f"{single['startup_s']:.1f} s = {ddp_ratio:.2f}x, {ok(ddp_ratio <= 1.3)} (medians of "
            f"{args.repeats} alternating runs each, on the {large:g} h corpus, warm index).",
            f"- `audioae inspect` on {large:g} h with a warm index: {inspect_s:.1f} s.",
        ]
        setup = (
            f"Measured with torch {torch.__version__} on {platform.machine()}, {os.cpu_count()} CPUs shared "
            f"with other jobs (1-min load average {load_before:.1f} before and {load_after:.1f} after), "
            f"every child under `nice` with one torch thread; corpora of {args.file_seconds:g} s files "
            f"under {args.tmp} (page cache not dropped: a cold index of a corpus smaller than the "
            f"free memory may read from the cache)."
        )
        lines = [
            "## Data pipeline at scale",
            "",
            f"Measured by `nice python benchmarks/bench_data.py --hours {' '.join(f'{h:g}' for h in args.hours)} --write`.",
            "",
            "Start-up = launch of `train()` (recipe `"
            + args.recipe
            + "`, `data.num_workers=0`) in a fresh process to its first training step "
            "(imports, index, datasets, trainer, sanity validation step); peak RSS of that process. "
            "`cold`: no index cache (every file decoded once, in worker processes); `warm`: the "
            f"cached index, median of {args.repeats} runs made in rounds over the corpora. `in-memory` = the previous loader (every clip decoded into memory), "
            f"the code of commit {args.baseline_commit} run the same way. With `--devices 2` the "
            "child starts the second rank before the trainer's imports, as `audioae train` does "
            "(`audioae.launch`).",
            "",
            setup,
            "",
            "| corpus | files | GiB | cold start (s) | warm start (s) | peak RSS (MiB) | in-memory start (s) | in-memory peak RSS (MiB) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"Data wait = time in `next(loader)` / step time (manual steps as in `bench_train.py`, "
            f"{args.steps} timed after 3), on the {large:g} h corpus (denoise: with `data/noise`).",
            "",
            "| recipe | step (ms), 0 workers | data wait, 0 workers | step (ms), 2 workers | data wait, 2 workers |",
            "|---|---:|---:|---:|---:|",
            *wait_rows,
            "",
            "Targets:",
            "",
            *targets,
        ]
        print("\n".join(lines))
        if args.write:
            sys.path.insert(0, str(ROOT / "benchmarks"))
            from docs_section import replace_section

            replace_section("\n".join(lines) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
