"""Noisy/clean training pairs for denoising: :class:`DenoisingFolder`.

Each clean crop of an :class:`~audioae.crops.AudioFolder` is mixed with noise (a noise clip,
coloured noise or babble), optionally through a synthetic room and a band limit, every draw
seeded from the crop's own streams. :mod:`audioae.data` re-exports :class:`DenoisingFolder`:
import it from there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import (
    EARLY_REVERB_SECONDS,
    colored_noise,
    fft_convolve,
    low_pass,
    mix_at_snr,
    random_biquad,
    synthetic_rir,
)
from .clips import ClipStore, read_circular
from .config import Config
from .crops import (
    CHANNEL_STREAM,
    CROWD_STREAM,
    NOISE_STREAM,
    AudioFolder,
    as_store,
    seeded_rng,
    torch_generator,
)
from .data_errors import DatasetError

__all__ = ["DenoisingFolder"]

_CROWD_DRR_DB = (-6.0, 3.0)  # direct-to-reverberant ratios of distant babble talkers (dB)
_DRR_DB = (-3.0, 12.0)  # direct-to-reverberant ratios of the synthetic rooms (dB)


class DenoisingFolder(Dataset):
    """``(noisy, clean)`` pairs, each ``(segment_samples,)`` float32, for denoising training.

    The clean segment is ``clean[index]``; the noise is a circular crop of a noise clip from a
    random offset (read lazily from a :class:`~audioae.clips.FileClips` store: only the
    window) or, without noise clips, synthetic ``data.noise_colors`` noise
    (:func:`~audioae.augment.colored_noise`), mixed by :func:`~audioae.augment.mix_at_snr` at an SNR uniform in
    ``[data.snr_db_min, data.snr_db_max]`` dB. A ``data.babble_fraction`` share of the
    mixtures uses babble instead: the sum of 3 to ``data.babble_talkers`` other crops of the
    clean folder, each at unit RMS (competing talkers, as in the NOISEX-92 babble recording),
    and a ``data.babble_reverb_fraction`` share of those is a crowd in a room: every talker
    convolved with its own synthetic response of one room (RT60 uniform in
    ``[data.rt60_min, data.rt60_max]`` s, each talker's direct-to-reverberant ratio uniform in
    -6..3 dB: distant voices; drawn from their own seed stream), as recorded babble (a
    canteen, a market, a stadium) is heard, not close-talking voices summed dry. A
    ``data.synthetic_noise_fraction`` share uses ``data.noise_colors`` noise even when
    noise clips are given (with ``data.random_eq``: stationary noise of a random spectral
    shape, so the model learns to remove any steady noise floor, not only the clips' types).
    Noise, colour, babble and SNR are seeded like the crops, so validation mixtures are fixed.

    The channel, drawn from its own seed stream (so turning it on changes no other draw, and
    with both fractions 0 the pairs are exactly those without it):

    - ``data.reverb_fraction`` of the mixtures happen in a synthetic room: RT60 uniform in
      ``[data.rt60_min, data.rt60_max]`` s, direct-to-reverberant ratio uniform in -3..12 dB.
      The speech is convolved with one response (:func:`~audioae.augment.synthetic_rir`,
      direct path 1, so its level and timing are kept) and the noise, a second source in the
      same room, with another (circularly: the noise segment is a circular crop). The SNR is
      that of the reverberant speech. The target is the speech convolved with the direct path
      and the early reflections only (the first :data:`~audioae.augment.EARLY_REVERB_SECONDS`
      = 50 ms): the model learns to remove late reverberation and noise, while removing the
      early reflections too would ask it to invert an unknown room and invent detail (the
      usual "early reverberation" target of dereverberating speech enhancers).
    - ``data.band_limit_fraction`` of the mixtures, after mixing, are low-passed
      (:func:`~audioae.augment.low_pass`) at a cutoff drawn from ``data.band_limit_hz``, the
      target as well: a denoiser cannot restore a band the channel removed, so it learns to
      take narrow-band input without adding or removing anything above the cutoff.

    With ``data.speed_perturb`` (:class:`AudioFolder`), a crop slowed by ``factor < 1`` has no
    speech above ``factor`` times the Nyquist frequency, so its mixture and target are both
    low-passed (:func:`~audioae.augment.low_pass`) to end a sixth of an octave under it: were
    the noise left there, the model would learn that the top band of speech is noise.

    Args:
        clean: the clean-speech :class:`AudioFolder` (its split decides train/val behaviour).
        noise_clips: mono noise waveforms ``(time,)`` or a clip store, or None/empty for
            synthetic noise.
        cfg: the run's config.
    """

    def __init__(
        self,
        clean: AudioFolder,
        noise_clips: Sequence[torch.Tensor] | ClipStore | None,
        cfg: Config,
    ) -> None:
        self.clean = clean
        self.noise = as_store(noise_clips if noise_clips is not None else [], cfg.audio.sample_rate)
        self.colors = list(cfg.data.noise_colors)
        if not len(self.noise) and not self.colors:
            raise DatasetError(
                "no noise: give a noise folder (--noise DIR) or set data.noise_colors"
            )
        self.snr_range = (cfg.data.snr_db_min, cfg.data.snr_db_max)
        self.babble_fraction = cfg.data.babble_fraction
        self.babble_talkers = cfg.data.babble_talkers
        self.babble_reverb_fraction = cfg.data.babble_reverb_fraction
        self.random_eq = cfg.data.random_eq
        self.synthetic_fraction = cfg.data.synthetic_noise_fraction if self.colors else 0.0
        self.sample_rate = cfg.audio.sample_rate
        self.reverb_fraction = cfg.data.reverb_fraction
        self.rt60_range = (cfg.data.rt60_min, cfg.data.rt60_max)
        self.band_limit_fraction = cfg.data.band_limit_fraction
        self.band_limit_hz = list(cfg.data.band_limit_hz)

    def _babble(self, rng: np.random.Generator, length: int, index: int) -> torch.Tensor:
        """Babble ``(length,)``: the sum of 3..``babble_talkers`` clean crops, each at unit RMS,
        in a room for a ``babble_reverb_fraction`` share (see the class)."""
        talkers = int(rng.integers(3, self.babble_talkers + 1))
        room = None
        if self.babble_reverb_fraction > 0:  # its own stream: the other draws are unchanged
            crowd = seeded_rng(*self.clean._seed(index, CROWD_STREAM))
            if crowd.random() < self.babble_reverb_fraction:
                rt60 = float(crowd.uniform(*self.rt60_range))
                room = (rt60, crowd, torch_generator(crowd))
        out = torch.zeros(length)
        for _ in range(talkers):
            crop = self.clean[int(rng.integers(0, 2**31 - 1))][:length]
            if room is not None:
                rt60, crowd, gen = room
                drr_db = float(crowd.uniform(*_CROWD_DRR_DB))
                crop = fft_convolve(crop, synthetic_rir(self.sample_rate, rt60, drr_db, gen))
            out[: crop.numel()] += crop / crop.square().mean().sqrt().clamp_min(1e-8)
        return out

    @property
    def split(self) -> str:
        return self.clean.split

    def __len__(self) -> int:
        return len(self.clean)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        clean = self.clean[index]
        rng = seeded_rng(*self.clean._seed(int(index), NOISE_STREAM))
        gen = torch_generator(rng)
        snr_db = float(rng.uniform(*self.snr_range))
        if self.random_eq:
            clean = random_biquad(clean, rng)
        noise = self._noise(rng, gen, clean, int(index))
        if self.random_eq:
            noise = random_biquad(noise, rng)
        if self.reverb_fraction == 0 and self.band_limit_fraction == 0:
            noisy, target = mix_at_snr(clean, noise, snr_db, generator=gen).float(), clean
        else:
            noisy, target = self._through_channel(int(index), clean, noise, snr_db, gen)
        factor = self.clean._speed(int(index))
        if factor < 1.0:  # a slowed crop holds nothing above factor x Nyquist: nor does its mix
            cutoff = factor * self.sample_rate / 2 / 2.0 ** (1.0 / 6.0)
            noisy = low_pass(noisy, self.sample_rate, cutoff)
            target = low_pass(target, self.sample_rate, cutoff)
        return noisy, target

    def _through_channel(
        self,
        index: int,
        clean: torch.Tensor,
        noise: torch.Tensor,
        snr_db: float,
        gen: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(noisy, target)`` of one mixture with its room and band limit (see the class)."""
        rng = seeded_rng(*self.clean._seed(index, CHANNEL_STREAM))
        # every value is drawn whether used or not, so each fraction leaves the other's draws alone
        reverb = bool(rng.random() < self.reverb_fraction)
        rt60 = float(rng.uniform(*self.rt60_range))
        drr_db = float(rng.uniform(*_DRR_DB))
        room = torch_generator(rng)
        band_limit = bool(rng.random() < self.band_limit_fraction)
        cutoffs = self.band_limit_hz
        cutoff = cutoffs[int(rng.integers(0, len(cutoffs)))] if cutoffs else 0.0
        speech, target = clean, clean
        if reverb:
            speech_rir = synthetic_rir(self.sample_rate, rt60, drr_db, room)
            noise_rir = synthetic_rir(self.sample_rate, rt60, drr_db, room)
            early = speech_rir[: round(EARLY_REVERB_SECONDS * self.sample_rate) + 1]
            speech = fft_convolve(clean, speech_rir)
            target = fft_convolve(clean, early)
            noise = fft_convolve(noise, noise_rir, circular=True)
        noisy = mix_at_snr(speech, noise, snr_db, generator=gen)
        if band_limit:
            noisy = low_pass(noisy, self.sample_rate, cutoff)
            target = low_pass(target, self.sample_rate, cutoff)
        return noisy.float(), target.float()

    def _noise(
        self, rng: np.random.Generator, gen: torch.Generator, clean: torch.Tensor, index: int
    ) -> torch.Tensor:
        """A noise segment ``(len(clean),)``: babble, a crop of a noise clip, or coloured noise."""
        length = clean.numel()
        if self.babble_fraction > 0 and rng.random() < self.babble_fraction:
            return self._babble(rng, length, index)
        synthetic = self.synthetic_fraction > 0 and rng.random() < self.synthetic_fraction
        for _ in range(3 if len(self.noise) and not synthetic else 0):
            k = int(rng.integers(0, len(self.noise)))
            offset = int(rng.integers(0, max(int(self.noise.lengths[k]), 1)))
            segment = read_circular(self.noise, k, offset, length)  # tiled if short
            if bool(segment.square().sum() > 0):  # a digitally silent stretch: draw again
                return segment
        color = self.colors[int(rng.integers(0, len(self.colors)))] if self.colors else "white"
        return colored_noise(color, length, gen)
