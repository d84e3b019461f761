"""Training on audio folders with PyTorch Lightning.

:class:`AutoEncoderModule` wraps a front-end and an autoencoder (the model knows nothing of
Lightning): it computes features batched on the device, the loss of
:func:`audioae.losses.compute_loss`, logs every term, and on the first validation batch
logs reconstructed audio (Griffin-Lim) and spectrogram images to TensorBoard.

:func:`train` runs named steps: :func:`with_overrides`, :func:`resolve_placement`,
:func:`audioae.data.build_datasets`, :func:`build_trainer`,
:func:`audioae.runfolder.prepare_run_folder` (``--out`` and resume checks, ``config.yaml``)
under the run folder's lock (:class:`audioae.runlock.RunLock`), :func:`build_module` (the
module of ``task``: this one, or for ``task: vocoder``
:class:`audioae.vocoder_training.VocoderModule`), :func:`build_data_loaders`,
:func:`fit` and :func:`export_result` (the best checkpoint to ``model.safetensors``: a model file, or a stand-alone decoder file
for a vocoder run). The
run folder's layout is in :mod:`audioae.runfolder`.

Checkpoints are written atomically and read back (Lightning's resume included) with
``weights_only=True`` only (:class:`audioae.checkpoint_io.SafeCheckpointIO`). The console
shows one progress bar over ``training.max_steps`` and none of Lightning's info lines unless
``verbose``; Ctrl-C saves ``last.ckpt`` and :func:`train` raises
:class:`~audioae.train_console.TrainingInterrupted` (:mod:`audioae.train_console`).

Precision ``auto``: ``bf16-mixed`` on CUDA when supported, else ``16-mixed``; ``32-true`` on
the CPU. More than one device (or node) uses DDP with Lightning's own launcher (NCCL on GPUs,
gloo on CPUs). A NaN/Inf loss raises :class:`TrainingDivergedError` before the optimiser
step and before any checkpoint of that step, so ``last.ckpt`` stays the last good state.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.seed import pl_worker_init_function
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader

from .checkpoint_io import SafeCheckpointIO
from .config import Config, ConfigError, TrainingConfig, config_from_dict
from .data import Datasets, EpochSampler, GroupedBatches, build_datasets, shutdown_workers
from .features import build_frontend
from .functional import apply_complex_mask
from .init_weights import load_model_weights
from .inpaint import mask_groups, random_groups, silence_features
from .launch import local_ranks, main_rank_ready, wait_for_main_rank
from .losses import compute_loss, kl_per_dimension
from .models import build_model
from .optim import TrainingDivergedError, configure_adamw
from .phase import PhaseReconstructor
from .runfolder import (
    BEST_CHECKPOINT_FILENAME,
    CSV_DIR,
    TENSORBOARD_DIR,
    RunFolder,
    check_not_foreign,
    checkpoint_hyperparameters,
    checkpoint_step,
    export_run,
    module_config,
    prepare_run_folder,
)
from .runlock import RunLock
from .train_console import InterruptHandler, StepProgressBar, TrainingInterrupted, quiet_lightning
from .vocoder_training import VocoderModule

log = logging.getLogger(__name__)


class AutoEncoderModule(L.LightningModule):
    """Lightning wrapper around a front-end and an :class:`~audioae.models.AutoEncoder`.

    Batches are waveforms ``(batch, time)`` or, for denoising, pairs ``(noisy, clean)`` of
    that shape; features ``(batch, n_bins, frames)`` are computed on the module's device in
    float32 without gradients; the model sees the (noisy) features and the loss compares
    its output with the (clean) features.

    Args:
        config: a :class:`~audioae.config.Config` or its dict form (as stored in checkpoints).
    """

    def __init__(self, config: Config | dict[str, Any]) -> None:
        super().__init__()
        cfg = module_config(config)
        self.save_hyperparameters(checkpoint_hyperparameters(cfg))
        self.cfg = cfg
        self.frontend = build_frontend(cfg.features, cfg.audio.sample_rate)
        # the attribute name is part of the checkpoint layout (runfolder.MODEL_PREFIX)
        self.model = build_model(cfg.model, self.frontend)  # the model holds the same front-end
        freeze_all_but(self.model, cfg.training.trainable)
        # what band inpainting fills masked bins with (audioae.inpaint), made once
        fill = silence_features(self.frontend) if cfg.model.inpaint_groups else None
        self.register_buffer("inpaint_fill", fill, persistent=False)
        self.phase = PhaseReconstructor(self.frontend, cfg.phase)

    def on_fit_start(self) -> None:
        """Start from ``training.init_from``'s weights on a fresh run (not on resume)."""
        if self.cfg.training.init_from and self.trainer.ckpt_path is None:
            load_model_weights(self.model, self.cfg.training.init_from, self.cfg)

    def forward(self, features: torch.Tensor):
        """Model forward on features ``(batch, n_bins, frames)``; returns ``AEOutput``."""
        return self.model(features)

    def features(self, wav: torch.Tensor) -> torch.Tensor:
        """Features ``(batch, n_bins, frames)`` of waveforms ``(batch, time)``, float32, no gradient."""
        with torch.no_grad(), torch.autocast(self.device.type, enabled=False):
            return self.frontend(wav.float())

    def _masked_waveform(
        self, noisy: torch.Tensor, mask: torch.Tensor, spec: torch.Tensor | None = None
    ) -> torch.Tensor:
        """What denoising outputs ``(batch, time)``: ``ISTFT(mask * |STFT(noisy)|, noisy
        phase)`` (the kept-phase method of :mod:`audioae.phase`) for a magnitude mask,
        ``ISTFT(mask * STFT(noisy))`` for a complex one; ``spec``: ``STFT(noisy)`` when the
        caller has it."""
        with torch.autocast(self.device.type, enabled=False):
            if spec is None:
                spec = self.frontend.stft(noisy.float())
            if mask.is_complex():
                est = apply_complex_mask(spec, mask)
                return self.frontend.istft(est, noisy.shape[-1])
            return self.phase.from_magnitude(
                mask.float() * spec.abs(), noisy.shape[-1], spec, method="kept-phase"
            )

    def _split(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(batch, (list, tuple)):
            return batch[0], batch[1]
        return batch, batch

    def _step(self, batch, inpaint: bool = False):
        """One forward pass and its loss: ``(inputs, target, output, LossResult)``.
        ``inpaint``: mask one random group of bins per example at the input (training of a
        ``model.inpaint_groups`` model; :mod:`audioae.inpaint`); the target stays whole."""
        noisy, clean = self._split(batch)
        inputs, target, noisy_spec, clean_spec = self._prepare(noisy, clean)
        groups = self.cfg.model.inpaint_groups
        if inpaint and groups:
            which = random_groups(inputs.shape[0], groups, inputs.device)
            inputs = mask_groups(inputs, which, groups, self.inpaint_fill, check_values=False)
        if self.model.deep_filter:
            output = self.model(inputs, spec=noisy_spec)
        else:
            output = self.model(inputs)
        waveforms, spectra = self._waveform_terms(output, noisy, clean, noisy_spec, clean_spec)
        noise_residual = None
        if self.cfg.loss.residual_noise_weight > 0 and noisy_spec is not None:
            noise_residual = self._noise_residual(output.mask, noisy_spec, clean_spec)
        result = compute_loss(
            output,
            target,
            self.cfg.loss,
            step=int(self.global_step),
            to_magnitude=self.frontend.to_magnitude,
            bin_magnitude=self.frontend.bin_magnitude,
            waveforms=waveforms,
            spectra=spectra,
            noise_residual=noise_residual,
        )
        return inputs, target, output, result

    def _complex_loss(self) -> bool:
        """Whether the reconstruction loss compares complex spectra (compressed complex MSE)."""
        return self.cfg.loss.reconstruction == "compressed_complex_mse"

    def _needs_waveforms(self) -> bool:
        """Whether the loss compares waveforms or complex spectra (SI-SDR, SNR, complex MSE)."""
        loss = self.cfg.loss
        return loss.si_sdr_weight > 0 or loss.snr_weight > 0 or self._complex_loss()

    def _prepare(self, noisy: torch.Tensor, clean: torch.Tensor):
        """Model inputs and target features ``(batch, n_bins, frames)`` of the noisy and
        clean waveforms ``(batch, time)``, and their STFTs ``(batch, n_freq, frames)``
        (``None`` unless a waveform loss, deep filtering or the residual-noise term needs
        them): ``(inputs, target, noisy_spec, clean_spec)``. Each STFT is taken once."""
        needs_spec = (
            self._needs_waveforms()
            or self.model.deep_filter
            or self.cfg.loss.residual_noise_weight > 0
        )
        if noisy is clean or not needs_spec:
            target = self.features(clean)
            inputs = target if noisy is clean else self.features(noisy)
            return inputs, target, None, None
        with torch.no_grad(), torch.autocast(self.device.type, enabled=False):
            clean_spec = self.frontend.stft(clean.float())
            noisy_spec = self.frontend.stft(noisy.float())
            target = self.frontend.from_magnitude(clean_spec.abs()).contiguous()
            inputs = self.frontend.from_magnitude(noisy_spec.abs()).contiguous()
        return inputs, target, noisy_spec, clean_spec

    def _waveform_terms(self, output, noisy, clean, noisy_spec, clean_spec):
        """``(waveforms, spectra)`` for :func:`audioae.losses.compute_loss`: the denoised and
        clean waveforms ``(batch, time)`` when a waveform loss is on (the deep filter's
        spectrum or the mask applied to the noisy STFT, inverted), and their STFTs when the
        complex loss is on; ``None`` for what is not needed."""
        if not self._needs_waveforms():
            return None, None
        with torch.autocast(self.device.type, enabled=False):
            if output.spectrum is not None:  # deep filtering: the filtered STFT
                estimate = self.frontend.istft(output.spectrum, noisy.shape[-1])
            else:
                estimate = self._masked_waveform(noisy, output.mask, noisy_spec)
            waveforms = (estimate, clean.float())
            if not self._complex_loss():
                return waveforms, None
            reference = clean_spec if clean_spec is not None else self.frontend.stft(waveforms[1])
            return waveforms, (self.frontend.stft(estimate), reference)

    @staticmethod
    def _noise_residual(
        mask: torch.Tensor | None, noisy_spec: torch.Tensor, clean_spec: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(|G N|, |S|)`` ``(batch, n_freq, frames)``: the mask applied to the noise STFT
        ``N = STFT(noisy) - STFT(clean)`` (the STFT is linear) and the clean magnitudes, for
        :func:`audioae.losses.residual_noise`."""
        if mask is None:
            raise ValueError("loss.residual_noise_weight > 0 needs a model that predicts a mask")
        noise = noisy_spec - clean_spec
        passed = (mask * noise).abs() if mask.is_complex() else mask.float() * noise.abs()
        return passed, clean_spec.abs()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        _, _, output, result = self._step(batch, inpaint=True)
        loss = result.total
        if not bool(torch.isfinite(loss.detach())):
            raise TrainingDivergedError(
                f"the training loss became {loss.item()} at step {self.global_step}; training stopped and the "
                f"last good checkpoint is kept (resume from it with a lower training.learning_rate, "
                f"a smaller training.gradient_clip or a longer training.warmup_steps)"
            )
        batch_size = output.reconstruction.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size)
        for name, value in result.terms.items():
            if name != "total":
                self.log(f"train/{name}", value.float(), batch_size=batch_size)
        if self.model.is_variational and self.global_step % self.cfg.training.log_every == 0:
            self._log_kl(output.latent)
        return loss

    def _tensorboard(self):
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                return logger.experiment
        return None

    def _log_kl(self, latent) -> None:
        """KL per latent dimension (nats per latent frame) as a histogram and its mean."""
        if latent.logvar is None:
            return
        per_dim = kl_per_dimension(
            latent.mean.detach().float(), latent.logvar.detach().float()
        )  # (latent_dim,)
        self.log("train/kl_per_dim_mean", per_dim.mean(), batch_size=latent.mean.shape[0])
        tb = self._tensorboard()
        if tb is not None and self.trainer.is_global_zero:
            tb.add_histogram("train/kl_per_dimension", per_dim.cpu(), self.global_step)

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
        inputs, target, output, result = self._step(batch)
        batch_size = inputs.shape[0]
        self.log("val/loss", result.total, prog_bar=True, sync_dist=True, batch_size=batch_size)
        for name, value in result.terms.items():
            if name != "total":
                self.log(f"val/{name}", value.float(), sync_dist=True, batch_size=batch_size)
        if batch_idx == 0 and not self.trainer.sanity_checking and self.trainer.is_global_zero:
            self._log_examples(batch, output.reconstruction, output.mask, output.spectrum)
        return result.total

    @torch.no_grad()
    def _log_examples(
        self,
        batch,
        reconstruction: torch.Tensor,
        mask: torch.Tensor | None = None,
        spectrum: torch.Tensor | None = None,
    ) -> None:
        """Audio and spectrogram images of the first examples of a validation batch.

        Waveforms come from Griffin-Lim (``phase`` config), or for mask models from the
        inverse STFT with the noisy input's phase (a complex mask's: the masked STFT's phase;
        a deep filter's: the filtered STFT's, ``spectrum``).
        """
        count = min(self.cfg.training.audio_examples, reconstruction.shape[0])
        tb = self._tensorboard()
        if count == 0 or tb is None:
            return
        from .plots import figure_to_array, spectrogram_grid

        noisy, clean = self._split(batch)
        length = clean.shape[-1]
        reference = None
        if spectrum is not None:  # a deep filter's output STFT, its phase included
            reference = spectrum[:count].detach()
        elif self.model.predicts_mask:  # a mask model keeps the noisy phase (as denoising does)
            reference = self.frontend.stft(noisy[:count].float())
            if mask is not None and mask.is_complex():
                reference = apply_complex_mask(reference, mask[:count])
        with torch.autocast(self.device.type, enabled=False):
            recon = self.phase(
                reconstruction[:count].float(), length=length, reference_stft=reference
            )
        sr = self.cfg.audio.sample_rate
        step = self.global_step
        for i in range(count):
            wavs = {"input": noisy[i]} if noisy is clean else {"noisy": noisy[i], "clean": clean[i]}
            wavs["reconstruction"] = recon[i].reshape(-1)
            for name, wav in wavs.items():
                peak = wav.abs().max().clamp_min(1.0)  # TensorBoard wants [-1, 1]
                tb.add_audio(
                    f"val/example{i}/{name}", (wav / peak).float().cpu(), step, sample_rate=sr
                )
            figure = spectrogram_grid(
                [w.float().cpu() for w in wavs.values()], sr, titles=list(wavs), columns=len(wavs)
            )
            tb.add_image(
                f"val/example{i}/spectrogram", figure_to_array(figure), step, dataformats="HWC"
            )

    def configure_optimizers(self):
        trained = [p for p in self.model.parameters() if p.requires_grad]
        return configure_adamw(trained, self.cfg.training)


def freeze_all_but(model: torch.nn.Module, trainable: list[str]) -> None:
    """Freeze every parameter of ``model`` outside its top-level children named in
    ``trainable`` (``training.trainable``; empty: nothing is frozen).

    Raises:
        ConfigError: a name that is not a child of ``model`` with parameters.
    """
    if not trainable:
        return
    parts = {
        name for name, child in model.named_children() if next(child.parameters(), None) is not None
    }
    unknown = [name for name in trainable if name not in parts]
    if unknown:
        raise ConfigError(
            f"training.trainable: {unknown} are not parts of this model with weights; "
            f"choose from {sorted(parts)}"
        )
    for name, param in model.named_parameters():
        param.requires_grad_(name.split(".", 1)[0] in trainable)


def build_module(cfg: Config) -> L.LightningModule:
    """The Lightning module of ``cfg.task``: :class:`AutoEncoderModule` (``autoencoder``) or
    :class:`audioae.vocoder_training.VocoderModule` (``vocoder``)."""
    if cfg.task == "vocoder":
        return VocoderModule(cfg)
    return AutoEncoderModule(cfg)


class _FinalCheckpoint(Callback):
    """Write ``last.ckpt`` when training ends normally, whatever the step (not on an exception)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)


