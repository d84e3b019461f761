"""File-level applications over a :class:`~audioae.pipeline.Pipeline`: the work behind the CLI.

Each function reads one input file at any sample rate and channel count, runs the model at
its own sample rate (resampling with soxr) and writes an output with the input's sample rate,
length and channel count, atomically and never over an existing file unless ``overwrite``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .audio import load_audio, resample, save_audio
from .pipeline import Pipeline


@dataclass
class EncodeStats:
    """What ``encode_file`` wrote: file size (bytes), real bitrate (kbit/s, header included), ratio to 16-bit PCM."""

    path: Path
    num_bytes: int
    bitrate_kbps: float
    pcm16_ratio: float


def load_for_model(pipe: Pipeline, path: str | os.PathLike) -> tuple[torch.Tensor, int, int]:
    """Read ``path`` keeping its channels and resample to the model's rate.

    Returns ``(wav (channels, time) at pipe.sample_rate, original sample_rate, original length)``.
    Inputs shorter than one STFT frame (``n_fft`` samples) are zero-padded for processing.
    """
    wav, sample_rate = load_audio(path, mono=False)
    length = wav.shape[-1]
    wav = resample(wav, sample_rate, pipe.sample_rate)
    n_fft = pipe.config.features.n_fft
    if wav.shape[-1] < n_fft:
        wav = torch.nn.functional.pad(wav, (0, n_fft - wav.shape[-1]))
    return wav, sample_rate, length


def save_like_input(
    path: str | os.PathLike,
    wav: torch.Tensor,
    model_rate: int,
    sample_rate: int,
    length: int,
    *,
    overwrite: bool,
) -> Path:
    """Resample ``wav`` (channels, time) from ``model_rate`` back to ``sample_rate``, fit it to ``length`` and save (16-bit PCM)."""
    wav = resample(wav.detach().cpu(), model_rate, sample_rate)
    if wav.shape[-1] < length:
        wav = torch.nn.functional.pad(wav, (0, length - wav.shape[-1]))
    save_audio(path, wav[..., :length], sample_rate, overwrite=overwrite)
    return Path(path)


def denoise_file(
    pipe: Pipeline,
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    phase: str = "noisy",
    wet: float = 1.0,
    overwrite: bool = False,
) -> Path:
    """Denoise one file (every channel), keeping its sample rate, length and channel count."""
    _refuse_existing(target, overwrite)
    wav, sample_rate, length = load_for_model(pipe, source)
    clean = pipe.denoise(wav, phase=phase, wet=wet)
    return save_like_input(
        target, clean, pipe.sample_rate, sample_rate, length, overwrite=overwrite
    )


def reconstruct_file(
    pipe: Pipeline,
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    phase: str = "griffin-lim",
    overwrite: bool = False,
) -> Path:
    """Encode, decode and rebuild one file through the phase path.

    A rebuilt phase can put peaks above full scale where the input had none; the output is
    then scaled down as a whole (see :func:`_within_full_scale`) instead of clipped.
    """
    _refuse_existing(target, overwrite)
    wav, sample_rate, length = load_for_model(pipe, source)
    (out,) = _within_full_scale([pipe.reconstruct(wav, phase=phase)])
    return save_like_input(target, out, pipe.sample_rate, sample_rate, length, overwrite=overwrite)


def encode_file(
    pipe: Pipeline,
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    bits: int = 6,
    overwrite: bool = False,
) -> EncodeStats:
    """Compress one file into a ``.aae`` latent file (see :mod:`audioae.codec`)."""
    from .codec import bitrate_kbps, pcm16_ratio, write_aae

    pipe.require_latent_decoder("encode")
    _refuse_existing(target, overwrite)
    wav, sample_rate, length = load_for_model(pipe, source)
    latent = pipe.encode(wav).cpu()
    target = Path(target)
    write_aae(
        target,
        latent,
        bits=bits,
        model_hash=pipe.model_hash,
        sample_rate=sample_rate,
        length=length,
        channels=wav.shape[0],
        overwrite=overwrite,
    )
    size = target.stat().st_size
    return EncodeStats(
        target,
        size,
        bitrate_kbps(size, length, sample_rate),
        pcm16_ratio(size, length, sample_rate, wav.shape[0]),
    )


def decode_file(
    pipe: Pipeline, source: str | os.PathLike, target: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Rebuild audio from a ``.aae`` file made with this pipeline's model.

    Griffin-Lim's phase can put peaks above full scale; the output is then scaled down as a
    whole (see :func:`_within_full_scale`) instead of clipped.

    Raises:
        audioae.codec.CodecError: not a latent file, corrupt, truncated, made with another model,
            or a header that does not fit this model (latent size, frames for its length).
    """
    from .codec import LatentLayout, read_aae

    _refuse_existing(target, overwrite)
    layout = LatentLayout(
        pipe.sample_rate,
        pipe.model.latent_dim,
        pipe.hop_length,
        pipe.model.time_downsampling,
        pipe.config.features.n_fft,
    )
    decoded = read_aae(source, model_hash=pipe.model_hash, layout=layout)
    header = decoded.header
    model_length = max(1, round(header.length * pipe.sample_rate / header.sample_rate))
    (wav,) = _within_full_scale([pipe.decode(decoded.latent, model_length)])
    return save_like_input(
        target, wav, pipe.sample_rate, header.sample_rate, header.length, overwrite=overwrite
    )


