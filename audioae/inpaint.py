"""Band inpainting: an autoencoder that rebuilds a masked group of bins from the rest.

A reconstruction-based anomaly score misses a fault the model reconstructs as faithfully as
the normal sound: an autoencoder that has learnt to pass energy in the lowest bands through
(bass notes) passes mains hum through as well. A model trained with one group of adjacent
bins masked at its input (``model.inpaint_groups`` > 0) has to *predict* those bins from the
other bins and the neighbouring frames. At scoring time every bin's reconstruction can then
come from a pass in which its own group was masked (:func:`inpaint`): normal sound is
predictable from its context, hum under a flute is not.

The idea is the interpolation DNN of Suefusa et al., "Anomalous sound detection based on
interpolation deep neural network" (ICASSP 2020), which removes the centre frame of a window
and predicts it from its neighbours, and the inpainting of Zavrtanik et al., "Reconstruction
by inpainting for visual anomaly detection" (Pattern Recognition, 2021); here the masked part
is a band of bins for the whole input, so the prediction comes from the rest of the spectrum.

Masked bins are set to the features of digital silence (:func:`silence_features`; the
front-end's ``log(eps)`` for log features), the value they take in a silent band. The bins
``0 .. n_bins - 1`` are split into ``groups`` contiguous groups of near-equal size
(:func:`group_of_bins`). During training each example gets one group drawn uniformly from
``groups + 1`` choices, the last meaning "no mask", so an unmasked input (for embeddings and
the latent) stays in the training distribution (:func:`random_groups`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def group_of_bins(n_bins: int, groups: int, device: torch.device | str | None = None) -> Tensor:
    """The group of every bin, ``(n_bins,)`` int64 in ``0 .. groups - 1``: contiguous groups
    whose sizes differ by at most one bin (bin ``b`` is in group ``b * groups // n_bins``).

    Raises:
        ValueError: ``groups`` not in ``1 .. n_bins``.
    """
    if not 1 <= groups <= n_bins:
        raise ValueError(f"inpaint groups must be in 1..n_bins ({n_bins}), got {groups}")
    return torch.arange(n_bins, device=device) * groups // n_bins


def silence_features(frontend) -> Tensor:
    """The front-end's features of digital silence, ``(1, n_bins, 1)``: what a masked bin is
    set to (``log(eps)`` for log features, 0 for a linear spectrogram)."""
    w = frontend.window
    with torch.no_grad():
        silent = frontend.from_magnitude(torch.zeros(1, frontend.n_freq, 1, device=w.device))
    return silent.float()


def mask_groups(
    features: Tensor, which: Tensor, groups: int, fill: Tensor, *, check_values: bool = True
) -> Tensor:
    """A copy of ``features`` ``(batch, n_bins, frames)`` with, in example ``i``, the bins of
    group ``which[i]`` set to ``fill`` (broadcastable to ``(batch, n_bins, frames)``); a value
    ``groups`` in ``which`` leaves that example unmasked. ``check_values=False`` skips the
    range check of ``which`` (it reads the tensor, a device sync on a GPU), for callers that
    drew ``which`` with :func:`random_groups`; an index outside the range then masks nothing.

    Raises:
        ValueError: ``which`` is not ``(batch,)`` or (when checked) holds values outside
            ``0 .. groups``.
    """
    batch, n_bins, _ = features.shape
    if which.shape != (batch,):
        raise ValueError(f"which: expected shape ({batch},), got {tuple(which.shape)}")
    if check_values and bool(((which < 0) | (which > groups)).any()):
        raise ValueError(f"which: group indices must be in 0..{groups}")
    member = group_of_bins(n_bins, groups, features.device)[None, :] == which[:, None]
    return torch.where(member[:, :, None], fill.to(features.dtype), features)


def random_groups(batch: int, groups: int, device: torch.device | str | None = None) -> Tensor:
    """One group per example, uniform over ``0 .. groups`` (``groups``: no mask), ``(batch,)``
    int64, from torch's global generator (seeded by training)."""
    return torch.randint(0, groups + 1, (batch,), device=device)


def inpaint(
    model: Callable[[Tensor], Tensor], features: Tensor, groups: int, fill: Tensor
) -> Tensor:
    """Every bin's reconstruction from the pass in which its group was masked.

    Args:
        model: features ``(n, n_bins, frames)`` to their reconstruction, the same shape.
        features: ``(batch, n_bins, frames)``.
        groups: the number of groups (``model.inpaint_groups``).
        fill: what masked bins are set to (:func:`silence_features`).

    Returns:
        ``(batch, n_bins, frames)``: bin ``b`` of the output is bin ``b`` of the model's
        output for ``features`` with the group of ``b`` masked. The ``groups`` passes run as
        one batch of ``groups * batch`` examples.

    Raises:
        ValueError: ``groups`` not in ``1 .. n_bins``.
    """
    batch, n_bins, frames = features.shape
    member = group_of_bins(n_bins, groups, features.device)
    which = torch.arange(groups, device=features.device).repeat_interleave(batch)
    stacked = mask_groups(features.repeat(groups, 1, 1), which, groups, fill, check_values=False)
    out = model(stacked).reshape(groups, batch, n_bins, frames)
    index = member[None, None, :, None].expand(1, batch, n_bins, frames)
    return out.gather(0, index)[0]
