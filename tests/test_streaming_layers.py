"""The packed causal mask model (audioae.streaming_layers): fed a few frames at a time, its
logits equal the model's own layer-by-layer forward of the whole sequence, with float32 and
with float16-weight products, for every bottleneck; it refuses what it cannot pack."""

import random

import pytest
import torch

from audioae.config import load_config
from audioae.features import build_frontend
from audioae.models import build_model
from audioae.streaming_layers import PackedMaskNet, fp16_kernel_available, pack_mask_model

TOLERANCE = 1e-5  # max abs difference of the logits (here up to ~0.5; measured ~2e-7)
CAUSAL = [
    "features.kind=log_magnitude",
    "features.n_fft=128",
    "features.hop_length=32",
    "model.output=mask",
    "model.causal=true",
    "model.strides=[]",
    "model.hidden_dim=24",
    "model.latent_dim=8",
    "model.n_res_blocks=3",
    "model.dilations=[1,2,4]",
]


def _model(sets=(), half=False):
    torch.manual_seed(0)
    cfg = load_config(None, [*CAUSAL, *sets])
    model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate)).eval()
    if half:  # weights as a float16 model file stores them
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half().float())
    return model


def _reference_logits(model, features):
    """The model's own forward: ``(batch, n_bins, frames)`` pre-sigmoid mask."""
    x = (features - model.feature_shift) / model.feature_scale
    return model.decoder(model.bottleneck(model.encoder(x), False).latent.sample)


def _stream(net, features, sizes):
    pieces, t = [], 0
    while t < features.shape[-1]:
        n = min(sizes(), features.shape[-1] - t, net.max_frames)
        pieces.append(net.step(features[..., t : t + n].permute(2, 0, 1)).permute(1, 2, 0).clone())
        t += n
    return torch.cat(pieces, dim=-1)


@pytest.mark.parametrize("bottleneck", ["deterministic", "gaussian", "sparse"])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("fp16", [True, False])
def test_packed_steps_equal_the_models_forward(bottleneck, channels, fp16):
    model = _model([f"model.bottleneck={bottleneck}"], half=True)
    stages = pack_mask_model(model)
    assert stages is not None and len(stages) == 1 + 3 + 1 + 1 + 3 + 1
    net = PackedMaskNet(
        stages, model.feature_shift, model.feature_scale, channels=channels, fp16=fp16
    )
    assert net.uses_fp16 == (fp16 and fp16_kernel_available())
    torch.manual_seed(1)
    frames = 300  # several moves of the buffers (64 frames)
    features = torch.log(torch.rand(channels, model.n_bins, frames) + 1e-5)
    with torch.inference_mode():
        reference = _reference_logits(model, features)
        rng = random.Random(channels)
        streamed = _stream(net, features, lambda: rng.choice([1, 2, 2, 3, 7, 32]))
    assert streamed.shape == reference.shape
    assert (streamed - reference).abs().max().item() < TOLERANCE
    assert reference.abs().max().item() > 0.1  # not a comparison of zeros


def test_float32_weights_stay_in_float32():
    model = _model()  # float32 weights are not float16 numbers: no rounding allowed
    net = PackedMaskNet(pack_mask_model(model), model.feature_shift, model.feature_scale)
    assert not net.uses_fp16
    features = torch.log(torch.rand(1, model.n_bins, 40) + 1e-5)
    with torch.inference_mode():
        reference = _reference_logits(model, features)
        streamed = _stream(net, features, lambda: 2)
    assert (streamed - reference).abs().max().item() < TOLERANCE


def test_reset_starts_a_new_stream():
    model = _model(half=True)
    net = PackedMaskNet(pack_mask_model(model), model.feature_shift, model.feature_scale)
    features = torch.log(torch.rand(1, model.n_bins, 50) + 1e-5)
    with torch.inference_mode():
        first = _stream(net, features, lambda: 2)
        net.reset()
        again = _stream(net, features, lambda: 5)
        continued = _stream(net, features, lambda: 5)  # no reset: the context is the past
    assert (again - first).abs().max().item() < TOLERANCE
    assert (continued - first).abs().max().item() > 1e-3


def test_what_cannot_be_packed_is_refused():
    assert pack_mask_model(_model(["model.causal=false"])) is None  # "same" padding looks ahead
    features_model = _model(["model.output=features"])
    assert pack_mask_model(features_model) is None
    model = _model()
    net = PackedMaskNet(pack_mask_model(model), model.feature_shift, model.feature_scale)
    with pytest.raises(ValueError, match="expected features"):
        net.step(torch.zeros(2, 1, model.n_bins + 1))
    with pytest.raises(ValueError, match="expected features"):
        net.step(torch.zeros(net.max_frames + 1, 1, model.n_bins))


@pytest.mark.parametrize("dilations", ["[1,3,9,27]", "[1,4,16,64]"])
def test_wide_dilations_stream_as_the_forward(dilations):
    """Left contexts of 54 and 128 frames, beyond the buffer's 32-frame half: the buffers grow,
    so moving the last ``context`` frames to the front never reads what it overwrites."""
    model = _model(["model.n_res_blocks=4", f"model.dilations={dilations}"], half=True)
    net = PackedMaskNet(pack_mask_model(model), model.feature_shift, model.feature_scale)
    torch.manual_seed(2)
    frames = 700  # several moves of the largest buffer
    features = torch.log(torch.rand(1, model.n_bins, frames) + 1e-5)
    with torch.inference_mode():
        reference = _reference_logits(model, features)
        rng = random.Random(3)
        streamed = _stream(net, features, lambda: rng.choice([1, 2, 7, 32]))
    assert (streamed - reference).abs().max().item() < TOLERANCE
    assert reference.abs().max().item() > 0.1
