"""Bounded JSON reading, and the reference and prior files that use it: hostile files are
refused quickly with the file's name, never with an internal error or a memory blow-up."""

from __future__ import annotations

import json
import resource

import pytest

from audioae.anomaly_reference import AnomalyReferenceError, load_reference
from audioae.jsonfile import BoundedJsonError, read_bounded_json
from audioae.latent_prior import LatentPriorError, load_prior

HOSTILE = {
    "deep.json": ("[" * 100_000, "nested too deeply"),
    "long_int.json": ('{"mean": [' + "9" * 5000 + "]}", "an integer of 5000 digits"),
    "nan.json": ('{"mean": [NaN]}', "NaN is not a finite number"),
    "inf.json": ('{"mean": [-Infinity]}', "-Infinity is not a finite number"),
    "overflow.json": ('{"mean": [1e999]}', "1e999 overflows a float"),
    "latin1.json": (b'{"a": "\xe9"}', "not UTF-8 text"),
    "broken.json": ('{"a": ', "Expecting value"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_json_is_refused_with_a_reason(tmp_path, name):
    text, reason = HOSTILE[name]
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(BoundedJsonError, match=reason):
        read_bounded_json(path, 1 << 20)
    with pytest.raises(
        AnomalyReferenceError, match=rf"{name}: not a readable reference .*{reason}"
    ):
        load_reference(path)
    with pytest.raises(LatentPriorError, match=rf"{name}: not a readable prior file .*{reason}"):
        load_prior(path)


def test_a_large_or_endless_file_is_refused_unparsed(tmp_path):
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"mean": [0.5] * 100_000}))
    with pytest.raises(BoundedJsonError, match="larger than 1000 bytes"):
        read_bounded_json(big, 1000)
    assert read_bounded_json(big, 10**7)["mean"][0] == 0.5
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for loader, error in ((load_reference, AnomalyReferenceError), (load_prior, LatentPriorError)):
        with pytest.raises(error, match="larger than"):
            loader("/dev/zero")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 400  # at most the limit is read (256 MiB for a reference), not forever


def test_a_prior_with_values_beyond_any_latent_is_refused(tmp_path):
    doc = {"format": "audioae-latent-prior", "version": 1, "mean": [1e6], "std": [1.0]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(LatentPriorError, match="mean must be a list of 1 to 4096 finite numbers"):
        load_prior(path)
