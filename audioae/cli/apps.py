"""The subcommands that use a trained model: ``denoise``, ``reconstruct``, ``encode``, ``decode``,
``interpolate``, ``sample`` and ``evaluate``.

Only argument parsing and printing live here; the work is in :mod:`audioae.apps` and
:mod:`audioae.evaluate` (imported when a command runs).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from .common import (
    add_command,
    add_mask_options,
    at_least,
    load_pipeline,
    models_help,
    positive_float,
    temperature,
)
from .live import add_live_arguments, is_live, run_denoise_live


def _common(
    parser: argparse.ArgumentParser,
    *,
    many: bool = True,
    output_help: str = "output folder",
    input_help: str = "input files and/or folders (folders are searched recursively)",
    model_help: str | None = None,
    inputs_nargs: str = "+",
) -> None:
    parser.add_argument("model", help=model_help or models_help())
    if many:
        parser.add_argument("inputs", nargs=inputs_nargs, help=input_help)
    parser.add_argument("-o", "--out", required=True, help=output_help)
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--force", action="store_true", help="overwrite existing outputs")
    if many:
        existing.add_argument(
            "--skip-existing",
            action="store_true",
            help="leave outputs that already exist alone (resume an interrupted folder job)",
        )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 …"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


PHASE_CHOICES = ("griffin-lim", "learned", "learned+griffin-lim")


def _add_phase(parser: argparse.ArgumentParser, *, extra: tuple[str, ...] = ()) -> None:
    """``--phase`` (the features -> waveform method) and ``--vocoder`` (a decoder file)."""
    parser.add_argument(
        "--phase",
        choices=[*PHASE_CHOICES, *extra],
        default=None,
        help="how the waveform is rebuilt: griffin-lim, learned (the learned decoder), "
        "learned+griffin-lim (Griffin-Lim on the learned magnitude, started from the learned phase)"
        + (", input (keep the input's phase)" if "input" in extra else "")
        + "; default: the model file's phase.method (griffin-lim without a decoder)",
    )
    parser.add_argument(
        "--vocoder",
        help="stand-alone learned decoder file (`audioae train vocoder`) for this model's "
        "front-end, or a shipped one's name (vocoder: 80-band log-mel, n_fft 1024, hop 256, 16 kHz)",
    )


def _finish(report, verb: str) -> int:
    print(f"{verb}: {report.summary()}")
    return report.exit_code


def _run_files(args, work, verb: str, suffix: str | None = None, find=None) -> int:
    """Plan and run a file job; ``find`` lists a folder's inputs (default: its audio files)."""
    from ..audio import find_audio_files
    from ..jobs import plan_job, run_job

    pairs, problems = plan_job(args.inputs, args.out, suffix=suffix, find=find or find_audio_files)
    report = run_job(
        pairs,
        work,
        desc=verb,
        problems=problems,
        progress=not args.quiet,
        skip_existing=args.skip_existing,
    )
    return _finish(report, verb)


def _find_latent_files(root, errors=None) -> list[Path]:
    """``.aae`` files below ``root``, recursive and sorted (the inputs of ``audioae decode``)."""
    from ..audio import find_audio_files

    return find_audio_files(root, (".aae",), errors=errors)


def _run_denoise(args) -> int:
    from ..apps import denoise_file

    pipe = load_pipeline(args, task="denoise")
    if is_live(args):
        return run_denoise_live(args, pipe)
    if args.stream:
        from ..pipeline import PipelineError
        from ..streaming_denoiser import is_causal

        if not is_causal(pipe):
            raise PipelineError(
                "--stream needs a causal model (model.causal: true, e.g. the shipped "
                "denoise_stream); this model looks ahead: denoise without --stream"
            )
        if args.phase != "noisy":
            raise PipelineError("--stream keeps the noisy phase: drop --phase griffin-lim")
    work = functools.partial(
        denoise_file,
        pipe,
        phase=args.phase,
        wet=args.wet,
        mask_exponent=args.mask_exponent,
        post_filter=args.post_filter,
        overwrite=args.force,
        stream=args.stream,
    )
    return _run_files(args, work, "denoise")


