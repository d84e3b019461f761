#!/usr/bin/env python3
"""Rebuild the bundled audio in ``data/`` from installed Debian packages.

Produces, deterministically (same package versions give bit-identical files):

- ``data/notes/INSTRUMENT_PITCH.flac``: isolated notes of 14 General-MIDI instruments
  (one per GM family) x 8 MIDI pitches, rendered with fluidsynth from FluidR3_GM.sf2,
  1.5 s each (note on for 1.1 s, then release), peak-normalised to -1 dBFS.
- ``data/speech/LANG/SPEAKER/CLIP.flac``: real speech (Dutch and Czech game dialogue of
  fillets-ng; Canadian-French, Italian and Russian telephony prompts of three professional
  voices; English telephony prompts recorded by Allison Smith, held out), digital silence
  trimmed.
- ``data/noise/TYPE.flac``: real noise recordings (Sonic Pi's CC0 samples and fillets-ng
  sound effects), peak-normalised to -1 dBFS.
- ``data/splits.yaml`` (held-out test files) and ``data/manifest.csv`` (per-file source,
  licence, duration and level).

Everything is 16 kHz, mono, 16-bit FLAC. Resampling uses soxr (VHQ). Needs the Debian
packages fluidsynth, fluid-soundfont-gm, fillets-ng-data, fillets-ng-data-nl,
fillets-ng-data-cs, asterisk-core-sounds-{en,fr,it,ru}-g722, sonic-pi-samples and ffmpeg.

Usage: ``python scripts/build_data.py [--out data]``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import yaml

SAMPLE_RATE = 16000
PEAK_DBFS = -1.0
PEAK = 10.0 ** (PEAK_DBFS / 20.0)

SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
FILLETS = Path("/usr/share/games/fillets-ng/sound")
ASTERISK = Path("/usr/share/asterisk/sounds")  # one voice folder per package
SONIC_PI = Path("/usr/share/sonic-pi/samples")

LICENSES = {
    "fluid-soundfont-gm": "MIT",
    "fillets-ng-data": "GPL-2",
    "fillets-ng-data-nl": "GPL-2",
    "fillets-ng-data-cs": "GPL-2",
    "asterisk-core-sounds-en-g722": "CC-BY-SA-3.0",
    "asterisk-core-sounds-fr-g722": "CC-BY-SA-3.0",
    "asterisk-core-sounds-it-g722": "CC-BY-3.0",
    "asterisk-core-sounds-ru-g722": "CC-BY-3.0",
    "sonic-pi-samples": "CC0",
}

# ---------------------------------------------------------------- notes
# (name, GM program 0-based, lowest MIDI pitch); one instrument per GM family.
INSTRUMENTS = [
    ("piano", 0, 48),  # Piano: Acoustic Grand Piano
    ("vibraphone", 11, 53),  # Chromatic Percussion: Vibraphone
    ("organ", 19, 48),  # Organ: Church Organ
    ("guitar", 24, 45),  # Guitar: Acoustic Guitar (nylon)
    ("bass", 33, 28),  # Bass: Electric Bass (finger)
    ("violin", 40, 55),  # Strings: Violin
    ("strings", 48, 48),  # Ensemble: String Ensemble 1
    ("trumpet", 56, 55),  # Brass: Trumpet
    ("saxophone", 65, 49),  # Reed: Alto Sax
    ("flute", 73, 60),  # Pipe: Flute
    ("synthlead", 81, 48),  # Synth Lead: Lead 2 (sawtooth)
    ("synthpad", 89, 48),  # Synth Pad: Pad 2 (warm)
    ("sitar", 104, 48),  # Ethnic: Sitar
    ("steeldrum", 114, 48),  # Percussive: Steel Drums
]
PITCH_OFFSETS = (0, 3, 7, 10, 14, 17, 21, 24)  # semitones above the lowest pitch (2 octaves)
TEST_PITCH_OFFSETS = (7, 17)  # held out: interior pitches, so tests interpolate, not extrapolate
RENDER_RATE = 44100
NOTE_ON_S = 1.1
RENDER_S = 2.0
NOTE_S = 1.5
FADE_S = 0.03
VELOCITY = 100

# ---------------------------------------------------------------- speech
# (language, speaker folder, package, glob under the package root, clips to keep)
SPEAKERS = [
    ("nl", "small_fish", "fillets-ng-data-nl", "*/nl/*-m-*.ogg", 48),
    ("nl", "big_fish", "fillets-ng-data-nl", "*/nl/*-v-*.ogg", 48),
    ("cs", "small_fish", "fillets-ng-data-cs", "*/cs/*-m-*.ogg", 48),
    ("cs", "big_fish", "fillets-ng-data-cs", "*/cs/*-v-*.ogg", 48),
    ("en", "allison", "asterisk-core-sounds-en-g722", "**/*.g722", 36),
    # The other telephony voices read translations of the same prompt list; the prompts kept
    # for the held-out English voice are skipped for them (see build_speech).
    ("fr", "june", "asterisk-core-sounds-fr-g722", "**/*.g722", 48),
    ("it", "carlo", "asterisk-core-sounds-it-g722", "**/*.g722", 48),
    ("ru", "ivrvoice", "asterisk-core-sounds-ru-g722", "**/*.g722", 48),
]
NON_SPEECH = {"ascending-2tone", "descending-2tone", "beep", "beeperr"}
TEST_SPEECH_LANGUAGES = ("en",)  # a whole language and speaker nobody trains on
SILENCE_DBFS = -60.0  # a 10 ms frame whose peak is below this is digital silence
MIN_SPEECH_S, MAX_SPEECH_S = 1.5, 10.0
MAX_CLIPPED = 2  # source samples with |x| >= 0.99 tolerated in a speech clip

# ---------------------------------------------------------------- noise
# (name, package, source files relative to the package root, description)
NOISES = [
    ("vinyl_hiss", "sonic-pi-samples", ["vinyl_hiss.flac"], "record hiss and crackle"),
    ("steam_hiss", "sonic-pi-samples", ["ambi_sauna.flac"], "sauna steam, broadband hiss"),
    ("printer", "sonic-pi-samples", ["loop_3d_printer.flac"], "3D printer: motors, machinery"),
    ("hum", "sonic-pi-samples", ["ambi_haunted_hum.flac"], "harmonic electrical-style hum"),
    ("whoosh", "sonic-pi-samples", ["ambi_lunar_land.flac"], "falling wind-like whoosh"),
    ("rumble", "sonic-pi-samples", ["ambi_dark_woosh.flac"], "low-frequency rumble"),
    ("engine", "fillets-ng-data", ["engine/en/mot-x-motor.ogg"], "running motor (11 kHz source)"),
    (
        "babble",
        "fillets-ng-data",
        ["society/en/mik-x-stebet2.ogg", "society/en/mik-x-stebet1.ogg"],
        "crowd chatter, several overlapping voices",
    ),
    (
        "bubbles",
        "fillets-ng-data",
        [f"share/sp-bubles_0{i}.ogg" for i in range(6)],
        "underwater bubbles",
    ),
]
TEST_NOISES = ("babble", "bubbles")  # unseen noise types
PACKAGE_ROOTS = {
    "sonic-pi-samples": SONIC_PI,
    "fillets-ng-data": FILLETS,
    "fillets-ng-data-nl": FILLETS,
    "fillets-ng-data-cs": FILLETS,
    "asterisk-core-sounds-en-g722": ASTERISK / "en_US_f_Allison",
    "asterisk-core-sounds-fr-g722": ASTERISK / "fr_CA_f_June",
    "asterisk-core-sounds-it-g722": ASTERISK / "it_IT_m_Carlo",
    "asterisk-core-sounds-ru-g722": ASTERISK / "ru_RU_f_IvrvoiceRU",
}


@dataclass
class Entry:
    """One written file, for ``manifest.csv``."""

    path: str
    package: str
    source: str
    description: str
    wav: np.ndarray

    def row(self, versions: dict[str, str]) -> dict[str, str]:
        peak = float(np.max(np.abs(self.wav)))
        rms = float(np.sqrt(np.mean(self.wav.astype(np.float64) ** 2)))
        return {
            "path": self.path,
            "package": self.package,
            "version": versions[self.package],
            "license": LICENSES[self.package],
            "source": self.source,
            "description": self.description,
            "duration_s": f"{len(self.wav) / SAMPLE_RATE:.3f}",
            "peak_dbfs": f"{20 * np.log10(peak):.2f}",
            "rms_dbfs": f"{20 * np.log10(rms):.2f}",
        }


def package_version(package: str) -> str:
    """Installed Debian version of ``package``; exits with a hint when it is missing."""
    res = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True
    )
    if res.returncode != 0 or not res.stdout:
        sys.exit(f"missing Debian package {package}: apt-get install -y {package}")
    return res.stdout


SOXR_STEEP_FILTER = 0x40  # soxr.h: passband to 0.99 of Nyquist instead of 0.913


def to_16k_mono(x: np.ndarray, sr: int, steep: bool = False) -> np.ndarray:
    """Average channels of ``x`` (time,) or (time, channels) and resample to 16 kHz (soxr VHQ:
    flat to about 7.3 kHz, -10 dB near 7.7 kHz; with ``steep``, VHQ with libsoxr's steep-filter
    flag: flat to 7.9 kHz, no aliasing; see docs/benchmarks.md, "Resampling into a 16 kHz
    model")."""
    if x.ndim == 2:
        x = x.mean(axis=1)
    x = np.ascontiguousarray(x, dtype=np.float64)
    if sr != SAMPLE_RATE and steep:
        quality = soxr.VHQ | SOXR_STEEP_FILTER  # python-soxr's public API takes names only
        c = soxr.soxr_ext.CSoxr(sr, SAMPLE_RATE, 1, soxr.soxr_ext.SOXR_FLOAT64_I, quality, False)
        x = c.process_float64(np.ascontiguousarray(x[:, None]), True)[:, 0]
    elif sr != SAMPLE_RATE:
        x = soxr.resample(x, sr, SAMPLE_RATE, quality="VHQ")
    return x


def peak_normalise(x: np.ndarray) -> np.ndarray:
    """Scale ``x`` so its peak is ``PEAK_DBFS``."""
    return x * (PEAK / np.max(np.abs(x)))


def write_flac(path: Path, x: np.ndarray) -> None:
    """Write mono 16 kHz 16-bit FLAC; refuses anything that would clip."""
    if not np.max(np.abs(x)) <= PEAK + 1e-9:
        raise ValueError(f"{path}: peak {np.max(np.abs(x)):.4f} above {PEAK_DBFS} dBFS")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(
        path,
        x.astype(np.float32),
        SAMPLE_RATE,
        subtype="PCM_16",
        format="FLAC",
        compression_level=1.0,
    )


# ---------------------------------------------------------------- notes


def _vlq(n: int) -> bytes:
    """MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def note_midi(program: int, pitch: int) -> bytes:
    """A format-0 Standard MIDI File: one note on channel 0, on for ``NOTE_ON_S`` seconds.

    480 ticks per quarter at 120 bpm (500000 us per quarter), so 960 ticks per second. The
    end-of-track event sits at ``RENDER_S`` so fluidsynth renders the release tail.
    """
    tps = 960
    on, end = round(NOTE_ON_S * tps), round(RENDER_S * tps)
    track = (
        b"\x00\xff\x51\x03\x07\xa1\x20"  # tempo 500000 us / quarter
        + b"\x00\xc0"
        + bytes([program])  # program change
        + b"\x00\xb0\x5b\x00\x00\xb0\x5d\x00"  # reverb and chorus sends off
        + b"\x00\x90"
        + bytes([pitch, VELOCITY])  # note on
        + _vlq(on)
        + b"\x80"
        + bytes([pitch, 0])  # note off
        + _vlq(end - on)
        + b"\xff\x2f\x00"  # end of track
    )
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
    header += (480).to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + track


def render_note(program: int, pitch: int, tmp: Path) -> np.ndarray:
    """Render one note with fluidsynth (44.1 kHz float, reverb/chorus off) -> (24000,) at 16 kHz."""
    mid, wav = tmp / "note.mid", tmp / "note.wav"
    mid.write_bytes(note_midi(program, pitch))
    cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5"]
    cmd += ["-r", str(RENDER_RATE), "-O", "float", "-T", "wav", "-F", str(wav), str(SF2), str(mid)]
    subprocess.run(cmd, check=True, capture_output=True)
    x, sr = sf.read(wav, dtype="float64")
    x = to_16k_mono(x, sr)
    n = round(NOTE_S * SAMPLE_RATE)
    x = np.pad(x, (0, max(0, n - len(x))))[:n]
    fade = round(FADE_S * SAMPLE_RATE)
    x[-fade:] *= 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, fade)))
    return peak_normalise(x)


def build_notes(out: Path) -> list[Entry]:
    """Render every instrument at its 8 pitches into ``out/notes``."""
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, program, low in INSTRUMENTS:
            for offset in PITCH_OFFSETS:
                pitch = low + offset
                x = render_note(program, pitch, Path(tmp))
                rel = f"notes/{name}_{pitch}.flac"
                write_flac(out / rel, x)
                src = f"FluidR3_GM.sf2 program {program} pitch {pitch} velocity {VELOCITY}"
                entries.append(Entry(rel, "fluid-soundfont-gm", src, name, x))
    return entries


# ---------------------------------------------------------------- speech


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Decode an Ogg Vorbis / FLAC file (soundfile) or raw G.722 (ffmpeg) to float64."""
    if path.suffix == ".g722":
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "g722", "-i", str(path)]
        wav = subprocess.run(cmd + ["-f", "wav", "-"], check=True, capture_output=True).stdout
        x, sr = sf.read(io.BytesIO(wav), dtype="float64")
    else:
        x, sr = sf.read(path, dtype="float64")
    return x, sr