class _StopAt(Callback):
    """End training once ``trainer.global_step`` reaches ``step`` (an optimiser step count),
    leaving the schedule (``training.max_steps``) as it is, so that a resumed run continues
    exactly where an uninterrupted one would be."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run folder.
        model_file: the exported ``model.safetensors`` (None on non-zero DDP ranks).
        steps: optimiser steps done in total (including those before a resume).
        best_val_loss: lowest validation loss seen, or None when no validation ran.
    """

    run_dir: Path
    model_file: Path | None
    steps: int
    best_val_loss: float | None


def resolve_precision(precision: str, accelerator: str) -> str:
    """Map ``training.precision`` to a Lightning precision string.

    ``auto``: ``bf16-mixed`` on CUDA with bf16 support, ``16-mixed`` on other CUDA devices,
    ``32-true`` otherwise. Any other value is passed through.
    """
    if precision != "auto":
        return precision
    if accelerator in ("cuda", "gpu") or (accelerator == "auto" and torch.cuda.is_available()):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def _devices(value: str | int | None) -> int | str:
    if value is None or value == "auto":
        return "auto"
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"training.devices: 'auto' or a positive count, got {value!r}") from None
    if count <= 0:
        raise ConfigError(f"training.devices: must be > 0, got {count}")
    return count


