"""Training of the learned decoder (:mod:`audioae.vocoder`) through the same Lightning path.

:class:`VocoderModule` is the ``task: vocoder`` counterpart of
:class:`audioae.training.AutoEncoderModule`: :func:`audioae.training.train` builds it with
:func:`audioae.training.build_module`, so data, checkpoints, resume, logging and export are
the autoencoder's. Batches are waveforms ``(batch, time)``; the module computes the
front-end's STFT and features without gradients, decodes the features and applies
:func:`audioae.vocoder_losses.vocoder_loss` against the waveform and its STFT.

The vocoder is kept as ``self.model`` (the checkpoint layout of :mod:`audioae.runfolder`), so
``export_run`` finds its weights under the same ``model.`` prefix.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor

from . import functional as AF
from .config import Config
from .features import build_frontend
from .losses import LossResult
from .optim import TrainingDivergedError, configure_adamw
from .runfolder import checkpoint_hyperparameters, module_config
from .vocoder import build_vocoder
from .vocoder_losses import vocoder_loss
from .vocoder_source import SourceFeatures, load_initial_weights


class VocoderModule(L.LightningModule):
    """Lightning wrapper around a front-end and a :class:`~audioae.vocoder.Vocoder`.

    Args:
        config: a ``task: vocoder`` :class:`~audioae.config.Config` or its dict form.
    """

    def __init__(self, config: Config | dict[str, Any]) -> None:
        super().__init__()
        cfg = module_config(config)
        self.save_hyperparameters(checkpoint_hyperparameters(cfg))
        self.cfg = cfg
        self.frontend = build_frontend(cfg.features, cfg.audio.sample_rate)
        self.model = build_vocoder(cfg.vocoder, self.frontend)
        fb = AF.mel_filterbank(cfg.audio.sample_rate, self.frontend.n_fft, cfg.features.n_mels)
        self.mel_filterbank: Tensor
        self.register_buffer("mel_filterbank", fb, persistent=False)
        loss_cfg = cfg.vocoder_loss
        # a plain attribute, not a submodule: the frozen source model stays out of checkpoints
        self._source: SourceFeatures | None = None
        if loss_cfg.source_model:
            self._source = SourceFeatures(
                loss_cfg.source_model, cfg, loss_cfg.source_bits, seed=cfg.training.seed
            )
        self._init_from = loss_cfg.init_from

    def on_fit_start(self) -> None:
        """Start from ``vocoder_loss.init_from``'s weights on a fresh run (not on resume)."""
        if self._init_from and self.trainer.ckpt_path is None:
            load_initial_weights(self.model, self._init_from)

    def forward(self, features: Tensor, length: int | None = None) -> Tensor:
        """Waveform ``(batch, time)`` of features ``(batch, n_bins, frames)``."""
        return self.model(features, length)

    def _step(self, batch) -> tuple[LossResult, Tensor]:
        wav = (batch[1] if isinstance(batch, (list, tuple)) else batch).float()
        with torch.autocast(self.device.type, enabled=False):
            with torch.no_grad():
                target_spec = self.frontend.stft(wav)
                features = self.frontend.from_magnitude(target_spec.abs())
                if self._source is not None:
                    features = self._source(features)
            out = self.model.spectrum(features)
            estimate = self.model.synthesize(out, wav.shape[-1])
            result = vocoder_loss(
                estimate,
                out.complex(),
                out.phase,
                wav,
                target_spec,
                self.cfg.vocoder_loss,
                mel_filterbank=self.mel_filterbank,
                stft=self.frontend.stft_params,
                magnitude=out.magnitude,
            )
        return result, estimate

    def _log_terms(self, prefix: str, result: LossResult, batch_size: int) -> None:
        for name, value in result.terms.items():
            if name != "total":
                self.log(
                    f"{prefix}/{name}",
                    value.float(),
                    batch_size=batch_size,
                    sync_dist=prefix == "val",
                )

    def training_step(self, batch, batch_idx: int) -> Tensor:
        result, estimate = self._step(batch)
        loss = result.total
        if not bool(torch.isfinite(loss.detach())):
            raise TrainingDivergedError(
                f"the vocoder's training loss became {loss.item()} at step {self.global_step}; the last good "
                "checkpoint is kept (resume with a lower training.learning_rate)"
            )
        self.log("train/loss", loss, prog_bar=True, batch_size=estimate.shape[0])
        self._log_terms("train", result, estimate.shape[0])
        return loss

    def validation_step(self, batch, batch_idx: int) -> Tensor:
        result, estimate = self._step(batch)
        size = estimate.shape[0]
        self.log("val/loss", result.total, prog_bar=True, sync_dist=True, batch_size=size)
        self._log_terms("val", result, size)
        if batch_idx == 0 and not self.trainer.sanity_checking and self.trainer.is_global_zero:
            self._log_examples(batch, estimate)
        return result.total

    @torch.no_grad()
    def _log_examples(self, batch, estimate: Tensor) -> None:
        """The first validation examples' input and decoded audio, to TensorBoard."""
        from lightning.pytorch.loggers import TensorBoardLogger

        tb = next((lg.experiment for lg in self.loggers if isinstance(lg, TensorBoardLogger)), None)
        count = min(self.cfg.training.audio_examples, estimate.shape[0])
        if tb is None or count == 0:
            return
        wav = batch[1] if isinstance(batch, (list, tuple)) else batch
        sr = self.cfg.audio.sample_rate
        for i in range(count):
            for name, x in (("input", wav[i]), ("decoded", estimate[i])):
                peak = x.abs().max().clamp_min(1.0)
                tb.add_audio(
                    f"val/example{i}/{name}",
                    (x / peak).float().cpu(),
                    self.global_step,
                    sample_rate=sr,
                )

    def configure_optimizers(self):
        return configure_adamw(self.model.parameters(), self.cfg.training)
