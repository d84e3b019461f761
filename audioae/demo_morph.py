"""The demo's timbre stage: a latent morph between two held-out notes and samples of the VAE
prior."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .audio import load_audio
from .demo_common import DemoError, Splits, phase_words, save_spectrogram, sound_item
from .report import Item, Section

if TYPE_CHECKING:
    from .pipeline import Pipeline


def _pick_pair(test_notes: list[Path]) -> tuple[Path, Path]:
    """Two held-out notes of different instruments, at the same pitch if possible (else the closest)."""
    parsed = [(p, p.stem.rsplit("_", 1)[0], int(p.stem.rsplit("_", 1)[1])) for p in test_notes]
    preferred = [("flute", "trumpet"), ("violin", "saxophone"), ("piano", "organ")]
    best = None
    for a, ia, pa in parsed:
        for b, ib, pb in parsed:
            if ia == ib:
                continue
            score = (abs(pa - pb), 0 if (ia, ib) in preferred else 1)
            if best is None or score < best[0]:
                best = (score, a, b)
    if best is None:
        raise DemoError("the held-out notes need at least two instruments")
    return best[1], best[2]


def _step_caption(i: int, steps: int, a: str, b: str) -> str:
    """What morph step ``i`` of ``steps`` is: an end step is a reconstruction, the rest a blend."""
    alpha = i / (steps - 1)
    if i == 0:
        return f"step 0 (alpha=0): {a} reconstructed from its own latent"
    if i == steps - 1:
        return f"step {i} (alpha=1): {b} reconstructed from its own latent"
    return f"step {i}: latent blend, alpha={alpha:.2f} ({1 - alpha:.0%} A, {alpha:.0%} B)"


def run_morph_stage(pipe: Pipeline, splits: Splits, out: Path, quick: bool) -> Section:
    """Morph between two held-out notes (``out/morph``) and sample the VAE prior (``out/samples``).

    ``quick``: 5 morph steps and 2 samples instead of 8 and 4. Returns the report section.

    Raises:
        DemoError: the held-out notes hold fewer than two instruments.
    """
    from .apps_generation import interpolate_files, sample_files

    sr = pipe.sample_rate
    a, b = _pick_pair(splits["notes"]["test"])
    steps = 5 if quick else 8
    section = Section(f"Timbre morph: {a.stem} → {b.stem} (conv2d VAE)")
    section.notes.append(
        f"Steps 0 to {steps - 1} decode a blend (1 - alpha) z_A + alpha z_B of the two inputs' "
        "posterior-mean latents, alpha from 0 to 1; the end steps are the model's own "
        f"reconstructions of A and B (encoded, decoded; {phase_words(pipe)}), not the inputs; "
        "the steps between are level-matched (each scaled so its RMS level lies on the dB "
        "line between the ends', as `audioae interpolate` does by default). "
        "The prior samples decode random latents and show what the VAE makes of noise."
    )
    interpolate_files(pipe, a, b, out / "morph", steps=steps, overwrite=True)
    for name, path in (("A", a), ("B", b)):
        section.items.append(
            sound_item(
                out,
                f"morph/input_{name}",
                load_audio(path, sample_rate=sr)[0],
                sr,
                f"input {name}: {path.stem}",
            )
        )
    for i in range(steps):
        wav = load_audio(out / "morph" / f"step_{i:02d}.wav")[0]
        save_spectrogram(wav, sr, out / "morph" / f"step_{i:02d}.png", f"step {i}")
        section.items.append(
            Item(
                _step_caption(i, steps, a.stem, b.stem),
                f"morph/step_{i:02d}.wav",
                f"morph/step_{i:02d}.png",
            )
        )
    save_spectrogram(
        load_audio(out / "morph" / "morph.wav")[0],
        sr,
        out / "morph" / "morph.png",
        "morph over time",
    )
    section.items.append(
        Item("morph: A turns into B over time", "morph/morph.wav", "morph/morph.png")
    )
    section.items.append(Item("all steps on one dB scale", None, "morph/grid.png"))
    n = 2 if quick else 4
    sample_files(pipe, out / "samples", n=n, seconds=1.5, seed=0, overwrite=True)
    for i in range(n):
        wav = load_audio(out / "samples" / f"sample_{i:02d}.wav")[0]
        save_spectrogram(wav, sr, out / "samples" / f"sample_{i:02d}.png", f"sample {i}")
        section.items.append(
            Item(
                f"prior sample #{i}: a random latent z ~ N(0, I), 1.5 s, decoded with "
                f"{phase_words(pipe)} (no input involved)",
                f"samples/sample_{i:02d}.wav",
                f"samples/sample_{i:02d}.png",
            )
        )
    return section
