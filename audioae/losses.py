"""Training objective: feature reconstruction plus KL and sparsity regularisers.

``compute_loss`` returns a :class:`LossResult` whose ``total`` is

    reconstruction                                            (l1 / l2 on features,
                                                               compressed_mse on magnitudes, or
                                                               compressed_complex_mse on the
                                                               STFTs of the denoised and clean
                                                               waveforms)
    + spectral_convergence_weight * spectral_convergence     (on the feature bins' magnitudes,
                                                               if the weight is > 0)
    - si_sdr_weight * si_sdr - snr_weight * snr (dB, of the masked noisy STFT inverted with
      the noisy phase; mask models on linear-frequency front-ends, if the weights are > 0)
    + residual_noise_weight * residual_noise                 (the mask applied to the noise
                                                               alone; denoising mask models)
    + kl_weight(step) * kl                                    (Gaussian bottleneck; a fixed
                                                               ``kl_scale``, e.g. ``beta`` for
                                                               validation, when given)
    + sparsity_l1 * sparsity_l1_term + sparsity_kl * sparsity_kl_term   (sparse bottleneck)

Scaling of the KL term: ``reconstruction`` is a mean over the ``n_bins * frames`` feature
values of each item, so the KL (summed over latent dimensions and latent frames of an item)
is divided by the same ``n_bins * frames``. ``beta = 1`` then weighs the two as the negative
ELBO per feature value with a unit-scale Laplace (l1) likelihood; ``beta`` scales it as in
the beta-VAE (Higgins et al. 2017).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import metrics
from .config import ConfigError, LossConfig
from .models.base import AEOutput
from .models.bottleneck import gaussian_kl


@dataclass
class LossResult:
    """Result of :func:`compute_loss`.

    Attributes:
        total: scalar tensor to minimise.
        terms: every term for logging, each a detached scalar tensor: ``total``,
            ``reconstruction``; ``spectral_convergence`` when its
            weight is > 0; for a Gaussian bottleneck ``kl`` (the term in the loss, after free
            bits, per feature value), ``kl_weight`` (the weight it had in ``total``: the
            annealed one, or ``kl_scale``), ``kl_nats`` (KL per latent frame in nats,
            summed over dimensions, before free bits) and ``active_dimensions``; for a sparse
            bottleneck ``sparsity_l1`` (mean activation) and ``sparsity_kl``.
    """

    total: torch.Tensor
    terms: dict[str, torch.Tensor]


def _check_shapes(estimate: torch.Tensor, reference: torch.Tensor) -> None:
    if estimate.shape != reference.shape:
        raise ValueError(f"shapes differ: {tuple(estimate.shape)} vs {tuple(reference.shape)}")


def spectral_convergence(est_mag: torch.Tensor, ref_mag: torch.Tensor) -> torch.Tensor:
    """Spectral convergence ``||ref - est||_F / ||ref||_F`` as a loss: averaged over the batch.

    (Arik et al., "Fast spectrogram inversion using multi-head convolutional neural
    networks", 2019; the ``L_sc`` term of Yamamoto et al., "Parallel WaveGAN", 2020.)
    Computed by :func:`audioae.metrics.spectral_convergence` with the denominator floored at
    1e-8, so an all-zero reference gives a finite value; unlike the metric, the shapes must
    match exactly. :func:`compute_loss` applies it to the magnitudes of the feature bins
    (``frontend.bin_magnitude``): linear STFT magnitudes for ``spectrogram`` /
    ``log_magnitude`` features, mel-band magnitudes for ``log_mel``.

    Args:
        est_mag: non-negative magnitudes ``(..., n_bins, frames)`` (linear, not log).
        ref_mag: magnitudes of the same shape.

    Returns:
        Scalar tensor (dimensionless).

    Raises:
        ValueError: the shapes differ.
    """
    _check_shapes(est_mag, ref_mag)
    return metrics.spectral_convergence(est_mag, ref_mag, floor=1e-8).mean()


_FLOOR = 1e-5
"""Added to magnitudes before the power law so the gradient of ``m^c`` stays finite at 0."""


def _power_compress(mag: torch.Tensor, compression: float) -> torch.Tensor:
    """``(mag + floor)^c - floor^c``: the floored power-law compression, 0 at ``mag = 0``."""
    return (mag + _FLOOR).pow(compression) - _FLOOR**compression


def _per_item_ratio(num: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``mean(num) / mean(ref^2)`` over the last two axes, averaged over the batch."""
    den = ref.square().mean(dim=(-2, -1)).clamp_min(1e-12)
    return (num.mean(dim=(-2, -1)) / den).mean()


def compressed_magnitude_mse(
    est_mag: torch.Tensor, ref_mag: torch.Tensor, compression: float = 0.3
) -> torch.Tensor:
    """Power-law compressed magnitude MSE, normalised per item.

    ``mean((est^c - ref^c)^2) / mean(ref^(2c))`` over the last two axes, averaged over the
    batch, with ``c = compression`` (Braun & Tashev, "A consolidated view of loss functions
    for supervised deep learning-based speech enhancement", 2021, who find ``c = 0.3`` best
    for PESQ; Wilson et al. 2018). The compression weighs quiet bins more than a linear MSE
    but, unlike an L1 on log features, does not ask for exact values in bins that are
    near-silent in the reference, where a log loss forces extreme masks. The per-item
    normalisation makes the loss independent of the item's level. A floor of 1e-5 is added
    to the magnitudes so the gradient of ``m^c`` stays finite at 0.

    Args:
        est_mag: non-negative magnitudes ``(batch, n_bins, frames)``.
        ref_mag: same shape.
        compression: the exponent ``c`` in (0, 1].

    Returns:
        Scalar tensor (dimensionless; 1 = the error of predicting silence).

    Raises:
        ValueError: the shapes differ.
    """
    _check_shapes(est_mag, ref_mag)
    ref = _power_compress(ref_mag, compression)
    return _per_item_ratio((_power_compress(est_mag, compression) - ref).square(), ref)


def compressed_complex_mse(
    est_spec: torch.Tensor,
    ref_spec: torch.Tensor,
    compression: float = 0.3,
    complex_mix: float = 0.3,
) -> torch.Tensor:
    """Power-law compressed magnitude and complex MSE of two STFTs, normalised per item.

    Braun & Tashev, "A consolidated view of loss functions for supervised deep learning-based
    speech enhancement" (2021), eq. 4: with ``c = compression``, ``a = complex_mix`` and the
    compressed spectra ``Y^c = |Y|^c e^{j angle(Y)}``,

        (1 - a) mean(||S|^c - |Y|^c|^2) + a mean(|S^c - Y^c|^2)

    over the last two axes, divided by ``mean(|S|^(2c))`` (as in
    :func:`compressed_magnitude_mse`, so the level of an item does not matter), averaged over
    the batch. They found ``c = 0.3``, ``a = 0.3`` best. The complex term is what makes the
    phase count. A floor of 1e-5 is added to the magnitudes so the gradient of ``m^c`` stays
    finite at 0; bins with a zero magnitude get zero phase.

    Args:
        est_spec: complex STFT of the estimate ``(batch, n_freq, frames)``.
        ref_spec: complex STFT of the reference, same shape.
        compression: ``c`` in (0, 1].
        complex_mix: ``a`` in [0, 1].

    Returns:
        Scalar tensor (dimensionless; 1 = the error of predicting silence).

    Raises:
        ValueError: the shapes differ or a spectrum is not complex.
    """
    _check_shapes(est_spec, ref_spec)
    if not (est_spec.is_complex() and ref_spec.is_complex()):
        raise ValueError("compressed_complex_mse needs complex spectra")

    def compress(spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mag = spec.abs()
        compressed = _power_compress(mag, compression)
        unit = spec / mag.clamp_min(1e-12)  # e^{j angle}; 0 where the bin is 0
        return compressed, compressed * unit

    est_mag, est_c = compress(est_spec)
    ref_mag, ref_c = compress(ref_spec)
    error = (1.0 - complex_mix) * (est_mag - ref_mag).square()
    error = error + complex_mix * (est_c - ref_c).abs().square()
    return _per_item_ratio(error, ref_mag)


def residual_noise(
    noise_mag: torch.Tensor, clean_mag: torch.Tensor, compression: float = 0.3
) -> torch.Tensor:
    """Compressed energy of the noise that the mask lets through, normalised per item.

    A mask ``G`` applied to a mixture ``X = S + N`` passes ``G S`` of the speech and ``G N``
    of the noise; this is the noise-reduction term of a weighted speech-distortion loss (Xia
    et al., "Weighted speech distortion losses for neural-network-based real-time speech
    enhancement", ICASSP 2020; Xu et al., "Components loss for neural networks in mask-based
    speech enhancement", 2020), in the compressed domain of :func:`compressed_magnitude_mse`:
    ``mean((|G N|^c)^2) / mean(|S|^(2c))`` over the last two axes, averaged over the batch. Added to a reconstruction loss, which
    already weighs speech distortion and residual noise together, it asks for more
    suppression where noise dominates, at some cost to the speech there.

    Args:
        noise_mag: ``|G N|``, the masked noise magnitudes ``(batch, n_freq, frames)``, >= 0.
        clean_mag: ``|S|``, the clean magnitudes, same shape.
        compression: the exponent ``c`` in (0, 1].

    Returns:
        Scalar tensor (dimensionless; 1 = noise passed at the level of the speech).

    Raises:
        ValueError: the shapes differ.
    """
    _check_shapes(noise_mag, clean_mag)
    noise = _power_compress(noise_mag, compression)
    return _per_item_ratio(noise.square(), _power_compress(clean_mag, compression))


def negative_si_sdr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Differentiable ``-SI-SDR`` in dB, averaged over the batch (Le Roux et al., "SDR -
    half-baked or well done?", 2019), for training.

    Both signals are made zero-mean; ``1e-8`` guards the divisions so silent items give a
    finite value.

    Args:
        estimate: waveforms ``(batch, time)``.
        reference: waveforms ``(batch, time)``.

    Returns:
        Scalar tensor in dB (lower is better).

    Raises:
        ValueError: the shapes differ.
    """
    _check_shapes(estimate, reference)
    est = estimate - estimate.mean(dim=-1, keepdim=True)
    ref = reference - reference.mean(dim=-1, keepdim=True)
    scale = (est * ref).sum(-1, keepdim=True) / (ref.square().sum(-1, keepdim=True) + 1e-8)
    return negative_snr(est, scale * ref)  # SI-SDR is the SNR against the scaled reference


def negative_snr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Differentiable ``-SNR`` in dB, ``-10 log10(||r||^2 / ||e - r||^2)``, batch mean.

    Unlike :func:`negative_si_sdr` it also penalises a wrong overall level, so a mask
    trained with it keeps clean input at its level. ``1e-8`` guards the divisions.

    Args:
        estimate: waveforms ``(batch, time)``.
        reference: waveforms ``(batch, time)``.

    Returns:
        Scalar tensor in dB (lower is better).

    Raises:
        ValueError: the shapes differ.
    """
    _check_shapes(estimate, reference)
    ratio = (reference.square().sum(-1) + 1e-8) / ((estimate - reference).square().sum(-1) + 1e-8)
    return -(10.0 * torch.log10(ratio)).mean()


def kl_per_dimension(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Closed-form KL to ``N(0, 1)`` per latent dimension, in nats per latent frame.

    Args:
        mean: posterior means ``(batch, latent_dim, latent_frames)``.
        logvar: posterior log-variances, same shape.

    Returns:
        ``(latent_dim,)``: the KL averaged over the batch and the latent frames.
    """
    return gaussian_kl(mean, logvar).mean(dim=(0, 2))


def active_dimensions(mean: torch.Tensor, threshold: float = 0.01) -> int:
    """Number of active latent dimensions (Burda et al., "Importance weighted autoencoders", 2016).

    A dimension is active when the variance of its posterior mean over the batch and the
    latent frames exceeds ``threshold``: an inactive dimension encodes nothing about the input.

    Args:
        mean: posterior means (or deterministic latents) ``(batch, latent_dim, latent_frames)``.
        threshold: variance threshold (default 0.01).

    Returns:
        The count, in ``0..latent_dim``.
    """
    flat = mean.detach().transpose(0, 1).reshape(mean.shape[1], -1)  # (latent_dim, batch * frames)
    if flat.shape[1] < 2:
        return 0
    return int((flat.var(dim=1) > threshold).sum())


def kl_weight(step: int, cfg: LossConfig) -> float:
    """Weight of the KL term at a training step: ``beta`` times an annealing factor in [0, 1].

    ``linear``: the factor rises from 0 to 1 over ``kl_warmup_steps`` (1 from the start when 0;
    Bowman et al. 2016). ``cyclical`` (Fu et al., "Cyclical annealing schedule", 2019): with
    ``tau = step mod kl_cycle_steps`` the factor is ``min(1, tau / ramp)``, where ``ramp`` is
    ``kl_warmup_steps`` when > 0, else half a cycle (Fu et al.'s R = 0.5), at most a cycle.

    Raises:
        ValueError: ``step`` < 0.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if cfg.kl_schedule == "cyclical":
        ramp = min(cfg.kl_warmup_steps or cfg.kl_cycle_steps / 2, cfg.kl_cycle_steps)
        factor = min(1.0, (step % cfg.kl_cycle_steps) / ramp)
    elif cfg.kl_warmup_steps > 0:
        factor = min(1.0, step / cfg.kl_warmup_steps)
    else:
        factor = 1.0
    return cfg.beta * factor


def sparsity_kl(activations: torch.Tensor, target: float) -> torch.Tensor:
    """Ng's (2011) sparsity penalty ``sum_j KL(rho || rho_hat_j)`` between Bernoulli means.

    ``rho_hat_j`` is the mean activation of latent unit ``j`` over the batch and the latent
    frames (clamped to ``[1e-6, 1 - 1e-6]``), ``rho = target``.

    Args:
        activations: values in (0, 1), ``(batch, latent_dim, latent_frames)``.
        target: the target mean activation ``rho`` in (0, 1).

    Returns:
        Scalar tensor in nats (summed over units).
    """
    rho_hat = activations.mean(dim=(0, 2)).clamp(1e-6, 1.0 - 1e-6)  # (latent_dim,)
    rho = target
    kl = rho * torch.log(rho / rho_hat) + (1.0 - rho) * torch.log((1.0 - rho) / (1.0 - rho_hat))
    return kl.sum()


def compute_loss(
    output: AEOutput,
    target: torch.Tensor,
    cfg: LossConfig,
    step: int,
    bin_magnitude: Callable[[torch.Tensor], torch.Tensor] | None = None,
    waveforms: tuple[torch.Tensor, torch.Tensor] | None = None,
    spectra: tuple[torch.Tensor, torch.Tensor] | None = None,
    noise_residual: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    kl_scale: float | None = None,
) -> LossResult:
    """The training loss of one batch (see the module docstring for the formula).

    Free bits (Kingma et al., "Improved variational inference with inverse autoregressive
    flow", 2016): each latent dimension's KL, averaged over the batch and latent frames
    (nats per latent frame), is floored at ``cfg.free_bits`` before it enters the loss, so
    dimensions below the floor get no KL gradient.

    Args:
        output: the model's :class:`AEOutput` (reconstruction ``(batch, n_bins, frames)``).
        target: clean features ``(batch, n_bins, frames)``.
        cfg: the ``loss`` section.
        step: the optimiser step (for the KL schedule), >= 0.
        bin_magnitude: maps features to the non-negative magnitude of each feature bin
            ``(batch, n_bins, frames)`` (``frontend.bin_magnitude``: for ``log_mel`` the
            mel-band magnitudes, with no inversion to linear frequency); needed by
            ``reconstruction: compressed_mse`` and when ``spectral_convergence_weight > 0``
            (spectral convergence is taken on these magnitudes).
        waveforms: ``(estimate, clean)`` waveforms ``(batch, time)`` for the SI-SDR term;
            needed when ``si_sdr_weight`` or ``snr_weight`` is > 0 (the trainer builds the estimate by inverting
            the masked noisy STFT with the noisy phase).
        spectra: complex STFTs ``(estimate, clean)`` ``(batch, n_freq, frames)`` of those
            waveforms; needed by ``reconstruction: compressed_complex_mse``.
        noise_residual: ``(|G N|, |S|)`` ``(batch, n_freq, frames)`` for the residual-noise
            term (see :func:`residual_noise`); needed when ``residual_noise_weight > 0``.
        kl_scale: the weight of the KL term, >= 0, in place of the annealed
            :func:`kl_weight` ``(step, cfg)`` (None: the schedule's). Validation passes
            ``cfg.beta``, the weight the annealing reaches, so that validation losses of
            different steps weigh the KL alike and the best checkpoint is chosen on one
            objective whatever the schedule.

    Returns:
        :class:`LossResult`.

    Raises:
        ValueError: the shapes differ, spectral convergence or ``compressed_mse`` is asked
            for without ``bin_magnitude``, ``kl_scale`` is negative or not finite,
            ``compressed_complex_mse`` without ``spectra``, the SI-SDR term without
            ``waveforms``, or the residual-noise term without ``noise_residual``.
        ConfigError: a sparsity weight is set but the model has no sparse bottleneck.
    """
    recon = output.reconstruction
    if kl_scale is not None and not (math.isfinite(kl_scale) and kl_scale >= 0):
        raise ValueError(f"kl_scale must be a finite number >= 0, got {kl_scale}")
    if recon.shape != target.shape:
        raise ValueError(
            f"reconstruction {tuple(recon.shape)} and target {tuple(target.shape)} differ"
        )
    if cfg.reconstruction == "compressed_mse":
        if bin_magnitude is None:
            raise ValueError(
                "loss.reconstruction=compressed_mse needs bin_magnitude (the front-end's)"
            )
        reconstruction = compressed_magnitude_mse(
            bin_magnitude(recon), bin_magnitude(target), cfg.compression
        )
    elif cfg.reconstruction == "compressed_complex_mse":
        if spectra is None:
            raise ValueError(
                "loss.reconstruction=compressed_complex_mse needs the estimate and clean spectra"
            )
        reconstruction = compressed_complex_mse(*spectra, cfg.compression, cfg.complex_mix)
    else:
        loss_fn = F.l1_loss if cfg.reconstruction == "l1" else F.mse_loss
        reconstruction = loss_fn(recon, target)
    total = reconstruction
    terms: dict[str, torch.Tensor] = {"reconstruction": reconstruction.detach()}

    if cfg.spectral_convergence_weight > 0:
        if bin_magnitude is None:
            raise ValueError(
                "loss.spectral_convergence_weight > 0 needs bin_magnitude (the front-end's)"
            )
        # on the feature bins' magnitudes: for log_mel the mel bands, not an NNLS inversion
        # to linear frequency (100 iterations per call: seconds and gigabytes per batch)
        sc = spectral_convergence(bin_magnitude(recon), bin_magnitude(target))
        total = total + cfg.spectral_convergence_weight * sc
        terms["spectral_convergence"] = sc.detach()

    for name, weight, fn in (
        ("si_sdr", cfg.si_sdr_weight, negative_si_sdr),
        ("snr", cfg.snr_weight, negative_snr),
    ):
        if weight > 0:
            if waveforms is None:
                raise ValueError(f"loss.{name}_weight > 0 needs the estimate and clean waveforms")
            neg = fn(*waveforms)
            total = total + weight * neg
            terms[name] = -neg.detach()

    if cfg.residual_noise_weight > 0:
        if noise_residual is None:
            raise ValueError(
                "loss.residual_noise_weight > 0 needs the masked noise and the clean magnitudes"
            )
        residual = residual_noise(*noise_residual, cfg.compression)
        total = total + cfg.residual_noise_weight * residual
        terms["residual_noise"] = residual.detach()

    if output.kl is not None:
        per_dim = output.kl.mean(dim=(0, 2))  # (latent_dim,) nats per latent frame
        floored = per_dim.clamp_min(cfg.free_bits) if cfg.free_bits > 0 else per_dim
        latent_frames = output.kl.shape[-1]
        kl = floored.sum() * latent_frames / (target.shape[-2] * target.shape[-1])
        weight = kl_weight(step, cfg) if kl_scale is None else float(kl_scale)
        total = total + weight * kl
        terms["kl"] = kl.detach()
        terms["kl_weight"] = torch.tensor(weight, device=recon.device)
        terms["kl_nats"] = per_dim.sum().detach()
        if output.latent.mean is not None:
            count = active_dimensions(output.latent.mean)
            terms["active_dimensions"] = torch.tensor(float(count), device=recon.device)

    if output.activations is not None:
        l1 = output.activations.abs().mean()
        skl = sparsity_kl(output.activations, cfg.sparsity_target)
        total = total + cfg.sparsity_l1 * l1 + cfg.sparsity_kl * skl
        terms["sparsity_l1"] = l1.detach()
        terms["sparsity_kl"] = skl.detach()
    elif cfg.sparsity_l1 > 0 or cfg.sparsity_kl > 0:
        key = "loss.sparsity_l1" if cfg.sparsity_l1 > 0 else "loss.sparsity_kl"
        raise ConfigError(
            f"{key}: is set but the model exposes no activations; use model.bottleneck=sparse"
        )

    terms["total"] = total.detach()
    return LossResult(total, terms)
