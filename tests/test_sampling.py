"""Drawing from a VAE: prior samples at a temperature, variations of a sound from its
posterior (``Pipeline.sample``, ``Pipeline.variations``, ``Pipeline.posterior``) and
``audioae sample --temperature / --like``."""

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import requires_cuda, tiny_model_file

from audioae.cli import main
from audioae.config import load_config
from audioae.features import build_frontend
from audioae.models import build_model
from audioae.pipeline import Pipeline, PipelineError

VAE = [
    "features.n_fft=256",
    "features.hop_length=64",
    "features.n_mels=32",
    "model.latent_dim=8",
    "model.hidden_dim=32",
    "model.bottleneck=gaussian",
    "phase.n_iter=4",
]


def _pipe(overrides=(), **kwargs) -> Pipeline:
    torch.manual_seed(0)
    cfg = load_config(None, [*VAE, *overrides])
    model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
    return Pipeline(model, cfg, device="cpu", **kwargs)


def _capture_latents(pipe, monkeypatch) -> list[torch.Tensor]:
    """Record every latent handed to ``pipe.decode`` (the decoder still runs)."""
    seen: list[torch.Tensor] = []
    decode = pipe.decode

    def spy(latent, length, **kwargs):
        seen.append(latent.clone())
        return decode(latent, length, **kwargs)

    monkeypatch.setattr(pipe, "decode", spy)
    return seen


def _tone(seconds: float = 0.6, channels: int = 1) -> torch.Tensor:
    t = torch.arange(int(seconds * 16000)) / 16000
    x = 0.3 * torch.sin(2 * torch.pi * 330 * t) * torch.exp(-2 * t)
    return x.repeat(channels, 1) + 0.01 * torch.randn(channels, t.numel())


def test_prior_latents_scale_with_the_temperature(monkeypatch):
    pipe = _pipe()
    seen = _capture_latents(pipe, monkeypatch)
    out = {t: pipe.sample(3, 0.5, temperature=t, generator=torch.Generator().manual_seed(4))
           for t in (1.0, 0.5, 0.0)}  # fmt: skip
    one, half, zero = seen
    assert one.shape == (3, 8, pipe.num_latent_frames(8000))
    torch.testing.assert_close(half, 0.5 * one, rtol=0, atol=0)
    assert not zero.any()
    assert all(w.shape == (3, 8000) for w in out.values())
    assert not torch.equal(out[1.0][0], out[1.0][1])  # independent draws


