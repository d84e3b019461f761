"""The learned decoder's edges: zero padding (as trained) against mirrored frames at inference.

    python benchmarks/vocoder_edges.py [--model data/models/codec.safetensors] [--threads 2]

For every held-out clip of ``data/splits.yaml`` (28 notes, 36 speech clips), the model's
reconstruction (its decoded log-mel features) is decoded by the decoder its file carries in
three ways, in the same run: ``none`` (the convolutions' zero padding beyond both ends, as
trained: ``Vocoder.decode(edge_context=False)``), ``both`` (21 mirrored frames beyond each end,
the default since 2026-12-03: ``edge_context=True``) and ``end`` (mirrored frames after the
last frame only). Printed per group: the mean multi-resolution STFT distance and log-mel L1
against the clip, the mean largest absolute error in the first and in the last 50 ms, and
the median ratio of the output's peak to the clip's in the first 50 ms.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import yaml

from audioae.audio import load_audio
from audioae.metrics import log_mel_l1, multi_resolution_stft_distance
from audioae.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
EDGE_SAMPLES = 800  # 50 ms at 16 kHz


def end_only(vocoder, features: torch.Tensor, length: int) -> torch.Tensor:
    """Decode with mirrored frames after the last frame only (zero padding before the first)."""
    frames, pad = features.shape[-1], vocoder.edge_frames
    tail = features.flip(-1)[..., 1 : pad + 1]
    if tail.shape[-1] < pad:  # fewer frames than the pad: repeat the outermost
        tail = torch.cat([tail, tail[..., -1:].expand(*tail.shape[:-1], pad - tail.shape[-1])], -1)
    spec = vocoder.spectrum(torch.cat([features, tail], -1), 0).frames(0, frames)
    return vocoder.synthesize(spec, length)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=str(ROOT / "data" / "models" / "codec.safetensors"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline.load(args.model, device="cpu")
    vocoder = pipe.vocoder
    splits = yaml.safe_load((ROOT / "data" / "splits.yaml").read_text())
    rows: dict[tuple[str, str], list[tuple[float, ...]]] = {}
    for group in ("notes", "speech"):
        for rel in splits[group]["test"]:
            wav = load_audio(ROOT / "data" / rel, sample_rate=pipe.sample_rate)[0][:1]
            n, h = wav.shape[-1], EDGE_SAMPLES
            with torch.inference_mode():
                features = pipe._decode_features(pipe.encode(wav), pipe.frontend.num_frames(n))
                outs = {
                    "none": vocoder.decode(features, n, edge_context=False),
                    "both": vocoder.decode(features, n, edge_context=True),
                    "end": end_only(vocoder, features, n),
                }
            for name, y in outs.items():
                y = y.reshape(1, -1)
                rows.setdefault((group, name), []).append(
                    (
                        float(multi_resolution_stft_distance(y, wav)),
                        float(log_mel_l1(y, wav, pipe.sample_rate)),
                        float((y[..., :h] - wav[..., :h]).abs().max()),
                        float((y[..., -h:] - wav[..., -h:]).abs().max()),
                        float(y[..., :h].abs().max() / (wav[..., :h].abs().max() + 1e-9)),
                    )
                )
    print(
        "| group | edges | MR-STFT | log-mel L1 | max err first 50 ms | max err last 50 ms | start peak ratio (median) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for (group, name), values in rows.items():
        a = np.array(values)
        print(
            f"| {group} | {name} | {a[:, 0].mean():.3f} | {a[:, 1].mean():.3f} | "
            f"{a[:, 2].mean():.3f} | {a[:, 3].mean():.3f} | {np.median(a[:, 4]):.2f} |"
        )


if __name__ == "__main__":
    main()
