"""Losses: KL schedules, free bits, sparsity penalties, spectral convergence, compute_loss terms."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from audioae.config import ConfigError, LossConfig
from audioae.losses import (
    active_dimensions,
    compute_loss,
    kl_per_dimension,
    kl_weight,
    sparsity_kl,
    spectral_convergence,
)
from audioae.models import AEOutput, Latent, gaussian_kl


def _vae_output(mean: torch.Tensor, logvar: torch.Tensor, recon: torch.Tensor) -> AEOutput:
    return AEOutput(recon, Latent(mean, mean, logvar), kl=gaussian_kl(mean, logvar))


# ---------------------------------------------------------------- KL weight schedules
def test_linear_kl_warmup() -> None:
    cfg = LossConfig(beta=0.5, kl_warmup_steps=100)
    assert kl_weight(0, cfg) == 0.0
    assert kl_weight(25, cfg) == pytest.approx(0.125)
    assert kl_weight(100, cfg) == pytest.approx(0.5)
    assert kl_weight(10_000, cfg) == pytest.approx(0.5)
    assert kl_weight(0, LossConfig(beta=2.0)) == 2.0  # no warm-up


def test_cyclical_kl_schedule() -> None:
    cfg = LossConfig(beta=1.0, kl_schedule="cyclical", kl_cycle_steps=100)  # ramp: half a cycle
    values = [kl_weight(s, cfg) for s in (0, 25, 50, 99, 100, 125, 250)]
    assert values == pytest.approx([0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0])
    ramp10 = LossConfig(kl_schedule="cyclical", kl_cycle_steps=100, kl_warmup_steps=10)
    assert [kl_weight(s, ramp10) for s in (5, 10, 105)] == pytest.approx([0.5, 1.0, 0.5])
    with pytest.raises(ValueError, match="step"):
        kl_weight(-1, cfg)


# ---------------------------------------------------------------- KL helpers
def test_kl_per_dimension_matches_torch_distributions() -> None:
    gen = torch.Generator().manual_seed(0)
    mean = torch.randn(4, 5, 7, generator=gen)
    logvar = torch.randn(4, 5, 7, generator=gen)
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(q, p).mean(dim=(0, 2))
    assert torch.allclose(kl_per_dimension(mean, logvar), expected, atol=1e-6)
    assert torch.equal(kl_per_dimension(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)), torch.zeros(3))


def test_active_dimensions_counts_dimensions_whose_mean_varies() -> None:
    gen = torch.Generator().manual_seed(0)
    mean = torch.zeros(16, 5, 10)
    mean[:, 0] = torch.randn(16, 10, generator=gen)  # variance ~1
    mean[:, 2] = 0.3 * torch.randn(16, 10, generator=gen)  # variance ~0.09
    mean[:, 3] = 0.01 * torch.randn(16, 10, generator=gen) + 4.0  # variance ~1e-4, large offset
    assert active_dimensions(mean) == 2
    assert active_dimensions(mean, threshold=0.5) == 1
    assert active_dimensions(mean, threshold=1e-6) == 3


# ---------------------------------------------------------------- spectral convergence
def test_spectral_convergence_values() -> None:
    gen = torch.Generator().manual_seed(0)
    ref = torch.rand(3, 9, 11, generator=gen)
    est = torch.rand(3, 9, 11, generator=gen)
    assert float(spectral_convergence(ref, ref)) == 0.0
    assert float(spectral_convergence(0.5 * ref, ref)) == pytest.approx(0.5)
    r, e = ref.numpy(), est.numpy()
    expected = np.mean([np.linalg.norm(r[i] - e[i]) / np.linalg.norm(r[i]) for i in range(3)])
    assert float(spectral_convergence(est, ref)) == pytest.approx(expected, rel=1e-5)
    assert math.isfinite(float(spectral_convergence(est, torch.zeros_like(ref))))
    # a silent reference: the denominator is the loss's floor, 1e-8 (the metric's is 1e-12)
    silent = float(spectral_convergence(est, torch.zeros_like(ref)))
    assert silent == pytest.approx(float(est.flatten(1).norm(dim=1).mean()) / 1e-8, rel=1e-5)
    with pytest.raises(ValueError, match="shapes"):
        spectral_convergence(est, ref[..., :5])


# ---------------------------------------------------------------- sparsity penalty
def test_sparsity_kl_is_ngs_bernoulli_kl() -> None:
    act = torch.full((2, 3, 4), 0.05)
    assert float(sparsity_kl(act, 0.05)) == pytest.approx(0.0, abs=1e-7)
    act[:, 1] = 0.5  # one unit far too active
    rho, rho_hat = 0.05, 0.5
    expected = rho * math.log(rho / rho_hat) + (1 - rho) * math.log((1 - rho) / (1 - rho_hat))
    assert float(sparsity_kl(act, 0.05)) == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------- compute_loss
def test_reconstruction_terms_l1_and_l2() -> None:
    target = torch.zeros(2, 4, 6)
    recon = torch.full((2, 4, 6), 0.5)
    recon[0, 0, 0] = 2.5
    out = AEOutput(recon, Latent(torch.zeros(2, 3, 2)))
    l1 = compute_loss(out, target, LossConfig(reconstruction="l1"), step=0)
    l2 = compute_loss(out, target, LossConfig(reconstruction="l2"), step=0)
    assert float(l1.total) == pytest.approx((47 * 0.5 + 2.5) / 48)
    assert float(l2.total) == pytest.approx((47 * 0.25 + 6.25) / 48)
    assert set(l1.terms) == {"reconstruction", "total"}
    with pytest.raises(ValueError, match="differ"):
        compute_loss(out, target[..., :5], LossConfig(), step=0)


def test_kl_term_scaling_warmup_and_total() -> None:
    gen = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(2, 3, 5, generator=gen), torch.randn(2, 3, 5, generator=gen)
    target = torch.zeros(2, 8, 20)
    out = _vae_output(mean, logvar, torch.ones(2, 8, 20))
    cfg = LossConfig(beta=0.2, kl_warmup_steps=10)
    res = compute_loss(out, target, cfg, step=5)
    # KL summed over latent dims and frames per item, averaged over the batch, per feature value
    expected_kl = float(gaussian_kl(mean, logvar).sum(dim=(1, 2)).mean()) / (8 * 20)
    assert float(res.terms["kl"]) == pytest.approx(expected_kl, rel=1e-5)
    assert float(res.terms["kl_weight"]) == pytest.approx(0.1)
    assert float(res.terms["kl_nats"]) == pytest.approx(
        float(kl_per_dimension(mean, logvar).sum()), rel=1e-5
    )
    assert float(res.total) == pytest.approx(1.0 + 0.1 * expected_kl, rel=1e-5)
    assert float(res.terms["active_dimensions"]) == active_dimensions(mean)


def test_free_bits_floor_each_dimension_and_stop_its_gradient() -> None:
    mean = torch.zeros(2, 3, 4)
    mean[:, 0] = 2.0  # KL 2 nats per frame: above the floor
    mean[:, 1] = 0.5  # KL 0.125 nats: below the floor
    mean.requires_grad_(True)
    logvar = torch.zeros(2, 3, 4)
    out = _vae_output(mean, logvar, torch.zeros(2, 6, 8))
    res = compute_loss(out, torch.zeros(2, 6, 8), LossConfig(free_bits=0.5), step=0)
    expected_per_frame = 2.0 + 0.5 + 0.5  # dims 1 and 2 floored at 0.5 nats
    assert float(res.terms["kl"]) == pytest.approx(expected_per_frame * 4 / (6 * 8))
    res.total.backward()
    assert bool((mean.grad[:, 0] > 0).all())
    assert bool((mean.grad[:, 1:] == 0).all())


def test_spectral_convergence_term_uses_bin_magnitude() -> None:
    target = torch.log(torch.full((1, 4, 5), 2.0))
    recon = torch.log(torch.full((1, 4, 5), 1.0))
    out = AEOutput(recon, Latent(torch.zeros(1, 2, 2)))
    cfg = LossConfig(spectral_convergence_weight=2.0)
    res = compute_loss(out, target, cfg, step=0, bin_magnitude=torch.exp)
    assert float(res.terms["spectral_convergence"]) == pytest.approx(0.5)
    assert float(res.total) == pytest.approx(math.log(2.0) + 2.0 * 0.5)
    with pytest.raises(ValueError, match="bin_magnitude"):
        compute_loss(out, target, cfg, step=0)


def test_log_mel_spectral_convergence_is_on_mel_magnitudes_without_inversion(
    monkeypatch,
) -> None:
    """With ``log_mel`` features the term is ``||Y - X||_F / ||Y||_F`` of the mel-band
    magnitudes ``exp(x) - eps``; the NNLS inversion to linear frequency is never called."""
    import audioae.functional as AF
    from audioae.config import load_config
    from audioae.training import AutoEncoderModule

    def no_inversion(*args, **kwargs):
        raise AssertionError("mel_to_linear called by the spectral convergence term")

    monkeypatch.setattr(AF, "mel_to_linear", no_inversion)
    recipe = Path(__file__).parents[1] / "recipes" / "tiny.yaml"
    cfg = load_config(recipe, ["loss.spectral_convergence_weight=0.5"])
    assert cfg.features.kind == "log_mel"
    torch.manual_seed(0)
    module = AutoEncoderModule(cfg)
    batch = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0)) * 0.1
    _, target, output, res = module._step(batch)
    eps = cfg.features.eps
    est = (output.reconstruction.detach().double().exp() - eps).clamp_min(0.0)
    ref = (target.double().exp() - eps).clamp_min(0.0)
    assert est.shape[-2] == cfg.features.n_mels
    expected = [
        float(np.linalg.norm((ref[i] - est[i]).numpy()) / np.linalg.norm(ref[i].numpy()))
        for i in range(2)
    ]
    sc = float(res.terms["spectral_convergence"])
    assert sc == pytest.approx(sum(expected) / 2, rel=1e-5)  # float32 against float64
    reconstruction = float(res.terms["reconstruction"])
    assert float(res.total.detach()) == pytest.approx(reconstruction + 0.5 * sc, rel=1e-6)
    res.total.backward()  # differentiable through the mel magnitudes


def test_kl_scale_replaces_the_annealed_weight() -> None:
    gen = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(2, 3, 5, generator=gen), torch.randn(2, 3, 5, generator=gen)
    out = _vae_output(mean, logvar, torch.ones(2, 8, 20))
    cfg = LossConfig(beta=0.2, kl_schedule="cyclical", kl_cycle_steps=10)
    target = torch.zeros(2, 8, 20)
    annealed = compute_loss(out, target, cfg, step=0)
    assert float(annealed.terms["kl_weight"]) == 0.0 and float(annealed.total) == 1.0
    for step in (0, 3, 7):
        fixed = compute_loss(out, target, cfg, step=step, kl_scale=cfg.beta)
        kl = float(fixed.terms["kl"])
        assert kl > 0.1
        assert float(fixed.terms["kl_weight"]) == pytest.approx(0.2)
        assert float(fixed.total) == pytest.approx(1.0 + 0.2 * kl, rel=1e-6)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="kl_scale"):
            compute_loss(out, target, cfg, step=0, kl_scale=bad)


def test_sparsity_terms_and_misconfiguration() -> None:
    act = torch.full((2, 4, 3), 0.2)
    out = AEOutput(torch.zeros(2, 5, 6), Latent(act), activations=act)
    cfg = LossConfig(sparsity_l1=0.5, sparsity_kl=0.1, sparsity_target=0.05)
    res = compute_loss(out, torch.zeros(2, 5, 6), cfg, step=0)
    skl = float(sparsity_kl(act, 0.05))
    assert float(res.terms["sparsity_l1"]) == pytest.approx(0.2)
    assert float(res.terms["sparsity_kl"]) == pytest.approx(skl)
    assert float(res.total) == pytest.approx(0.5 * 0.2 + 0.1 * skl)
    plain = AEOutput(torch.zeros(2, 5, 6), Latent(torch.zeros(2, 4, 3)))
    with pytest.raises(ConfigError, match=r"loss\.sparsity_l1"):
        compute_loss(plain, torch.zeros(2, 5, 6), cfg, step=0)


# ---------------------------------------------------------------- denoising losses
def test_compressed_magnitude_mse_values_and_level_invariance() -> None:
    from audioae.losses import compressed_magnitude_mse

    g = torch.Generator().manual_seed(0)
    ref = torch.rand(2, 5, 7, generator=g) * 10
    assert float(compressed_magnitude_mse(ref, ref)) == pytest.approx(0.0, abs=1e-12)
    # predicting silence costs 1 (the normalisation), up to the 1e-5 floor
    assert float(compressed_magnitude_mse(torch.zeros_like(ref), ref)) == pytest.approx(
        1.0, rel=1e-3
    )
    # every compressed value off by the same factor 0.5**0.3: the normalised loss is
    # (1 - 0.5**0.3)**2 at any level, up to the 1e-5 floor (1e-5**0.3 = 0.03 on the
    # compressed scale: about 1 % of the loss at magnitudes near 1000, 10 % near 1)
    expected = (1 - 0.5**0.3) ** 2
    loud = ref + 1000.0
    assert float(compressed_magnitude_mse(loud * 0.5, loud)) == pytest.approx(expected, rel=1e-2)
    assert float(compressed_magnitude_mse(loud * 5, loud * 10)) == pytest.approx(expected, rel=1e-2)
    assert float(compressed_magnitude_mse(ref * 0.5, ref)) == pytest.approx(expected, rel=0.1)
    with pytest.raises(ValueError, match="shapes differ"):
        compressed_magnitude_mse(ref[:, :4], ref)


def test_negative_si_sdr_matches_the_metric() -> None:
    from audioae.losses import negative_si_sdr
    from audioae.metrics import si_sdr

    g = torch.Generator().manual_seed(1)
    clean = torch.randn(3, 4000, generator=g)
    est = 0.7 * clean + 0.3 * torch.randn(3, 4000, generator=g)
    ours = negative_si_sdr(est, clean)
    assert float(ours) == pytest.approx(-float(si_sdr(est, clean).mean()), abs=1e-3)
    est.requires_grad_(True)
    negative_si_sdr(est, clean).backward()
    assert est.grad is not None and torch.isfinite(est.grad).all()
    assert torch.isfinite(negative_si_sdr(torch.zeros(1, 100), torch.zeros(1, 100)))


def test_compute_loss_compressed_mse_and_si_sdr_terms() -> None:
    recon = torch.zeros(2, 4, 6)
    target = torch.ones(2, 4, 6)
    out = AEOutput(recon, Latent(recon, None, None))
    cfg = LossConfig(reconstruction="compressed_mse", si_sdr_weight=0.1)
    with pytest.raises(ValueError, match="bin_magnitude"):
        compute_loss(out, target, cfg, step=0, waveforms=(torch.ones(2, 9), torch.ones(2, 9)))
    clean = torch.randn(2, 900, generator=torch.Generator().manual_seed(2))
    result = compute_loss(
        out, target, cfg, step=0, bin_magnitude=torch.exp, waveforms=(clean * 0.5, clean)
    )
    assert {"reconstruction", "si_sdr", "total"} <= set(result.terms)
    assert float(result.terms["si_sdr"]) > 60  # a scaled copy: SI-SDR limited only by the guards
    expected = float(result.terms["reconstruction"]) - 0.1 * float(result.terms["si_sdr"])
    assert float(result.total) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="waveforms"):
        compute_loss(out, target, cfg, step=0, bin_magnitude=torch.exp)


def test_loss_config_checks_the_new_keys() -> None:
    from audioae.config import load_config

    with pytest.raises(ConfigError, match="loss.compression"):
        LossConfig(compression=0.0)
    with pytest.raises(ConfigError, match="loss.reconstruction"):
        LossConfig(reconstruction="huber")
    with pytest.raises(ConfigError, match="si_sdr_weight"):
        load_config("recipes/codec.yaml", ["loss.si_sdr_weight=0.1"])  # log-mel features, no mask
    with pytest.raises(ConfigError, match="residual_noise_weight"):
        load_config("recipes/codec.yaml", ["loss.residual_noise_weight=0.1"])


def test_residual_noise_is_the_compressed_energy_of_the_passed_noise() -> None:
    from audioae.losses import residual_noise
    from audioae.training import AutoEncoderModule

    g = torch.Generator().manual_seed(4)
    clean = torch.randn(2, 33, 20, dtype=torch.complex64, generator=g)
    noise = torch.randn(2, 33, 20, dtype=torch.complex64, generator=g)
    noisy = clean + noise
    mask = torch.rand(2, 33, 20, generator=g)
    passed, clean_mag = AutoEncoderModule._noise_residual(mask, noisy, clean)
    torch.testing.assert_close(passed, mask * noise.abs(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(clean_mag, clean.abs())
    # a complex mask multiplies the complex noise
    crm = torch.polar(mask, torch.rand(2, 33, 20, generator=g) * 6.0)
    torch.testing.assert_close(
        AutoEncoderModule._noise_residual(crm, noisy, clean)[0], (crm * noise).abs()
    )
    with pytest.raises(ValueError, match="predicts a mask"):
        AutoEncoderModule._noise_residual(None, noisy, clean)

    value = residual_noise(passed, clean_mag, 0.3)
    floor = 1e-5
    num = ((passed + floor) ** 0.3 - floor**0.3).square().mean(dim=(1, 2))
    den = ((clean_mag + floor) ** 0.3 - floor**0.3).square().mean(dim=(1, 2))
    assert float(value) == pytest.approx(float((num / den).mean()), rel=1e-5)
    # nothing passed: 0; the noise passed whole at the speech's level: 1; half of it: about
    # 0.5^0.6 (exactly, with the floor that keeps the gradient finite at 0)
    ones = torch.full((1, 4, 5), 1.25)
    assert float(residual_noise(torch.zeros_like(ones), ones)) == pytest.approx(0.0, abs=1e-6)
    assert float(residual_noise(ones, ones)) == pytest.approx(1.0, rel=1e-6)
    half = ((0.625 + floor) ** 0.3 - floor**0.3) / ((1.25 + floor) ** 0.3 - floor**0.3)
    assert float(residual_noise(0.5 * ones, ones)) == pytest.approx(half**2, rel=1e-5)
    assert half**2 == pytest.approx(0.5**0.6, rel=0.02)
    # its gradient asks every mask value to fall
    mask.requires_grad_(True)
    residual_noise(mask * noise.abs(), clean_mag).backward()
    assert mask.grad is not None and bool((mask.grad >= 0).all()) and float(mask.grad.sum()) > 0
    with pytest.raises(ValueError, match="differ"):
        residual_noise(passed, clean_mag[..., :-1])


def test_compute_loss_adds_the_weighted_residual_noise() -> None:
    from audioae.losses import residual_noise

    recon = torch.zeros(2, 4, 6)
    out = AEOutput(recon, Latent(recon, None, None))
    cfg = LossConfig(reconstruction="l1", residual_noise_weight=0.3)
    passed = torch.full((2, 4, 6), 0.5)
    clean = torch.ones(2, 4, 6)
    result = compute_loss(out, clean, cfg, step=0, noise_residual=(passed, clean))
    residual = float(residual_noise(passed, clean))
    assert float(result.terms["residual_noise"]) == pytest.approx(residual, rel=1e-6)
    assert residual == pytest.approx(0.5**0.6, rel=0.02)
    assert float(result.total) == pytest.approx(1.0 + 0.3 * residual, rel=1e-6)
    with pytest.raises(ValueError, match="residual_noise_weight"):
        compute_loss(out, clean, cfg, step=0)
    with pytest.raises(ConfigError, match="residual_noise_weight"):
        LossConfig(residual_noise_weight=-1.0)


def test_negative_snr_penalises_the_level_unlike_si_sdr() -> None:
    from audioae.losses import negative_si_sdr, negative_snr

    clean = torch.randn(2, 3000, generator=torch.Generator().manual_seed(3))
    # half the level: SNR = 10 log10(1 / 0.25) = 6.02 dB, SI-SDR unaffected
    assert float(negative_snr(0.5 * clean, clean)) == pytest.approx(-6.0206, abs=1e-3)
    assert float(negative_si_sdr(0.5 * clean, clean)) < -60
