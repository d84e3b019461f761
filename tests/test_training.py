"""Training: the tiny recipe trains and exports, VAE/denoising logging, divergence, resume rules."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from conftest import DATA, requires_cuda

from audioae.config import ConfigError, load_config
from audioae.data import AudioFolder
from audioae.modelfile import load_model_file
from audioae.optim import TrainingDivergedError, lr_factor
from audioae.runfolder import RunExistsError
from audioae.training import AutoEncoderModule, resolve_placement, resolve_precision, train

RECIPES = Path(__file__).parents[1] / "recipes"


FAST = [
    "training.max_steps=4",
    "training.val_every=2",
    "training.checkpoint_every=2",
    "training.log_every=1",
]


@pytest.fixture(scope="module")
def notes(tmp_path_factory) -> Path:
    """A small folder of real note recordings copied from data/notes (nested)."""
    src = sorted((DATA / "notes").glob("*.flac"))
    if len(src) < 6:
        pytest.skip("data/notes not present")
    root = tmp_path_factory.mktemp("notes")
    for i, path in enumerate(src[:: max(1, len(src) // 6)][:6]):
        (root / f"group{i % 2}").mkdir(exist_ok=True)
        shutil.copy(path, root / f"group{i % 2}" / path.name)
    return root


def _tiny(*overrides: str):
    return load_config(RECIPES / "tiny.yaml", list(overrides))


def _metrics(run_dir: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted((run_dir / "csv").glob("version_*/metrics.csv")):
        with open(path) as f:
            rows += list(csv.DictReader(f))
    return rows


def _tensorboard_tags(run_dir: Path) -> dict[str, list[str]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={"audio": 0, "images": 0, "histograms": 0}
    )
    acc.Reload()
    return acc.Tags()


def test_tiny_recipe_trains_and_exports(notes: Path, tmp_path: Path) -> None:
    cfg = _tiny(*FAST)
    result = train(cfg, notes, out_dir=tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert result.steps == 4 and result.run_dir == run
    assert result.best_val_loss is not None and math.isfinite(result.best_val_loss)
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert len(list((run / "checkpoints").glob("best*.ckpt"))) == 1
    assert yaml.safe_load((run / "config.yaml").read_text()) == cfg.to_dict()
    rows = _metrics(run)
    assert any(r.get("train/loss") for r in rows) and any(r.get("val/loss") for r in rows)
    assert any(r.get("train/reconstruction") for r in rows)
    tags = _tensorboard_tags(run)
    assert "val/example0/reconstruction" in tags["audio"] and "val/example0/input" in tags["audio"]
    assert "val/example0/spectrogram" in tags["images"]

    # the exported model file gives exactly the outputs of the best checkpoint's model
    assert result.model_file == run / "model.safetensors"
    loaded = load_model_file(result.model_file)
    assert loaded.config == cfg
    ckpt = torch.load(
        next((run / "checkpoints").glob("best*.ckpt")), map_location="cpu", weights_only=True
    )
    module = AutoEncoderModule(ckpt["hyper_parameters"]["config"])
    module.load_state_dict(ckpt["state_dict"])
    module.eval()
    wav = AudioFolder([torch.randn(8000) * 0.1], cfg, "val")[0][None]
    with torch.no_grad():
        features = module.features(wav)
        assert torch.equal(
            module.model(features).reconstruction, loaded.model(features).reconstruction
        )

    # a second run into the same folder is refused unless resuming
    with pytest.raises(RunExistsError, match="--resume"):
        train(cfg, notes, out_dir=run, progress=False)
    # resuming with another model is refused, naming the key
    with pytest.raises(ConfigError, match="model.latent_dim"):
        train(_tiny(*FAST, "model.latent_dim=4"), notes, out_dir=run, resume=True, progress=False)
    # resuming a finished run with more steps continues from its step
    more = train(cfg, notes, out_dir=run, resume=True, max_steps=6, progress=False)
    assert more.steps == 6
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6


def test_resume_without_checkpoint_is_an_error(notes: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(_tiny(*FAST), notes, out_dir=tmp_path / "new", resume=True, progress=False)


def test_vae_logs_kl_and_active_dimensions(notes: Path, tmp_path: Path) -> None:
    cfg = _tiny(
        *FAST,
        "model.bottleneck=gaussian",
        "loss.beta=0.1",
        "loss.kl_schedule=cyclical",  # period 4, ramp 2: the weight is 0 at step 4
        "loss.kl_cycle_steps=4",
        "training.audio_examples=0",
    )
    train(cfg, notes, out_dir=tmp_path / "vae", progress=False)
    rows = _metrics(tmp_path / "vae")
    for key in ("train/kl", "train/active_dimensions", "train/kl_per_dim_mean", "val/kl"):
        assert any(r.get(key) for r in rows), key
    # validation (steps 2 and 4) weighs the KL by beta, not by the annealed 0.1 and 0
    val = [r for r in rows if r.get("val/loss")]
    assert [int(r["step"]) for r in val] == [1, 3]  # Lightning logs the step index - 1
    for r in val:
        assert float(r["val/kl_weight"]) == pytest.approx(0.1)
        expected = float(r["val/reconstruction"]) + 0.1 * float(r["val/kl"])
        assert float(r["val/loss"]) == pytest.approx(expected, rel=1e-5)
    train_weights = {
        round(float(r["train/kl_weight"]), 6) for r in rows if r.get("train/kl_weight")
    }
    assert train_weights == {0.0, 0.05, 0.1}  # the annealed weights of steps 0-3
    assert "train/kl_per_dimension" in _tensorboard_tags(tmp_path / "vae")["histograms"]


def test_denoising_run_with_noise_folder(notes: Path, tmp_path: Path) -> None:
    noise_files = sorted((DATA / "noise").glob("*.flac"))[:2]
    if not noise_files:
        pytest.skip("data/noise not present")
    noise = tmp_path / "noise"
    noise.mkdir()
    for path in noise_files:
        shutil.copy(path, noise / path.name)
    cfg = _tiny(
        *FAST,
        "data.denoise=true",
        "model.output=mask",
        "features.kind=log_magnitude",
        "loss.reconstruction=compressed_mse",
        "loss.si_sdr_weight=0.01",
        "loss.residual_noise_weight=0.1",
        "data.babble_fraction=0.5",
        "data.gain_db_min=-10",
    )
    result = train(cfg, notes, noise_dir=noise, out_dir=tmp_path / "dn", progress=False)
    assert result.steps == 4 and result.model_file.is_file()
    rows = _metrics(tmp_path / "dn")
    si_sdr = [float(r["train/si_sdr"]) for r in rows if r.get("train/si_sdr")]
    assert si_sdr and all(math.isfinite(v) for v in si_sdr)
    residual = [float(r["train/residual_noise"]) for r in rows if r.get("train/residual_noise")]
    assert residual and all(0 < v < 10 for v in residual)
    tags = _tensorboard_tags(tmp_path / "dn")["audio"]
    assert {"val/example0/noisy", "val/example0/clean", "val/example0/reconstruction"} <= set(tags)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    notes: Path, tmp_path: Path, monkeypatch
) -> None:
    import audioae.autoencoder_module as module

    real = module.compute_loss

    def poisoned(output, target, cfg, step, **kwargs):
        result = real(output, target, cfg, step, **kwargs)
        if step >= 5:
            result.total = result.total * float("nan")
        return result

    monkeypatch.setattr(module, "compute_loss", poisoned)
    cfg = _tiny("training.max_steps=10", "training.checkpoint_every=2", "training.val_every=10")
    with pytest.raises(TrainingDivergedError, match="step 5.*last good checkpoint"):
        train(cfg, notes, out_dir=tmp_path / "nan", progress=False)
    ckpt = torch.load(
        tmp_path / "nan" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
    )
    assert ckpt["global_step"] == 4
    assert all(
        torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point()
    )


def test_module_overfits_one_batch() -> None:
    torch.manual_seed(0)
    cfg = _tiny(
        "training.warmup_steps=0", "training.lr_schedule=constant", "training.learning_rate=3e-3"
    )
    clip = torch.sin(torch.arange(16000) * 2 * math.pi * 330 / 16000) * 0.5 + 0.05 * torch.randn(
        16000
    )
    batch = torch.stack([AudioFolder([clip], cfg, "val")[i] for i in range(4)])
    module = AutoEncoderModule(cfg)
    optimizer = module.configure_optimizers()["optimizer"]
    losses = []
    for _ in range(60):
        *_, result = module._step(batch)
        optimizer.zero_grad()
        result.total.backward()
        optimizer.step()
        losses.append(result.total.item())
    assert losses[-1] < losses[0] / 3


def test_lr_schedule() -> None:
    f = [lr_factor(s, warmup_steps=4, max_steps=12, schedule="cosine") for s in range(14)]
    assert f[:4] == [0.25, 0.5, 0.75, 1.0]
    assert (
        f[4] == 1.0
        and f[8] == pytest.approx(0.5)
        and f[12] == pytest.approx(0.0)
        and f[13] == pytest.approx(0.0)
    )
    assert all(a >= b for a, b in zip(f[4:], f[5:]))
    assert [lr_factor(s, warmup_steps=2, max_steps=5, schedule="constant") for s in range(6)] == [
        0.5,
        1,
        1,
        1,
        1,
        1,
    ]


def test_precision_choice() -> None:
    assert resolve_precision("auto", "cpu") == "32-true"
    assert resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"
    if torch.cuda.is_available():
        expected = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        assert resolve_precision("auto", "cuda") == expected


def test_placement_refuses_more_devices_than_the_cuda_machine_has(monkeypatch) -> None:
    """On a one-GPU machine ``--devices 2`` is a one-line ConfigError, not Lightning's
    traceback (seen on an H200 machine); without CUDA a count means CPU processes."""
    from audioae.config import ConfigError, TrainingConfig

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    with pytest.raises(ConfigError, match="2 asked for, but this machine has 1 CUDA device"):
        resolve_placement(TrainingConfig(devices="2"))
    one = resolve_placement(TrainingConfig(devices="1"))
    assert (one.accelerator, one.devices, one.strategy) == ("auto", 1, "auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    two = resolve_placement(TrainingConfig(devices="2"))
    assert (two.accelerator, two.devices, two.strategy) == ("cpu", 2, "ddp")


@requires_cuda
def test_trains_on_cuda_with_mixed_precision(notes: Path, tmp_path: Path) -> None:
    result = train(_tiny(*FAST), notes, out_dir=tmp_path / "cuda", progress=False)
    assert (
        result.steps == 4
        and result.best_val_loss is not None
        and math.isfinite(result.best_val_loss)
    )
    loaded = load_model_file(result.model_file, device="cuda")
    features = torch.randn(2, loaded.model.n_bins, 20, device="cuda")
    assert loaded.model(features).reconstruction.device.type == "cuda"
