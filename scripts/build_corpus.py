#!/usr/bin/env python3
"""Build a training corpus of real speech and noise outside the repository from Debian packages.

The packages are downloaded, never installed (``apt-get download`` into a cache, then
``dpkg-deb -x``), and their recordings are converted to 16 kHz mono 16-bit FLAC:

- ``CORPUS/speech/LANG/SPEAKER/*.flac``: speech of many voices and languages, wide-band
  (16 kHz and up) and narrow-band (8 kHz telephony, resampled to 16 kHz);
- ``CORPUS/noise/CATEGORY/*.flac``: noise recordings in seven categories (``stationary``,
  ``non_stationary``, ``impulsive``, ``tonal``, ``babble``, ``music``, ``ambient``: whole
  scenes such as rain, water, wind, fire, forests and crowds), peak-normalised;
- ``CORPUS/manifest.csv``: one row per file (``file, kind, group, package, version, license,
  source, source_sample_rate, duration_s``).

Sources, licences and the rules that sort them are the tables of ``corpus_sources.py`` (the
licence lookup is ``corpus_licenses.py``); ``data/README.md`` ("Training corpus") lists them.
The bundled held-out split stays unseen: the English Asterisk voice (Allison Smith, also the
``es-mx`` Asterisk voice) is refused, the Asterisk prompts that are test clips in
``data/splits.yaml`` are skipped in every language (no translation of a test clip), and Fish
Fillets' crowd chatter (``society/``) and bubbles (``sp-bubles_*``), the sessions the test
noises come from, are left out. Sources reserved for independent evaluation are refused by
name (``RESERVED``).

Deterministic (sorted inputs; the same package versions give the same files) and idempotent: a
package already built at the same version and rules (``RULES_VERSION`` and the text of
``corpus_sources.py``, so an edited rule rebuilds even without a version bump) is skipped, and
``.flac`` files in the corpus's own folders (``OUTPUT_KINDS``) that no build lists (a renamed
or dropped output, an interrupted build) are removed and reported, so a rule change never
leaves a file behind. A package that fails to download or to convert is reported by name and
skipped; the script then exits non-zero.

Usage: ``python scripts/build_corpus.py [--out DIR] [--packages P ...] [--dry-run]``.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_data import (  # noqa: E402
    MAX_CLIPPED,
    PEAK,
    SAMPLE_RATE,
    peak_normalise,
    to_16k_mono,
    trim_silence,
    write_flac,
)
from corpus_licenses import license_for_item, read_license  # noqa: E402
from corpus_sources import (  # noqa: E402
    BABBLE_SOURCES,
    PACKAGE_NAMES,
    PACKAGES,
    REPO,
    RULES_VERSION,
    Item,
    Package,
    check_allowed,
    read_cat_entry,
    source_bytes,
)

DEFAULT_OUT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "audioae" / "corpus"
MANIFEST_FIELDS = (
    "file",
    "kind",
    "group",
    "package",
    "version",
    "license",
    "source",
    "source_sample_rate",
    "duration_s",
)
MIN_SPEECH_S, MAX_SPEECH_S = 1.0, 12.0
# val_speech: validation voices, never trained on; extra_speech: opt-in training speech
SPEECH_KINDS = ("speech", "val_speech", "extra_speech")
CLIPPED_FRACTION = 1e-3
MAX_NOISE_S = 60.0  # longer noise recordings (music tracks) are cut here
MIN_NOISE_S = 0.05
GAP_S = 0.25  # silence between short words joined into one speech clip
BABBLE_FILES, BABBLE_TALKERS, BABBLE_S = 10, 6, 8.0


class DownloadError(RuntimeError):
    """``apt-get download`` of a package failed."""


# ---------------------------------------------------------------- decoding and rendering


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Decode ``path`` to float64 samples ``(time,)`` or ``(time, channels)`` and its rate (Hz).

    soundfile reads Ogg Vorbis, FLAC and WAV (also ``CONTAINER.cat#NN``, entry NN of an
    OpenTTD sound container); raw G.722 (16 kHz) and raw GSM 06.10 (8 kHz)
    Asterisk prompts go through ffmpeg. Raises ``subprocess.CalledProcessError`` or
    ``soundfile.LibsndfileError`` on an unreadable file.
    """
    if "#" in path.name:  # an entry of an OpenTTD .cat container
        container, index = str(path).rsplit("#", 1)
        return sf.read(io.BytesIO(read_cat_entry(Path(container), int(index, 16))), dtype="float64")
    fmt = {".g722": "g722", ".gsm": "gsm"}.get(path.suffix)
    if fmt is None:
        return sf.read(path, dtype="float64")
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", fmt, "-i", str(path)]
    wav = subprocess.run(cmd + ["-f", "wav", "-"], check=True, capture_output=True).stdout
    return sf.read(io.BytesIO(wav), dtype="float64")