@dataclass(frozen=True)
class Placement:
    """Where a run trains, as Lightning's ``Trainer`` arguments.

    Attributes:
        accelerator: ``"cpu"`` without CUDA, else ``"auto"``.
        devices: a device count or ``"auto"``.
        num_nodes: machines.
        strategy: ``"ddp"`` for more than one process, else ``"auto"``.
        precision: a Lightning precision string (see :func:`resolve_precision`).
        world_size: processes in total (``"auto"`` devices count as one).
        pin_memory: pin the loaders' batches (on CUDA machines).
    """

    accelerator: str
    devices: int | str
    num_nodes: int
    strategy: str
    precision: str
    world_size: int
    pin_memory: bool


def resolve_placement(training_cfg: TrainingConfig) -> Placement:
    """The :class:`Placement` of the ``training`` section on this machine.

    Raises:
        ConfigError: ``training.devices`` is neither ``auto`` nor a positive count, or on a
            CUDA machine a count above its visible CUDA devices (Lightning's own error for that
            is a traceback).
    """
    t = training_cfg
    n_devices = _devices(t.devices)
    cpu_only = not torch.cuda.is_available()
    visible = 0 if cpu_only else torch.cuda.device_count()
    if not cpu_only and isinstance(n_devices, int) and n_devices > visible:
        raise ConfigError(
            f"training.devices: {n_devices} asked for, but this machine has {visible} CUDA "
            f"device(s); use --devices {visible} or auto, or CUDA_VISIBLE_DEVICES= to train "
            "CPU processes"
        )
    world = (n_devices if isinstance(n_devices, int) else 1) * t.num_nodes
    accelerator = "cpu" if cpu_only else "auto"
    return Placement(
        accelerator=accelerator,
        devices=n_devices,
        num_nodes=t.num_nodes,
        strategy="ddp" if world > 1 else "auto",
        precision=resolve_precision(t.precision, accelerator),
        world_size=world,
        pin_memory=not cpu_only,
    )


