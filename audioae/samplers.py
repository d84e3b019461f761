"""Samplers and batching of the training data: :class:`EpochSampler` (the epoch inside each
index, the indices sharded over DDP processes), :class:`GroupedBatches` and
:func:`shutdown_workers`. Re-exported by :mod:`audioae.data`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class EpochSampler(Sampler[int]):
    """Indices that carry the epoch: ``epoch * n + i``, sharded over DDP processes.

    Lightning calls :meth:`set_epoch` at the start of each epoch. With ``fixed=True``
    (validation) the indices are ``0..n-1`` in every epoch. With ``shard=True`` and
    ``torch.distributed`` initialised, process ``rank`` of ``world`` gets
    ``i = rank, rank + world, ...`` (``n // world`` indices each, so every process runs
    the same number of steps).

    Given ``max_steps`` and ``batch_size`` (training), one pass yields the whole run:
    ``max_steps`` batches that go through the epochs above one after the other (each epoch
    ``(n // world) // batch_size`` batches, the rest of an epoch dropped), starting after
    ``start_step`` batches. A resumed run passes its checkpoint's step, so its batches are
    those an uninterrupted run sees, whatever the trainer's own epoch bookkeeping does.
    """

    def __init__(
        self,
        n: int,
        *,
        fixed: bool = False,
        shard: bool = True,
        batch_size: int | None = None,
        max_steps: int | None = None,
        start_step: int = 0,
    ) -> None:
        self.n = int(n)
        self.fixed = fixed
        self.shard = shard
        self.epoch = 0
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.start_step = int(start_step)
        if (batch_size is None) != (max_steps is None):
            raise ValueError("EpochSampler: give both batch_size and max_steps, or neither")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rank_world(self) -> tuple[int, int]:
        if self.shard and torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def __len__(self) -> int:
        if self.max_steps is not None and self.batch_size is not None:
            return self.max_steps * self.batch_size
        return self.n // self._rank_world()[1]

    def _run_indices(self, rank: int, world: int) -> Iterator[int]:
        batch = int(self.batch_size or 1)
        per_epoch = max((self.n // world) // batch, 1)  # batches per epoch and process
        for step in range(self.start_step, int(self.max_steps or 0)):
            epoch, b = divmod(step, per_epoch)
            first = epoch * self.n + rank + b * batch * world
            yield from range(first, first + batch * world, world)

    def __iter__(self) -> Iterator[int]:
        rank, world = self._rank_world()
        if self.max_steps is not None and not self.fixed:
            return self._run_indices(rank, world)
        offset = 0 if self.fixed else self.epoch * self.n
        per_rank = self.n // world
        return iter(range(offset + rank, offset + rank + per_rank * world, world))


class GroupedBatches:
    """Batches of ``batch_size`` cut from a loader whose batches are ``k * batch_size`` long.

    A DataLoader hands each batch from a worker process to the training process through
    shared memory, at a fixed cost per batch (about a millisecond on a CPU: a socket round
    trip and a mapping) that the training step waits for; for small models that is several
    percent of the step. Letting each worker build ``k`` consecutive batches at once and
    cutting them here pays that cost once per ``k`` steps. The batches are exactly those of a
    loader of ``batch_size`` over the same sampler (the same indices, in order): a last
    shorter group is cut the same way, and a rest shorter than ``batch_size`` is dropped.

    Args:
        loader: a DataLoader with ``batch_size = k * batch_size`` and ``drop_last=False``,
            yielding tensors ``(k * batch_size, ...)`` or tuples/lists of them.
        batch_size: the training batch size.
    """

    def __init__(self, loader: DataLoader, batch_size: int) -> None:
        self.loader = loader
        self.batch_size = int(batch_size)

    @property
    def sampler(self) -> Sampler:
        return self.loader.sampler

    @property
    def dataset(self) -> Dataset:
        return self.loader.dataset

    @property
    def num_workers(self) -> int:
        return self.loader.num_workers

    def __len__(self) -> int:
        return len(self.loader.sampler) // self.batch_size

    def __iter__(self) -> Iterator[torch.Tensor | tuple | list]:
        b = self.batch_size
        for group in self.loader:
            if isinstance(group, torch.Tensor):
                pieces: Iterable = group.split(b)
            else:
                pieces = (type(group)(parts) for parts in zip(*(t.split(b) for t in group)))
            for piece in pieces:
                first = piece if isinstance(piece, torch.Tensor) else piece[0]
                if first.shape[0] == b:
                    yield piece


def shutdown_workers(loader: DataLoader | GroupedBatches | None) -> None:
    """Stop the worker processes of ``loader`` (a DataLoader or a :class:`GroupedBatches`) now.

    A DataLoader with ``persistent_workers`` (or an iterator left before its end, as Lightning
    leaves the training loader at ``training.max_steps``) keeps its workers until the iterator
    is deleted. Lightning shuts down the DataLoaders it was given when ``fit`` ends, but not
    one wrapped in :class:`GroupedBatches` (it looks for an ``_iterator`` attribute); and the
    iterator sits in reference cycles, so only a later ``gc.collect()`` would delete it. There
    its shutdown is slow: the collector runs the weakref finalizer of a worker's index queue
    (``multiprocessing.Queue._finalize_close``, which queues the stop sentinel of the queue's
    feeder thread) before the iterator's ``__del__``, so the ``None`` that tells the worker to
    exit is queued behind the sentinel and never sent; torch then waits out
    ``join(timeout=5 s)`` for that worker before it sends SIGTERM. Called while the queues are
    alive, the shutdown is a clean exit of every worker within milliseconds. Uses the
    DataLoader's ``_iterator`` (torch offers no public call; Lightning does the same); a
    loader without workers, or None, is left as it is.
    """
    inner = loader.loader if isinstance(loader, GroupedBatches) else loader
    iterator = getattr(inner, "_iterator", None)
    if iterator is None:
        return
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()
    inner._iterator = None