def _run_reconstruct(args) -> int:
    from ..apps import reconstruct_file

    pipe = load_pipeline(args)
    work = functools.partial(reconstruct_file, pipe, phase=args.phase, overwrite=args.force)
    return _run_files(args, work, "reconstruct")


def _run_encode(args) -> int:
    from ..apps import encode_file

    pipe = load_pipeline(args)

    def work(source, target):
        stats = encode_file(pipe, source, target, bits=args.bits, overwrite=args.force)
        print(
            f"{source} -> {target}: {stats.num_bytes} bytes, {stats.bitrate_kbps:.2f} kbit/s "
            f"(header included), {stats.pcm16_ratio:.1f}x smaller than 16-bit PCM"
        )

    return _run_files(args, work, "encode", suffix=".aae")


def _model_from_latents(args) -> None:
    """``audioae decode speech.aae -o ...`` (no model): the first argument is an input, and the
    model is the shipped one whose digest the first ``.aae`` file's header carries.

    The first argument counts as an input when it ends in ``.aae``, or when it is the only
    argument and a folder. Every file is still checked against the model when decoded.

    Raises:
        PipelineError: no inputs, no ``.aae`` file in the folder, or a file made by a model
            that is not shipped (the message says to name the model).
        CodecError: the first file is not a readable ``.aae`` file.
    """
    from ..codec import CodecError, parse_header
    from ..modelfile import shipped_model_with_hash
    from ..pipeline import PipelineError

    first = Path(args.model)
    if not (first.suffix == ".aae" or (not args.inputs and first.is_dir())):
        if not args.inputs:
            raise PipelineError(
                f"decode: give the .aae files or folders to decode after the model {args.model}"
            )
        return
    args.inputs = [args.model, *args.inputs]
    if not first.exists():
        raise PipelineError(f"decode: {first}: no such file")
    files = [first] if first.is_file() else _find_latent_files(first)
    if not files:
        raise PipelineError(f"decode: no .aae files in {first}")
    try:  # the whole file: the header's CRC covers it (decoding reads it again anyway)
        model_hash = parse_header(files[0].read_bytes()).model_hash
    except CodecError as exc:
        raise CodecError(f"{files[0]}: {exc}") from None
    name = shipped_model_with_hash(model_hash)
    if name is None:
        raise PipelineError(
            f"decode: {files[0]} was encoded by a model that is not shipped with audioae "
            f"(model hash {model_hash.hex()[:12]}…); name it: audioae decode MODEL {first} -o ..."
        )
    args.model = name


def _run_decode(args) -> int:
    from ..apps import decode_file

    _model_from_latents(args)
    pipe = load_pipeline(args)
    return _run_files(
        args,
        functools.partial(decode_file, pipe, phase=args.phase, overwrite=args.force),
        "decode",
        suffix=".wav",
        find=_find_latent_files,
    )


def _check_output_folder(out: str, verb: str, writes: str) -> None:
    """Refuse ``-o take.wav`` for a command that writes a folder, before any work (it would
    make a folder named like an audio file).

    Raises:
        PipelineError: ``out`` ends in an audio file's extension and is not a folder.
    """
    from ..audio import AUDIO_EXTENSIONS
    from ..pipeline import PipelineError

    path = Path(out)
    if path.suffix.lower() in AUDIO_EXTENSIONS and not path.is_dir():
        raise PipelineError(
            f"{verb}: -o {out} looks like an audio file, but {verb} writes a folder ({writes}); "
            f"give a folder, e.g. -o {path.with_suffix('')}/"
        )


def _run_interpolate(args) -> int:
    from ..apps import interpolate_files

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
    )
    print(f"interpolate: wrote {len(written)} files to {args.out}")
    return 0


