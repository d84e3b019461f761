"""The streaming data path: the cached folder index, lazy crops, workers, DDP ranks and resume."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import sine
from torch.utils.data import DataLoader

from audioae.config import load_config, resolve_recipe
from audioae.data import build_datasets
from audioae.dataindex import INDEX_FILENAME, index_folder
from audioae.samplers import EpochSampler
from audioae.training import build_data_loaders

SR = 16000


def _cfg(*overrides: str):
    base = [
        "data.segment_seconds=0.25",
        "data.samples_per_epoch=24",
        "data.val_segments=8",
        "data.batch_size=4",
        "data.val_fraction=0.25",
        "training.max_steps=12",
    ]
    return load_config(None, base + list(overrides))


def _speechlike(seconds: float, seed: int, sample_rate: int = SR, channels: int = 1) -> np.ndarray:
    """Bursts of noise separated by silences: ``(time, channels)`` float32."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    envelope = np.repeat(rng.random(n // 800 + 1) > 0.4, 800)[:n]
    envelope[:800] = True  # never silent throughout
    x = 0.3 * rng.standard_normal((n, channels)) * envelope[:, None]
    return x.astype(np.float32)


def _folder(root: Path, n: int, seconds: float = 1.5, **kw) -> Path:
    for i in range(n):
        path = root / f"spk{i % 3}" / f"utt{i:03d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), _speechlike(seconds, i, **kw), kw.get("sample_rate", SR))
    return root


def test_index_is_reused_when_nothing_changed_and_rebuilt_for_changed_files(
    tmp_path: Path,
) -> None:
    root = _folder(tmp_path / "data", 6)
    first = index_folder(root, workers=1)
    cache = root / INDEX_FILENAME
    assert first.cache_file == cache and first.scanned == 6 and first.reused == 0
    stamp = cache.stat().st_mtime_ns
    again = index_folder(root, workers=1)
    assert again.scanned == 0 and again.reused == 6
    assert cache.stat().st_mtime_ns == stamp  # nothing changed: not rewritten
    assert again.paths == first.paths and np.array_equal(again.block_db, first.block_db)
    np.testing.assert_array_equal(again.rms_db, first.rms_db)

    changed = root / "spk1" / "utt001.wav"
    sf.write(str(changed), _speechlike(3.0, 99), SR)  # other content and length
    (root / "spk2" / "utt005.wav").unlink()
    _folder(root / "new", 1)
    third = index_folder(root, workers=1)
    assert third.scanned == 2 and third.reused == 4  # the changed file and the new one
    row = third.paths.index("spk1/utt001.wav")
    assert third.frames[row] == 3 * SR
    assert "spk2/utt005.wav" not in third.paths and "new/spk0/utt000.wav" in third.paths
    on_disk = json.loads(cache.read_text())
    assert on_disk["files"]["path"] == third.paths  # JSON, keyed by relative path

    # a touched file (same bytes, new modification time) is decoded again
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    assert index_folder(root, workers=1).scanned == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["files"].pop("blocks"),
        lambda d: d["files"]["sample_rate"].__setitem__(0, "x"),
        lambda d: d["files"]["sample_rate"].__setitem__(0, 0),
        lambda d: d["files"]["blocks"].__setitem__(0, "@@@"),
        lambda d: d.__setitem__("bad", {}),
        lambda d: d["files"]["frames"].append(5),
    ],
)
def test_a_damaged_index_cache_that_is_valid_json_is_rebuilt(
    tmp_path: Path, caplog, damage
) -> None:
    root = _folder(tmp_path / "data", 3)
    first = index_folder(root, workers=1)
    cache = root / INDEX_FILENAME
    doc = json.loads(cache.read_text())
    damage(doc)
    cache.write_text(json.dumps(doc))
    with caplog.at_level("WARNING"):
        again = index_folder(root, workers=1)
    assert "ignoring an unreadable index cache" in caplog.text
    assert again.scanned == 3 and again.paths == first.paths
    assert np.array_equal(again.block_db, first.block_db)


def test_index_goes_to_the_cache_dir_when_the_folder_is_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _folder(tmp_path / "data", 3)
    monkeypatch.setattr("audioae.dataindex.os.access", lambda path, mode: False)
    index = index_folder(root, cache_dir=tmp_path / "run", workers=1)
    assert index.cache_file is not None and index.cache_file.parent == tmp_path / "run"
    assert not (root / INDEX_FILENAME).exists()
    assert index_folder(root, cache_dir=tmp_path / "run", workers=1).scanned == 0
    # without a cache_dir the index is kept in memory
    assert index_folder(tmp_path / "data", workers=1).cache_file is None