def with_overrides(
    cfg: Config,
    *,
    devices: int | str | None = None,
    num_nodes: int | None = None,
    max_steps: int | None = None,
) -> Config:
    """A copy of ``cfg`` with the given ``training`` values replaced (None keeps the config's).

    Raises:
        ConfigError: a replaced value is invalid.
    """
    overrides: dict[str, Any] = {}
    if max_steps is not None:
        overrides["max_steps"] = int(max_steps)
    if devices is not None:
        overrides["devices"] = str(devices)
    if num_nodes is not None:
        overrides["num_nodes"] = int(num_nodes)
    data = cfg.to_dict()
    data["training"].update(overrides)
    return config_from_dict(data, source="train()")


def _init_worker(worker_id: int) -> None:
    """Per DataLoader worker: Lightning's seeding, and batches shared by shared-memory name.

    ``file_system`` sharing hands each batch to the training process by the name of its
    shared-memory segment instead of passing a file descriptor over a socket, which costs
    about half a millisecond less per batch (``benchmarks/bench_data.py``: data wait); the
    segments are removed by ``torch_shm_manager`` even when a process is killed. Only the
    workers switch: the training process's own setting is left as it is.
    """
    torch.multiprocessing.set_sharing_strategy("file_system")
    pl_worker_init_function(worker_id)