def interpolate_files(
    pipe: Pipeline,
    source_a: str | os.PathLike,
    source_b: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    steps: int = 8,
    method: str = "linear",
    overwrite: bool = False,
) -> list[Path]:
    """Write ``step_00.wav`` … (A → B), ``morph.wav`` (A turning into B over time) and ``grid.png``.

    Outputs are mono at the model's sample rate with A's length (see :meth:`Pipeline.interpolate`).
    """
    from .plots import save_figure, spectrogram_grid

    out_dir = Path(out_dir)
    names = [f"step_{i:02d}.wav" for i in range(steps)] + ["morph.wav", "grid.png"]
    for name in names:
        _refuse_existing(out_dir / name, overwrite)
    a, _ = load_audio(source_a, sample_rate=pipe.sample_rate, mono=True)
    b, _ = load_audio(source_b, sample_rate=pipe.sample_rate, mono=True)
    result = pipe.interpolate(a, b, steps, method=method)
    sounds = _within_full_scale(result.steps + [result.morph])
    written = []
    for name, wav in zip(names, sounds):
        save_audio(out_dir / name, wav.cpu(), pipe.sample_rate, overwrite=overwrite)
        written.append(out_dir / name)
    titles = [f"step {i} (alpha={alpha:.2f})" for i, alpha in enumerate(result.alphas)]
    grid = spectrogram_grid([w.cpu() for w in result.steps], pipe.sample_rate, titles)
    written.append(save_figure(grid, out_dir / "grid.png", overwrite=overwrite))
    return written


def sample_files(
    pipe: Pipeline,
    out_dir: str | os.PathLike,
    *,
    n: int = 4,
    seconds: float = 2.0,
    seed: int = 0,
    overwrite: bool = False,
) -> list[Path]:
    """Draw ``n`` sounds from a VAE's prior and write ``sample_00.wav`` … into ``out_dir``."""
    out_dir = Path(out_dir)
    names = [out_dir / f"sample_{i:02d}.wav" for i in range(n)]
    for path in names:
        _refuse_existing(path, overwrite)
    wavs = pipe.sample(n, seconds, generator=torch.Generator().manual_seed(seed))
    for path, wav in zip(names, _within_full_scale(list(wavs))):
        save_audio(path, wav.cpu(), pipe.sample_rate, overwrite=overwrite)
    return names