def _run_sample(args) -> int:
    from ..apps import sample_files
    from ..pipeline import PipelineError

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
        from ..apps import fit_prior_files
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
    )
    plural = "s" if len(written) != 1 else ""
    what = f"sound{plural}" if args.like is None else f"variation{plural} of {args.like}"
    print(f"sample: wrote {len(written)} {what} to {args.out}")
    if problems:
        print(f"sample: {len(problems)} file(s) of --fit-prior could not be read", file=sys.stderr)
        return 1
    return 0


def register(subparsers) -> None:
    """Add the model-using subcommands to the ``audioae`` parser."""
    p = add_command(
        subparsers,
        "denoise",
        summary="denoise files or folders with a trained denoising model",
        description="Denoise audio files, or whole folders (the output folder mirrors the input "
        "tree), with a denoising model: a mask over the magnitude, the noisy phase kept by "
        "default. Outputs keep each input's sample rate, length and channels.",
        examples=[
            "audioae denoise denoise noisy.wav -o clean.wav",
            "audioae denoise runs/denoise/model.safetensors noisy/ -o clean/ --skip-existing",
            "audioae denoise denoise take.wav -o take_clean.wav --wet 0.8 --phase griffin-lim",
            "audioae denoise denoise_stream noisy.wav -o clean.wav --stream",
            "audioae denoise denoise_stream - -o - --sample-rate 48000  "
            "# live: arecord -q -f S16_LE -r 48000 | ... | aplay -q -f S16_LE -r 48000",
        ],
    )
    _common(
        p,
        output_help="output folder, file, or '-' for raw PCM on stdout (live)",
        input_help="input files and/or folders (folders are searched recursively), or '-' "
        "for raw PCM from stdin (live)",
    )
    p.add_argument(
        "--phase",
        choices=["noisy", "griffin-lim"],
        default="noisy",
        help="phase of the output: the noisy input's, or rebuilt by Griffin-Lim",
    )
    add_mask_options(p)
    p.add_argument(
        "--stream",
        action="store_true",
        help="causal models only: process 16 ms blocks with state as in real time "
        "(40 ms latency at n_fft 512 / hop 128, 16 kHz), output aligned with the input",
    )
    add_live_arguments(p)
    p.set_defaults(func=_run_denoise)

    p = add_command(
        subparsers,
        "reconstruct",
        summary="encode, decode and rebuild audio (plain autoencoder use)",
        description="Pass audio through the model (encode, decode, phase by Griffin-Lim) and "
        "write what comes out, to hear what the autoencoder keeps.",
        examples=[
            "audioae reconstruct timbre note.wav -o note_recon.wav",
            "audioae reconstruct runs/conv1d/model.safetensors sounds/ -o recon/",
        ],
    )
    _common(p)
    _add_phase(p, extra=("input",))
    p.set_defaults(func=_run_reconstruct)

    p = add_command(
        subparsers,
        "encode",
        summary="compress audio into .aae latent files",
        description="Compress audio into .aae latent files (quantised, entropy-coded latents "
        "with a versioned header) and print each file's real bitrate. `audioae decode` with "
        "the same model turns them back into audio.",
        examples=[
            "audioae encode codec speech.wav -o speech.aae",
            "audioae encode codec recordings/ -o latents/ --bits 4",
        ],
    )
    _common(p)
    p.add_argument(
        "--bits",
        type=at_least(1, 16),
        default=6,
        help="quantiser bits per latent value, 1-16",
    )
    p.set_defaults(func=_run_encode)

    p = add_command(
        subparsers,
        "decode",
        summary="rebuild audio from .aae latent files",
        description="Rebuild audio (.wav) from .aae latent files written by `audioae encode`; "
        "the model must be the one that encoded them (its digest is checked). Without a model "
        "the shipped model that encoded the first file is used (found by the digest in its "
        "header).",
        examples=[
            "audioae decode speech.aae -o speech_decoded.wav",
            "audioae decode codec speech.aae -o speech_decoded.wav",
            "audioae decode codec latents/ -o decoded/",
        ],
    )
    _common(
        p,
        model_help=models_help()
        + "; may be left out: the shipped model that encoded the first .aae file",
        inputs_nargs="*",
    )
    _add_phase(p)
    p.set_defaults(func=_run_decode)

    p = add_command(
        subparsers,
        "interpolate",
        summary="render a latent interpolation (timbre morph) from A to B",
        description="Encode two sounds, blend their latents in --steps steps from A to B (both "
        "ends included) and write OUT/step_NN.wav per step, OUT/morph.wav (A turning into B "
        "over time) and OUT/grid.png (their spectrograms).",
        examples=[
            "audioae interpolate timbre flute.wav trumpet.wav -o morph/",
            "audioae interpolate timbre a.wav b.wav -o morph/ --steps 5 --method slerp",
        ],
    )
    _common(p, many=False)
    p.add_argument("a", help="first sound")
    p.add_argument("b", help="second sound")
    p.add_argument(
        "--steps",
        type=at_least(2),
        default=8,
        help="number of steps from A to B, both included, >= 2",
    )
    p.add_argument(
        "--method",
        choices=["linear", "slerp"],
        default="linear",
        help="how latents are blended: straight line, or spherical",
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
        "it (OUT/variation_NN.wav). The same --seed gives the same sounds.",
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
        help="length of each sound in seconds (default 2; not with --like)",
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
    _add_phase(p)
    p.set_defaults(func=_run_sample)

    register_evaluate(subparsers)


def _run_evaluate(args) -> int:
    from ..evaluate import evaluate_model, format_table, summarize, write_csv

    if args.data is None and args.clean is None:
        raise ValueError(
            "evaluate: give --data DIR (reconstruction) or --clean DIR with --noisy DIR or --noise DIR"
        )
    if args.clean is not None and (args.noisy is None) == (args.noise is None):
        raise ValueError(
            "evaluate: --clean needs exactly one of --noisy DIR (recorded pairs) or --noise DIR (mixed at --snr)"
        )
    pipe = load_pipeline(args, task="denoise" if args.clean is not None else None)
    rows, skipped = evaluate_model(
        pipe,
        data=args.data,
        clean=args.clean,
        noisy=args.noisy,
        noise=args.noise,
        snr_db=tuple(args.snr),
        speech=args.speech,
        seed=args.seed,
        progress=not args.quiet,
    )
    for path, reason in skipped:
        print(f"failed {path}: {reason}")
    if not rows:
        print("evaluate: nothing was evaluated")
        return 1
    write_csv(rows, args.out, overwrite=args.force)
    print(format_table(summarize(rows)))
    print(f"evaluate: {len(rows)} rows written to {args.out}, {len(skipped)} file(s) failed")
    return 1 if skipped else 0


def register_evaluate(subparsers) -> None:
    """Add ``evaluate`` to the ``audioae`` parser."""
    p = add_command(
        subparsers,
        "evaluate",
        summary="measure reconstruction or denoising quality (CSV per file + summary)",
        description="Measure a model: with --data, how well it reconstructs a folder; with "
        "--clean and --noisy (recorded pairs) or --noise (mixed in at each --snr), how well it "
        "denoises. Writes one CSV row per file and condition and prints a summary table.",
        examples=[
            "audioae evaluate codec --data speech/ -o codec.csv",
            "audioae evaluate denoise --clean speech/ --noise noise/ --snr 0 5 10 --speech -o den.csv",
        ],
    )
    p.add_argument("model", help=models_help())
    p.add_argument("--data", help="folder to reconstruct and compare")
    p.add_argument("--clean", help="clean reference folder (denoising)")
    p.add_argument(
        "--noisy", help="recorded noisy folder, files matched to --clean by relative path"
    )
    p.add_argument("--noise", help="noise folder, mixed into --clean at each --snr")
    p.add_argument(
        "--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0], help="SNRs in dB for --noise"
    )
    p.add_argument(
        "--speech",
        action="store_true",
        help="also compute PESQ (wide band) and STOI (needs the eval extra)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the noise mixing")
    p.add_argument("-o", "--out", required=True, help="CSV file")
    p.add_argument("--force", action="store_true", help="overwrite the CSV")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 …")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_evaluate)