def test_bad_file_in_a_large_folder_is_skipped_and_reported(tmp_path: Path, caplog) -> None:
    root = tmp_path / "large"
    for i in range(120):
        path = root / f"d{i % 4}" / f"clip{i:03d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), _speechlike(0.3, i), SR)
    good = (root / "d0" / "clip000.wav").read_bytes()
    (root / "d2" / "broken.wav").write_bytes(good[: len(good) // 2])  # truncated
    parallel = index_folder(root, workers=2)  # the worker-process path (spawn)
    assert [rel for rel, _ in parallel.bad] == ["d2/broken.wav"]
    assert "truncated" in parallel.bad[0][1]
    (root / INDEX_FILENAME).unlink()
    serial = index_folder(root, workers=1)  # deterministic whatever the workers
    assert serial.paths == parallel.paths and serial.bad == parallel.bad
    assert np.array_equal(serial.block_db, parallel.block_db)
    with caplog.at_level(logging.WARNING, logger="audioae"):
        ds = build_datasets(_cfg(), root)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("broken.wav" in w and "truncated" in w for w in warnings)
    assert len(ds.train_files) + len(ds.val_files) == 120 and len(ds.bad_files) == 1


def _checksums(loader: DataLoader) -> list[float]:
    out = []
    for batch in loader:
        parts = batch if isinstance(batch, (list, tuple)) else [batch]
        out.append(float(sum(p.double().sum() for p in parts)))
    return out


@pytest.mark.parametrize("denoise,steps", [(False, 12), (True, 12), (False, 10)])
def test_batches_are_identical_with_0_and_2_workers(
    tmp_path: Path, denoise: bool, steps: int
) -> None:
    data = _folder(tmp_path / "data", 8, sample_rate=22050, channels=2)  # resampled, mixed down
    noise = _folder(tmp_path / "noise", 2, seconds=0.2) if denoise else None
    sums = {}
    for workers in (0, 2):  # 2 workers hand over 4 batches at a time (10 = 4 + 4 + 2)
        cfg = _cfg(
            f"data.num_workers={workers}", f"data.denoise={denoise}", f"training.max_steps={steps}"
        )
        ds = build_datasets(cfg, data, noise, report=False)
        train, val = build_data_loaders(cfg, ds, pin_memory=False)
        assert train.num_workers == workers
        sums[workers] = (_checksums(train), _checksums(val))
    assert sums[0] == sums[2]
    assert len(sums[0][0]) == steps and len(set(sums[0][0])) == steps


def _rank_main(rank: int, world: int, data: str, out: str, init: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        # the same samples per run: 12 steps of 4, or 6 steps of 4 on each of 2 ranks
        cfg = _cfg("data.num_workers=0", f"training.max_steps={12 // world}")
        ds = build_datasets(cfg, data, report=False, world_size=world)
        train, val = build_data_loaders(cfg, ds, pin_memory=False)
        result = {}
        for name, loader in (("train", train), ("val", val)):
            indices = list(loader.sampler)
            items = [loader.dataset[i] for i in indices]
            result[name] = {str(i): float(x.double().sum()) for i, x in zip(indices, items)}
            result[name + "_batches"] = len(loader)
        Path(out).write_text(json.dumps(result))
    finally:
        torch.distributed.destroy_process_group()


def test_batches_are_identical_with_1_and_2_ranks(tmp_path: Path) -> None:
    data = _folder(tmp_path / "data", 8)
    index_folder(data, workers=1)  # the shared index every rank reads
    ctx = torch.multiprocessing.get_context("spawn")
    results = {}
    for world in (1, 2):
        init = f"file://{tmp_path / f'init{world}'}"
        procs = [
            ctx.Process(
                target=_rank_main,
                args=(rank, world, str(data), str(tmp_path / f"w{world}r{rank}.json"), init),
            )
            for rank in range(world)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
            assert p.exitcode == 0
        results[world] = [
            json.loads((tmp_path / f"w{world}r{rank}.json").read_text()) for rank in range(world)
        ]
    single = results[1][0]
    r0, r1 = results[2]
    for split in ("train", "val"):
        assert not set(r0[split]) & set(r1[split])  # each rank reads only its own samples
        merged = {**r0[split], **r1[split]}
        assert merged == single[split]  # the very same crops
    assert r0["train_batches"] == r1["train_batches"] == 6 and single["train_batches"] == 12
    assert r0["val_batches"] == r1["val_batches"] == 1  # validation split across the ranks


def test_resumed_run_sees_the_same_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audioae.training import AutoEncoderModule, train

    data = _folder(tmp_path / "data", 6)
    seen: list[tuple[int, float]] = []
    original = AutoEncoderModule.training_step

    def recording(self, batch, batch_idx):
        seen.append((int(self.global_step), float(batch.double().sum())))
        return original(self, batch, batch_idx)

    monkeypatch.setattr(AutoEncoderModule, "training_step", recording)
    # 16 samples / batch 4 = 4 steps per epoch; stops at step 6 (mid-epoch) and step 8 (end)
    sets = ["data.samples_per_epoch=16", "data.num_workers=1", "training.checkpoint_every=100"]
    cfg = load_config(resolve_recipe("tiny"), sets + ["training.max_steps=11"])
    train(cfg, data, out_dir=tmp_path / "straight", progress=False)
    straight = dict(seen)
    seen.clear()
    train(cfg, data, out_dir=tmp_path / "resumed", max_steps=6, progress=False)
    train(cfg, data, out_dir=tmp_path / "resumed", max_steps=8, resume=True, progress=False)
    train(cfg, data, out_dir=tmp_path / "resumed", resume=True, progress=False)
    resumed = dict(seen)
    assert sorted(resumed) == sorted(straight) == list(range(11))
    assert [resumed[k] for k in range(11)] == [straight[k] for k in range(11)], (resumed, straight)


def test_stop_at_keeps_the_schedule_so_a_resumed_run_matches_a_straight_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``train(stop_at=k)`` ends at step k with ``training.max_steps``' schedule: resumed, the
    run sees the same batches at the same learning rates as one that never stopped."""
    from audioae.config import ConfigError
    from audioae.training import AutoEncoderModule, train

    data = _folder(tmp_path / "data", 6)
    seen: list[tuple[int, float, float]] = []
    original = AutoEncoderModule.training_step

    def recording(self, batch, batch_idx):
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        seen.append((int(self.global_step), float(batch.double().sum()), lr))
        return original(self, batch, batch_idx)

    monkeypatch.setattr(AutoEncoderModule, "training_step", recording)
    sets = ["data.samples_per_epoch=16", "data.num_workers=0", "training.checkpoint_every=100"]
    cfg = load_config(
        resolve_recipe("tiny"), sets + ["training.max_steps=9", "training.warmup_steps=2"]
    )
    train(cfg, data, out_dir=tmp_path / "straight", progress=False)
    straight = list(seen)
    seen.clear()
    stopped = train(cfg, data, out_dir=tmp_path / "stopped", stop_at=5, progress=False)
    assert stopped.steps == 5 and stopped.model_file is not None
    assert len(seen) == 5
    train(cfg, data, out_dir=tmp_path / "stopped", resume=True, progress=False)
    assert [k for k, _, _ in seen] == list(range(9))
    assert seen == straight  # same batches, same learning rate at every step
    with pytest.raises(ConfigError, match="stop_at"):
        train(cfg, data, out_dir=tmp_path / "bad", stop_at=0, progress=False)


def test_folder_of_tiny_clips_trains_with_a_clear_message(tmp_path: Path, caplog) -> None:
    from audioae.training import train

    root = tmp_path / "tiny_clips"
    root.mkdir()
    for i in range(12):
        sf.write(str(root / f"c{i:02d}.wav"), sine(200.0 + 50 * i, 0.05, SR)[0], SR)
    cfg = load_config(
        resolve_recipe("tiny"), ["training.max_steps=2", "data.num_workers=0"]
    )  # 0.25 s segments
    with caplog.at_level(logging.WARNING, logger="audioae"):
        result = train(cfg, root, out_dir=tmp_path / "run", progress=False)
    assert result.steps == 2 and result.model_file is not None
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "12 of 12 clip(s) are shorter than data.segment_seconds=0.25 s" in message
    assert "zero-padded" in message
    ds = build_datasets(cfg, root, report=False)
    item = ds.train[0]
    assert item.shape == (4000,) and torch.count_nonzero(item[800:]) == 0  # 0.05 s, then zeros
    assert float(item[:800].abs().max()) > 0.1


def test_run_sampler_walks_the_epochs_and_resumes_at_a_step() -> None:
    run = EpochSampler(10, batch_size=2, max_steps=7)  # 5 batches per epoch
    assert len(run) == 14
    assert list(run) == list(range(10)) + list(range(10, 14))
    resumed = EpochSampler(10, batch_size=2, max_steps=7, start_step=3)
    assert list(resumed) == list(range(6, 10)) + list(range(10, 14))


def test_grouped_batches_are_the_plain_loaders_batches() -> None:
    from torch.utils.data import DataLoader, TensorDataset

    from audioae.samplers import GroupedBatches

    x = torch.arange(46 * 3, dtype=torch.float32).reshape(46, 3)
    pairs = TensorDataset(x, -x)  # items are (x, -x) tuples, like denoising batches
    for dataset, unpack in ((x, False), (pairs, True)):
        plain = list(DataLoader(dataset, batch_size=4, drop_last=True))
        grouped = GroupedBatches(DataLoader(dataset, batch_size=16, drop_last=False), 4)
        got = list(grouped)
        assert len(got) == len(grouped) == len(plain) == 11  # 46 = 11 * 4 + 2 dropped
        for a, b in zip(got, plain):
            if unpack:
                assert type(a) is type(b) and all(torch.equal(p, q) for p, q in zip(a, b))
            else:
                assert torch.equal(a, b)