def _within_full_scale(wavs: list[torch.Tensor], peak: float = 0.99) -> list[torch.Tensor]:
    """Generated or re-phased sounds: if any would clip, scale them all by one common gain so
    the loudest peaks at ``peak`` (relative levels between them are kept)."""
    loudest = max(float(w.abs().max()) for w in wavs)
    if loudest <= peak:
        return wavs
    return [w * (peak / loudest) for w in wavs]


def _refuse_existing(path: str | os.PathLike, overwrite: bool) -> None:
    """Fail before any work when the output exists (the atomic writer checks again at the end)."""
    from .fileio import OutputExistsError

    if Path(path).exists() and not overwrite:
        raise OutputExistsError(Path(path))


def evaluate_model(
    pipe: Pipeline,
    *,
    data: str | os.PathLike | None = None,
    clean: str | os.PathLike | None = None,
    noisy: str | os.PathLike | None = None,
    noise: str | os.PathLike | None = None,
    snr_db: tuple[float, ...] = (0.0, 5.0, 10.0),
    speech: bool = False,
    seed: int = 0,
    progress: bool = True,
):
    """Evaluate a model on files; returns ``(rows, skipped)`` (see :mod:`audioae.evaluate`).

    Modes:
      * ``data``: reconstruction of every file (condition ``reconstruct``).
      * ``clean`` + ``noisy``: denoising of recorded pairs matched by relative path
        (conditions ``noisy`` and ``denoised``).
      * ``clean`` + ``noise``: each clean file mixed with a noise file (cycled in sorted order)
        at every SNR in ``snr_db`` dB (conditions ``noisy@XdB`` and ``denoised@XdB``).

    Files are compared at the model's sample rate, mono. Bad files are skipped and listed.
    """
    from tqdm.auto import tqdm

    from .audio import AudioError, find_audio_files
    from .evaluate import EvaluationRow, evaluate_pair, mix_at_snr

    rows: list[EvaluationRow] = []
    skipped: list[tuple[Path, str]] = []
    sr = pipe.sample_rate

    def load(path: Path) -> torch.Tensor:
        return load_audio(path, sample_rate=sr, mono=True)[0]

    def add(file: Path, condition: str, estimate: torch.Tensor, reference: torch.Tensor) -> None:
        rows.append(
            EvaluationRow(
                str(file), condition, evaluate_pair(estimate.cpu(), reference, sr, speech=speech)
            )
        )

    if data is not None:
        tasks = [(f, None) for f in find_audio_files(data)]
    elif clean is not None and noisy is not None:
        tasks = []
        for f in find_audio_files(noisy):
            ref = Path(clean) / f.relative_to(noisy)
            if ref.exists():
                tasks.append((f, ref))
            else:
                skipped.append((f, f"no clean reference {ref}"))
    elif clean is not None and noise is not None:
        noise_files = find_audio_files(noise)
        if not noise_files:
            raise ValueError(f"{noise}: no noise files")
        tasks = [
            (f, noise_files[i % len(noise_files)]) for i, f in enumerate(find_audio_files(clean))
        ]
    else:
        raise ValueError("evaluate: give data, or clean with noisy or noise")

    generator = torch.Generator().manual_seed(seed)
    for source, other in tqdm(tasks, desc="evaluate", unit="file", disable=not progress):
        try:
            wav = load(source)
            if data is not None:
                add(source, "reconstruct", pipe.reconstruct(wav)[0], wav[0])
            elif noisy is not None:
                reference = load(other)
                add(source, "noisy", wav[0], reference[0])
                add(source, "denoised", pipe.denoise(wav)[0], reference[0])
            else:
                noise_wav = load(other)
                for snr in snr_db:
                    mixture = mix_at_snr(wav, noise_wav, float(snr), generator=generator)
                    add(source, f"noisy@{snr:g}dB", mixture[0], wav[0])
                    add(source, f"denoised@{snr:g}dB", pipe.denoise(mixture)[0], wav[0])
        except (AudioError, ValueError) as exc:
            skipped.append((source, str(exc)))
    return rows, skipped
