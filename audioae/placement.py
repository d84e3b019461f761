"""Where a run trains: devices, nodes, DDP strategy and precision for Lightning's ``Trainer``.

Precision ``auto``: ``bf16-mixed`` on CUDA when supported, else ``16-mixed``; ``32-true`` on
the CPU. More than one device (or node) uses DDP.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import ConfigError, TrainingConfig

__all__ = ["Placement", "resolve_placement", "resolve_precision"]


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
