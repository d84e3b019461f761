"""Training on audio folders with PyTorch Lightning.

:class:`AutoEncoderModule` (:mod:`audioae.autoencoder_module`, re-exported here) wraps a
front-end and an autoencoder for Lightning.

:func:`train` runs named steps: :func:`with_overrides`,
:func:`~audioae.placement.resolve_placement`,
:func:`audioae.data.build_datasets`, :func:`build_trainer`,
:func:`audioae.runfolder.prepare_run_folder` (``--out`` and resume checks, ``config.yaml``)
under the run folder's lock (:class:`audioae.runlock.RunLock`), :func:`build_module` (the
module of ``task``: this one, or for ``task: vocoder``
:class:`audioae.vocoder_training.VocoderModule`), :func:`~audioae.loaders.build_data_loaders`,
:func:`fit` and :func:`export_result` (the best checkpoint to ``model.safetensors``: a model file, or a stand-alone decoder file
for a vocoder run). The
run folder's layout is in :mod:`audioae.runfolder`. Placement (:mod:`audioae.placement`) and
the data loaders (:mod:`audioae.loaders`) are re-exported here.

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
import dataclasses
import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader

from .autoencoder_module import AutoEncoderModule, freeze_all_but
from .checkpoint_io import SafeCheckpointIO
from .config import Config, ConfigError, TrainingConfig, config_from_dict
from .data import build_datasets
from .launch import is_main_rank, local_ranks, main_rank_ready, wait_for_main_rank
from .loaders import (
    GROUP_BATCHES,  # noqa: F401  (re-exported: audioae.training.GROUP_BATCHES)
    _loader,  # noqa: F401  (re-exported for benchmarks/bench_train.py)
    build_data_loaders,
    start_worker_server,
)
from .model_check import check_finite_outputs
from .optim import TrainingDivergedError, apply_training_settings
from .placement import Placement, resolve_placement, resolve_precision
from .run_checkpoints import checkpoint_step
from .run_export import export_run
from .runfolder import (
    BEST_CHECKPOINT_FILENAME,
    CSV_DIR,
    TENSORBOARD_DIR,
    RunFolder,
    check_not_foreign,
    check_out_folder,
    check_resume_compatible,
    prepare_run_folder,
    require_resumable,
    warn_nothing_to_train,
)
from .runlock import RunLock
from .samplers import shutdown_workers
from .train_console import InterruptHandler, StepProgressBar, TrainingInterrupted, quiet_lightning
from .vocoder_training import VocoderModule

log = logging.getLogger(__name__)

__all__ = [
    "AutoEncoderModule",
    "Placement",
    "TrainResult",
    "build_data_loaders",
    "build_module",
    "build_trainer",
    "export_result",
    "fit",
    "freeze_all_but",
    "resolve_placement",
    "resolve_precision",
    "start_worker_server",
    "train",
    "with_overrides",
]


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


class _LogAtGlobalStep(Callback):
    """Log every metric at the optimiser step it belongs to (``trainer.global_step``).

    Lightning labels logged metrics with its own count of stepped batches, which it re-counts
    when it restores a checkpoint; depending on where the checkpoint was written (at a
    validation, at the end of training) a resumed run logged every metric one step late
    (step 3's loss at step 4). audioae steps the optimiser once per batch (no gradient
    accumulation), so the count is the global step, set here before each batch.
    """

    def on_train_batch_start(self, trainer: L.Trainer, *args) -> None:
        loop = trainer.fit_loop.epoch_loop
        if hasattr(loop, "_batches_that_stepped"):
            loop._batches_that_stepped = trainer.global_step


class _TrainingSettings(Callback):
    """Put the config's learning rate and weight decay into the optimiser and schedule a
    resumed run restores from its checkpoint (:func:`audioae.optim.apply_training_settings`),
    for every task's module; on a new run it changes nothing."""

    def __init__(self, training_cfg: TrainingConfig) -> None:
        self.training_cfg = training_cfg

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        apply_training_settings(
            trainer.optimizers,
            [c.scheduler for c in trainer.lr_scheduler_configs],
            self.training_cfg,
        )


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
        best_val_loss: lowest ``val/loss`` seen (for a VAE with the KL weighted by
            ``loss.beta`` at every step), or None when no validation ran.
        already_done: a ``resume`` of a run that had reached ``training.max_steps`` and
            exported its model: nothing was trained and nothing in the run folder rewritten.
        best_step: the step of the best checkpoint, which the model file is exported from
            (None when no validation ran: then the last step's weights).
        exported_only: a ``resume`` of a run already at ``training.max_steps`` that lacked
            its model file (killed before the export): nothing was trained, the file written.
    """

    run_dir: Path
    model_file: Path | None
    steps: int
    best_val_loss: float | None
    already_done: bool = False
    best_step: int | None = None
    exported_only: bool = False


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
    best checkpoint by ``val/loss`` (validation every ``training.val_every`` steps; for a
    Gaussian bottleneck its KL is weighted by the fixed ``loss.beta``, not the annealed
    weight, see :meth:`AutoEncoderModule.validation_step`); loggers:
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
        _LogAtGlobalStep(),
        _TrainingSettings(t),
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
    """Export the run's best checkpoint to ``model.safetensors`` (on the main process), check
    that it rebuilds finite magnitudes (:func:`audioae.model_check.check_finite_outputs`) and
    summarise the run as a :class:`TrainResult`.

    Raises:
        TrainingDivergedError: the exported model's output overflows (the file is removed).
    """
    best = best_step = None
    if best_cb is not None and best_cb.best_model_score is not None:
        best = float(best_cb.best_model_score)
        found = re.search(r"best-step(\d+)", Path(best_cb.best_model_path).name)
        best_step = int(found.group(1)) if found else None
    model_file = None
    if trainer.is_global_zero:
        model_file = export_run(run.root, checkpoint="best", overwrite=True)
        try:
            check_finite_outputs(model_file)
        except TrainingDivergedError as exc:
            model_file.unlink()  # no model file that makes only NaN for a script to pick up
            loss = "" if best is None else f" (best validation loss {best:.3g})"
            raise TrainingDivergedError(
                f"{run.root}: {exc}{loss}; no model file was written, the checkpoints are in "
                f"{run.checkpoint_dir}; train again with a lower training.learning_rate, a "
                "smaller training.gradient_clip or a longer training.warmup_steps"
            ) from None
    return TrainResult(
        run_dir=run.root,
        model_file=model_file,
        steps=int(trainer.global_step),
        best_val_loss=best,
        best_step=best_step,
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

    The run seeds Python's, NumPy's and torch's global random generators with
    ``training.seed`` (Lightning's ``seed_everything``, as a training script does), so a
    caller's own draws after ``train`` returns follow that seed, not the caller's earlier
    state; reseed afterwards if that matters.

    From a script, call it under ``if __name__ == "__main__":``: indexing a folder with 16 or
    more new files starts worker processes that import the script again (the ``spawn``
    start method). Called from a script's top level without the guard, the folder is
    indexed in the calling process instead, with a warning (slower).

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
        ConfigError: nothing to resume from, a resumed run's model config differs,
            ``stop_at`` is below 1, or ``noise_dir`` is given to a config without
            ``data.denoise``.
        audioae.modelfile.ModelFileError: a checkpoint needs pickle or cannot be read.
        audioae.data.DatasetError: unusable data folder (the message says what to change).
        TrainingDivergedError: the loss became NaN/Inf.
        TrainingInterrupted: Ctrl-C; ``last.ckpt`` holds the step reached (``resume`` goes on).
    """
    cfg = with_overrides(cfg, devices=devices, num_nodes=num_nodes, max_steps=max_steps)
    if stop_at is not None and stop_at < 1:
        raise ConfigError(f"stop_at: must be >= 1, got {stop_at}")
    if noise_dir is not None and not cfg.data.denoise:
        raise ConfigError(
            f"--noise {noise_dir}: recipe {cfg.name!r} does not denoise (data.denoise: "
            "false); drop --noise, or add --set data.denoise=true to train it as a "
            "denoising autoencoder (noisy inputs, clean targets)"
        )
    placement = resolve_placement(cfg.training)
    # The other DDP ranks start now (unless the command line started them already, or a
    # cluster launcher did), so they import and build in parallel with this one.
    with local_ranks(placement.devices, placement.num_nodes):
        return _train(
            cfg,
            Path(out_dir),
            data_dir,
            noise_dir,
            placement,
            resume,
            progress,
            verbose,
            stop_at,
            chosen=("training.max_steps",) if max_steps is not None else (),
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
    chosen: tuple[str, ...] = (),
) -> TrainResult:
    run = RunFolder(out_dir)
    main_rank = is_main_rank()
    done = _finished_run(run, cfg, report=main_rank) if resume else None
    if done is not None:
        return TrainResult(run.root, run.model_file if main_rank else None, done, None, True)
    if main_rank:  # before indexing the data, which can take minutes: checked again when
        check_out_folder(run, cfg, resume=resume)  # the run folder is prepared, under its lock
        if resume:
            require_resumable(run)
    start_worker_server(cfg)  # DDP ranks only: a fork server for the DataLoader workers
    # Rank 0 indexes the folders (or reads their cached index) while the other ranks wait;
    # they then read the cache: no rank decodes the corpus again.
    if not main_rank:
        wait_for_main_rank()
    val_paths = run.recorded_val_paths(cfg.data.val_fraction, report=main_rank) if resume else None
    datasets = build_datasets(
        cfg,
        data_dir,
        noise_dir,
        world_size=placement.world_size,
        report=main_rank,
        cache_dir=run.root,
        progress=progress and main_rank,
        val_paths=val_paths,
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
        sources = {
            "data": str(Path(data_dir).resolve()),
            "noise": None if noise_dir is None else str(Path(noise_dir).resolve()),
        }
        split = (cfg.data.val_fraction, datasets.val_paths)
        ckpt_path = prepare_run_folder(
            run, cfg, resume=resume, main_process=main, sources=sources, split=split, chosen=chosen
        )
        module = build_module(cfg)  # after seeding: the initial weights depend on the seed
        resume_step = checkpoint_step(ckpt_path) if ckpt_path is not None else None
        exported_only = resume_step is not None and resume_step >= cfg.training.max_steps
        if main and not exported_only:  # (else prepare_run_folder said it only exports)
            _log_start(cfg, run, module, placement)
            _log_sources(cfg, noise_dir, resuming=ckpt_path is not None)
        train_loader, val_loader = build_data_loaders(
            cfg, datasets, pin_memory=placement.pin_memory, resume_step=resume_step
        )
        try:
            fit(trainer, module, train_loader, val_loader, ckpt_path, interrupt)
        finally:  # the workers end with the run, not at a later garbage collection
            shutdown_workers(train_loader)
            shutdown_workers(val_loader)
        result = export_result(trainer, run, best_cb)
        return dataclasses.replace(result, exported_only=exported_only)


def _finished_run(run: RunFolder, cfg: Config, *, report: bool) -> int | None:
    """The step of a run that ``--resume`` has nothing to add to (its ``last.ckpt`` at or past
    ``training.max_steps`` and its model exported), else None; with ``report``, a warning
    giving the step and the way on. The recipe must still match the run's.

    Raises:
        ConfigError: the run's model or front-end config differs from ``cfg``'s.
    """
    if not (run.has_run() and run.model_file.is_file()):
        return None
    check_resume_compatible(run.config_file, cfg)
    step = checkpoint_step(run.last_checkpoint)
    if step is None or step < cfg.training.max_steps:
        return None
    if report:
        warn_nothing_to_train(run.root, step, cfg.training.max_steps, exporting=False)
    return step


def _log_sources(cfg: Config, noise_dir: str | os.PathLike | None, resuming: bool) -> None:
    """Say where the denoising noise and the starting weights come from, so a run that
    falls back to synthetic noise, or starts from ``training.init_from``, says so."""
    if cfg.data.denoise:
        colours = ", ".join(cfg.data.noise_colors)
        babble = cfg.data.babble_fraction
        if noise_dir is None:
            log.info(
                "denoising mixtures use synthetic noise (%s)%s, no noise recordings: give "
                "--noise DIR to train on the noise your recordings have",
                colours,
                f" and, in {100 * babble:.0f} %, babble made from the clean folder"
                if babble > 0
                else "",
            )
        else:
            shares = [
                f"{100 * share:.0f} % {what}"
                for share, what in (
                    (cfg.data.synthetic_noise_fraction, f"synthetic noise ({colours})"),
                    (babble, "babble made from the clean folder"),
                )
                if share > 0
            ]
            log.info(
                "denoising mixtures use the noise in %s%s",
                noise_dir,
                f"; of the mixtures, {' and '.join(shares)}" if shares else "",
            )
    if cfg.training.init_from:
        if resuming:
            log.info("resuming: training.init_from %s is not loaded again", cfg.training.init_from)
        else:
            log.info("starting from the weights of %s (training.init_from)", cfg.training.init_from)


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
