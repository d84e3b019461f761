"""Band inpainting (``model.inpaint_groups``): the groups of bins, masking, the assembly of
every bin from the pass that masked its group, the config's refusals, the training step's
masked inputs, and anomaly scoring of an inpainting model (equal to a manual inpainting,
unlike the plain reconstruction, and the same whole and in chunks)."""

import math

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL, requires_cuda, tiny_model_file

from audioae.anomaly import fit_reference, frame_errors, reconstruct_frames
from audioae.config import ConfigError, load_config
from audioae.features import build_frontend
from audioae.inpaint import group_of_bins, inpaint, mask_groups, random_groups, silence_features
from audioae.pipeline import Pipeline
from audioae.training import AutoEncoderModule


def test_groups_are_contiguous_and_near_equal():
    assert group_of_bins(10, 3).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert group_of_bins(64, 8).tolist() == [g for g in range(8) for _ in range(8)]
    assert group_of_bins(5, 5).tolist() == [0, 1, 2, 3, 4]
    for bad in (0, 6):
        with pytest.raises(ValueError, match="inpaint groups must be in 1..n_bins"):
            group_of_bins(5, bad)


def test_mask_groups_sets_one_group_to_the_fill_and_leaves_the_rest():
    x = torch.randn(3, 10, 7)
    fill = torch.full((1, 10, 1), -11.5)
    out = mask_groups(x, torch.tensor([0, 2, 3]), 3, fill)
    assert torch.equal(out[0, :4], torch.full((4, 7), -11.5))
    assert torch.equal(out[0, 4:], x[0, 4:])
    assert torch.equal(out[1, 7:], torch.full((3, 7), -11.5))
    assert torch.equal(out[1, :7], x[1, :7])
    assert torch.equal(out[2], x[2])  # ``groups``: no mask
    with pytest.raises(ValueError, match="group indices must be in 0..3"):
        mask_groups(x, torch.tensor([0, 1, 4]), 3, fill)
    with pytest.raises(ValueError, match="expected shape"):
        mask_groups(x, torch.tensor([0, 1]), 3, fill)
    # unchecked (training draws ``which`` itself; no device sync): the same masks, and an index
    # out of range masks nothing instead of raising
    assert torch.equal(mask_groups(x, torch.tensor([0, 2, 3]), 3, fill, check_values=False), out)
    unchecked = mask_groups(x, torch.tensor([0, 1, 4]), 3, fill, check_values=False)
    assert torch.equal(unchecked[2], x[2])


def test_random_groups_cover_every_choice_including_no_mask():
    torch.manual_seed(0)
    which = random_groups(2000, 4)
    assert which.shape == (2000,)
    counts = torch.bincount(which, minlength=5)
    assert counts.numel() == 5 and int(counts.min()) > 300  # about 400 each


def test_inpaint_takes_every_bin_from_the_pass_that_masked_its_group():
    torch.manual_seed(0)
    x = torch.randn(2, 9, 5)
    fill = torch.full((1, 9, 1), -3.0)
    weights = torch.randn(9, 9)

    def model(f):  # every output bin depends on every input bin
        return torch.einsum("ij,bjt->bit", weights, f)

    out = inpaint(model, x, 3, fill)
    groups = group_of_bins(9, 3)
    for g in range(3):
        masked = mask_groups(x, torch.full((2,), g), 3, fill)
        expected = model(masked)[:, groups == g]
        torch.testing.assert_close(out[:, groups == g], expected)
    # an identity model "predicts" the masked bins as the fill
    torch.testing.assert_close(inpaint(lambda f: f, x, 3, fill), fill.expand(2, 9, 5))


def test_silence_features_are_the_log_floor_or_zero():
    cfg = load_config(None, TINY_MODEL)
    log_mel = silence_features(build_frontend(cfg.features, 16000))
    assert log_mel.shape == (1, 32, 1)
    torch.testing.assert_close(log_mel, torch.full((1, 32, 1), math.log(1e-5)))
    cfg = load_config(None, [*TINY_MODEL, "features.kind=spectrogram"])
    linear = silence_features(build_frontend(cfg.features, 16000))
    assert linear.shape == (1, 129, 1) and torch.equal(linear, torch.zeros(1, 129, 1))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["features.kind=log_magnitude", "model.output=mask"], "needs output features"),
        (["data.denoise=true"], "needs data.denoise: false"),
        (["model.inpaint_groups=33"], r"at most one group per feature bin \(32\)"),
        (["model.inpaint_groups=-1"], "model.inpaint_groups"),
    ],
)
def test_config_refuses_what_cannot_inpaint(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [*TINY_MODEL, "model.inpaint_groups=4", *overrides])