def is_clipped(x: np.ndarray) -> bool:
    """True when more than ``CLIPPED_FRACTION`` of the samples (and more than ``MAX_CLIPPED``)
    sit at |x| >= 0.99: a recording clipped for a stretch, not one peak-normalised to 0 dBFS
    (the game's dialogue is, and Vorbis overshoots a few samples past 1.0)."""
    hot = int(np.sum(np.abs(x) >= 0.99))
    return hot > max(MAX_CLIPPED, CLIPPED_FRACTION * x.size)


def render(
    item: Item, root: Path, steep: bool = False
) -> tuple[np.ndarray, int, tuple[str, ...]] | None:
    """The 16 kHz mono samples of ``item``, the lowest source rate and the sources used, or
    None when rejected.

    Speech (also ``val_speech`` and ``extra_speech``): a clipped source (``is_clipped``) is
    left out; each kept source is resampled and its digital silence trimmed; several are
    joined with ``GAP_S`` of silence; the clip is rejected when nothing is left or it is
    outside ``MIN_SPEECH_S``-``MAX_SPEECH_S`` seconds; levels are the recording's own (only
    attenuated to -1 dBFS peak, never amplified). Noise (also ``val_noise``): sources joined,
    cut to ``MAX_NOISE_S``, rejected when shorter than ``MIN_NOISE_S`` or silent, and
    peak-normalised to -1 dBFS. ``steep``: resampled with the steep filter
    (``build_data.to_16k_mono``).
    """
    speech = item.kind in SPEECH_KINDS
    parts, rates, used = [], [], []
    for rel in item.sources:
        x, sr = decode(root / rel)
        if speech and is_clipped(x):
            continue
        y = to_16k_mono(x, sr, steep)
        if speech:
            y = trim_silence(y)
        if len(y):
            parts.append(y)
            rates.append(sr)
            used.append(rel)
    if not parts:
        return None
    gap = np.zeros(round(GAP_S * SAMPLE_RATE) if speech else 0)
    y = np.concatenate([p if i == 0 else np.concatenate([gap, p]) for i, p in enumerate(parts)])
    peak = float(np.max(np.abs(y)))
    if speech:
        if not MIN_SPEECH_S <= len(y) / SAMPLE_RATE <= MAX_SPEECH_S or peak == 0.0:
            return None
        return (y * (PEAK / peak) if peak > PEAK else y), min(rates), tuple(used)
    y = y[: round(MAX_NOISE_S * SAMPLE_RATE)]
    if len(y) < MIN_NOISE_S * SAMPLE_RATE or peak < 1e-4:
        return None
    return peak_normalise(y), min(rates), tuple(used)


# ---------------------------------------------------------------- packages: fetch and extract


def apt_download(package: str, cache: Path) -> Path:
    """``apt-get download`` ``package`` into ``cache`` (reused when present); its ``.deb`` path.

    Runs ``apt-get update`` once when apt does not know the package. Raises ``DownloadError``
    naming the package when the download fails.
    """
    check_allowed(package)
    cached = sorted(cache.glob(f"{package}_*.deb"))
    if cached:
        return cached[-1]
    cache.mkdir(parents=True, exist_ok=True)
    cmd = ["apt-get", "download", "-o", "APT::Sandbox::User=root", package]
    res = subprocess.run(cmd, cwd=cache, capture_output=True, text=True)
    if res.returncode != 0 and "Unable to locate" in res.stderr:
        subprocess.run(["apt-get", "update"], capture_output=True, text=True)
        res = subprocess.run(cmd, cwd=cache, capture_output=True, text=True)
    debs = sorted(cache.glob(f"{package}_*.deb"))
    if res.returncode != 0 or not debs:
        raise DownloadError(f"{package}: apt-get download failed: {res.stderr.strip()[-300:]}")
    return debs[-1]


def deb_version(deb: Path) -> str:
    """The ``Version`` field of a ``.deb``."""
    out = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True)
    return out.stdout.decode().strip()


# ---------------------------------------------------------------- manifest and stamps


def write_manifest(path: Path, rows: Sequence[dict[str, str]]) -> None:
    """Write ``rows`` (``MANIFEST_FIELDS`` each) sorted by file, atomically, to ``path``."""
    ordered = sorted(rows, key=lambda r: r["file"])
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(ordered)
    tmp.replace(path)


