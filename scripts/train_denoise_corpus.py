"""Train a denoiser on the training corpus plus the bundled train split, holding validation out.

    python scripts/build_corpus.py                      # once: writes ~/.cache/audioae/corpus
    nice python scripts/train_denoise_corpus.py denoise --work runs/dn_corpus
    nice python scripts/train_denoise_corpus.py denoise_stream --work runs/dns_corpus
    python benchmarks/denoise_validation.py runs/dn_corpus/model.safetensors \\
        --speech-folder runs/dn_corpus/bundled_speech --unseen-noise runs/dn_corpus/val/noise

What it trains on (links, not copies, under ``WORK/data``):

- speech: every corpus clip (``CORPUS/speech``) and the bundled *train*-split speech
  (``data/splits.yaml``) except the clips that ``audioae train`` holds out of that split for
  validation (``split_by_hash``, 10 %, the same clips ``benchmarks/denoise_validation.py``
  scores), which go to ``WORK/val/speech`` instead;
- noise: the corpus noise files and the bundled train-split noise, except about 15 % of the
  corpus noise files of every category (chosen by a hash of the file name), which go to
  ``WORK/val/noise``: recordings training never hears, for choosing between variants
  without touching the bundled test noise (babble, bubbles).

The bundled test split (data/splits.yaml) is never linked. The run's model is saved in
float16 to ``--out`` (default ``WORK/model.safetensors``); whether it is shipped is decided
by the benchmark. A recipe that does not denoise (``data.denoise: false``, e.g. ``codec``)
trains on the same speech without the noise. Extra ``--set`` strings override the recipe;
``--extend-to 16000 24000`` then resumes the finished run to each of those step counts in turn
(warm restarts, :func:`train_with_restarts`). An interrupted run or chain resumes from its last
checkpoint when started again with the same arguments and ``--resume``.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import torch
from build_corpus import DEFAULT_OUT as DEFAULT_CORPUS  # the sibling script: where it writes

from audioae.audio import find_audio_files
from audioae.config import load_config, resolve_recipe
from audioae.data import split_by_hash
from audioae.demo import load_splits, split_folder
from audioae.modelfile import load_model_file, save_model_file

VAL_NOISE_FRACTION = 0.15


def link_file(src: Path, dst: Path) -> None:
    """Link ``dst`` to ``src`` (resolved), making its folder; an existing ``dst`` is kept."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        dst.symlink_to(src.resolve())


def held_out_noise(noise_root: Path, fraction: float = VAL_NOISE_FRACTION) -> set[Path]:
    """About ``fraction`` of the files of every category folder under ``noise_root`` (at least
    one per category of three or more files), those with the smallest SHA-1 of their name."""
    held: set[Path] = set()
    for category in sorted(p for p in noise_root.iterdir() if p.is_dir()):
        files = sorted(find_audio_files(category))
        if len(files) < 3:
            continue
        ranked = sorted(files, key=lambda p: hashlib.sha1(p.name.encode()).hexdigest())
        held.update(ranked[: max(1, round(fraction * len(files)))])
    return held


def balance_factors(counts: dict[str, int]) -> dict[str, int]:
    """How many links per file each noise group gets so that every group is drawn about as
    often as the largest: ``round(max(counts) / count)``, at least 1."""
    largest = max(counts.values())
    return {group: max(1, round(largest / n)) for group, n in counts.items() if n}


def build_folders(
    corpus: Path,
    data: Path,
    work: Path,
    balance_noise: bool = False,
    extra_speech: bool = False,
) -> dict[str, Path]:
    """Link the training and validation folders under ``work``; returns their paths.

    ``extra_speech`` also links ``CORPUS/extra_speech`` (the opt-in readers that
    ``build_corpus.py`` writes there) as training speech. ``CORPUS/val_speech`` and
    ``CORPUS/val_noise`` (validation voices and noise) are never linked.

    With ``balance_noise`` the training noise of each group (every corpus category and the
    bundled train noise) is linked :func:`balance_factors` times (``NAME.rK.flac``), since the
    loader draws noise files uniformly: without it the corpus's many short effects (impulsive,
    tonal, music: about 70 % of the files) crowd out the stationary noises and babble.

    Raises:
        FileNotFoundError: the corpus has no ``speech`` or ``noise`` folder.
    """
    for part in ("speech", "noise"):
        if not (corpus / part).is_dir():
            raise FileNotFoundError(
                f"{corpus / part}: not found; run scripts/build_corpus.py first"
            )
    splits = load_splits(data)
    bundled = split_folder(splits["speech"]["train"], work / "bundled_speech", data)
    paths = list(find_audio_files(bundled))
    train_idx, val_idx = split_by_hash(paths, bundled, 0.1)
    folders = {
        "speech": work / "data/speech",
        "noise": work / "data/noise",
        "val_speech": work / "val/speech",
        "val_noise": work / "val/noise",
    }
    for i in train_idx:
        link_file(paths[i], folders["speech"] / "bundled" / paths[i].relative_to(bundled))
    for i in val_idx:
        link_file(paths[i], folders["val_speech"] / paths[i].relative_to(bundled))
    for f in find_audio_files(corpus / "speech"):
        link_file(f, folders["speech"] / "corpus" / f.relative_to(corpus / "speech"))
    if extra_speech:
        if not (corpus / "extra_speech").is_dir():
            raise FileNotFoundError(
                f"{corpus / 'extra_speech'}: not found; run scripts/build_corpus.py first"
            )
        for f in find_audio_files(corpus / "extra_speech"):
            rel = f.relative_to(corpus / "extra_speech")
            link_file(f, folders["speech"] / "extra" / rel)
    held = held_out_noise(corpus / "noise")
    groups: dict[str, list[tuple[Path, Path]]] = {"bundled": []}
    for f in find_audio_files(corpus / "noise"):
        rel = f.relative_to(corpus / "noise")
        if f in held:
            link_file(f, folders["val_noise"] / rel)
        else:
            groups.setdefault(rel.parts[0], []).append((f, folders["noise"] / "corpus" / rel))
    for f in splits["noise"]["train"]:
        groups["bundled"].append((f, folders["noise"] / "bundled" / f.name))
    factors = balance_factors({g: len(v) for g, v in groups.items()}) if balance_noise else {}
    for group, files in groups.items():
        for src, dst in files:
            link_file(src, dst)
            for k in range(1, factors.get(group, 1)):
                link_file(src, dst.with_name(f"{dst.stem}.r{k}{dst.suffix}"))
    return folders