def test_variations_are_draws_from_the_posterior(monkeypatch):
    pipe = _pipe()
    x = _tone(channels=2)  # mixed to mono
    mono = x.mean(0, keepdim=True)
    mean, std = pipe.posterior(mono)
    assert mean.shape == std.shape == (1, 8, pipe.num_latent_frames(x.shape[-1]))
    assert bool((std > 0).all())
    seen = _capture_latents(pipe, monkeypatch)
    wavs = pipe.variations(x, 4, temperature=1.5, generator=torch.Generator().manual_seed(9))
    noise = torch.randn((4, *mean.shape[1:]), generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(seen[0], mean + 1.5 * std * noise, rtol=1e-6, atol=1e-6)
    assert wavs.shape == (4, x.shape[-1])
    again = pipe.variations(x, 4, temperature=1.5, generator=torch.Generator().manual_seed(9))
    other = pipe.variations(x, 4, temperature=1.5, generator=torch.Generator().manual_seed(10))
    torch.testing.assert_close(again, wavs, rtol=0, atol=0)
    assert not torch.allclose(other, wavs)


def test_variations_at_temperature_zero_are_the_reconstruction(monkeypatch):
    pipe = _pipe()
    x = _tone()
    want = pipe.decode(pipe.encode(x), x.shape[-1])[0]
    seen = _capture_latents(pipe, monkeypatch)
    wavs = pipe.variations(x, 2, temperature=0.0)
    # every draw is the posterior mean; the first one's sound is the reconstruction within
    # float rounding (Griffin-Lim gives each item of a batch its own initial phase, so the
    # second differs by that alone)
    torch.testing.assert_close(seen[0], pipe.encode(x).expand(2, -1, -1), rtol=0, atol=0)
    torch.testing.assert_close(wavs[0], want, rtol=0, atol=1e-5)


def test_posterior_in_chunks_equals_the_whole_file():
    x = torch.randn(1, 16000 * 3) * 0.1
    chunked = _pipe(chunk_seconds=0.5, margin_seconds=0.25).posterior(x)
    whole = _pipe(chunk_seconds=1000.0).posterior(x)
    for a, b in zip(chunked, whole):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_refusals():
    deterministic = _pipe(["model.bottleneck=deterministic"])
    x = _tone()
    with pytest.raises(PipelineError, match="drawing variations needs a variational model"):
        deterministic.variations(x)
    with pytest.raises(PipelineError, match="sampling needs a variational model"):
        deterministic.sample(1, 0.5)
    with pytest.raises(PipelineError, match="the posterior needs a variational model"):
        deterministic.posterior(x)
    vae = _pipe()
    for bad in (-0.1, 10.5, float("nan")):
        with pytest.raises(ValueError, match="temperature must be in"):
            vae.sample(1, 0.5, temperature=bad)
        with pytest.raises(ValueError, match="temperature must be in"):
            vae.variations(x, temperature=bad)
    with pytest.raises(ValueError, match="n >= 1"):
        vae.variations(x, 0)


def test_cli_variations_like_a_file(tmp_path, capsys):
    model = tiny_model_file(tmp_path / "vae.safetensors", ["model.bottleneck=gaussian"])
    src = tmp_path / "note.wav"
    sf.write(src, _tone(0.7)[0].numpy(), 16000)
    out = tmp_path / "var"
    argv = ["sample", str(model), "--like", str(src), "-o", str(out), "--quiet", "--n", "3"]
    assert main([*argv, "--temperature", "2"]) == 0
    assert f"wrote 3 variations of {src}" in capsys.readouterr().out
    files = sorted(out.glob("*.wav"))
    assert [f.name for f in files] == [f"variation_0{i}.wav" for i in range(3)]
    for f in files:
        wav, sr = sf.read(f)
        assert sr == 16000 and wav.shape == (int(0.7 * 16000),) and np.isfinite(wav).all()
    # refused before any work: --seconds with --like, a temperature out of range
    assert main([*argv, "--seconds", "1", "--force"]) == 2
    assert "--seconds does not go with --like" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sample", str(model), "-o", str(tmp_path / "t"), "--temperature", "-1"])
    assert "must be in [0, 10]" in capsys.readouterr().err
    # prior samples at a temperature: named sample_NN.wav
    assert main(["sample", str(model), "-o", str(tmp_path / "s"), "--quiet", "--n", "2",
                 "--temperature", "0.5", "--seconds", "0.5"]) == 0  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "s").glob("*.wav")) == [
        "sample_00.wav",
        "sample_01.wav",
    ]


# --- priors fitted to encoded sounds ---------------------------------------------------------


def _ar1(n, dim, frames, mean, std, rho, seed=0):
    g = torch.Generator().manual_seed(seed)
    e = torch.randn((n, dim, frames), generator=g, dtype=torch.float64)
    u = [e[..., 0]]
    for t in range(1, frames):
        u.append(rho * u[-1] + (1 - rho**2) ** 0.5 * e[..., t])
    return mean + std * torch.stack(u, -1)


