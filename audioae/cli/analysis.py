"""CLI subcommands for analysis with a trained model: ``embed`` (feature extraction) and ``anomaly``.

Only parsing and printing live here; the work is in :mod:`audioae.embed` and
:mod:`audioae.anomaly`. Both are folder jobs: bad files are reported and skipped, the rest
go on, and the exit status is 1 when any input failed (0 when all succeeded). Outputs are
written atomically and never replace existing files without ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..fileio import name_some
from .common import UsageError, add_command, fraction, models_help


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=models_help())
    p.add_argument(
        "inputs", nargs="+", help="input files and/or folders (folders are searched recursively)"
    )
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 …")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(subparsers) -> None:
    """Add ``embed`` and ``anomaly`` to the ``audioae`` subcommand parser."""
    p = add_command(
        subparsers,
        "embed",
        summary="latent embeddings per file (.npy per frame + one pooled CSV table)",
        description="Write the encoder's posterior mean per latent frame, (latent_dim, "
        "latent_frames) float32, as OUT/<relative path>.npy for every input, and one table "
        "(file, npy, duration_s, latent_rate_hz, frames, mean_*, std_*, delta_*) with each "
        "file's pooled vector per latent channel: mean and standard deviation over frames and "
        "mean absolute frame-to-frame change. Multichannel input is mixed to mono. "
        "Deterministic: nothing is sampled.",
        examples=[
            "audioae embed timbre notes/ -o embeddings/",
            "audioae embed codec take.wav -o take.npy",
        ],
    )
    _model_args(p)
    p.add_argument(
        "-o", "--out", required=True, help="output folder (or NAME.npy for one input file)"
    )
    p.add_argument(
        "--table",
        help="CSV table to write; unset: OUT/embeddings.csv, or NAME.csv beside NAME.npy",
    )
    p.set_defaults(func=run_embed)

    p = add_command(
        subparsers,
        "anomaly",
        summary="anomaly scores from reconstruction error (ranked CSV, optional reference threshold)",
        description="Score every input by how unlike the reference (normal) audio the model "
        "finds it. Per frame an error over the model's feature bins (--error; the default, "
        "standardised, is the error of compressed magnitudes |X|^0.3 standardised per bin on "
        "the reference audio), per file its mean and 95th percentile over frames (VAEs also: "
        "the negative ELBO) and, with --reference, the combined score (see --score; the "
        "default with a reference). Writes a CSV ranked by --score, most anomalous first. --reference DIR fits the statistics on a folder of normal audio and flags "
        "files scoring above the --quantile of the reference files' scores; "
        "--save-reference stats.json keeps what was fitted, and --reference stats.json reuses "
        "it. Multichannel input is mixed to mono. Mask models (model.output: mask or crm) are refused.",
        examples=[
            "audioae anomaly codec new/ -o scores.csv --reference normal/",
            "audioae anomaly codec normal/ -o ref.csv --reference normal/ --save-reference stats.json",
            "audioae anomaly codec new/ -o scores.csv --reference stats.json --frames",
        ],
    )
    _model_args(p)
    p.add_argument("-o", "--out", required=True, help="CSV file of ranked scores")
    p.add_argument(
        "--error",
        choices=["standardised", "compressed", "log"],
        default="standardised",
        help="per-frame error (default: standardised, needs --reference; compressed: mean "
        "|X|^0.3 error; log: mean absolute log-feature error, the first score)",
    )
    p.add_argument(
        "--score",
        choices=["mean", "p95", "combined", "neg_elbo"],
        default=None,
        help="score to rank and threshold by (default: combined with --reference, else mean; "
        "combined: the sum of the reference z-scores of the logarithms of the standardised "
        "error's mean, of the latent distance (how far the file's pooled embedding lies from "
        "the reference files') and of the quiet-frame band error (over the quietest tenth "
        "of the frames, the worst eighth of the bins' mean error: a steady fault confined to "
        "part of the spectrum, such as hum under a decaying sound); mean: mean of the "
        "per-frame --error; p95: its 95th percentile; neg_elbo needs a VAE)",
    )
    p.add_argument(
        "--frames",
        action="store_true",
        help="also write per-frame scores with times in seconds to OUT_frames.csv",
    )
    p.add_argument(
        "--reference",
        help="folder of normal audio to fit the per-bin statistics and the threshold on, or a "
        "stats .json written by --save-reference",
    )
    p.add_argument(
        "--save-reference",
        metavar="JSON",
        help="write the statistics fitted on the --reference folder (and its files' scores) here",
    )
    p.add_argument(
        "--quantile",
        type=fraction,
        default=0.95,
        help="quantile of the reference scores used as the threshold",
    )
    p.set_defaults(func=run_anomaly)


def _pipeline(args: argparse.Namespace):
    from ..pipeline import Pipeline

    return Pipeline.load(args.model, device=args.device)


def _print_skipped(skipped) -> None:
    for path, reason in skipped:
        print(f"  failed {path}: {reason}")


def run_embed(args: argparse.Namespace) -> int:
    """``audioae embed``: returns 0 when every input was embedded, else 1."""
    from ..apps import embed_file
    from ..audio import find_audio_files
    from ..embed import EMBEDDING_TABLE, save_embedding, write_embedding_table
    from ..fileio import OutputExistsError, check_not_input
    from ..jobs import names_a_folder, plan_job, run_job

    out = Path(args.out)
    if (
        out.suffix
        and out.suffix.lower() != ".npy"
        and not out.is_dir()
        and not names_a_folder(args.out)
    ):
        raise UsageError(
            f"-o {args.out}: embed writes each file's frames as .npy: give a folder, or NAME.npy "
            f"for one input file (the table goes beside it as NAME.csv, or where --table says)"
        )
    pairs, problems = plan_job(args.inputs, args.out, suffix=".npy", find=find_audio_files)
    if args.table:
        table = Path(args.table)
    elif len(pairs) == 1 and pairs[0][1] == out:
        table = out.with_suffix(".csv")
    else:
        table = out / EMBEDDING_TABLE
    check_not_input(table, [p for p, _ in pairs])
    if table.exists() and not args.force:
        raise OutputExistsError(table)
    pipe = _pipeline(args)
    rows = []

    def work(source: Path, target: Path) -> None:
        embedding = embed_file(pipe, source)
        save_embedding(target, embedding, overwrite=args.force)
        npy = target.relative_to(table.parent) if target.is_relative_to(table.parent) else target
        rows.append((str(source), str(npy), embedding))

    report = run_job(
        pairs, work, desc="embed", problems=problems, progress=not args.quiet, offers_skip=False
    )
    print(f"embed: {report.summary()}")
    if rows:
        write_embedding_table(table, rows, overwrite=args.force)
        print(f"embed: table of {len(rows)} files written to {table}")
    return 0 if rows and report.ok else 1


def _list_inputs(inputs) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Audio files under ``inputs`` (files as given, folders searched recursively) and the
    inputs that could not be listed, with the reason (the same rules as :func:`audioae.jobs.plan_job`)."""
    from ..audio import find_audio_files

    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            unreadable: list[tuple[Path, str]] = []
            found = find_audio_files(item, errors=unreadable)
            files += found
            problems += unreadable
            if not found and not unreadable:
                problems.append((item, "no audio files in this folder"))
        elif item.exists():
            files.append(item)
        else:
            problems.append((item, "no such file or folder"))
    return files, problems