GROUP_BATCHES = 4
"""Training batches each DataLoader worker builds and hands over at once (see
:class:`audioae.data.GroupedBatches`)."""


def _ddp_world() -> int:
    """Processes of this run as far as known before ``fit`` (``WORLD_SIZE``; 1 if unset)."""
    try:
        return max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    except ValueError:
        return 1


def _worker_context() -> multiprocessing.context.BaseContext | None:
    """``forkserver`` (with the trainer preloaded) for the DataLoader workers of a DDP rank.

    A DataLoader forks its workers from the training process. Under DDP that process runs
    other threads by then (queue feeders, tqdm's monitor, Lightning's and the process
    group's), and CPython 3.11 can deadlock a child forked while another thread creates or
    ends its thread state: seen here once, a rank whose worker never started, so both ranks
    waited for ever. The fork server is a single-threaded process that imported the trainer
    once (started early by :func:`start_worker_server`), so workers still start in
    milliseconds. Single-process runs keep the plain fork (the server costs about 4 s of
    imports on 2 cores); macOS and Windows keep their default (spawn).
    """
    if _ddp_world() <= 1 or "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["audioae.training"])
    return ctx


def start_worker_server(cfg: Config) -> None:
    """Start the fork server of :func:`_worker_context` now, so its imports overlap the set-up."""
    ctx = _worker_context()
    if ctx is not None and cfg.data.workers > 0:
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _loader(
    dataset,
    cfg: Config,
    sampler: EpochSampler,
    *,
    drop_last: bool,
    pin: bool,
    workers: int,
    group: int = 1,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=cfg.data.batch_size * group,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        pin_memory=pin,
        persistent_workers=workers > 0,
        prefetch_factor=2 if workers > 0 else None,
        worker_init_fn=_init_worker if workers > 0 else None,
        multiprocessing_context=_worker_context() if workers > 0 else None,
    )