def save_run_float16(model_file: Path, out: Path, label: str, started: float) -> Path:
    """Write the run's model file ``model_file`` in float16 to ``out`` (replacing it) and print
    its size and the minutes since ``started`` (a ``time.perf_counter()`` value)."""
    loaded = load_model_file(model_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    target = save_model_file(out, loaded.model, loaded.config, overwrite=True, dtype=torch.float16)
    print(f"{label}: {target} ({target.stat().st_size / 1e6:.2f} MB)")
    print(f"trained in {(time.perf_counter() - started) / 60:.1f} min")
    return target


def train_with_restarts(
    cfg,
    data_dir: Path,
    run: Path,
    *,
    noise_dir: Path | None = None,
    resume: bool = False,
    extend_to: list[int] | None = None,
    stop_at: int | None = None,
) -> Path:
    """Train ``cfg`` into the run folder ``run`` (or the rest of it, with ``resume``), then
    resume the finished run up to each step count of ``extend_to`` in turn: each stretches the
    cosine schedule to the new length (a warm restart, as in SGDR, Loshchilov & Hutter 2017).
    Stages already done are skipped, so the same command resumes an interrupted chain.
    ``stop_at``: end the chain at that step, the schedule unchanged (``train(stop_at=...)``;
    a later call with ``resume`` goes on as if it had not stopped). Returns the run's model
    file."""
    from audioae.run_checkpoints import checkpoint_step
    from audioae.training import train

    last = run / "checkpoints" / "last.ckpt"
    done = (checkpoint_step(last) or 0) if resume and last.is_file() else 0
    model_file = run / "model.safetensors"
    stages = [cfg.training.max_steps, *sorted(extend_to or [])]
    for i, steps in enumerate(stages):
        if stop_at is not None and done >= stop_at:  # stopped there already
            break
        if done >= steps and (i + 1 < len(stages) or model_file.is_file()):
            continue
        stop = stop_at if stop_at is not None and stop_at < steps else None
        model_file = train(
            cfg,
            data_dir,
            noise_dir=noise_dir,
            out_dir=run,
            progress=False,
            resume=resume or i > 0,
            max_steps=steps,
            stop_at=stop,
        ).model_file
        if stop is not None:
            break
        done = steps
    return model_file


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every corpus training script takes: ``--corpus``, ``--work``, ``--out``,
    ``--threads``, ``--set`` (repeatable, into ``sets``), ``--resume``, ``--extend-to`` and
    ``--stop-at``."""
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--work", type=Path, required=True, help="run folder")
    parser.add_argument("--out", type=Path, help="model file (default WORK/model.safetensors)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="config override")
    parser.add_argument("--resume", action="store_true", help="resume WORK/run's last checkpoint")
    parser.add_argument(
        "--extend-to",
        type=int,
        nargs="+",
        metavar="STEPS",
        help="then resume the finished run up to each of these step counts in turn "
        "(warm restarts); the same command resumes the chain",
    )
    parser.add_argument(
        "--stop-at",
        type=int,
        metavar="STEP",
        help="end at this step with the schedule unchanged (resume later with --resume)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("recipe", help="denoise, denoise_stream or a recipe file")
    add_run_options(parser)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument(
        "--balance-noise",
        action="store_true",
        help="draw every noise category about equally often (see build_folders)",
    )
    parser.add_argument(
        "--extra-speech",
        action="store_true",
        help="also train on CORPUS/extra_speech (opt-in readers, see data/README.md)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    folders = build_folders(
        args.corpus, args.data, args.work, args.balance_noise, extra_speech=args.extra_speech
    )
    counts = {k: sum(1 for _ in find_audio_files(v)) for k, v in folders.items()}
    print("files: " + ", ".join(f"{k} {n}" for k, n in counts.items()), flush=True)
    cfg = load_config(resolve_recipe(args.recipe), args.sets)
    model_file = train_with_restarts(
        cfg,
        folders["speech"],
        args.work / "run",
        noise_dir=folders["noise"] if cfg.data.denoise else None,
        resume=args.resume,
        extend_to=args.extend_to,
        stop_at=args.stop_at,
    )
    save_run_float16(model_file, args.out or args.work / "model.safetensors", args.recipe, started)


if __name__ == "__main__":
    main()