def _score_all(pipe, files, problems, desc: str, quiet: bool, error: str, reference):
    """Score every file with the folder-job runner; returns ``(scores, skipped)``."""
    from ..anomaly import score_file
    from ..jobs import run_job

    scores = []
    report = run_job(
        [(f, f) for f in files],  # one table for all: a pair's "output" is unused
        lambda src, _: scores.append(score_file(pipe, src, error=error, reference=reference)),
        desc=desc,
        problems=problems,
        progress=not quiet,
    )
    return scores, report.failed


def _name_files(what: str, named: list[str]) -> None:
    """One stderr line: how many files ``what`` says of, then the first five ``named``."""
    if named:
        print(
            f"audioae: anomaly: {len(named)} file(s) {what}: {name_some(named)}",
            file=sys.stderr,
        )


def _warn_quiet(scores, silence_db: float) -> None:
    """One line about the files quieter than the model's ``data.silence_db``: an autoencoder
    reconstructs silence (a dead input) well, so their scores rank them as normal."""
    _name_files(
        f"below data.silence_db ({silence_db:g} dBFS), which reconstruction error cannot flag "
        "(silence is reconstructed well)",
        [
            f"{s.file} ({s.rms_db:.0f} dBFS)"
            for s in scores
            if s.rms_db is not None and s.rms_db < silence_db
        ],
    )


def _warn_short(scores, window_s: float) -> None:
    """One line about files shorter than one analysis window: every frame of theirs reaches
    past the signal's start or end, and such frames score high by construction."""
    _name_files(
        f"shorter than the model's analysis window ({1000 * window_s:.0f} ms), whose frames "
        "all score high by construction",
        [f"{s.file} ({1000 * s.duration_s:.0f} ms)" for s in scores if s.duration_s < window_s],
    )


def _fit_reference_folder(pipe, files, problems, quiet: bool):
    """Load every reference file (bad ones reported and skipped) and fit the statistics;
    returns ``(stats, number of files, skipped)``."""
    from ..anomaly import fit_reference
    from ..anomaly_reference import MIN_REFERENCE_FILES, AnomalyReferenceError
    from ..apps import load_for_model
    from ..jobs import run_job

    wavs = []
    report = run_job(
        [(f, f) for f in files],
        lambda src, _: wavs.append(load_for_model(pipe, src, pad=False)[0]),
        desc="reference",
        problems=problems,
        progress=not quiet,
    )
    if not wavs:
        return None, 0, report.failed
    if len(wavs) < MIN_REFERENCE_FILES:
        raise AnomalyReferenceError(
            f"--reference: {len(wavs)} readable normal file(s); the reference needs at least "
            f"{MIN_REFERENCE_FILES} to estimate how much normal scores spread (20 or more give a "
            "steadier threshold)"
        )
    stats, _ = fit_reference(pipe, wavs)
    return stats, len(wavs), report.failed