def build_data_loaders(
    cfg: Config, datasets: Datasets, *, pin_memory: bool, resume_step: int | None = None
) -> tuple[DataLoader | GroupedBatches, DataLoader | None]:
    """``(train, val)`` loaders reading crops in ``data.num_workers`` worker processes.

    Training indices carry the epoch (:class:`EpochSampler`) and are sharded over DDP
    processes; the training loader is one pass of ``training.max_steps`` batches (Lightning
    sees one long epoch); validation's fixed segments are sharded too (each process evaluates its
    share; the logged loss is averaged over processes). ``resume_step``: the optimiser step
    of the checkpoint a resumed run continues from, so that its batches are exactly those an
    uninterrupted run would have seen. The validation loader is None without a validation
    split; it uses at most one worker (a few batches per validation). With workers, each
    hands over :data:`GROUP_BATCHES` training batches at once (:class:`GroupedBatches`: the
    same batches, a quarter of the hand-over cost per step).
    """
    workers = cfg.data.workers
    sampler = EpochSampler(
        len(datasets.train),
        batch_size=cfg.data.batch_size,
        max_steps=cfg.training.max_steps,
        start_step=resume_step or 0,
    )
    train_loader: DataLoader | GroupedBatches
    if workers > 0:  # each worker hands over GROUP_BATCHES batches at once
        grouped = _loader(
            datasets.train,
            cfg,
            sampler,
            drop_last=False,
            pin=pin_memory,
            workers=workers,
            group=GROUP_BATCHES,
        )
        train_loader = GroupedBatches(grouped, cfg.data.batch_size)
    else:
        train_loader = _loader(
            datasets.train, cfg, sampler, drop_last=True, pin=pin_memory, workers=0
        )
    val_loader = None
    if datasets.val is not None:
        val_loader = _loader(
            datasets.val,
            cfg,
            EpochSampler(len(datasets.val), fixed=True),
            drop_last=False,
            pin=pin_memory,
            workers=min(workers, 1),
        )
    return train_loader, val_loader


def build_trainer(
    cfg: Config,
    run: RunFolder,
    placement: Placement,
    *,
    has_val: bool,
    progress: bool,
    verbose: bool = False,
    stop_at: int | None = None,
) -> tuple[L.Trainer, ModelCheckpoint | None, InterruptHandler]:
    """The Lightning ``Trainer`` writing into ``run``, its best-checkpoint callback and its
    Ctrl-C handler.

    Callbacks: ``last.ckpt`` every ``training.checkpoint_every`` steps and at the end, the
    learning rate, Ctrl-C (:class:`~audioae.train_console.InterruptHandler`), with
    ``progress`` one bar over ``max_steps``, and with a validation split (``has_val``) the
    best checkpoint by ``val/loss`` (validation every ``training.val_every`` steps); loggers:
    TensorBoard and CSV; checkpoint files through
    :class:`~audioae.checkpoint_io.SafeCheckpointIO`. ``verbose`` adds Lightning's model
    summary. The best-checkpoint callback is None without a validation split. ``stop_at``
    ends training at that step with the schedule unchanged (:class:`_StopAt`).
    """
    t = cfg.training
    last_cb = ModelCheckpoint(
        dirpath=run.checkpoint_dir,
        save_top_k=0,
        save_last=True,
        every_n_train_steps=t.checkpoint_every,
        enable_version_counter=False,
    )
    interrupt = InterruptHandler(run.last_checkpoint)
    callbacks: list[Callback] = [
        interrupt,
        last_cb,
        _FinalCheckpoint(run.last_checkpoint),
        LearningRateMonitor(logging_interval="step"),
    ]
    if progress:
        callbacks.append(StepProgressBar())
    if stop_at is not None:
        callbacks.append(_StopAt(stop_at))
    best_cb = None
    if has_val:
        best_cb = ModelCheckpoint(
            dirpath=run.checkpoint_dir,
            filename=BEST_CHECKPOINT_FILENAME,
            auto_insert_metric_name=False,
            monitor="val/loss",
            mode="min",
            save_top_k=1,
        )
        callbacks.append(best_cb)
    loggers = [
        TensorBoardLogger(
            save_dir=str(run.root), name=TENSORBOARD_DIR, version="", default_hp_metric=False
        ),
        CSVLogger(save_dir=str(run.root), name=CSV_DIR),
    ]
    trainer = L.Trainer(
        default_root_dir=str(run.root),
        accelerator=placement.accelerator,
        devices=placement.devices,
        num_nodes=placement.num_nodes,
        strategy=placement.strategy,
        precision=placement.precision,
        max_steps=t.max_steps,
        max_epochs=-1,
        val_check_interval=min(t.val_every, t.max_steps) if has_val else None,
        check_val_every_n_epoch=None if has_val else 1,
        limit_val_batches=None if has_val else 0,
        num_sanity_val_steps=1 if has_val else 0,
        log_every_n_steps=t.log_every,
        gradient_clip_val=t.gradient_clip or None,
        callbacks=callbacks,
        logger=loggers,
        enable_progress_bar=progress,
        enable_model_summary=verbose,
        use_distributed_sampler=False,
        plugins=[SafeCheckpointIO()],
    )
    return trainer, best_cb, interrupt


