"""The subcommands that use a trained model: ``denoise``, ``reconstruct``, ``encode``, ``decode``,
``interpolate``, ``sample`` and ``evaluate``.

Only argument parsing and printing live here; the work is in :mod:`audioae.apps` and
:mod:`audioae.evaluate` (imported when a command runs).
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from .common import (
    UsageError,
    add_command,
    add_mask_options,
    at_least,
    load_pipeline,
    models_help,
)
from .live import add_live_arguments, is_live, live_options_given, run_denoise_live


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


def _run_files(
    args, work, verb: str, suffix: str | None = None, find=None, what: str = "audio files"
) -> int:
    """Plan and run a file job; ``find`` lists a folder's inputs (default: its audio files),
    ``what`` names them."""
    from ..audio import find_audio_files
    from ..jobs import plan_job, run_job

    pairs, problems = plan_job(
        args.inputs, args.out, suffix=suffix, find=find or find_audio_files, what=what
    )
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

    given = [] if is_live(args) else live_options_given(args)
    if given:
        raise UsageError(
            f"{', '.join(given)}: for raw streams only ('-' as input or output); a file's "
            "header gives its rate, channels and format, and files are resampled at soxr's "
            "high quality, as whole-file denoising is (pipe the file through ffmpeg to '-' "
            "for the live path's resampling)"
        )
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
    pipe.require_latent_decoder("encode")  # once, before any file

    above = []  # inputs at a higher rate than the model's: said once, at the first

    def work(source, target):
        stats = encode_file(pipe, source, target, bits=args.bits, overwrite=args.force)
        ratio = stats.pcm16_ratio
        size = f"{ratio:.1f}x smaller" if ratio >= 1 else f"{1 / ratio:.1f}x larger (the header)"
        print(
            f"{source} -> {target}: {stats.num_bytes} bytes, {stats.bitrate_kbps:.2f} kbit/s "
            f"(header included), {size} than 16-bit PCM"
        )
        if stats.sample_rate > pipe.sample_rate and not above:
            above.append(source)
            print(
                f"note: {source} is at {stats.sample_rate} Hz and the model works at "
                f"{pipe.sample_rate} Hz: nothing above {pipe.sample_rate // 2} Hz is kept (decode "
                f"writes the file's own rate, without that band)"
            )

    return _run_files(args, work, "encode", suffix=".aae")


def _latent_files(paths):
    """The ``.aae`` files of ``paths`` in order, lazily: a file as it is, a folder's sorted."""
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from _find_latent_files(path)


def _model_from_latents(args) -> None:
    """``audioae decode speech.aae -o ...`` (no model): the first argument is an input, and the
    model is the shipped one whose digest the first readable ``.aae`` file's header carries.

    The first argument counts as an input when it ends in ``.aae``, or when it is the only
    argument and a folder. Every file is still checked against the model when decoded.

    Raises:
        PipelineError: no inputs, no ``.aae`` file in the folder, or a file made by a model
            that is not shipped (the message says to name the model).
        CodecError: no file given or in the folder is a readable ``.aae`` file (the model
            comes from the first readable one; the others fail when decoded).
    """
    from ..audio import AUDIO_EXTENSIONS
    from ..codec import CodecError, parse_header
    from ..modelfile import shipped_model_with_hash
    from ..pipeline import PipelineError

    first = Path(args.model)
    audio = [p for p in (first, *map(Path, args.inputs)) if p.suffix.lower() in AUDIO_EXTENSIONS]
    if audio:
        raise PipelineError(
            f"decode: {audio[0]} is an audio file; decode rebuilds audio from the .aae latent "
            "files `audioae encode` writes (to run audio through a model: audioae reconstruct)"
        )
    if not (first.suffix.lower() == ".aae" or (not args.inputs and first.is_dir())):
        if not args.inputs:
            raise PipelineError(
                f"decode: give the .aae files or folders to decode after the model {args.model}"
            )
        return
    args.inputs = [args.model, *args.inputs]
    if not first.exists():
        raise PipelineError(f"decode: {first}: no such file")
    first_error, tried = None, 0
    for file in _latent_files(map(Path, args.inputs)):
        # the first readable one: a folder job skips and reports the others
        tried += 1
        try:  # the whole file: the header's CRC covers it (decoding reads it again anyway)
            model_hash = parse_header(file.read_bytes()).model_hash
            break
        except (CodecError, OSError) as exc:
            first_error = first_error or CodecError(f"{file}: {exc}")
    else:
        if not tried:
            raise PipelineError(f"decode: no .aae files in {first}")
        assert first_error is not None
        if tried > 1:
            raise CodecError(f"decode: none of the {tried} .aae files can be read; {first_error}")
        raise first_error
    name = shipped_model_with_hash(model_hash)
    if name is None:
        raise PipelineError(
            f"decode: {file} was encoded by a model that is not shipped with audioae "
            f"(model hash {model_hash.hex()[:12]}…); name it: audioae decode MODEL {first} -o ..."
        )
    args.model = name


