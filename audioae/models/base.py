"""The one autoencoder interface: encoder -> bottleneck -> decoder, with the length contract.

:class:`AutoEncoder` pads the time axis to a multiple of ``time_downsampling`` (replicating
the last frame) and crops the output back, so output frames equal input frames for any input
length (the pad-then-crop contract of e.g. the DAC codec). Mask models predict a sigmoid mask
over the input's linear magnitude instead of the features; the model's front-end applies it
(:meth:`audioae.features.FrontEnd.apply_mask`). Complex-mask models (``model.output: crm``)
predict a complex ratio mask over the input's STFT (:mod:`.masks`); their reconstruction is
the features of the masked magnitude ``|M| |X|`` (= ``|M X|``), so feature-space losses apply.

Features are standardised by a fixed per-bin affine map before the encoder (and the decoder's
output mapped back): ``(x - shift) / scale``. It is the same for every clip (never per-clip
normalisation), lives in the state dict, and defaults to constants set by the front-end's
log floor (:meth:`audioae.features.FrontEnd.default_normalization`);
:meth:`AutoEncoder.set_normalization` replaces it
with dataset statistics. Raw log features sit around ``log(eps) / 2`` (about -5.8); fed
unscaled, the conv models stalled at the loss of the mean spectrum when overfitting a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..features import FrontEnd
from .bottleneck import Bottleneck, BottleneckOutput, Latent
from .deep_filter import apply_deep_filter, deep_filter_coefficients
from .layers import pad_to_multiple
from .masks import mask_from_logits


@dataclass
class AEOutput:
    """Result of :meth:`AutoEncoder.forward`.

    Attributes:
        reconstruction: features ``(batch, n_bins, frames)``, same frames as the input.
        latent: the :class:`Latent` (tensors ``(batch, latent_dim, latent_frames)``).
        kl: closed-form KL of every latent value to ``N(0, 1)`` in nats,
            ``(batch, latent_dim, latent_frames)`` (not reduced; see
            :func:`audioae.losses.compute_loss` for the reduction); None unless Gaussian.
        activations: sparse-bottleneck activations in (0, 1), ``(batch, latent_dim,
            latent_frames)``, for the sparsity penalties; None for other bottlenecks.
        mask: the predicted mask ``(batch, n_bins, frames)``: real in [0, 1] for
            ``output="mask"`` models, complex (``|mask| <= masks.CRM_BOUND``) for
            ``output="crm"`` models; None otherwise.
        df_coefficients: deep-filter models (``model.df_order > 0``): real
            ``(batch, 2, df_order, df_bins, frames)``, real then imaginary parts
            (:mod:`.deep_filter`); None otherwise.
        spectrum: deep-filter models given the noisy STFT: the enhanced complex STFT
            ``(batch, n_bins, frames)`` (:func:`.deep_filter.apply_deep_filter`); None otherwise.
    """

    reconstruction: torch.Tensor
    latent: Latent
    kl: torch.Tensor | None = None
    activations: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    df_coefficients: torch.Tensor | None = None
    spectrum: torch.Tensor | None = None


class AutoEncoder(nn.Module):
    """Spectrogram autoencoder made of an encoder, a :class:`Bottleneck` and a decoder.

    Build one with :func:`audioae.models.build_model`. Features are ``(batch, n_bins,
    frames)``; latents ``(batch, latent_dim, latent_frames)`` with ``latent_frames =
    ceil(frames / time_downsampling)``. Works on the device and dtype of its parameters
    (move it with ``.to(device)``); there is no batch-dependent layer, so items are
    processed independently.

    Args:
        encoder: ``(batch, n_bins, frames)`` -> ``(batch, encoder.out_channels, latent_frames)``.
        bottleneck: maps encoder channels to the latent.
        decoder: ``(batch, latent_dim, latent_frames)`` -> ``(batch, n_bins, latent_frames * ds)``.
        frontend: the :class:`~audioae.features.FrontEnd` whose features the model sees; it
            gives ``n_bins``, the default standardisation and, for mask models, the mask
            application. Held as a submodule with no state-dict entries (its buffers are
            non-persistent), so it follows ``.to(device)``.
        time_downsampling: frames per latent frame.
        predicts_mask: the decoder predicts a mask over the input's linear magnitude
            (``ModelConfig.predicts_mask``) instead of the features.
        complex_mask: the mask is a complex ratio mask (``ModelConfig.complex_mask``): the
            decoder outputs ``2 * n_bins`` channels (real parts, then imaginary parts).
        df_head: deep filtering (:mod:`.deep_filter`): a module from the decoder's last
            hidden layer (the input of ``decoder.net[-1]``) to ``2 * df_bins * df_order``
            channels; needs a real mask and a decoder with a ``net`` Sequential.
        df_order, df_lookahead: the deep filter's taps and future taps.

    Raises:
        ValueError: ``complex_mask`` without ``predicts_mask``; ``df_head`` without a real
            mask.
    """

    def __init__(
        self,
        encoder: nn.Module,
        bottleneck: Bottleneck,
        decoder: nn.Module,
        *,
        frontend: FrontEnd,
        time_downsampling: int,
        predicts_mask: bool = False,
        complex_mask: bool = False,
        df_head: nn.Module | None = None,
        df_order: int = 0,
        df_lookahead: int = 0,
    ) -> None:
        super().__init__()
        if complex_mask and not predicts_mask:
            raise ValueError("complex_mask needs predicts_mask")
        if df_head is not None and (not predicts_mask or complex_mask or df_order < 1):
            raise ValueError("deep filtering needs a real mask model and df_order >= 1")
        self.df_head = df_head
        self.df_order = df_order if df_head is not None else 0
        self.df_lookahead = df_lookahead
        self.encoder = encoder
        self.bottleneck = bottleneck
        self.decoder = decoder
        self.frontend = frontend
        self._time_downsampling = time_downsampling
        self.predicts_mask = predicts_mask
        self.complex_mask = complex_mask
        n_bins = frontend.n_bins
        shift, scale = frontend.default_normalization()
        self.register_buffer("feature_shift", torch.full((1, n_bins, 1), shift))
        self.register_buffer("feature_scale", torch.full((1, n_bins, 1), scale))

    @property
    def n_bins(self) -> int:
        """Feature bins (the front-end's ``n_bins``)."""
        return self.frontend.n_bins

    def set_normalization(self, shift: torch.Tensor | float, scale: torch.Tensor | float) -> None:
        """Replace the fixed input standardisation ``(x - shift) / scale``.

        Call it before training, e.g. with per-bin dataset means and standard deviations; the
        values are saved in the state dict.

        Args:
            shift: scalar or ``(n_bins,)`` (feature units).
            scale: scalar or ``(n_bins,)``, every value > 0.

        Raises:
            ValueError: wrong size or a non-positive scale.
        """
        shift_t = torch.as_tensor(
            shift, dtype=self.feature_shift.dtype, device=self.feature_shift.device
        )
        scale_t = torch.as_tensor(
            scale, dtype=self.feature_scale.dtype, device=self.feature_scale.device
        )
        for name, value in (("shift", shift_t), ("scale", scale_t)):
            if value.numel() not in (1, self.n_bins):
                raise ValueError(
                    f"{name} must be a scalar or have {self.n_bins} values, got {value.numel()}"
                )
        if bool((scale_t <= 0).any()):
            raise ValueError("scale must be > 0")
        self.feature_shift.copy_(shift_t.reshape(-1).expand(self.n_bins).reshape(1, -1, 1))
        self.feature_scale.copy_(scale_t.reshape(-1).expand(self.n_bins).reshape(1, -1, 1))

    @property
    def time_downsampling(self) -> int:
        """Input frames per latent frame."""
        return self._time_downsampling

    @property
    def latent_dim(self) -> int:
        """Channels of the latent."""
        return self.bottleneck.latent_dim

    @property
    def is_variational(self) -> bool:
        """True for a Gaussian (VAE) bottleneck."""
        return self.bottleneck.is_variational

    @property
    def n_parameters(self) -> int:
        """Number of parameters (trainable or not)."""
        return sum(p.numel() for p in self.parameters())

    def latent_frames(self, frames: int) -> int:
        """Latent frames for ``frames`` input frames: ``ceil(frames / time_downsampling)``."""
        return -(-frames // self.time_downsampling)

    def latent_rate(self, sample_rate: int, hop_length: int) -> float:
        """Latent values per second of audio: ``latent_dim * sample_rate / (hop_length * ds)``.

        Args:
            sample_rate: audio sample rate (Hz).
            hop_length: front-end hop (samples).
        """
        return self.latent_dim * sample_rate / (hop_length * self.time_downsampling)

    def _check_features(self, features: torch.Tensor) -> None:
        if features.dim() != 3 or features.shape[1] != self.n_bins or features.shape[2] < 1:
            raise ValueError(
                f"expected features of shape (batch, {self.n_bins}, frames >= 1), got {tuple(features.shape)}"
            )

    def _bottleneck(
        self, features: torch.Tensor, sample_posterior: bool | None
    ) -> BottleneckOutput:
        self._check_features(features)
        sample = self.training if sample_posterior is None else sample_posterior
        x = (features - self.feature_shift) / self.feature_scale
        padded = pad_to_multiple(x, self.time_downsampling, dim=-1)  # (batch, n_bins, frames')
        return self.bottleneck(self.encoder(padded), sample)

    def encode(self, features: torch.Tensor, sample_posterior: bool | None = None) -> Latent:
        """Encode features ``(batch, n_bins, frames)`` into a :class:`Latent`.

        Args:
            features: ``(batch, n_bins, frames)``, any ``frames >= 1``.
            sample_posterior: draw from a VAE posterior; None samples in training mode only
                (in ``eval()`` the latent is the posterior mean). Ignored by non-variational
                bottlenecks.

        Returns:
            A :class:`Latent` with tensors ``(batch, latent_dim, ceil(frames / ds))``.

        Raises:
            ValueError: wrong shape.
        """
        return self._bottleneck(features, sample_posterior).latent

    def _output_frames(self, latent: torch.Tensor, frames: int | None) -> int:
        """The frames a decode of ``latent`` keeps: ``frames``, or all ``latent_frames * ds``.

        Raises:
            ValueError: ``latent`` is not ``(batch, latent_dim, latent_frames)`` or ``frames``
                is outside ``1..latent_frames * ds``.
        """
        if latent.dim() != 3 or latent.shape[1] != self.latent_dim:
            raise ValueError(
                f"expected a latent of shape (batch, {self.latent_dim}, latent_frames), got {tuple(latent.shape)}"
            )
        full = latent.shape[2] * self.time_downsampling
        if frames is not None and not 0 < frames <= full:
            raise ValueError(
                f"frames must be in 1..{full} for {latent.shape[2]} latent frames, got {frames}"
            )
        return full if frames is None else frames

    def _decode_raw(self, latent: torch.Tensor, frames: int | None) -> torch.Tensor:
        stop = self._output_frames(latent, frames)  # checks the latent before the decoder runs
        return self.decoder(latent)[..., :stop]

    @property
    def deep_filter(self) -> bool:
        """The model has a deep-filter head (``model.df_order > 0``)."""
        return self.df_head is not None

    def decode_filter(
        self, latent: torch.Tensor, frames: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Deep-filter models: the mask ``(batch, n_bins, frames)`` in [0, 1] and the filter
        coefficients ``(batch, 2, df_order, df_bins, frames)`` (real, then imaginary parts)
        for a latent.

        Raises:
            ValueError: the model has no deep filter, or wrong shapes/frames.
        """
        if self.df_head is None:
            raise ValueError("decode_filter needs a deep-filter model (model.df_order > 0)")
        stop = self._output_frames(latent, frames)
        net = self.decoder.net
        hidden = net[:-1](latent)
        mask = mask_from_logits(net[-1](hidden)[..., :stop], self.n_bins, False)
        raw = self.df_head(hidden)[..., :stop]
        df_bins = raw.shape[1] // (2 * self.df_order)
        return mask, deep_filter_coefficients(raw, df_bins, self.df_order)

    def filter_spectrum(
        self, spec: torch.Tensor, mask: torch.Tensor, coefficients: torch.Tensor
    ) -> torch.Tensor:
        """``apply_deep_filter(spec, mask, coefficients, df_lookahead)``: the enhanced complex
        STFT ``(batch, n_bins, frames)`` of a deep-filter model's outputs."""
        return apply_deep_filter(spec, mask, coefficients, self.df_lookahead)

    def decode_mask(self, latent: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """Mask models: the mask ``(batch, n_bins, frames)`` for a latent, in [0, 1] or
        complex for ``output="crm"`` (:func:`.masks.mask_from_logits`).

        Raises:
            ValueError: the model predicts features, or wrong shapes/frames.
        """
        if not self.predicts_mask:
            raise ValueError("decode_mask needs a model with output='mask' or 'crm'")
        return mask_from_logits(self._decode_raw(latent, frames), self.n_bins, self.complex_mask)

    def decode(
        self,
        latent: torch.Tensor,
        frames: int | None = None,
        *,
        input_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decode a latent ``(batch, latent_dim, latent_frames)`` into features.

        Args:
            latent: ``(batch, latent_dim, latent_frames)`` (e.g. ``Latent.sample``).
            frames: crop the output to this many frames (default ``latent_frames * ds``, or
                the frames of ``input_features``).
            input_features: mask models only, and required there: the features
                ``(batch, n_bins, frames)`` the mask is applied to (``frontend.apply_mask``).

        Returns:
            Features ``(batch, n_bins, frames)``.

        Raises:
            ValueError: wrong shapes, ``frames`` outside ``1..latent_frames * ds``, a mask
                model without ``input_features`` or a features model given them.
        """
        if not self.predicts_mask:
            if input_features is not None:
                raise ValueError(
                    "input_features is only used by mask models (model.output='mask' or 'crm')"
                )
            return self._decode_raw(latent, frames) * self.feature_scale + self.feature_shift
        if input_features is None:
            raise ValueError("a mask model decodes a mask: pass the input_features it applies to")
        if self.df_head is not None:
            raise ValueError(
                "a deep-filter model (model.df_order > 0) filters the complex STFT, not the "
                "features: use forward(features, spec=...) or decode_filter"
            )
        self._check_features(input_features)
        mask = self.decode_mask(latent, input_features.shape[-1] if frames is None else frames)
        if mask.shape != input_features.shape:
            raise ValueError(
                f"mask shape {tuple(mask.shape)} != features shape {tuple(input_features.shape)}"
            )
        return self.frontend.apply_mask(input_features, mask.abs() if mask.is_complex() else mask)

    def forward(
        self,
        features: torch.Tensor,
        sample_posterior: bool | None = None,
        *,
        spec: torch.Tensor | None = None,
    ) -> AEOutput:
        """Encode and decode features ``(batch, n_bins, frames)``; output has the same shape.

        Args:
            features: ``(batch, n_bins, frames)``, any ``frames >= 1``.
            sample_posterior: as in :meth:`encode`.
            spec: deep-filter models only, and required there: the complex STFT
                ``(batch, n_bins, frames)`` the features were computed from; the
                reconstruction is then the features of the filtered spectrum's magnitude.

        Returns:
            :class:`AEOutput`.

        Raises:
            ValueError: wrong shape; a deep-filter model without ``spec``, or another model
                given one.
        """
        out = self._bottleneck(features, sample_posterior)
        frames = features.shape[-1]
        if self.df_head is not None:
            if spec is None:
                raise ValueError(
                    "a deep-filter model (model.df_order > 0) filters the noisy STFT: pass spec"
                )
            mask, coefficients = self.decode_filter(out.latent.sample, frames)
            spectrum = self.filter_spectrum(spec, mask, coefficients)
            # |Y| with a floor under the root: abs()'s gradient is NaN where Y is exactly 0
            # (a saturated mask over bins the filter does not reach)
            magnitude = torch.view_as_real(spectrum).square().sum(-1).add(1e-20).sqrt()
            reconstruction = self.frontend.from_magnitude(magnitude.to(features.dtype))
            return AEOutput(
                reconstruction, out.latent, out.kl, out.activations, mask, coefficients, spectrum
            )
        if spec is not None:
            raise ValueError("spec is only used by deep-filter models (model.df_order > 0)")
        raw = self._decode_raw(out.latent.sample, frames)  # (batch, n_out, frames)
        if not self.predicts_mask:
            reconstruction = raw * self.feature_scale + self.feature_shift
            return AEOutput(reconstruction, out.latent, out.kl, out.activations)
        mask = mask_from_logits(raw, self.n_bins, self.complex_mask)  # (batch, n_bins, frames)
        gain = mask.abs().to(features.dtype) if self.complex_mask else mask  # |M X| = |M| |X|
        reconstruction = self.frontend.apply_mask(features, gain)
        return AEOutput(reconstruction, out.latent, out.kl, out.activations, mask)