def fit(
    trainer: L.Trainer,
    module: L.LightningModule,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    ckpt_path: Path | None,
    interrupt: InterruptHandler | None = None,
) -> None:
    """``trainer.fit``, resuming from ``ckpt_path`` (loaded with ``weights_only=True``) when
    given, without the warnings that do not apply to these runs.

    Raises:
        TrainingInterrupted: Ctrl-C (``interrupt`` given); ``last.ckpt`` holds the step reached.
        audioae.modelfile.ModelFileError: ``ckpt_path`` needs pickle or cannot be read.
    """
    sigint = interrupt.catch_sigint() if interrupt is not None else contextlib.nullcontext()
    with warnings.catch_warnings(), sigint:
        # A resumed run's sampler starts after the batches already trained on
        # (build_data_loaders(resume_step=)), so Lightning's warning about non-resumable
        # loaders does not apply here.
        warnings.filterwarnings(
            "ignore", message=".*resuming from a checkpoint that ended before the epoch ended"
        )
        warnings.filterwarnings(
            "ignore", message=".*Checkpoint directory .* exists and is not empty"
        )
        warnings.filterwarnings(  # no validation split (data.val_fraction=0): expected
            "ignore", message=".*`validation_step` but have no `val_dataloader`"
        )
        try:
            trainer.fit(
                module,
                train_dataloaders=train_loader,
                val_dataloaders=val_loader,
                ckpt_path=None if ckpt_path is None else str(ckpt_path),
                weights_only=True,
            )
        except SystemExit:  # Lightning exits 1 after its own KeyboardInterrupt handling
            if interrupt is None or not interrupt.interrupted:
                raise
    if interrupt is not None and interrupt.interrupted:
        last = interrupt.last_checkpoint
        step = interrupt.saved_step
        if step is None:  # not saved on the interrupt: the newest periodic checkpoint
            step = checkpoint_step(last) if last.is_file() else 0
        raise TrainingInterrupted(last.parent.parent, int(step or 0), last)


def export_result(
    trainer: L.Trainer, run: RunFolder, best_cb: ModelCheckpoint | None
) -> TrainResult:
    """Export the run's best checkpoint to ``model.safetensors`` (on the main process) and
    summarise the run as a :class:`TrainResult`."""
    best = None
    if best_cb is not None and best_cb.best_model_score is not None:
        best = float(best_cb.best_model_score)
    model_file = None
    if trainer.is_global_zero:
        model_file = export_run(run.root, checkpoint="best", overwrite=True)
    return TrainResult(
        run_dir=run.root, model_file=model_file, steps=int(trainer.global_step), best_val_loss=best
    )


