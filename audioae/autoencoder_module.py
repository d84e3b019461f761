"""The Lightning module of the ``autoencoder`` task: a front-end and an autoencoder (the model
knows nothing of Lightning) trained on waveform batches. Features are computed batched on the
device, the loss is :func:`audioae.losses.compute_loss` with every term logged, and the first
validation batch logs reconstructed audio (Griffin-Lim) and spectrogram images to TensorBoard.
:func:`audioae.training.train` builds and fits it.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from .config import Config, ConfigError
from .features import build_frontend
from .functional import apply_complex_mask
from .init_weights import load_model_weights
from .inpaint import mask_groups, random_groups, silence_features
from .losses import compute_loss, kl_per_dimension
from .models import build_model
from .optim import TrainingDivergedError, configure_adamw
from .phase import PhaseReconstructor
from .runfolder import (
    checkpoint_hyperparameters,
    module_config,
)


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
        # the attribute name is part of the checkpoint layout (run_checkpoints.MODEL_PREFIX)
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

    def _step(self, batch, inpaint: bool = False, kl_scale: float | None = None):
        """One forward pass and its loss: ``(inputs, target, output, LossResult)``.
        ``inpaint``: mask one random group of bins per example at the input (training of a
        ``model.inpaint_groups`` model; :mod:`audioae.inpaint`); the target stays whole.
        ``kl_scale``: a fixed KL weight in place of the annealed one (see
        :func:`audioae.losses.compute_loss`; validation passes ``loss.beta``)."""
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
            bin_magnitude=self.frontend.bin_magnitude,
            waveforms=waveforms,
            spectra=spectra,
            noise_residual=noise_residual,
            kl_scale=kl_scale,
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
        """Log ``val/loss`` (what the best checkpoint is chosen by) and each term as
        ``val/<term>`` (``val/reconstruction``, ``val/kl``, ...); returns ``val/loss``.

        The KL of a Gaussian bottleneck is weighted by the fixed ``loss.beta`` (the weight
        the annealing reaches; logged as ``val/kl_weight``), not by the annealed weight of
        the current step that ``train/loss`` uses: with cyclical annealing the annealed
        weight is 0 at every cycle start, and a best checkpoint chosen on such a KL-free loss
        would be chosen on another objective than the next validation's. So ``val/loss`` =
        ``val/reconstruction`` + ``beta`` x ``val/kl`` (+ the other weighted terms) at every
        step.
        """
        inputs, target, output, result = self._step(batch, kl_scale=self.cfg.loss.beta)
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
            # a diverging run's NaN samples are logged as silence (export then refuses it)
            wavs["reconstruction"] = torch.nan_to_num(recon[i].reshape(-1), 0.0, 0.0, 0.0)
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