def trim_silence(x: np.ndarray) -> np.ndarray:
    """Drop leading/trailing 10 ms frames whose peak is below ``SILENCE_DBFS`` (keeps one frame)."""
    hop = SAMPLE_RATE // 100
    frames = np.abs(x[: len(x) // hop * hop]).reshape(-1, hop).max(axis=1)
    loud = np.flatnonzero(frames >= 10.0 ** (SILENCE_DBFS / 20.0))
    if len(loud) == 0:
        return x[:0]
    start = max(0, loud[0] - 1) * hop
    stop = min(len(x), (loud[-1] + 2) * hop)
    return x[start:stop]


def _hash_key(rel: str) -> str:
    return hashlib.sha256(rel.encode()).hexdigest()


def build_speech(out: Path) -> list[Entry]:
    """Write ``count`` clips per speaker to ``out/speech/LANG/SPEAKER``.

    Candidates are visited in SHA-256 order of their package path (fixed, pseudo-random);
    duplicates, clipped recordings and clips outside 1.5-10 s after trimming are skipped, and
    so are prompts (same file name) already kept for a held-out language, so that no training
    clip is a translation of a test clip. Exits when a speaker has too few usable clips.
    """
    entries = []
    held_out_prompts: set[str] = set()
    for lang, speaker, package, pattern, count in SPEAKERS:
        root = PACKAGE_ROOTS[package]
        candidates = sorted(
            (
                p
                for p in root.glob(pattern)
                if p.stem not in NON_SPEECH and "silence" not in p.parts
            ),
            key=lambda p: _hash_key(str(p.relative_to(root))),
        )
        kept, seen = 0, set()
        for path in candidates:
            if kept == count:
                break
            if path.stem in held_out_prompts:
                continue
            digest = hashlib.sha256(path.read_bytes()).digest()
            if digest in seen:  # the game reuses some clips in several levels
                continue
            seen.add(digest)
            x, sr = decode(path)
            if int(np.sum(np.abs(x) >= 0.99)) > MAX_CLIPPED:
                continue
            y = trim_silence(to_16k_mono(x, sr))
            if not MIN_SPEECH_S <= len(y) / SAMPLE_RATE <= MAX_SPEECH_S:
                continue
            peak = np.max(np.abs(y))
            if peak > PEAK:  # only ever attenuate: keeps the recordings' own levels
                y = y * (PEAK / peak)
            rel_src = path.relative_to(root)
            stem = "_".join(rel_src.with_suffix("").parts)
            if not package.startswith("asterisk-"):
                stem = f"{rel_src.parts[0]}_{path.stem}"  # level_clip; drops the language folder
            rel = f"speech/{lang}/{speaker}/{stem}.flac"
            write_flac(out / rel, y)
            entries.append(Entry(rel, package, str(path), f"{lang} {speaker}", y))
            if lang in TEST_SPEECH_LANGUAGES:
                held_out_prompts.add(path.stem)
            kept += 1
        if kept < count:
            sys.exit(f"only {kept} usable clips for {lang}/{speaker}, wanted {count}")
    return entries


# ---------------------------------------------------------------- noise


def build_noise(out: Path) -> list[Entry]:
    """Convert (and for multi-file sources, concatenate) the noise recordings into ``out/noise``."""
    entries = []
    for name, package, sources, description in NOISES:
        root = PACKAGE_ROOTS[package]
        parts = [to_16k_mono(*decode(root / s)) for s in sources]
        x = peak_normalise(np.concatenate(parts))
        rel = f"noise/{name}.flac"
        write_flac(out / rel, x)
        src = " + ".join(str(root / s) for s in sources)
        entries.append(Entry(rel, package, src, description, x))
    return entries


# ---------------------------------------------------------------- splits and manifest


def make_splits(notes: list[Entry], speech: list[Entry], noise: list[Entry]) -> dict:
    """The held-out split: 2 interior pitches per instrument, whole test languages, test noises."""
    test_pitches = {
        f"notes/{name}_{low + off}.flac"
        for name, _, low in INSTRUMENTS
        for off in TEST_PITCH_OFFSETS
    }
    test_speech = {e.path for e in speech if e.path.split("/")[1] in TEST_SPEECH_LANGUAGES}
    test_noise = {f"noise/{n}.flac" for n in TEST_NOISES}

    def split(entries: list[Entry], test: set[str]) -> dict[str, list[str]]:
        paths = sorted(e.path for e in entries)
        return {
            "train": [p for p in paths if p not in test],
            "test": [p for p in paths if p in test],
        }

    return {
        "notes": split(notes, test_pitches),
        "speech": split(speech, test_speech),
        "noise": split(noise, test_noise),
    }


def copy_licenses(out: Path) -> None:
    """Copy each source package's Debian copyright file, and the GPL-2 text, to ``out/licenses``."""
    dest = out / "licenses"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for package in LICENSES:
        shutil.copyfile(f"/usr/share/doc/{package}/copyright", dest / f"{package}.copyright")
    shutil.copyfile("/usr/share/common-licenses/GPL-2", dest / "GPL-2.txt")


def verify(out: Path) -> list[str]:
    """Check ``out`` against its manifest and split; returns the problems found (empty: all good).

    Every file: 16 kHz mono 16-bit FLAC, the manifest's duration, peak in [-40, -1] dBFS (not
    silent, not clipped); notes exactly ``NOTE_S`` long; the split's train/test lists disjoint
    and together exactly the files on disk.
    """
    problems = []
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        path = out / row["path"]
        if not path.is_file():
            problems.append(f"{row['path']}: missing")
            continue
        info = sf.info(path)
        fmt = (info.samplerate, info.channels, info.format, info.subtype)
        if fmt != (SAMPLE_RATE, 1, "FLAC", "PCM_16"):
            problems.append(f"{row['path']}: format {fmt}")
        x, _ = sf.read(path, dtype="float64")
        if abs(len(x) / SAMPLE_RATE - float(row["duration_s"])) > 1e-3:
            problems.append(f"{row['path']}: {len(x)} samples, manifest {row['duration_s']} s")
        if row["path"].startswith("notes/") and len(x) != round(NOTE_S * SAMPLE_RATE):
            problems.append(f"{row['path']}: {len(x)} samples, want {NOTE_S} s")
        peak_db = 20 * np.log10(max(np.max(np.abs(x)), 1e-12))
        if not -40.0 <= peak_db <= PEAK_DBFS + 0.01:
            problems.append(f"{row['path']}: peak {peak_db:.2f} dBFS")
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*.flac")}
    if on_disk != {r["path"] for r in rows}:
        problems.append("manifest.csv does not list exactly the FLAC files on disk")
    splits = yaml.safe_load((out / "splits.yaml").read_text())
    listed: set[str] = set()
    for group, parts in splits.items():
        train, test = set(parts["train"]), set(parts["test"])
        if train & test or not test or not train:
            problems.append(f"splits.yaml: {group} train/test overlap or are empty")
        listed |= train | test
    if listed != on_disk:
        problems.append("splits.yaml does not list exactly the FLAC files on disk")
    return problems


SPLITS_HEADER = """\
# Held-out split of the bundled audio (written by scripts/build_data.py; do not edit).
# Paths are relative to data/. No shipped model trains on a "test" file.
#   notes:  pitches low+7 and low+17 of every instrument (2 of 8, interior pitches)
#   speech: all English clips (one whole language and speaker, Allison Smith; the same
#           telephony codec, G.722, as the French, Italian and Russian training voices)
#   noise:  babble and bubbles, noise types unseen in training
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data")
    parser.add_argument("--verify", action="store_true", help="only check an existing build")
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.verify:
        problems = verify(out)
        print("\n".join(problems) or f"{out}: OK")
        sys.exit(1 if problems else 0)

    for tool in ("fluidsynth", "ffmpeg"):
        if shutil.which(tool) is None:
            sys.exit(f"missing {tool}: apt-get install -y {tool}")
    versions = {p: package_version(p) for p in LICENSES}
    for sub in ("notes", "speech", "noise"):
        shutil.rmtree(out / sub, ignore_errors=True)

    copy_licenses(out)
    notes, speech, noise = build_notes(out), build_speech(out), build_noise(out)
    splits = make_splits(notes, speech, noise)
    (out / "splits.yaml").write_text(
        SPLITS_HEADER + yaml.safe_dump(splits, sort_keys=False, default_flow_style=False)
    )
    rows = [e.row(versions) for e in notes + speech + noise]
    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    for group, entries in (("notes", notes), ("speech", speech), ("noise", noise)):
        seconds = sum(len(e.wav) for e in entries) / SAMPLE_RATE
        size = sum((out / e.path).stat().st_size for e in entries) / 2**20
        print(
            f"{group:7s} {len(entries):4d} files {seconds:8.1f} s {size:6.2f} MiB "
            f"train {len(splits[group]['train'])} test {len(splits[group]['test'])}"
        )
    problems = verify(out)
    print("\n".join(problems) or "verified: OK")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