def rules_key() -> str:
    """``RULES_VERSION`` and a digest of ``corpus_sources.py``'s text: the part of a stamp that
    says which rules built a package (any edit to the rules rebuilds)."""
    text = (Path(__file__).with_name("corpus_sources.py")).read_bytes()
    return f"rules {RULES_VERSION} {hashlib.sha256(text).hexdigest()[:16]}"


OUTPUT_KINDS = ("speech", "noise", "val_speech", "extra_speech", "val_noise")
"""The corpus's own top-level folders, one per row ``kind``: the only places it writes audio."""


def remove_unlisted(out: Path, rows: Sequence[dict[str, str]]) -> list[str]:
    """Delete the ``.flac`` files in the corpus's own folders (:data:`OUTPUT_KINDS`) under
    ``out`` that no row lists (nothing else under ``out`` is touched); returns their paths
    relative to ``out``, sorted."""
    listed = {r["file"] for r in rows}
    removed = []
    for kind in OUTPUT_KINDS:
        for path in sorted((out / kind).rglob("*.flac")):
            rel = path.relative_to(out).as_posix()
            if rel not in listed:
                path.unlink()
                removed.append(rel)
    return sorted(removed)


def _stamp(out: Path, name: str) -> Path:
    return out / ".done" / f"{name}.json"


def _read_stamp(out: Path, name: str, version: str) -> list[dict[str, str]] | None:
    """The rows of a finished build of ``name`` at ``version`` whose files all exist."""
    path = _stamp(out, name)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if data.get("version") != version or not all((out / r["file"]).is_file() for r in data["rows"]):
        return None
    return data["rows"]


def _remove_stale(out: Path, name: str) -> None:
    """Delete the files of an earlier build of ``name`` (before rebuilding it)."""
    path = _stamp(out, name)
    if path.is_file():
        for row in json.loads(path.read_text())["rows"]:
            (out / row["file"]).unlink(missing_ok=True)
        path.unlink()


def _write_stamp(out: Path, name: str, version: str, rows: list[dict[str, str]]) -> None:
    path = _stamp(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": version, "rows": rows}, indent=1))


def build_package(
    package: Package, deb: Path, out: Path, steep: bool = False
) -> list[dict[str, str]]:
    """Extract ``deb`` into a temporary folder and write every kept item of ``package``."""
    version = deb_version(deb)
    rows = []
    with tempfile.TemporaryDirectory(prefix="corpus-") as tmp:
        root = Path(tmp)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, capture_output=True)
        license_ = read_license(root, package)
        copyright_text = (root / "usr/share/doc" / package.name / "copyright").read_text(
            errors="replace"
        )
        seen: set[bytes] = set()
        for item in package.planner(root):
            for rel in item.sources:
                check_allowed(rel)
            item_license = license_for_item(package, license_, copyright_text, item)
            if item_license is None:
                print(f"  {package.name}: no licence stanza for {item.sources[0]}, left out")
                continue
            digest = hashlib.sha256(b"".join(source_bytes(root, s) for s in item.sources)).digest()
            if digest in seen:  # the games reuse some files in several levels
                continue
            seen.add(digest)
            result = render(item, root, steep)
            if result is None:
                continue
            y, rate, used = result
            write_flac(out / item.rel, y)
            rows.append(
                {
                    "file": item.rel,
                    "kind": item.kind,
                    "group": item.group,
                    "package": package.name,
                    "version": version,
                    "license": item_license,
                    "source": " + ".join(used),
                    "source_sample_rate": str(rate),
                    "duration_s": f"{len(y) / SAMPLE_RATE:.3f}",
                }
            )
    return rows


# ---------------------------------------------------------------- babble from corpus voices


def babble_plan(rows: Sequence[dict[str, str]]) -> list[tuple[str, list[list[str]]]]:
    """``BABBLE_FILES`` mixtures of ``BABBLE_TALKERS`` voices of ``BABBLE_SOURCES``.

    Talkers (sorted ``LANG/SPEAKER`` groups) are taken in a rotating window, each with its
    clips in sorted order until ``BABBLE_S`` seconds. Returns (relative path, per talker the
    clip files) per mixture; empty when fewer than ``BABBLE_TALKERS`` voices are built.
    """
    clips: dict[str, list[tuple[str, float]]] = {}
    for r in sorted(rows, key=lambda r: r["file"]):
        if r["kind"] == "speech" and r["package"] in BABBLE_SOURCES:
            clips.setdefault(r["group"], []).append((r["file"], float(r["duration_s"])))
    talkers = sorted(clips)
    if len(talkers) < BABBLE_TALKERS:
        return []
    plan = []
    for k in range(BABBLE_FILES):
        chosen = [talkers[(k * BABBLE_TALKERS + j) % len(talkers)] for j in range(BABBLE_TALKERS)]
        sources = []
        for t in chosen:
            files, total = [], 0.0
            start = k % len(clips[t])
            for f, d in clips[t][start:] + clips[t][:start]:
                files.append(f)
                total += d
                if total >= BABBLE_S:
                    break
            sources.append(files)
        plan.append((f"noise/babble/mix{k:02d}.flac", sources))
    return plan