def test_training_step_masks_one_group_or_none_per_example_and_validation_none():
    torch.manual_seed(0)
    cfg = load_config(None, [*TINY_MODEL, "model.inpaint_groups=4", "data.batch_size=16"])
    module = AutoEncoderModule(cfg)
    seen = []
    module.model.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    batch = 0.3 * torch.randn(16, 4096)
    clean = module.features(batch)
    module._step(batch, inpaint=True)
    fill = math.log(1e-5)
    groups = group_of_bins(32, 4)
    masked_groups = []
    for i in range(16):
        differs = (seen[0][i] != clean[i]).any(-1)  # (n_bins,)
        hit = sorted({int(g) for g in groups[differs]})
        assert len(hit) <= 1
        if hit:
            assert torch.all(seen[0][i, groups == hit[0]] == fill)
            assert torch.equal(seen[0][i, groups != hit[0]], clean[i, groups != hit[0]])
        masked_groups.append(hit[0] if hit else 4)
    assert len(set(masked_groups)) >= 3  # several choices drawn in one batch of 16
    module._step(batch)  # validation: unmasked
    assert torch.equal(seen[1], clean)


@pytest.fixture(scope="module")
def inpainting_model(tmp_path_factory):
    return tiny_model_file(
        tmp_path_factory.mktemp("inpaint") / "inpaint.safetensors", ["model.inpaint_groups=4"]
    )


def test_anomaly_reconstruction_of_an_inpainting_model_is_its_inpainting(inpainting_model):
    pipe = Pipeline.load(inpainting_model, device="cpu")
    torch.manual_seed(1)
    wav = 0.2 * torch.randn(8000)
    rec = reconstruct_frames(pipe, wav)
    with torch.no_grad():
        features = pipe.frontend(wav[None])
        plain = pipe.model(features, sample_posterior=False).reconstruction[0]
        expected = inpaint(
            lambda f: pipe.model(f, sample_posterior=False).reconstruction,
            features,
            4,
            silence_features(pipe.frontend),
        )[0]
    assert rec.reconstruction.shape == features.shape[1:]
    torch.testing.assert_close(rec.reconstruction, expected, atol=1e-5, rtol=1e-5)
    assert (rec.reconstruction - plain).abs().max() > 1e-2
    torch.testing.assert_close(rec.features, features[0])


def test_inpainting_errors_whole_and_chunked_agree(inpainting_model):
    rng = np.random.default_rng(0)
    wav = torch.from_numpy((0.2 * rng.standard_normal(16000 * 3 + 51)).astype(np.float32))
    whole = Pipeline.load(inpainting_model, device="cpu", chunk_seconds=60.0)
    chunked = Pipeline.load(inpainting_model, device="cpu", chunk_seconds=0.5)
    stats, _ = fit_reference(whole, [wav[:16000]])
    a = frame_errors(whole, wav, reference=stats)
    b = frame_errors(chunked, wav, reference=stats)
    assert a.error.shape == ((16000 * 3 + 51) // 64 + 1,)
    torch.testing.assert_close(b.error, a.error, atol=1e-3, rtol=1e-3)


@requires_cuda
def test_training_step_and_inpainting_run_on_cuda():
    torch.manual_seed(0)
    cfg = load_config(None, [*TINY_MODEL, "model.inpaint_groups=4"])
    module = AutoEncoderModule(cfg).cuda()
    batch = 0.3 * torch.randn(4, 4096, device="cuda")
    _, _, output, result = module._step(batch, inpaint=True)
    assert output.reconstruction.device.type == "cuda" and torch.isfinite(result.total)
    features = module.features(batch)
    fill = silence_features(module.frontend)
    assert fill.device.type == "cuda"
    with torch.no_grad():
        out = inpaint(lambda f: module.model(f).reconstruction, features, 4, fill)
        cpu = inpaint(lambda f: module.model.cpu()(f).reconstruction, features.cpu(), 4, fill.cpu())
    torch.testing.assert_close(out.cpu(), cpu, atol=1e-4, rtol=1e-4)
