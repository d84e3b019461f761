"""A resumed run logs at the steps an uninterrupted one does, and uses the learning rate and
weight decay it is resumed with (both recorded in its config.yaml)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audioae.config import load_config, resolve_recipe
from audioae.training import train

SR = 16000
SETS = [
    "data.samples_per_epoch=16",
    "data.num_workers=0",
    "training.checkpoint_every=100",
    "training.val_every=100",
    "training.log_every=1",
    "training.warmup_steps=0",
    "training.lr_schedule=constant",
]


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(6):
        sf.write(str(root / f"c{i}.wav"), 0.3 * rng.standard_normal(SR).astype(np.float32), SR)
    return root


def _logged(run: Path, column: str) -> dict[int, float]:
    """``{step: value}`` of a metrics column over every CSV version of a run."""
    out: dict[int, float] = {}
    for path in sorted((run / "csv").glob("version_*/metrics.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                if row.get(column):
                    out[int(row["step"])] = float(row[column])
    return out


@pytest.mark.parametrize("val_every, checkpoint_every", [(3, 3), (3, 100), (100, 3), (100, 100)])
def test_a_resumed_run_logs_each_loss_at_the_step_a_straight_run_does(
    tmp_path: Path, val_every: int, checkpoint_every: int
) -> None:
    """Before: with a validation at the last step (as every real run has) the resumed run
    logged every loss one step late (3 -> 4)."""
    data = _folder(tmp_path / "data")
    every = [f"training.val_every={val_every}", f"training.checkpoint_every={checkpoint_every}"]
    cfg = load_config(resolve_recipe("tiny"), SETS + every + ["training.max_steps=6"])
    train(cfg, data, out_dir=tmp_path / "straight", progress=False)
    # ended by training.max_steps, then resumed with more (a constant schedule: same losses)
    train(cfg, data, out_dir=tmp_path / "stopped", max_steps=3, progress=False)
    train(cfg, data, out_dir=tmp_path / "stopped", resume=True, progress=False)
    straight = _logged(tmp_path / "straight", "train/loss")
    resumed = _logged(tmp_path / "stopped", "train/loss")
    assert sorted(straight) == list(range(6))
    assert sorted(resumed) == sorted(straight)  # one step late after the resume before
    if val_every == 3:  # (else the first run validates where it ended, the straight one not)
        assert sorted(_logged(tmp_path / "stopped", "val/loss")) == [2, 5]
        assert sorted(_logged(tmp_path / "straight", "val/loss")) == [2, 5]
    for step, loss in straight.items():
        assert resumed[step] == np.float32(loss) or abs(resumed[step] - loss) < 1e-6 * abs(loss)


def test_a_resume_with_another_learning_rate_uses_it(tmp_path: Path) -> None:
    data = _folder(tmp_path / "data")
    run = tmp_path / "run"
    first = load_config(resolve_recipe("tiny"), SETS + ["training.max_steps=3"])
    train(first, data, out_dir=run, progress=False)
    more = load_config(
        resolve_recipe("tiny"),
        SETS + ["training.max_steps=6", "training.learning_rate=0.01", "training.weight_decay=0.5"],
    )
    train(more, data, out_dir=run, resume=True, progress=False)
    lr = _logged(run, "lr-AdamW")
    assert [lr[s] for s in range(3)] == [first.training.learning_rate] * 3
    assert [lr[s] for s in range(3, 6)] == [0.01] * 3  # was 0.001: the checkpoint's
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    group = ckpt["optimizer_states"][0]["param_groups"][0]
    assert group["lr"] == 0.01 and group["weight_decay"] == 0.5
    assert ckpt["lr_schedulers"][0]["base_lrs"] == [0.01]


def test_a_resumed_learning_rate_follows_the_schedule_from_the_restored_step(
    tmp_path: Path,
) -> None:
    """With warm-up and a cosine schedule the new base rate is scaled by the schedule's
    factor at each resumed step, as a run started with it would be."""
    from audioae.optim import lr_factor

    data = _folder(tmp_path / "data")
    run = tmp_path / "run"
    schedule = [s for s in SETS if "warmup" not in s and "lr_schedule" not in s]
    schedule += ["training.warmup_steps=2", "training.lr_schedule=cosine", "training.max_steps=8"]
    train(
        load_config(resolve_recipe("tiny"), schedule),
        data,
        out_dir=run,
        max_steps=4,
        progress=False,
    )
    more = load_config(resolve_recipe("tiny"), schedule + ["training.learning_rate=0.02"])
    train(more, data, out_dir=run, resume=True, progress=False)
    lr = _logged(run, "lr-AdamW")
    for step in range(4, 8):
        expected = 0.02 * lr_factor(step, warmup_steps=2, max_steps=8, schedule="cosine")
        assert lr[step] == pytest.approx(expected, rel=1e-6), step