def build_babble(out: Path, rows: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """Write the ``babble_plan`` mixtures: each talker at equal RMS, summed, peak -1 dBFS."""
    by_file = {r["file"]: r for r in rows}
    result = []
    n = round(BABBLE_S * SAMPLE_RATE)
    for rel, talkers in babble_plan(rows):
        mix = np.zeros(n)
        for files in talkers:
            x = np.concatenate([sf.read(out / f, dtype="float64")[0] for f in files])
            x = np.pad(x, (0, max(0, n - len(x))))[:n]
            mix += x / max(float(np.sqrt(np.mean(x**2))), 1e-9)
        y = peak_normalise(mix)
        write_flac(out / rel, y)
        srcs = [f for files in talkers for f in files]
        versions = {by_file[f]["package"]: by_file[f]["version"] for f in srcs}
        result.append(
            {
                "file": rel,
                "kind": "noise",
                "group": "babble",
                "package": "+".join(sorted(versions)),
                "version": "+".join(versions[p] for p in sorted(versions)),
                "license": "GPL-2+",
                "source": " + ".join(srcs),
                "source_sample_rate": str(SAMPLE_RATE),
                "duration_s": f"{len(y) / SAMPLE_RATE:.3f}",
            }
        )
    return result


# ---------------------------------------------------------------- the whole build


def select_packages(names: Sequence[str] | None) -> list[Package]:
    """The ``PACKAGES`` named in ``names`` (all when None), in table order.

    Raises ``ReservedSourceError`` for a reserved name and ``ValueError`` for an unknown one.
    """
    if names is None:
        return list(PACKAGES)
    for name in names:
        check_allowed(name)
    unknown = sorted(set(names) - set(PACKAGE_NAMES))
    if unknown:
        raise ValueError(
            f"unknown package(s) {', '.join(unknown)}; known: {', '.join(PACKAGE_NAMES)}"
        )
    return [p for p in PACKAGES if p.name in names]


def dry_run(packages: Sequence[Package], cache: Path) -> list[str]:
    """One line per package: name, candidate version and size, cached or not, what it gives."""
    lines = []
    for package in packages:
        res = subprocess.run(
            ["apt-cache", "show", "--no-all-versions", package.name], capture_output=True, text=True
        )
        fields = dict(
            line.split(": ", 1)
            for line in res.stdout.splitlines()
            if ": " in line and line[0] != " "
        )
        size = f"{int(fields['Size']) / 1e6:.1f} MB" if "Size" in fields else "?"
        cached = "cached" if any(cache.glob(f"{package.name}_*.deb")) else "to fetch"
        version = fields.get("Version", "not in apt lists (apt-get update)")
        lines.append(f"{package.name} {version} {size} {cached}: {package.contributes}")
    return lines


def build(
    out: Path,
    packages: Sequence[Package],
    download: Callable[[str, Path], Path] | None = None,
    version_of: Callable[[Path], str] | None = None,
    build_one: Callable[[Package, Path, Path], list[dict[str, str]]] | None = None,
    steep: bool = False,
) -> tuple[list[dict[str, str]], list[str]]:
    """Build ``packages`` into ``out``; returns (all manifest rows, one line per failure).

    ``download(name, cache)`` returns a package's ``.deb`` (``apt_download``; raises
    ``DownloadError``), ``version_of(deb)`` its version (``deb_version``) and
    ``build_one(package, deb, out)`` its manifest rows (``build_package``). A package whose
    stamp matches its version is not rebuilt. A package that fails is reported and skipped,
    and the others are still built. ``manifest.csv`` lists the rows of every package built so
    far, also those of earlier runs, and the babble mixtures once their voices are built.
    ``steep``: resample with the steep filter (:func:`render`); stamps record it, so a corpus
    built the other way is rebuilt.
    """
    download = download or apt_download
    version_of = version_of or deb_version
    build_one = build_one or functools.partial(build_package, steep=steep)
    cache = out / ".cache" / "debs"
    rows_by_package: dict[str, list[dict[str, str]]] = {}
    failures: list[str] = []
    rules = rules_key() + (" steep" if steep else "")
    for package in packages:
        try:
            deb = download(package.name, cache)
            version = version_of(deb)
            key = f"{version} {rules}"
            rows = _read_stamp(out, package.name, key)
            if rows is None:
                _remove_stale(out, package.name)
                rows = build_one(package, deb, out)
                _write_stamp(out, package.name, key, rows)
                print(f"{package.name} {version}: {len(rows)} files", flush=True)
            else:
                print(f"{package.name} {version}: already built ({len(rows)} files)", flush=True)
            rows_by_package[package.name] = rows
        except (DownloadError, subprocess.CalledProcessError, ValueError, OSError) as err:
            failures.append(f"{package.name}: {err}")
            print(f"FAILED {package.name}: {err}", file=sys.stderr, flush=True)
    for stamp in sorted((out / ".done").glob("*.json")) if (out / ".done").is_dir() else []:
        name = stamp.stem
        if name not in rows_by_package and name in PACKAGE_NAMES:
            data = json.loads(stamp.read_text())
            rows_by_package[name] = data["rows"]
    speech = [r for rows in rows_by_package.values() for r in rows]
    if all(name in rows_by_package for name in BABBLE_SOURCES):
        key = "+".join(
            rows_by_package[n][0]["version"] if rows_by_package[n] else "" for n in BABBLE_SOURCES
        )
        key += f" {rules}"
        babble = _read_stamp(out, "babble", key)
        if babble is None:
            _remove_stale(out, "babble")
            babble = build_babble(out, speech)
            _write_stamp(out, "babble", key, babble)
        rows_by_package["babble"] = babble
    all_rows = [r for rows in rows_by_package.values() for r in rows]
    out.mkdir(parents=True, exist_ok=True)
    removed = remove_unlisted(out, all_rows)
    if removed:
        print(f"removed {len(removed)} file(s) no build lists:", *removed[:20], sep="\n  ")
    write_manifest(out / "manifest.csv", all_rows)
    return all_rows, failures


def summary(rows: Sequence[dict[str, str]]) -> list[str]:
    """Files and minutes per noise category and per speech language (training, validation and
    opt-in speech and validation noise apart), plus speaker counts."""
    lines = []
    for kind in OUTPUT_KINDS:
        groups: dict[str, list[float]] = {}
        speakers: dict[str, set[str]] = {}
        for r in rows:
            if r["kind"] != kind:
                continue
            key = r["group"].split("/")[0]
            groups.setdefault(key, []).append(float(r["duration_s"]))
            speakers.setdefault(key, set()).add(r["group"])
        for key in sorted(groups):
            extra = f" {len(speakers[key])} speakers" if kind in SPEECH_KINDS else ""
            lines.append(
                f"{kind:12s} {key:15s} {len(groups[key]):5d} files {sum(groups[key]) / 60:7.1f} min{extra}"
            )
    n_speakers = len({r["group"] for r in rows if r["kind"] == "speech"})
    n_noise = sum(r["kind"] == "noise" for r in rows)
    n_val = len({r["group"] for r in rows if r["kind"] == "val_speech"})
    n_val_noise = sum(r["kind"] == "val_noise" for r in rows)
    lines.append(
        f"total: {n_speakers} speakers, {n_noise} noise recordings; "
        f"{n_val} validation speakers (val_speech/), {n_val_noise} validation noise recordings "
        "(val_noise/), never trained on"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"corpus folder ({DEFAULT_OUT})"
    )
    parser.add_argument("--packages", nargs="+", metavar="PKG", help="build only these packages")
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be fetched, then stop"
    )
    parser.add_argument(
        "--steep",
        action="store_true",
        help="resample with soxr's steep filter (flat to 7.9 kHz instead of about 7.3 kHz)",
    )
    args = parser.parse_args(argv)
    out = args.out.expanduser().resolve()
    if out == REPO or REPO in out.parents:
        parser.error(f"--out {out} is inside the repository; the corpus lives outside it")
    try:
        packages = select_packages(args.packages)
    except ValueError as err:  # ReservedSourceError is a ValueError
        parser.error(str(err))
    if args.dry_run:
        print("\n".join(dry_run(packages, out / ".cache" / "debs")))
        return 0
    for tool in ("ffmpeg", "dpkg-deb", "apt-get"):
        if shutil.which(tool) is None:
            print(f"missing {tool}", file=sys.stderr)
            return 1
    rows, failures = build(out, packages, steep=args.steep)
    print("\n".join(summary(rows)))
    print(f"manifest: {out / 'manifest.csv'} ({len(rows)} files)")
    if failures:
        print(f"{len(failures)} package(s) failed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
