"""``audioae interpolate`` and ``audioae sample``: render a latent interpolation between two
sounds, and draw new sounds (or variations of one) from a VAE. Parsing and printing only; the
work is :func:`audioae.apps_generation.interpolate_files`, :func:`audioae.apps_generation.sample_files` and
:func:`audioae.apps_generation.fit_prior_files`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .apps import _add_phase, _common
from .common import (
    add_command,
    at_least,
    load_pipeline,
    peak_dbfs,
    positive_float,
    temperature,
)


def register(subparsers) -> None:
    """Add ``interpolate`` and ``sample`` to the ``audioae`` parser (called by
    :func:`audioae.cli.apps.register`, so they keep their place in ``audioae --help``)."""
    p = add_command(
        subparsers,
        "interpolate",
        summary="render a latent interpolation (timbre morph) from A to B",
        description="Encode two sounds, blend their latents in --steps steps from A to B (both "
        "ends included) and write OUT/step_NN.wav per step, OUT/morph.wav (A turning into B "
        "over time) and OUT/grid.png (their spectrograms). Every output is mono at the model's "
        "sample rate and as long as A (B's latent frames are time-stretched to A's length). "
        "The steps between the ends are level-matched: each is scaled so its RMS level in dB "
        "lies on the line between A's and B's reconstructions' (the decoder alone makes "
        "middle steps dip or swell: on held-out notes 4 dB below that line on average, up "
        "to 16 dB, more on sounds unlike its training audio); --level model keeps its levels.",
        examples=[
            "audioae interpolate timbre flute.wav trumpet.wav -o morph/",
            "audioae interpolate timbre a.wav b.wav -o morph/ --steps 5 --method slerp",
            "audioae interpolate timbre a.wav b.wav -o raw/ --level model   # decoder's levels",
        ],
    )
    _common(p, many=False)
    p.add_argument("a", help="first sound")
    p.add_argument("b", help="second sound")
    p.add_argument(
        "--steps",
        type=at_least(2, 1000),
        default=8,
        help="number of steps from A to B, both included, 2 to 1000",
    )
    p.add_argument(
        "--method",
        choices=["linear", "slerp"],
        default="linear",
        help="how latents are blended: straight line, or spherical",
    )
    p.add_argument(
        "--level",
        choices=["match", "model"],
        default="match",
        help="match: each step's RMS level on the dB line between the ends'; model: as decoded",
    )
    _add_phase(p)
    p.set_defaults(func=_run_interpolate)

    p = add_command(
        subparsers,
        "sample",
        summary="draw new sounds from a VAE's prior, or variations of a sound",
        description="Draw latents from a variational model's prior (standard normal, scaled "
        "by --temperature) and decode them into new sounds (OUT/sample_NN.wav); with --like "
        "FILE, draw them from FILE's posterior instead: variations of that sound, as long as "
        "it (OUT/variation_NN.wav). Sounds are mono at the model's sample rate. The same --seed "
        "gives the same sounds.",
        examples=[
            "audioae sample timbre -o samples/",
            "audioae sample timbre -o samples/ --n 8 --seconds 1.5 --seed 3 --temperature 0.7",
            "audioae sample timbre --like flute.wav -o flute_variations/ --temperature 2",
            "audioae sample timbre --fit-prior data/notes/ -o samples/ --n 8",
            "audioae sample timbre --fit-prior my_notes/ --save-prior notes_prior.json -o s1/",
            "audioae sample timbre --prior notes_prior.json -o s2/ --seed 1",
        ],
    )
    _common(p, many=False)
    p.add_argument("--n", type=at_least(1, 1000), default=4, help="number of sounds")
    p.add_argument(
        "--seconds",
        type=positive_float,
        default=None,
        help="length of each sound in seconds (default 2; not with --like; --n x --seconds "
        "at most 3600)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the draws")
    p.add_argument(
        "--temperature",
        type=temperature,
        default=1.0,
        help="scale of the random part of each latent value: below 1 tamer, more typical "
        "sounds, above 1 wilder ones; with --like, 0 gives the plain reconstruction",
    )
    p.add_argument(
        "--like",
        default=None,
        metavar="FILE",
        help="draw variations of this sound from its posterior instead of the prior",
    )
    p.add_argument(
        "--fit-prior",
        nargs="+",
        default=None,
        metavar="PATH",
        help="draw from a prior fitted to the encoded latents of these audio files or folders "
        "(the model's training audio, say; per latent dimension a mean, a spread and a "
        "frame-to-frame correlation) instead of the standard normal: sounds closer to real "
        "ones for a VAE trained with a small beta (docs/benchmarks.md)",
    )
    p.add_argument(
        "--save-prior",
        default=None,
        metavar="FILE",
        help="with --fit-prior: also write the fitted prior to FILE (JSON) for --prior",
    )
    p.add_argument(
        "--prior",
        default=None,
        metavar="FILE",
        help="draw from a prior saved by --save-prior (fitted for this model)",
    )
    p.add_argument(
        "--peak-db",
        type=peak_dbfs,
        default=None,
        metavar="DB",
        help="scale each sound so its peak is at DB dBFS (-60 to 0; e.g. -1); default: the "
        "decoder's level (draws from the standard prior are often quiet)",
    )
    _add_phase(p)
    p.set_defaults(func=_run_sample)


def _check_output_folder(out: str, verb: str, writes: str) -> None:
    """Refuse ``-o take.wav`` for a command that writes a folder, before any work (it would
    make a folder named like an audio file).

    Raises:
        PipelineError: ``out`` ends in an audio file's extension and is not a folder.
        OutputNotWritableError: the folder cannot be made or written.
    """
    from ..audio import AUDIO_EXTENSIONS
    from ..fileio import check_writable
    from ..pipeline import PipelineError

    path = Path(out)
    if path.suffix.lower() in AUDIO_EXTENSIONS and not path.is_dir():
        raise PipelineError(
            f"{verb}: -o {out} looks like an audio file, but {verb} writes a folder ({writes}); "
            f"give a folder, e.g. -o {path.with_suffix('')}/"
        )
    check_writable(path / "file")


def _run_interpolate(args) -> int:
    from ..apps_generation import interpolate_files

    _check_output_folder(args.out, "interpolate", "step_NN.wav, morph.wav and grid.png")
    pipe = load_pipeline(args)
    written = interpolate_files(
        pipe,
        args.a,
        args.b,
        args.out,
        steps=args.steps,
        method=args.method,
        phase=args.phase,
        overwrite=args.force,
        level=args.level,
    )
    print(f"interpolate: wrote {len(written)} files to {args.out}")
    return 0


def _run_sample(args) -> int:
    from ..apps_generation import sample_files
    from ..pipeline import PipelineError
    from ..pipeline_generation import MAX_SAMPLE_AUDIO_SECONDS

    if args.seconds is not None and args.n * args.seconds > MAX_SAMPLE_AUDIO_SECONDS:
        raise PipelineError(
            f"sample: --n {args.n} x --seconds {args.seconds:g} is {args.n * args.seconds:g} s of "
            f"audio; at most {MAX_SAMPLE_AUDIO_SECONDS:g} s per run"
        )
    if args.like is not None and args.seconds is not None:
        raise PipelineError(
            "sample: --seconds does not go with --like (variations are as long as it)"
        )
    if args.like is not None and (args.fit_prior is not None or args.prior is not None):
        raise PipelineError(
            "sample: --fit-prior and --prior do not go with --like (variations use its posterior)"
        )
    if args.fit_prior is not None and args.prior is not None:
        raise PipelineError("sample: give --fit-prior or --prior, not both")
    if args.save_prior is not None and args.fit_prior is None:
        raise PipelineError("sample: --save-prior needs --fit-prior (a prior to save)")
    if args.save_prior is not None and Path(args.save_prior).exists() and not args.force:
        raise PipelineError(f"sample: {args.save_prior} exists; --force replaces it")
    _check_output_folder(args.out, "sample", "sample_NN.wav or variation_NN.wav per sound")
    pipe = load_pipeline(args)
    prior = None
    if args.prior is not None:
        from ..latent_prior import describe, load_prior

        prior = load_prior(args.prior, pipe.model_hash)
        print(f"sample: {describe(prior)}, from {args.prior}", file=sys.stderr)
    problems: list = []
    if args.fit_prior is not None:
        from ..apps_generation import fit_prior_files
        from ..latent_prior import describe

        prior, used = fit_prior_files(pipe, args.fit_prior, problems=problems)
        for path, reason in problems:
            print(f"sample: skipped {reason if str(path) in reason else f'{path}: {reason}'}",
                  file=sys.stderr)  # fmt: skip
        print(f"sample: {describe(prior)}, fitted on {used} file(s)", file=sys.stderr)
        if args.save_prior is not None:
            from ..latent_prior import save_prior

            save_prior(args.save_prior, prior, pipe.model_hash, overwrite=args.force)
            print(f"sample: prior written to {args.save_prior}", file=sys.stderr)
    written = sample_files(
        pipe,
        args.out,
        n=args.n,
        seconds=2.0 if args.seconds is None else args.seconds,
        seed=args.seed,
        phase=args.phase,
        overwrite=args.force,
        temperature=args.temperature,
        like=args.like,
        prior=prior,
        peak_db=args.peak_db,
    )
    if args.temperature == 0 and args.n > 1:
        mean = "the prior's mean" if args.like is None else f"{args.like}'s posterior mean"
        print(
            f"sample: --temperature 0 draws {mean} every time: the {args.n} sounds share one "
            "latent (identical with a learned decoder; with Griffin-Lim only their random "
            "phase differs)",
            file=sys.stderr,
        )
    plural = "s" if len(written) != 1 else ""
    what = f"sound{plural}" if args.like is None else f"variation{plural} of {args.like}"
    print(f"sample: wrote {len(written)} {what} to {args.out}")
    if problems:
        print(f"sample: {len(problems)} file(s) of --fit-prior could not be read", file=sys.stderr)
        return 1
    return 0
