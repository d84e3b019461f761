"""The demo's compression stage: held-out audio encoded into ``.aae`` files and decoded, against
Opus as the baseline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .audio import load_audio
from .demo_common import DOWN, UP, Splits, mean_row, phase_words, sound_item
from .report import Section

if TYPE_CHECKING:
    from .pipeline import Pipeline


def run_codec_stage(pipe: Pipeline, splits: Splits, out: Path) -> Section:
    """Encode a held-out note and speech clip into ``.aae`` files and decode them (``out/codec``).

    Prints each file's size and bitrate; returns the report section with the sounds and a
    table of real bitrates and the log-mel L1 of the decoded audio, with Opus at its lowest
    bitrate (6 kbit/s, :func:`audioae.baselines.opus_roundtrip`) as the baseline when
    ``ffmpeg`` with libopus is on the PATH (else a note says it was skipped), and the means.
    When the codec decodes with a learned decoder, each clip is also decoded with Griffin-Lim
    and played beside it.
    """
    from .apps import decode_file, encode_file
    from .baselines import OPUS_MIN_KBPS, ffmpeg_has_libopus, opus_roundtrip
    from .metrics import log_mel_l1

    work = out / "codec"
    work.mkdir(exist_ok=True)
    sr = pipe.sample_rate
    opus = ffmpeg_has_libopus()
    compare_gl = pipe.default_phase != "griffin-lim"
    section = Section("Compression (.aae latent files)")
    rows: list[list[object]] = []
    per_method: dict[str, list[list[object]]] = {"audioae": [], "Opus": []}
    for clip in (splits["notes"]["test"][0], splits["speech"]["test"][0]):
        original = load_audio(clip, sample_rate=sr)[0]
        aae = work / f"{clip.stem}.aae"
        stats = encode_file(pipe, clip, aae, overwrite=True)
        decoded_path = work / f"{clip.stem}_decoded.wav"
        decode_file(pipe, aae, decoded_path, overwrite=True)
        decoded = load_audio(decoded_path, sample_rate=sr)[0]
        section.items.append(
            sound_item(out, f"codec/{clip.stem}_original", original, sr, f"original: {clip.stem}")
        )
        section.items.append(
            sound_item(
                out,
                f"codec/{clip.stem}_decoded",
                decoded,
                sr,
                f"audioae decoded at {stats.bitrate_kbps:.1f} kbit/s ({phase_words(pipe)})",
            )
        )
        if compare_gl:  # the same file through Griffin-Lim, to hear what the decoder adds
            gl_path = work / f"{clip.stem}_decoded_griffin_lim.wav"
            decode_file(pipe, aae, gl_path, phase="griffin-lim", overwrite=True)
            section.items.append(
                sound_item(
                    out,
                    f"codec/{clip.stem}_decoded_griffin_lim",
                    load_audio(gl_path, sample_rate=sr)[0],
                    sr,
                    f"the same .aae file decoded with Griffin-Lim ({pipe.config.phase.n_iter} "
                    "iterations, no learned decoder), for comparison",
                )
            )
        ours = float(log_mel_l1(decoded[0], original[0], sr))
        row: list[object] = [
            clip.stem,
            "audioae",
            stats.num_bytes,
            stats.bitrate_kbps,
            stats.pcm16_ratio,
            ours,
        ]
        rows.append(row)
        per_method["audioae"].append(row)
        if opus:
            res = opus_roundtrip(original, sr, OPUS_MIN_KBPS)
            baseline = float(log_mel_l1(res.decoded, original[0], sr))
            section.items.append(
                sound_item(
                    out,
                    f"codec/{clip.stem}_opus",
                    res.decoded,
                    sr,
                    f"Opus (baseline) at {res.bitrate_kbps:.1f} kbit/s",
                )
            )
            pcm = original.shape[-1] * 2
            opus_row: list[object] = [
                clip.stem,
                "Opus",
                res.num_bytes,
                res.bitrate_kbps,
                pcm / res.num_bytes,
                baseline,
            ]
            rows.append(opus_row)
            per_method["Opus"].append(opus_row)
            row.append(ours - baseline)
            opus_row.append("")
        print(
            f"  {clip.name}: {stats.num_bytes} bytes, {stats.bitrate_kbps:.2f} kbit/s, {stats.pcm16_ratio:.0f}x smaller than 16-bit PCM"
        )
    header = [
        "clip",
        "codec",
        f"bytes {DOWN}",
        f"kbit/s {DOWN}",
        f"x smaller than PCM16 {UP}",
        f"log-mel L1 {DOWN}",
    ]
    if opus:
        header.append(f"Δ log-mel L1 vs Opus {DOWN}")
    rows += [mean_row(f"mean: {m}", r, 2) for m, r in per_method.items() if r]
    section.table(
        "Real bitrate (header included) and log-mel L1 distance of the decoded audio to the "
        "original"
        + (
            f"; Opus at its lowest bitrate ({OPUS_MIN_KBPS:g} kbit/s requested) is the baseline"
            if opus
            else ""
        )
        + "; the last rows are the means",
        header,
        rows,
    )
    if not opus:
        section.notes.append(
            "Opus baseline skipped: `ffmpeg` with libopus is not on the PATH "
            "(Debian/Ubuntu: apt-get install ffmpeg)."
        )
    return section