def train(
    cfg: Config,
    data_dir: str | os.PathLike,
    *,
    noise_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike,
    resume: bool = False,
    devices: int | str | None = None,
    num_nodes: int | None = None,
    max_steps: int | None = None,
    stop_at: int | None = None,
    progress: bool = True,
    verbose: bool = False,
) -> TrainResult:
    """Train an autoencoder on a folder of audio and export its model file.

    Args:
        cfg: the run's config (``load_config(recipe, overrides)``); not modified.
        data_dir: folder of training audio (searched recursively).
        noise_dir: folder of noise for denoising (else synthetic noise when ``data.denoise``).
        out_dir: the run folder (created; layout in :mod:`audioae.runfolder`).
        resume: continue from ``out_dir/checkpoints/last.ckpt`` (same step, optimiser and
            scheduler state); the model and front-end config must match the run's.
        devices: overrides ``training.devices`` (a count or ``"auto"``).
        num_nodes: overrides ``training.num_nodes``.
        max_steps: overrides ``training.max_steps`` (e.g. to extend a resumed run).
        stop_at: end at this step (>= 1), with the learning-rate schedule still that of
            ``training.max_steps``; ``last.ckpt`` and the model file are written there, and
            ``resume`` later goes on as an uninterrupted run would (e.g. to change the data
            part-way through, as the shipped denoisers' noise balance did).
        progress: show one progress bar over ``training.max_steps`` (on stderr).
        verbose: keep Lightning's info lines and model summary.

    Returns:
        :class:`TrainResult`.

    Raises:
        audioae.runfolder.RunExistsError: ``out_dir`` holds a run and ``resume`` is false,
            or a run of another recipe.
        audioae.runfolder.NotARunFolderError: ``out_dir`` is a file, or a folder with other
            files in it (nothing is written there).
        audioae.runlock.RunLockedError: another run is training into ``out_dir``.
        ConfigError: nothing to resume from, a resumed run's model config differs, or
            ``stop_at`` is below 1.
        audioae.modelfile.ModelFileError: a checkpoint needs pickle or cannot be read.
        audioae.data.DatasetError: unusable data folder (the message says what to change).
        TrainingDivergedError: the loss became NaN/Inf.
        TrainingInterrupted: Ctrl-C; ``last.ckpt`` holds the step reached (``resume`` goes on).
    """
    cfg = with_overrides(cfg, devices=devices, num_nodes=num_nodes, max_steps=max_steps)
    if stop_at is not None and stop_at < 1:
        raise ConfigError(f"stop_at: must be >= 1, got {stop_at}")
    placement = resolve_placement(cfg.training)
    # The other DDP ranks start now (unless the command line started them already, or a
    # cluster launcher did), so they import and build in parallel with this one.
    with local_ranks(placement.devices, placement.num_nodes):
        return _train(
            cfg, Path(out_dir), data_dir, noise_dir, placement, resume, progress, verbose, stop_at
        )


def _train(
    cfg: Config,
    out_dir: Path,
    data_dir: str | os.PathLike,
    noise_dir: str | os.PathLike | None,
    placement: Placement,
    resume: bool,
    progress: bool,
    verbose: bool,
    stop_at: int | None = None,
) -> TrainResult:
    run = RunFolder(out_dir)
    main_rank = (
        int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0
    )
    start_worker_server(cfg)  # DDP ranks only: a fork server for the DataLoader workers
    # Rank 0 indexes the folders (or reads their cached index) while the other ranks wait;
    # they then read the cache: no rank decodes the corpus again.
    if not main_rank:
        wait_for_main_rank()
    datasets = build_datasets(
        cfg,
        data_dir,
        noise_dir,
        world_size=placement.world_size,
        report=main_rank,
        cache_dir=run.root,
        progress=progress and main_rank,
    )
    if main_rank:
        main_rank_ready()
    with quiet_lightning(verbose):
        trainer, best_cb, interrupt = build_trainer(
            cfg,
            run,
            placement,
            has_val=datasets.val is not None,
            progress=progress,
            verbose=verbose,
            stop_at=stop_at,
        )
    main = trainer.is_global_zero
    if main:  # refuse a foreign --out before the lock file is written into it
        check_not_foreign(run.root)
    with RunLock(run.root) if main else contextlib.nullcontext(), quiet_lightning(verbose):
        L.seed_everything(cfg.training.seed, workers=True, verbose=False)
        ckpt_path = prepare_run_folder(run, cfg, resume=resume, main_process=main)
        module = build_module(cfg)  # after seeding: the initial weights depend on the seed
        if main:
            _log_start(cfg, run, module, placement)
        train_loader, val_loader = build_data_loaders(
            cfg,
            datasets,
            pin_memory=placement.pin_memory,
            resume_step=checkpoint_step(ckpt_path) if ckpt_path is not None else None,
        )
        try:
            fit(trainer, module, train_loader, val_loader, ckpt_path, interrupt)
        finally:  # the workers end with the run, not at a later garbage collection
            shutdown_workers(train_loader)
            shutdown_workers(val_loader)
        return export_result(trainer, run, best_cb)


def _log_start(
    cfg: Config, run: RunFolder, module: AutoEncoderModule, placement: Placement
) -> None:
    """One line instead of Lightning's device lines and model summary."""
    params = sum(p.numel() for p in module.model.parameters())
    device = "cpu" if placement.accelerator == "cpu" else "gpu"
    if placement.world_size > 1:
        device += f" x{placement.world_size}"
    log.info(
        "training %s into %s: %s parameters, %d steps, %s %s",
        cfg.name,
        run.root,
        f"{params / 1e6:.2f} M" if params >= 1e6 else f"{params / 1e3:.1f} k",
        cfg.training.max_steps,
        device,
        placement.precision,
    )