def test_standard_prior_draws_are_plain_normal_draws():
    from audioae.latent_prior import STANDARD_PRIOR

    z = STANDARD_PRIOR.draw(3, 5, 7, temperature=0.5, generator=torch.Generator().manual_seed(2))
    want = 0.5 * torch.randn((3, 5, 7), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(z, want, rtol=0, atol=0)


def test_a_fitted_prior_recovers_an_ar1_process_and_draws_like_it():
    from audioae.latent_prior import LatentPrior, fit_latent_prior

    mean = torch.tensor([2.0, -1.0, 0.0])
    std = torch.tensor([3.0, 0.5, 1.0])
    rho = torch.tensor([0.9, 0.5, 0.0])
    sounds = _ar1(400, 3, 50, mean.view(1, -1, 1).double(), std.view(1, -1, 1).double(),
                  rho.view(1, -1).double())  # fmt: skip
    fitted = fit_latent_prior(list(sounds))
    torch.testing.assert_close(fitted.mean.float(), mean, atol=0.1, rtol=0)
    torch.testing.assert_close(fitted.std.float(), std, atol=0.05 * 3, rtol=0.05)
    torch.testing.assert_close(fitted.correlation.float(), rho, atol=0.03, rtol=0)
    # its draws have the fitted statistics back
    prior = LatentPrior(mean=mean, std=std, correlation=rho)
    z = prior.draw(2000, 3, 40, generator=torch.Generator().manual_seed(5)).double()
    torch.testing.assert_close(z.mean((0, 2)).float(), mean, atol=0.1, rtol=0)
    torch.testing.assert_close(z.std((0, 2)).float(), std, atol=0.05, rtol=0.05)
    c = (z - mean.view(1, -1, 1)) / std.view(1, -1, 1)
    lag1 = (c[..., 1:] * c[..., :-1]).mean((0, 2)).float()
    torch.testing.assert_close(lag1, rho, atol=0.03, rtol=0)
    # without the temporal part, frames are independent
    assert fit_latent_prior(list(sounds), temporal=False).correlation is None


def test_fit_latent_prior_refuses_what_it_cannot_fit():
    from audioae.latent_prior import LatentPrior, fit_latent_prior

    with pytest.raises(ValueError, match="at least one"):
        fit_latent_prior([])
    with pytest.raises(ValueError, match="one latent_dim"):
        fit_latent_prior([torch.zeros(3, 5), torch.zeros(4, 5)])
    with pytest.raises(ValueError, match="at least 2 latent frames"):
        fit_latent_prior([torch.zeros(3, 1)])
    with pytest.raises(ValueError, match="fitted for 3 latent dimensions, not 8"):
        LatentPrior(mean=torch.zeros(3), std=torch.ones(3)).draw(1, 8, 4)


def test_pipeline_samples_from_a_prior_fitted_to_its_own_latents(monkeypatch):
    pipe = _pipe()
    sounds = [_tone(0.5), _tone(0.8, channels=2)]
    prior = pipe.fit_prior(sounds)  # each mixed to mono and encoded (posterior means)
    latents = [pipe.encode(w.mean(0, keepdim=True))[0] for w in sounds]
    from audioae.latent_prior import fit_latent_prior

    want = fit_latent_prior(latents)
    torch.testing.assert_close(prior.mean, want.mean)
    torch.testing.assert_close(prior.std, want.std)
    seen = _capture_latents(pipe, monkeypatch)
    wavs = pipe.sample(2, 0.5, prior=prior, generator=torch.Generator().manual_seed(1))
    drawn = prior.draw(
        2, 8, pipe.num_latent_frames(8000), generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(seen[0], drawn, rtol=0, atol=0)
    assert wavs.shape == (2, 8000)
    with pytest.raises(PipelineError, match="fitting a prior needs a variational model"):
        _pipe(["model.bottleneck=deterministic"]).fit_prior([_tone()])


def _vae_and_notes(tmp_path):
    """A tiny VAE model file and a folder of three short tones to fit a prior on."""
    model = tiny_model_file(tmp_path / "vae.safetensors", ["model.bottleneck=gaussian"])
    ref = tmp_path / "ref"
    ref.mkdir()
    for i in range(3):
        sf.write(ref / f"n{i}.wav", _tone(0.5 + 0.1 * i)[0].numpy(), 16000)
    return model, ref


def test_cli_fits_a_prior_on_a_folder_and_reports_bad_files(tmp_path, capsys):
    model, ref = _vae_and_notes(tmp_path)
    (ref / "broken.wav").write_bytes(b"RIFF....not audio")
    out = tmp_path / "s"
    argv = ["sample", str(model), "--fit-prior", str(ref), "-o", str(out), "--n", "2"]
    assert main([*argv, "--quiet", "--seconds", "0.5"]) == 1  # written, but one file failed
    err = capsys.readouterr().err
    assert "skipped" in err and "broken.wav" in err and "fitted on 3 file(s)" in err
    assert sorted(p.name for p in out.glob("*.wav")) == ["sample_00.wav", "sample_01.wav"]
    (tmp_path / "empty").mkdir()
    empty = [
        "sample",
        str(model),
        "--fit-prior",
        str(tmp_path / "empty"),
        "-o",
        str(tmp_path / "e"),
    ]
    assert main(empty) == 2
    assert "no readable audio file to fit a prior on" in capsys.readouterr().err
    like = ["sample", str(model), "--like", str(ref / "n0.wav"), "--fit-prior", str(ref)]
    assert main([*like, "-o", str(tmp_path / "l")]) == 2
    assert "--fit-prior and --prior do not go with --like" in capsys.readouterr().err


def test_a_saved_prior_loads_back_exactly_and_bad_files_are_refused(tmp_path):
    import json

    from audioae.fileio import OutputExistsError
    from audioae.latent_prior import (
        STANDARD_PRIOR,
        LatentPrior,
        LatentPriorError,
        load_prior,
        save_prior,
    )

    g = torch.Generator().manual_seed(0)
    prior = LatentPrior(
        mean=torch.randn(6, generator=g, dtype=torch.float64),
        std=torch.rand(6, generator=g, dtype=torch.float64) + 0.5,
        correlation=torch.rand(6, generator=g, dtype=torch.float64) * 0.9,
    )
    digest = bytes(range(16))
    path = save_prior(tmp_path / "p.json", prior, digest)
    back = load_prior(path, digest)
    for a, b in (
        (prior.mean, back.mean),
        (prior.std, back.std),
        (prior.correlation, back.correlation),
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(OutputExistsError):
        save_prior(path, prior, digest)
    with pytest.raises(ValueError, match="nothing to save"):
        save_prior(tmp_path / "s.json", STANDARD_PRIOR, digest)
    with pytest.raises(LatentPriorError, match="fitted for another model"):
        load_prior(path, bytes(16))
    good = json.loads(path.read_text())
    cases = {
        "format": ({**good, "format": "x"}, "not an audioae-latent-prior file"),
        "version": ({**good, "version": 2}, "version 2 is not supported"),
        "nan": ({**good, "mean": [float("nan")] * 6}, "NaN is not a finite number"),
        "big_value": ({**good, "mean": [1e300] * 6}, "mean must be a list"),
        "std": ({**good, "std": [0.0] * 6}, "std must be a list"),
        "corr": ({**good, "correlation": [1.5] * 6}, "correlation must be a list"),
        "length": ({**good, "std": [1.0] * 5}, "differ in length"),
        "type": ({**good, "mean": "0"}, "mean must be a list"),
    }
    for name, (doc, message) in cases.items():
        bad = tmp_path / f"{name}.json"
        bad.write_text(json.dumps(doc))
        with pytest.raises(LatentPriorError, match=message):
            load_prior(bad, digest)
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (2 << 20))
    with pytest.raises(LatentPriorError, match="larger than 1048576 bytes"):
        load_prior(huge)
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(LatentPriorError, match="not a readable prior file"):
        load_prior(tmp_path / "text.json")


def test_cli_saved_prior_draws_the_same_sounds_as_fitting_again(tmp_path, capsys):
    model, ref = _vae_and_notes(tmp_path)
    saved = tmp_path / "prior.json"
    common = ["--n", "2", "--seed", "3", "--seconds", "0.5", "--quiet"]
    fit = ["sample", str(model), "--fit-prior", str(ref), *common]
    assert main([*fit, "--save-prior", str(saved), "-o", str(tmp_path / "a")]) == 0
    assert (
        main(["sample", str(model), "--prior", str(saved), *common, "-o", str(tmp_path / "b")]) == 0
    )
    for name in ("sample_00.wav", "sample_01.wav"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    capsys.readouterr()
    # the saved prior is not replaced without --force, and --save-prior needs a fit
    before = saved.read_bytes()
    assert main([*fit, "--save-prior", str(saved), "-o", str(tmp_path / "c")]) == 2
    assert "exists; --force replaces it" in capsys.readouterr().err and saved.read_bytes() == before
    assert main(["sample", str(model), "--save-prior", str(tmp_path / "x.json"), "-o",
                 str(tmp_path / "d")]) == 2  # fmt: skip
    assert "--save-prior needs --fit-prior" in capsys.readouterr().err


@requires_cuda
def test_prior_draws_variations_and_fits_run_on_cuda_like_on_cpu(monkeypatch):
    """The same latents on both devices (Griffin-Lim's random initial phase comes from each
    device's own generator, so the waveforms are compared by shape and finiteness only)."""
    cpu, cuda = _pipe(), _pipe()  # the same seeded weights
    cuda = Pipeline(cuda.model, cuda.config, device="cuda")
    x = _tone()
    prior, fitted = cpu.fit_prior([x]), cuda.fit_prior([x])
    torch.testing.assert_close(fitted.mean, prior.mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fitted.std, prior.std, atol=1e-4, rtol=1e-4)
    seen_cpu, seen_cuda = _capture_latents(cpu, monkeypatch), _capture_latents(cuda, monkeypatch)
    for pipe in (cpu, cuda):
        wavs = [
            pipe.sample(2, 0.5, prior=prior, generator=torch.Generator().manual_seed(1)),
            pipe.variations(x, 2, generator=torch.Generator().manual_seed(1)),
        ]
        for w in wavs:
            assert w.device.type == pipe.device.type and bool(torch.isfinite(w).all())
    assert [z.device.type for z in seen_cuda] == ["cuda", "cuda"]
    for a, b in zip(seen_cpu, seen_cuda):
        torch.testing.assert_close(b.cpu(), a, atol=1e-4, rtol=1e-4)
