"""What a training run shows and how it stops: one progress bar, quiet Lightning, Ctrl-C.

- :class:`StepProgressBar`: one tqdm bar over ``training.max_steps`` (starting at the resumed
  step), its rate and ETA averaged over the whole session so validation pauses are counted;
  the latest training and validation losses as its postfix. Only the main process shows it.
- :func:`quiet_lightning`: Lightning's info lines (GPU/TPU available, adverts, "max_steps
  reached", the CUDA matmul hint) and known harmless warnings off, for the duration of a run.
- :class:`InterruptHandler`: Ctrl-C asks the run to stop at the end of the current step (a
  second Ctrl-C stops at once); either way ``last.ckpt`` is written at the step reached and
  :func:`audioae.training.train` raises :class:`TrainingInterrupted`, whose ``step`` a
  ``--resume`` continues from.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.callbacks.progress import ProgressBar

from .launch import is_main_rank

log = logging.getLogger(__name__)

LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")

# Warnings Lightning or torch print on every run that say nothing about the user's run.
_HARMLESS_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)",
    r".*does not have many workers which may be a bottleneck",
    r".*The number of training batches .* is smaller than the logging interval",
)


class TrainingInterrupted(Exception):
    """Training was stopped by Ctrl-C; ``checkpoint`` holds the state at ``step``.

    Attributes:
        run_dir: the run folder.
        step: the optimiser step saved in ``checkpoint`` (``--resume`` continues from it).
        checkpoint: the ``last.ckpt`` written on the interrupt, or the newest one kept.
    """

    def __init__(self, run_dir: Path, step: int, checkpoint: Path) -> None:
        super().__init__(f"training interrupted at step {step}; state saved in {checkpoint}")
        self.run_dir = Path(run_dir)
        self.step = step
        self.checkpoint = Path(checkpoint)


@contextlib.contextmanager
def quiet_lightning(verbose: bool = False) -> Iterator[None]:
    """Lightning's loggers at WARNING and its routine warnings hidden, unless ``verbose``.

    The loggers' levels are restored on exit.
    """
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in _HARMLESS_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


class StepProgressBar(ProgressBar):
    """One bar over ``trainer.max_steps`` optimiser steps, on the main process (stderr)."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self.bar: Any = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (self._enabled and trainer.is_global_zero):
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=trainer.max_steps,
            initial=trainer.global_step,
            desc="training",
            unit="step",
            smoothing=0,  # the rate over the whole session: validation pauses are in the ETA
            dynamic_ncols=True,
            file=sys.stderr,
        )

    def _postfix(self, trainer: L.Trainer) -> dict[str, str]:
        metrics = trainer.progress_bar_metrics
        shown = {}
        for key, label in (("train/loss", "loss"), ("val/loss", "val")):
            if key in metrics:
                shown[label] = f"{float(metrics[key]):.3g}"
        return shown

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        if self.bar is None:
            return
        self.bar.set_postfix(self._postfix(trainer), refresh=False)
        self.bar.update(trainer.global_step - self.bar.n)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.bar is not None and not trainer.sanity_checking:
            self.bar.set_postfix(self._postfix(trainer))

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._close()


class InterruptHandler(Callback):
    """Ctrl-C stops the run at a step boundary and saves ``last.ckpt`` there.

    :meth:`catch_sigint` (a context manager around ``trainer.fit``, main thread only)
    replaces the SIGINT handler: the first Ctrl-C sets :attr:`requested`, and at the end of
    the current step every process stops (the flag is reduced over DDP processes, so all stop
    at the same step); training then ends normally and ``last.ckpt`` is written by the
    run's final checkpoint. A second Ctrl-C raises ``KeyboardInterrupt`` at once; so does any
    other ``KeyboardInterrupt``: Lightning then calls :meth:`on_exception`, which saves
    ``last.ckpt`` at the step reached (single-process runs; under DDP the last periodic
    checkpoint is kept).

    Args:
        last_checkpoint: the run's ``last.ckpt``.
    """

    def __init__(self, last_checkpoint: Path) -> None:
        self.last_checkpoint = Path(last_checkpoint)
        self.requested = False
        self.interrupted = False
        self.saved_step: int | None = None

    @contextlib.contextmanager
    def catch_sigint(self) -> Iterator[None]:
        """Install the deferred SIGINT handler for the block; the previous one is restored
        afterwards (also after Lightning's own handling, which ignores SIGINT)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)
        owner = os.getpid()

        def handler(signum, frame) -> None:
            # A terminal's Ctrl-C reaches the whole process group, DataLoader workers
            # (forked with this handler) included: only the training process answers, and
            # its workers go on until it stops them.
            if os.getpid() != owner:
                return
            if self.requested:  # the second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.requested = True
            if is_main_rank():  # a terminal's Ctrl-C reaches every DDP rank: one line
                print(
                    "\naudioae: stopping after this step (Ctrl-C again to stop at once)",
                    file=sys.stderr,
                    flush=True,
                )

        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        stop = self.requested
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            self.interrupted = True
            trainer.should_stop = True

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.interrupted:
            self.saved_step = int(trainer.global_step)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, KeyboardInterrupt):
            return
        self.interrupted = True
        if trainer.world_size > 1:
            return  # a collective save could hang; the last periodic checkpoint stays
        trainer.save_checkpoint(self.last_checkpoint, weights_only=False)
        self.saved_step = int(trainer.global_step)
        log.info("saved %s at step %d", self.last_checkpoint, self.saved_step)
