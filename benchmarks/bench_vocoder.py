"""Learned decoder vs Griffin-Lim on the held-out split of ``data/`` (``data/splits.yaml`` test lists).

For every held-out speech clip and note (16 kHz, mono), from the *exact* log-mel features of
the decoder's front-end (80 mels, n_fft 1024, hop 256: the codec's) and, with ``--codec``,
from the codec's decoded features (``codec.safetensors``: unquantised latent, and after a real
``.aae`` round trip at ``--codec-bits``), the codec rows decoded by ``--codec-vocoder`` or the
decoder the codec file carries (e.g. one fine-tuned on the codec's output):

- ``griffin-lim 32`` / ``griffin-lim 100``: NNLS mel inversion then fast Griffin-Lim
  (momentum 0.99, seeded random initial phase): the ``griffin-lim`` phase method;
- ``learned``: the learned decoder (one inverse STFT; chunked);
- ``learned+griffin-lim N``: N iterations of the same fast Griffin-Lim on the decoder's
  magnitude, started from the decoder's phase (the ``learned+griffin-lim`` method);
- for scale, ``griffin-lim 32 (true |STFT|)``: Griffin-Lim from the exact linear magnitude
  (not available to a decoder of mel features).

Metrics against the clip: PESQ-WB (speech only; the ``pesq`` package), multi-resolution STFT
distance (``audioae.metrics``), log-mel L1 (80 mels), spectral convergence (n_fft 1024, hop
256), and the CPU time per audio second on one torch thread (process CPU time, so the
other jobs of a shared machine do not inflate it; all methods run interleaved per clip in
the same run). Ratios in the summary compare methods of this run.

Usage (from the repository root)::

    python benchmarks/bench_vocoder.py --vocoder data/models/vocoder.safetensors \
        [--codec data/models/codec.safetensors [--codec-vocoder FILE] [--codec-bits 6]] \
        [--trained "..."] [--quick] [--no-write]

Results are printed and, unless ``--no-write`` or ``--quick``, written into the
"## Learned decoder" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audioae.config import PhaseConfig  # noqa: E402
from audioae.metrics import (  # noqa: E402
    log_mel_l1,
    multi_resolution_stft_distance,
    pesq_wb,
    spectral_convergence,
)
from audioae.phase import PhaseReconstructor, learned_methods  # noqa: E402
from audioae.vocoderfile import load_vocoder_file  # noqa: E402
from benchmarks.bench_quality import load, load_split, machine  # noqa: E402
from benchmarks.docs_section import replace_section  # noqa: E402
from benchmarks.quality_metrics import markdown_table  # noqa: E402

SAMPLE_RATE = 16000
QUICK_CLIPS = 2
HEADING = "## Learned decoder (vocoder) vs Griffin-Lim"


HYBRID_ITERS = (4, 8, 16, 32)


def methods(frontend, vocoder) -> dict[str, Callable[[torch.Tensor, int], torch.Tensor]]:
    """Name -> ``fn(features (1, n_bins, frames), length) -> (1, length)``."""

    def phase(n_iter: int, warm: int = 16) -> PhaseReconstructor:
        return PhaseReconstructor(
            frontend, PhaseConfig(n_iter=n_iter, warm_start_iter=warm), learned_methods(vocoder)
        )

    gl32, gl100 = phase(32), phase(100)
    fns = {
        "griffin-lim 32": lambda f, n: gl32(f, n, method="griffin-lim"),
        "griffin-lim 100": lambda f, n: gl100(f, n, method="griffin-lim"),
        "learned": lambda f, n: gl32(f, n, method="learned"),
    }
    for iters in HYBRID_ITERS:
        hybrid = phase(32, iters)
        fns[f"learned+griffin-lim {iters}"] = lambda f, n, h=hybrid: h(
            f, n, method="learned+griffin-lim"
        )
    return fns


def scores(est: torch.Tensor, ref: torch.Tensor, frontend, speech: bool) -> dict[str, float]:
    est, ref = est.reshape(1, -1), ref.reshape(1, -1)
    out = {
        "mr_stft": float(multi_resolution_stft_distance(est, ref)),
        "log_mel_l1": float(log_mel_l1(est, ref, SAMPLE_RATE)),
        "sc": float(spectral_convergence(frontend.magnitude(est), frontend.magnitude(ref))),
    }
    out["pesq"] = float(pesq_wb(est, ref, SAMPLE_RATE)) if speech else float("nan")
    return out


def aae_round_trip(codec, latent: torch.Tensor, length: int, bits: int) -> tuple[torch.Tensor, int]:
    """``latent`` of a mono clip of ``length`` samples written to ``.aae`` bytes at ``bits`` and
    read back (what `audioae encode` / `decode` give): ``(decoded latent, bytes written)``."""
    from audioae.codec import decode_latent, encode_latent

    data = encode_latent(
        latent.cpu(),
        bits=bits,
        model_hash=codec.model_hash,
        sample_rate=SAMPLE_RATE,
        length=length,
        channels=1,
    )
    return torch.as_tensor(decode_latent(data, model_hash=codec.model_hash).latent), len(data)


def codec_features(codec, wav: torch.Tensor, frames: int, bits: int | None) -> torch.Tensor:
    """The codec's decoded features of ``wav (1, time)``: from the latent as it is, or after a
    real ``.aae`` round trip at ``bits`` (what `audioae encode` / `decode` give)."""
    latent = codec.encode(wav)
    if bits is not None:
        latent = aae_round_trip(codec, latent, wav.shape[-1], bits)[0]
    return codec._decode_features(latent.float(), frames)


def run(
    clips: list[tuple[str, Path]],
    frontend,
    vocoder,
    codec=None,
    codec_vocoder=None,
    codec_bits: int | None = None,
    models: list[tuple[str, object]] | None = None,
) -> dict[tuple[str, str, str], list[dict[str, float]]]:
    """``{(source, group, method): [scores + seconds per audio second per clip]}``.

    Sources: ``exact`` (the clip's features, decoded by ``vocoder``) and, with a codec, its
    decoded features from the unquantised latent (``codec``) and after a ``.aae`` round trip
    at ``codec_bits`` (``codec N bits``), both decoded by ``codec_vocoder`` (default
    ``vocoder``); for each ``(name, pipeline)`` of ``models``, the model's reconstruction
    (posterior mean) decoded with its own front-end and the decoder its file carries."""
    table: dict[tuple[str, str, str], list[dict[str, float]]] = defaultdict(list)
    fns = methods(frontend, vocoder)
    codec_fns = methods(frontend, codec_vocoder if codec_vocoder is not None else vocoder)
    model_fns = {name: methods(pipe.frontend, pipe.vocoder) for name, pipe in models or []}
    oracle = PhaseReconstructor(frontend, PhaseConfig(n_iter=32))
    for i, (group, path) in enumerate(clips):
        wav = load(path).unsqueeze(0)
        length, seconds = wav.shape[-1], wav.shape[-1] / SAMPLE_RATE
        with torch.inference_mode():
            features = {"exact": (frontend(wav), fns)}
            if codec is not None:
                frames = features["exact"][0].shape[-1]
                features["codec"] = (codec_features(codec, wav, frames, None), codec_fns)
                if codec_bits is not None:
                    coded = codec_features(codec, wav, frames, codec_bits)
                    features[f"codec {codec_bits} bits"] = (coded, codec_fns)
            for name, pipe in models or []:
                frames = pipe.frontend.num_frames(length)
                own = pipe._decode_features(pipe.encode(wav), frames)
                features[f"{name} (reconstruction)"] = (own, model_fns[name])
        for source, (feats, source_fns) in features.items():
            for name, fn in source_fns.items():
                start = time.process_time()
                with torch.no_grad():
                    out = fn(feats, length)
                elapsed = time.process_time() - start
                row = scores(out, wav, frontend, group == "speech")
                row["time"] = elapsed / seconds
                table[(source, group, name)].append(row)
        start = time.process_time()
        out = oracle.from_magnitude(frontend.magnitude(wav), length, method="griffin-lim")
        row = scores(out, wav, frontend, group == "speech")
        row["time"] = (time.process_time() - start) / seconds
        table[("exact", group, "griffin-lim 32 (true |STFT|)")].append(row)
        print(f"  {i + 1}/{len(clips)} {path.name}", flush=True)
    return table


def mean(rows: list[dict[str, float]], key: str) -> float:
    values = [r[key] for r in rows if r[key] == r[key]]
    return sum(values) / len(values) if values else float("nan")


def format_section(table, info: dict[str, str]) -> str:
    lines = [HEADING, ""]
    lines.append(
        f"`python benchmarks/bench_vocoder.py` ({info['date']}; {info['machine']}). Held-out split "
        f"of data/splits.yaml: {info['clips']}. `exact`: from the clip's own features; `codec`: from "
        f"the codec's decoded features (unquantised latent), `codec N bits`: after a real `.aae` round "
        f"trip at N bits, both decoded by {info.get('codec_vocoder', 'the same decoder')}. Decoder: "
        f"`{info['vocoder']}`, {info['params']} "
        f"parameters, trained {info['trained']}. Features: 80-band log-mel, n_fft 1024, hop 256 at "
        "16 kHz (the codec's front-end). Griffin-Lim: fast Griffin-Lim (momentum 0.99) after NNLS "
        "mel inversion, seeded random initial phase; `learned+griffin-lim N`: N iterations of the "
        "same fast Griffin-Lim on the decoder's magnitude, started from the decoder's phase. Time: CPU seconds per audio second, one "
        "torch thread (process CPU time), mel inversion included. PESQ-WB: `pesq` package, speech only.",
    )
    lines.append("")
    header = [
        "source",
        "group",
        "method",
        "PESQ-WB",
        "MR-STFT",
        "log-mel L1",
        "SC",
        "CPU s per audio s",
    ]
    rows = []
    for (source, group, name), values in sorted(table.items(), key=lambda kv: kv[0][:2]):
        rows.append(
            [
                source,
                group,
                name,
                mean(values, "pesq"),
                mean(values, "mr_stft"),
                mean(values, "log_mel_l1"),
                mean(values, "sc"),
                f"{mean(values, 'time'):.4f}",
            ]
        )
    lines.append(markdown_table(header, rows))
    lines.append("")
    lines += summary_lines(table)
    return "\n".join(lines) + "\n"


def summary_lines(table) -> list[str]:
    """The issue's targets, measured: learned vs Griffin-Lim 32 from the same exact mel."""
    out = []
    for group in ("speech", "notes"):
        gl = table.get(("exact", group, "griffin-lim 32"))
        if not gl:
            continue
        for name in ("learned", *(f"learned+griffin-lim {n}" for n in HYBRID_ITERS)):
            rows = table.get(("exact", group, name))
            if not rows:
                continue
            speed = mean(gl, "time") / max(mean(rows, "time"), 1e-12)
            realtime = 1.0 / max(mean(rows, "time"), 1e-12)
            pesq = ""
            if group == "speech":
                pesq = f"PESQ {mean(rows, 'pesq'):.2f} vs {mean(gl, 'pesq'):.2f}, "
            out.append(
                f"- {group}, {name} vs griffin-lim 32 (exact mel): {pesq}MR-STFT "
                f"{mean(rows, 'mr_stft'):.3f} vs {mean(gl, 'mr_stft'):.3f}, {speed:.1f}x the speed of "
                f"griffin-lim 32, {realtime:.0f}x real time on one thread."
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument(
        "--vocoder", type=Path, default=ROOT / "data" / "models" / "vocoder.safetensors"
    )
    parser.add_argument("--codec", type=Path, help="also decode the codec's features (model file)")
    parser.add_argument(
        "--codec-vocoder",
        type=Path,
        help="decoder for the codec rows (default: the one the codec file carries, else --vocoder)",
    )
    parser.add_argument(
        "--codec-bits", type=int, default=6, help="the .aae round trip's bits (0: none)"
    )
    parser.add_argument(
        "--model",
        type=Path,
        action="append",
        default=[],
        help="also decode this model's reconstruction with the decoder its file carries "
        "(e.g. the timbre VAE); repeatable",
    )
    parser.add_argument("--trained", default="(not stated)", help="training budget, in words")
    parser.add_argument("--note", default="", help="a closing paragraph (e.g. the ship decision)")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_CLIPS} clips per group, no write"
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    loaded = load_vocoder_file(args.vocoder)
    vocoder, frontend = loaded.vocoder, loaded.vocoder.frontend
    codec = codec_vocoder = None
    codec_vocoder_name = "the same decoder"
    if args.codec is not None:
        from audioae.pipeline import Pipeline
        from audioae.vocoderfile import check_vocoder_compatible

        codec = Pipeline.load(args.codec, device="cpu")
        check_vocoder_compatible(codec.config, loaded.config, str(args.vocoder))
        if args.codec_vocoder is not None:
            codec_vocoder = load_vocoder_file(args.codec_vocoder).vocoder
            check_vocoder_compatible(codec.config, loaded.config, str(args.codec_vocoder))
            codec_vocoder_name = f"`{args.codec_vocoder.name}`"
        elif codec.vocoder is not None:
            codec_vocoder, codec_vocoder_name = (
                codec.vocoder,
                f"the decoder `{args.codec.name}` carries",
            )
        else:
            codec_vocoder, codec_vocoder_name = None, "the same decoder"
    split = load_split(args.data)
    clips = [
        (g, p)
        for g in ("speech", "notes")
        for p in split[g]["test"][: QUICK_CLIPS if args.quick else None]
    ]
    models = []
    for path in args.model:
        from audioae.pipeline import Pipeline

        pipe = Pipeline.load(path, device="cpu")
        if pipe.vocoder is None:
            parser.error(f"{path}: the model file carries no learned decoder")
        models.append((path.stem, pipe))
    table = run(clips, frontend, vocoder, codec, codec_vocoder, args.codec_bits or None, models)
    info = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "clips": f"{sum(g == 'speech' for g, _ in clips)} speech clips, {sum(g == 'notes' for g, _ in clips)} notes",
        "vocoder": args.vocoder.name,
        "params": f"{vocoder.num_parameters() / 1e6:.2f} M",
        "trained": args.trained,
        "codec_vocoder": codec_vocoder_name,
    }
    section = format_section(table, info)
    if args.note:
        section += "\n" + args.note.strip() + "\n"
    print(section)
    if not (args.quick or args.no_write):
        replace_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
