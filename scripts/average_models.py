"""Average the weights of model files of one architecture into a new model file.

    python scripts/average_models.py A.safetensors B.safetensors -o OUT.safetensors
    python scripts/average_models.py denoise runs/dn_ctl/model.safetensors -o runs/avg.safetensors

Weight-space ensembling of a model and its fine-tuned descendant (WiSE-FT: Wortsman et al.,
"Robust fine-tuning of zero-shot models", CVPR 2022; "Model soups", ICML 2022): the average
of two networks fine-tuned from the same weights stays in one basin of the loss, and it
keeps more of the start's robustness to data unlike the fine-tuning data than the fine-tuned
model does. The result has the same size and compute as each input.

Every input must build the same network: equal ``audio``, ``features`` and ``model`` config
sections and the same tensor names and shapes, else the script stops and names the file.
``--weights`` gives each input's share (default: equal; normalised to sum 1). The average is
taken in float32 and written in float16 (``--float32`` keeps float32) with the first input's
config. A file that exists is not replaced without ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from audioae.fileio import OutputExistsError
from audioae.modelfile import ModelFileError, load_model_file, save_model_file

SECTIONS = ("audio", "features", "model")


def average_model_files(
    paths: list[str | Path],
    out: str | Path,
    weights: list[float] | None = None,
    *,
    dtype: torch.dtype | None = torch.float16,
    overwrite: bool = False,
) -> Path:
    """Write the weighted average of the model files ``paths`` to ``out``; returns ``out``.

    Raises:
        ValueError: fewer than two inputs, or ``weights`` of another length or not positive.
        ModelFileError: an input is not a model file, or builds another network than the first.
        OutputExistsError: ``out`` exists and not ``overwrite``.
    """
    if len(paths) < 2:
        raise ValueError("average_model_files: give at least two model files")
    weights = [1.0] * len(paths) if weights is None else list(weights)
    if len(weights) != len(paths) or min(weights) <= 0:
        raise ValueError(f"weights: need {len(paths)} positive numbers, got {weights}")
    total = sum(weights)
    loaded = [load_model_file(p) for p in paths]
    first = loaded[0]
    states = [item.model.state_dict() for item in loaded]
    for path, item in zip(paths[1:], loaded[1:]):
        for section in SECTIONS:
            if getattr(item.config, section) != getattr(first.config, section):
                raise ModelFileError(
                    f"{path}: its {section} section differs from {paths[0]}'s: not one network"
                )
    state = {}
    for name, tensor in states[0].items():
        if not tensor.is_floating_point():
            state[name] = tensor
            continue
        acc = torch.zeros_like(tensor, dtype=torch.float32)
        for w, other in zip(weights, states):
            acc += (w / total) * other[name].float()
        state[name] = acc
    first.model.load_state_dict(state, strict=True)
    return save_model_file(out, first.model, first.config, overwrite=overwrite, dtype=dtype)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="model files or shipped model names")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the averaged model file")
    parser.add_argument("--weights", type=float, nargs="+", help="each input's share")
    parser.add_argument("--float32", action="store_true", help="write float32 weights")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    args = parser.parse_args(argv)
    try:
        out = average_model_files(
            args.models,
            args.out,
            args.weights,
            dtype=None if args.float32 else torch.float16,
            overwrite=args.force,
        )
    except (ValueError, ModelFileError, OutputExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