def _run_decode(args) -> int:
    from ..apps import decode_file

    _model_from_latents(args)
    pipe = load_pipeline(args)
    return _run_files(
        args,
        functools.partial(
            decode_file, pipe, phase=args.phase, overwrite=args.force, subtype=args.subtype
        ),
        "decode",
        suffix=".wav",
        find=_find_latent_files,
        what=".aae files",
    )


def register(subparsers) -> None:
    """Add the model-using subcommands to the ``audioae`` parser."""
    p = add_command(
        subparsers,
        "denoise",
        summary="denoise files or folders with a trained denoising model",
        description="Denoise audio files, or whole folders (the output folder mirrors the input "
        "tree), with a denoising model: a mask over the magnitude, the noisy phase kept by "
        "default. Outputs keep each input's sample rate, length and channels; the model works at "
        "its own rate (16 kHz for the shipped ones), so an input at a higher rate comes back "
        "with nothing above half the model's rate, even with --wet 0.",
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
    _common(p, output_help="output folder, or an audio file name (out.wav) for one input file")
    _add_phase(p, extra=("input",))
    p.set_defaults(func=_run_reconstruct)

    p = add_command(
        subparsers,
        "encode",
        summary="compress audio into .aae latent files",
        description="Compress audio into .aae latent files (quantised, entropy-coded latents "
        "with a versioned header) and print each file's real bitrate. `audioae decode` with "
        "the same model turns them back into audio. The model works at its own sample rate "
        "(16 kHz for the shipped codec): a 44.1 or 48 kHz file decodes at its own rate but "
        "with nothing above half the model's.",
        examples=[
            "audioae encode codec speech.wav -o speech.aae",
            "audioae encode codec recordings/ -o latents/ --bits 4",
        ],
    )
    _common(p, output_help="output folder, or NAME.aae for one input file")
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
            "audioae decode speech.aae -o speech.wav --subtype float   # 32-bit float",
        ],
    )
    _common(
        p,
        output_help="output folder, or an audio file name (out.wav) for one .aae file",
        model_help=models_help()
        + "; may be left out: the shipped model that encoded the first .aae file",
        inputs_nargs="*",
    )
    _add_phase(p)
    p.add_argument(
        "--subtype",
        type=str.upper,
        choices=("PCM_16", "PCM_24", "FLOAT"),  # apps.DECODE_SUBTYPES (apps imports torch)
        default="PCM_16",
        help="sample format of the output: 16- or 24-bit integer, or 32-bit float (the .aae "
        "file does not record the original's; lossy outputs such as .ogg use their codec)",
    )
    p.set_defaults(func=_run_decode)

    from .generate import register as register_generate  # imports this module

    register_generate(subparsers)
    register_evaluate(subparsers)


def _run_evaluate(args) -> int:
    from ..evaluate import evaluate_model, format_table, summarize, write_csv

    if args.data is None and args.clean is None:
        raise UsageError(
            "evaluate: give --data DIR (reconstruction) or --clean DIR with --noisy DIR or --noise DIR"
        )
    if args.clean is not None and (args.noisy is None) == (args.noise is None):
        raise UsageError(
            "evaluate: --clean needs exactly one of --noisy DIR (recorded pairs) or --noise DIR (mixed at --snr)"
        )
    from ..fileio import check_output

    check_output(args.out, overwrite=args.force)
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
        phase=args.phase,
    )
    for path, reason in skipped:
        print(f"failed {path}: {reason}")
    if not rows:
        print("evaluate: nothing was evaluated")
        return 1
    write_csv(rows, args.out, overwrite=args.force)
    print(format_table(summarize(rows)))
    if args.data is not None and args.phase != "input" and pipe.default_phase != "input":
        print(
            f"note: the waveforms were rebuilt with the {args.phase or pipe.default_phase} "
            "phase, so SI-SDR and SNR (waveform measures) are low however close the spectra "
            "are; --phase input keeps the input's phase to measure the spectra alone"
        )
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
        "denoises. Writes one CSV row per file and condition and prints a summary table. "
        "With --noisy, files are paired by relative path: a noisy file without a clean partner "
        "fails, a clean file without a noisy one is not used (a warning names it); pairs whose "
        "lengths differ by up to 0.1 s (codec padding) are cropped to the shorter with a "
        "warning, a larger difference fails that file as probably the wrong pair. An output of "
        "digital silence scores as the worst (SI-SDR -100 dB, PESQ 0.999, STOI 0), never "
        "dropped from the means.",
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
    _add_phase(p, extra=("input",))
    p.add_argument("-o", "--out", required=True, help="CSV file")
    p.add_argument("--force", action="store_true", help="overwrite the CSV")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 …")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_evaluate)
