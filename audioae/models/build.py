"""``build_model``: a validated :class:`~audioae.config.ModelConfig` to an :class:`AutoEncoder`."""

from __future__ import annotations

import math

from torch import nn

from ..config import ARCHITECTURES, BOTTLENECKS, ConfigError, ModelConfig
from ..features import FrontEnd
from .base import AutoEncoder
from .bottleneck import BOTTLENECK_CLASSES
from .conv1d import Conv1dDecoder, Conv1dEncoder
from .conv2d import Conv2dDecoder, Conv2dEncoder
from .dense import DenseDecoder, DenseEncoder


def _check(model_cfg: ModelConfig, n_bins: int) -> None:
    """Checks that need the feature size or the architecture; raise ConfigError naming the key."""
    model_cfg.__post_init__()  # re-run the field checks: dataclass fields may have been edited
    if model_cfg.kernel_size % 2 == 0:
        raise ConfigError(
            f"model.kernel_size: must be odd (same padding), got {model_cfg.kernel_size}"
        )
    if model_cfg.architecture == "conv2d":
        if not model_cfg.channels:
            raise ConfigError("model.channels: conv2d needs at least one channel count")
        freq_downsampling = math.prod(model_cfg.freq_strides)
        if freq_downsampling > n_bins:
            raise ConfigError(
                f"model.freq_strides: their product ({freq_downsampling}) exceeds the {n_bins} "
                f"feature bins; use fewer or smaller frequency strides"
            )


def build_model(model_cfg: ModelConfig, frontend: FrontEnd) -> AutoEncoder:
    """Build the autoencoder a config describes, for the features of ``frontend``.

    Architectures: ``dense`` (MLP over ``context`` stacked frames; time downsampling
    ``context``), ``conv1d`` (bins as channels, ``hidden_dim`` wide, time strides ``strides``),
    ``conv2d`` (one-channel image, stages ``channels`` wide with strides ``(freq_strides,
    strides)``). Bottlenecks: ``deterministic``, ``sparse``, ``gaussian``.

    Args:
        model_cfg: the ``model`` section.
        frontend: the front-end the model's features come from (e.g.
            ``build_frontend(cfg.features, cfg.audio.sample_rate)``); it supplies ``n_bins``,
            the default input standardisation and the mask application, and the model
            keeps it (``model.frontend``).

    Returns:
        An :class:`AutoEncoder` in training mode, on the CPU, float32.

    Raises:
        ConfigError: invalid or inconsistent values, naming the key (e.g. ``model.freq_strides``
            whose product exceeds ``n_bins``, an even ``model.kernel_size``).
    """
    n_bins = frontend.n_bins
    _check(model_cfg, n_bins)
    c = model_cfg
    n_out = 2 * n_bins if c.complex_mask else n_bins  # a complex mask: real and imaginary parts
    if c.architecture == "dense":
        encoder = DenseEncoder(n_bins, c.hidden_dim, c.context, c.n_res_blocks)
        decoder = DenseDecoder(n_out, c.latent_dim, c.hidden_dim, c.context, c.n_res_blocks)
        time_downsampling = c.context
    elif c.architecture == "conv1d":
        encoder = Conv1dEncoder(
            n_bins,
            c.hidden_dim,
            c.strides,
            c.kernel_size,
            c.n_res_blocks,
            list(c.dilations),
            causal=c.causal,
        )
        decoder = Conv1dDecoder(
            n_out,
            c.latent_dim,
            c.hidden_dim,
            c.strides,
            c.kernel_size,
            c.n_res_blocks,
            list(c.dilations),
            causal=c.causal,
        )
        time_downsampling = math.prod(c.strides)
    elif c.architecture == "conv2d":
        encoder = Conv2dEncoder(
            n_bins, c.channels, c.strides, c.freq_strides, c.kernel_size, c.n_res_blocks
        )
        decoder = Conv2dDecoder(
            n_bins,
            c.latent_dim,
            c.channels,
            c.strides,
            c.freq_strides,
            c.kernel_size,
            c.n_res_blocks,
        )
        time_downsampling = math.prod(c.strides)
    else:  # unreachable after _check; kept so a new ARCHITECTURES entry cannot pass silently
        raise ConfigError(
            f"model.architecture: {c.architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    if c.bottleneck not in BOTTLENECK_CLASSES:
        raise ConfigError(
            f"model.bottleneck: {c.bottleneck!r}; choose one of {', '.join(BOTTLENECKS)}"
        )
    bottleneck = BOTTLENECK_CLASSES[c.bottleneck](encoder.out_channels, c.latent_dim)
    df_head = None
    if c.df_order:  # ModelConfig allows it for conv1d mask models only
        # zero-initialised: a model fine-tuned from a magnitude-mask model starts as that model
        df_head = nn.Conv1d(c.hidden_dim, 2 * c.df_bins * c.df_order, kernel_size=1)
        nn.init.zeros_(df_head.weight)
        nn.init.zeros_(df_head.bias)
    return AutoEncoder(
        encoder,
        bottleneck,
        decoder,
        frontend=frontend,
        time_downsampling=time_downsampling,
        predicts_mask=c.predicts_mask,
        complex_mask=c.complex_mask,
        df_head=df_head,
        df_order=c.df_order,
        df_lookahead=c.df_lookahead,
    )