def _reference(args, pipe, ref_files, ref_problems):
    """The reference statistics from ``--reference`` (a folder or a JSON file) or None;
    returns ``(stats, failed)``."""
    from ..anomaly_reference import load_reference, save_reference

    if not args.reference:
        return None, False
    if Path(args.reference).is_file():
        stats = load_reference(args.reference)
        stats.check(pipe)
        print(f"anomaly: reference statistics read from {args.reference}")
        return stats, False
    stats, n, skipped = _fit_reference_folder(pipe, ref_files, ref_problems, args.quiet)
    if stats is None:
        raise UsageError(f"--reference {args.reference}: no reference file could be read")
    if skipped:
        print(f"anomaly: reference: {len(skipped)} failed")
        _print_skipped(skipped)
    print(f"anomaly: reference statistics fitted on {n} files ({stats.frames} frames)")
    if args.save_reference:
        save_reference(args.save_reference, stats, overwrite=args.force)
        print(f"anomaly: reference statistics written to {args.save_reference}")
    return stats, bool(skipped)


def run_anomaly(args: argparse.Namespace) -> int:
    """``audioae anomaly``: returns 0 when every input was scored, else 1."""
    from ..anomaly_reference import AnomalyReferenceError
    from ..anomaly_tables import rank_scores, write_frames_csv, write_scores_csv
    from ..fileio import check_not_input, check_output

    out = Path(args.out)
    if args.out.endswith(("/", "\\")) and not out.is_dir():  # an existing one: check_output
        raise UsageError(
            f"-o {args.out}: anomaly writes one CSV table; give its name, e.g. -o scores.csv"
        )
    frames_out = out.with_name(out.stem + "_frames.csv") if args.frames else None
    save_ref = Path(args.save_reference) if args.save_reference else None
    if save_ref is not None and (not args.reference or Path(args.reference).is_file()):
        raise UsageError("--save-reference needs --reference DIR (a folder of normal audio)")
    if args.reference and not Path(args.reference).exists():
        raise UsageError(
            f"--reference {args.reference}: no such file or folder (a folder of normal audio, "
            "or a statistics .json written by --save-reference)"
        )
    named = [p.resolve() for p in (out, frames_out, save_ref) if p is not None]
    if len(set(named)) < len(named):
        raise UsageError("-o, its _frames.csv and --save-reference must be different files")
    for path in (out, frames_out, save_ref):
        if path is not None:
            check_output(path, overwrite=args.force)
    files, problems = _list_inputs(args.inputs)
    ref_is_dir = bool(args.reference) and not Path(args.reference).is_file()
    ref_files, ref_problems = _list_inputs([args.reference]) if ref_is_dir else ([], [])
    for path in (out, frames_out, save_ref):
        if path is not None:
            check_not_input(path, files + ref_files)
    pipe = _pipeline(args)
    pipe.require_latent_decoder("anomaly scoring")
    if args.score is None:
        args.score = "combined" if args.reference else "mean"
    if (args.error == "standardised" or args.score == "combined") and not args.reference:
        raise AnomalyReferenceError(
            f"--error {args.error} --score {args.score} needs --reference: a folder of normal "
            "audio or a stats .json written by --save-reference (or choose --error "
            "compressed|log)"
        )
    if args.score == "neg_elbo" and not pipe.is_variational:
        raise UsageError("--score neg_elbo needs a variational model (model.bottleneck: gaussian)")

    reference, failed = _reference(args, pipe, ref_files, ref_problems)
    threshold = None
    if reference is not None:
        threshold = reference.threshold(args.error, args.score, args.quantile)
        print(
            f"anomaly: threshold {threshold:.6g} = {args.quantile:g} quantile of {args.score} "
            f"({args.error} error) over the reference files"
        )
    scores, skipped = _score_all(
        pipe, files, problems, "anomaly", args.quiet, args.error, reference
    )
    if skipped:
        failed = True
    print(f"anomaly: {len(scores)} scored, {len(skipped)} failed")
    _print_skipped(skipped)
    _warn_quiet(scores, pipe.config.data.silence_db)
    _warn_short(scores, pipe.config.features.n_fft / pipe.sample_rate)
    if not scores:
        return 1
    ranked = rank_scores(scores, score=args.score, threshold=threshold)
    write_scores_csv(out, ranked, score=args.score, threshold=threshold, overwrite=args.force)
    print(f"anomaly: ranked scores written to {out}")
    if frames_out is not None:
        write_frames_csv(frames_out, scores, overwrite=args.force)
        print(f"anomaly: per-frame scores written to {frames_out}")
    if threshold is not None:
        flagged = [r for r in ranked if r.anomalous]
        print(f"anomaly: {len(flagged)} of {len(ranked)} files above the threshold")
        for r in flagged:
            print(f"  {r.value:.6g}  {r.score.file}")
    return 1 if failed else 0
