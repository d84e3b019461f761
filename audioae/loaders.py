"""The training and validation DataLoaders of a run, and their worker processes.

Workers seed as Lightning does and share batches by shared-memory name; with workers each
hands over :data:`GROUP_BATCHES` training batches at once; under DDP they start from a fork
server that preloaded the trainer (:func:`start_worker_server`).
"""

from __future__ import annotations

import multiprocessing
import os

import torch
from lightning.fabric.utilities.seed import pl_worker_init_function
from torch.utils.data import DataLoader

from .config import Config
from .data import Datasets
from .samplers import EpochSampler, GroupedBatches

__all__ = ["GROUP_BATCHES", "build_data_loaders", "start_worker_server"]


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
:class:`audioae.samplers.GroupedBatches`)."""


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
    ctx.set_forkserver_preload(["audioae.training"])  # the trainer, this module included
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
