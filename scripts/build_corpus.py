#!/usr/bin/env python3
"""Build a training corpus of real speech and noise outside the repository from Debian packages.

The packages are downloaded, never installed (``apt-get download`` into a cache, then
``dpkg-deb -x``), and their recordings are converted to 16 kHz mono 16-bit FLAC:

- ``CORPUS/speech/LANG/SPEAKER/*.flac``: speech of many voices and languages, wide-band
  (16 kHz and up) and narrow-band (8 kHz telephony, resampled to 16 kHz);
- ``CORPUS/noise/CATEGORY/*.flac``: noise recordings in six categories (``stationary``,
  ``non_stationary``, ``impulsive``, ``tonal``, ``babble``, ``music``), peak-normalised;
- ``CORPUS/manifest.csv``: one row per file (``file, kind, group, package, version, license,
  source, source_sample_rate, duration_s``).

Sources, licences and the rules that sort them are the tables below; ``data/README.md``
("Training corpus") lists them. The bundled held-out split stays unseen: the English Asterisk
voice (Allison Smith, also the ``es-mx`` Asterisk voice) is refused, the Asterisk prompts that
are test clips in ``data/splits.yaml`` are skipped in every language (no translation of a test
clip), and Fish Fillets' crowd chatter (``society/``) and bubbles (``sp-bubles_*``), the
sessions the test noises come from, are left out. Sources reserved for independent evaluation
are refused by name (``RESERVED``).

Deterministic (sorted inputs; the same package versions give the same files) and idempotent: a
package already built at the same version and ``RULES_VERSION`` is skipped. A package that fails to download or to
convert is reported by name and skipped; the script then exits non-zero.

Usage: ``python scripts/build_corpus.py [--out DIR] [--packages P ...] [--dry-run]``.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_data import (  # noqa: E402
    MAX_CLIPPED,
    NON_SPEECH,
    PEAK,
    SAMPLE_RATE,
    peak_normalise,
    to_16k_mono,
    trim_silence,
    write_flac,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path.home() / ".cache" / "audioae" / "corpus"
CATEGORIES = ("stationary", "non_stationary", "impulsive", "tonal", "babble", "music")
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
CLIPPED_FRACTION = 1e-3
MAX_NOISE_S = 60.0  # longer noise recordings (music tracks) are cut here
MIN_NOISE_S = 0.05
GAP_S = 0.25  # silence between short words joined into one speech clip
MAX_PER_NOISE_GROUP = 32  # per package and category, so no source floods a category
BABBLE_FILES, BABBLE_TALKERS, BABBLE_S = 10, 6, 8.0
RULES_VERSION = 2  # bump when a planner or rule changes: stamps of older rules are rebuilt

# Reserved for independent evaluation, or the held-out voice: refused by name or prefix.
RESERVED = (
    "ufoai-sound",
    "alsa-utils",
    "codec2-examples",
    "musescore-general-soundfont",
    "timgm6mb-soundfont",
    "pretty-midi",
    "python3-pretty-midi",
    "pytest-audioeval",
    "pyannote-audio",
    "pysptk",
    "asterisk-core-sounds-en",  # Allison Smith: the bundled held-out test speaker
    "asterisk-core-sounds-es",  # es-MX is Allison Smith as well (es_MX_f_Allison)
)
HELD_OUT_VOICE = "Allison"  # any source path naming her is refused too
HELD_OUT_LANGUAGES = ("en",)  # the bundled test split's whole unseen language


class ReservedSourceError(ValueError):
    """A package or file reserved for evaluation, or the held-out voice, was asked for."""


class DownloadError(RuntimeError):
    """``apt-get download`` of a package failed."""


def check_allowed(name: str) -> None:
    """Raise ``ReservedSourceError`` naming ``name`` when it is a reserved source."""
    low = name.lower()
    for reserved in RESERVED:
        if low == reserved or low.startswith(reserved + "-") or low.startswith(reserved + "_"):
            raise ReservedSourceError(f"{name}: reserved for evaluation or held out ({reserved})")
    if HELD_OUT_VOICE.lower() in low:
        raise ReservedSourceError(f"{name}: a recording of the held-out voice ({HELD_OUT_VOICE})")


# ---------------------------------------------------------------- what each package gives


@dataclass(frozen=True)
class Item:
    """One planned output file: ``rel`` under the corpus from ``sources`` inside the package."""

    rel: str
    kind: str  # "speech" or "noise"
    group: str  # "LANG/SPEAKER" or a noise category
    sources: tuple[str, ...]  # paths relative to the extracted package root, joined in order


@dataclass(frozen=True)
class Package:
    """A Debian package, its licence as read in its copyright file, and how to plan it."""

    name: str
    license: str
    license_phrase: str  # must occur in usr/share/doc/NAME/copyright (guards version drift)
    planner: Callable[[Path], list[Item]]
    contributes: str
    per_file_license: bool = False  # take each file's licence from the DEP-5 copyright file


def _stem(path: str) -> str:
    return Path(path).name.rsplit(".", 1)[0]


def _hash_order(paths: Sequence[str]) -> list[str]:
    """``paths`` in SHA-256 order: a fixed pseudo-random order spread over every folder."""
    return sorted(paths, key=lambda p: hashlib.sha256(p.encode()).hexdigest())


def _files(root: Path, pattern: str) -> list[str]:
    """Files under ``root`` matching ``pattern``, as sorted POSIX paths relative to ``root``."""
    return sorted(p.relative_to(root).as_posix() for p in root.glob(pattern) if p.is_file())


def held_out_prompt_names(splits_path: Path = REPO / "data" / "splits.yaml") -> frozenset[str]:
    """Prompt names of the bundled speech test clips (``followme_call-from`` style)."""
    splits = yaml.safe_load(splits_path.read_text())
    return frozenset(_stem(p) for p in splits["speech"]["test"])


def _asterisk_planner(voice_dir: str, lang: str, speaker: str, ext: str):
    """Prompts of one Asterisk voice, one clip each, minus tones, silence and test prompts.

    A prompt is skipped when its name, or its file stem, is a test clip's prompt name in
    ``data/splits.yaml``, so that no training clip is a translation of a test clip.
    """

    def plan(root: Path) -> list[Item]:
        base = "usr/share/asterisk/sounds" + (f"/{voice_dir}" if voice_dir else "")
        test = held_out_prompt_names()
        test_stems = test | {t.split("_", 1)[1] for t in test if "_" in t}
        items = []
        for rel in _files(root, f"{base}/**/*.{ext}"):
            inner = Path(rel).relative_to(base).with_suffix("")
            parts = [p for p in inner.parts if p != lang]  # prompt-* packages: digits/fr/1
            name = "_".join(parts)
            if "silence" in parts or inner.name in NON_SPEECH:
                continue
            if name in test or inner.name in test_stems:
                continue
            items.append(
                Item(f"speech/{lang}/{speaker}/{name}.flac", "speech", f"{lang}/{speaker}", (rel,))
            )
        return items

    return plan


def _fillets_speech_planner(lang: str) -> Callable[[Path], list[Item]]:
    """Fish Fillets dialogue: ``-m-`` lines are the small fish, ``-v-`` lines the big fish."""

    def plan(root: Path) -> list[Item]:
        items = []
        base = "usr/share/games/fillets-ng/sound"
        for letter, speaker in (("m", "small_fish"), ("v", "big_fish")):
            for rel in _files(root, f"{base}/*/{lang}/*-{letter}-*.ogg"):
                level = Path(rel).parts[-3]
                out = f"speech/{lang}/{speaker}/{level}_{_stem(rel)}.flac"
                items.append(Item(out, "speech", f"{lang}/{speaker}", (rel,)))
        return items

    return plan


def _joined_words_planner(
    base: str, patterns: Sequence[str], speaker: str, per_clip: int, skip: Sequence[str] = ()
):
    """Short words or letters of one voice per language folder, ``per_clip`` joined per clip.

    Each language folder under ``base`` is taken as one speaker (the packages do not name their
    readers); English (held out) and the folders in ``skip`` are left out.
    """

    def plan(root: Path) -> list[Item]:
        items = []
        for lang_dir in sorted(p for p in (root / base).iterdir() if p.is_dir()):
            lang = lang_dir.name.split("_")[0].split("@")[0].lower()
            if lang in HELD_OUT_LANGUAGES or lang_dir.name in skip:
                continue
            files = sorted(
                f for pat in patterns for f in _files(root, f"{base}/{lang_dir.name}/{pat}")
            )
            for k in range(0, len(files) - per_clip + 1, per_clip):
                group = tuple(files[k : k + per_clip])
                rel = f"speech/{lang}/{speaker}/{speaker}_{lang_dir.name}_{k // per_clip:03d}.flac"
                items.append(Item(rel, "speech", f"{lang}/{speaker}", group))
        return items

    return plan


# Noise categorisation: per package, (fnmatch pattern on the path inside the package, category
# or None to leave the file out); the first match wins, an unmatched file is left out.
NOISE_RULES: dict[str, list[tuple[str, str | None]]] = {
    "sonic-pi-samples": [
        # steady broadband or machine noise
        ("*/ambi_sauna.flac", "stationary"),
        ("*/ambi_soft_buzz.flac", "stationary"),
        ("*/vinyl_hiss.flac", "stationary"),
        ("*/loop_3d_printer.flac", "stationary"),
        # noise whose spectrum moves: whooshes, rubbing, scratching, robots
        ("*/ambi_dark_woosh.flac", "non_stationary"),
        ("*/ambi_lunar_land.flac", "non_stationary"),
        ("*/ambi_swoosh.flac", "non_stationary"),
        ("*/ambi_glass_rub.flac", "non_stationary"),
        ("*/vinyl_*.flac", "non_stationary"),
        ("*/perc_sw*.flac", "non_stationary"),
        ("*/glitch_robot*.flac", "non_stationary"),
        ("*/mehackit_robot*.flac", "non_stationary"),
        # pitched: drones, hums, bells, beeps, phones, bass notes
        ("*/ambi_drone.flac", "tonal"),
        ("*/ambi_haunted_hum.flac", "tonal"),
        ("*/ambi_glass_hum.flac", "tonal"),
        ("*/elec_beep.flac", "tonal"),
        ("*/elec_bell.flac", "tonal"),
        ("*/elec_chime.flac", "tonal"),
        ("*/elec_ping.flac", "tonal"),
        ("*/elec_triangle.flac", "tonal"),
        ("*/perc_bell*.flac", "tonal"),
        ("*/mehackit_phone*.flac", "tonal"),
        ("*/bass_*.flac", "tonal"),
        # music: loops, guitar, piano, choir
        ("*/loop_*.flac", "music"),
        ("*/guit_*.flac", "music"),
        ("*/ambi_piano.flac", "music"),
        ("*/ambi_choir.flac", "music"),
        ("*/glitch_bass_g.flac", "music"),
        # hits: drums, tabla, clicks, impacts, doors
        ("*/drum_*.flac", "impulsive"),
        ("*/bd_*.flac", "impulsive"),
        ("*/sn_*.flac", "impulsive"),
        ("*/tabla_*.flac", "impulsive"),
        ("*/elec_*.flac", "impulsive"),
        ("*/perc_*.flac", "impulsive"),
        ("*/glitch_perc*.flac", "impulsive"),
        ("*/misc_*.flac", "impulsive"),
    ],
    "sound-theme-freedesktop": [
        ("*/audio-channel-*", None),  # a spoken voice ("front left"), not noise
        ("*/audio-test-signal*", None),
        ("*/camera-shutter*", "impulsive"),
        ("*/screen-capture*", "impulsive"),
        ("*/trash-empty*", "impulsive"),
        ("*/stereo/*.oga", "tonal"),  # bells, alarms, chimes, phone rings
    ],
    "asterisk-moh-opsound-g722": [("*.g722", "music")],  # instrumental music-on-hold tracks
    "fillets-ng-data": [
        ("*/society/*", None),  # crowd chatter: the session of the held-out babble noise
        ("*/sp-bubles_*", None),  # the held-out bubbles noise
        ("*/engine/en/mot-x-motor.ogg", "stationary"),  # running motor
        ("*/bathroom/en/br-x-pracka.ogg", "non_stationary"),  # washing machine
        ("*/barrel/en/bar-x-suck*.ogg", "non_stationary"),  # sucking, slurping
        ("*/share/sp-impact_*.ogg", "impulsive"),
        ("*/share/sp-dead_*.ogg", "impulsive"),
        ("*/keys/en/unlocking-*.ogg", "impulsive"),
        ("*/corridor/en/ch-x-click*.ogg", "impulsive"),
        ("*/linux/en/*.ogg", "impulsive"),  # keyboard typing
        ("*/dump/en/sm-x-tiktak.ogg", "impulsive"),  # clock ticking
        ("*/bathyscaph/en/bat-t-*.ogg", "tonal"),  # alarm clock, telephone ringing
        ("*/steel/en/steel-x-redalert.ogg", "tonal"),  # alarm siren
        ("*/cancan/en/kan-klavir-music.ogg", "music"),
        ("*/creatures/en/kor-room-music.ogg", "music"),
        ("usr/share/games/fillets-ng/music/*.ogg", "music"),
    ],
}


# OpenSFX (openttd-opensfx) keeps its 73 sounds in one ``opensfx.cat``; entry N (hex) is the
# sound OpenTTD's ``sound_type.h`` names ``SND_NN_...`` (entries 0x00 and 0x01 are
# ``SND_00_GOOD_YEAR``/``SND_01_BAD_YEAR``), and each entry's own title says what it is.
# Entries whose title is unclear (Toyland comedy sounds) are left out.
OPENSFX_CAT = "usr/share/games/openttd/baseset/opensfx/opensfx.cat"
OPENSFX: dict[int, tuple[str, str]] = {
    0x00: ("good_year", "music"),  # short jingles
    0x01: ("bad_year", "music"),
    0x02: ("splat_docks", "impulsive"),
    0x03: ("factory_whistle", "tonal"),
    0x04: ("steam_train_departure", "non_stationary"),
    0x05: ("steam_engine_tunnel", "non_stationary"),
    0x06: ("ship_horn", "tonal"),
    0x07: ("ferry_horn", "tonal"),
    0x08: ("propeller_plane_start", "non_stationary"),
    0x09: ("early_jet_take_off", "non_stationary"),
    0x0A: ("diesel_train_departure", "non_stationary"),
    0x0B: ("mining_machinery", "stationary"),
    0x0C: ("electric_sparking", "impulsive"),
    0x0D: ("steam", "stationary"),
    0x0E: ("level_crossing", "tonal"),
    0x0F: ("road_vehicle_breakdown", "impulsive"),
    0x10: ("train_breakdown", "impulsive"),
    0x11: ("crash", "impulsive"),
    0x12: ("explosion", "impulsive"),
    0x13: ("big_crash", "impulsive"),
    0x14: ("cash_till", "impulsive"),
    0x16: ("morse", "tonal"),
    0x17: ("plane_wheels", "impulsive"),
    0x18: ("helicopter", "stationary"),
    0x19: ("truck_start", "non_stationary"),
    0x1A: ("truck_start_2", "non_stationary"),
    0x1B: ("modern_bus_start", "non_stationary"),
    0x1C: ("old_bus_start", "non_stationary"),
    0x1D: ("applause", "non_stationary"),
    0x1E: ("crowd_oooh", "babble"),  # a crowd's voices
    0x1F: ("splat", "impulsive"),
    0x20: ("splat_rail", "impulsive"),
    0x21: ("jackhammer", "non_stationary"),
    0x23: ("car_horn", "tonal"),
    0x24: ("sheep", "non_stationary"),
    0x25: ("cow", "non_stationary"),
    0x26: ("horse", "non_stationary"),
    0x27: ("building_bridge", "impulsive"),
    0x28: ("sawmill", "non_stationary"),
    0x34: ("wind", "stationary"),
    0x36: ("crashing_tree", "impulsive"),
    0x37: ("falling_tree", "non_stationary"),
    0x38: ("chainsaw", "non_stationary"),
    0x39: ("heavy_wind", "stationary"),
    0x3B: ("mach_jet_take_off", "non_stationary"),
    0x3D: ("modern_jet_take_off", "non_stationary"),
    0x41: ("maglev_departure", "non_stationary"),
    0x42: ("bird", "non_stationary"),
    0x43: ("lion_roar", "non_stationary"),
    0x44: ("monkeys", "non_stationary"),
    0x47: ("monorail_departure", "non_stationary"),
    0x48: ("bird_2", "non_stationary"),
}
NOISE_RULES["openttd-opensfx"] = [
    (f"*.cat#{index:02x}", category) for index, (_, category) in OPENSFX.items()
]


def read_cat_entry(cat: Path, index: int) -> bytes:
    """The WAV bytes of entry ``index`` of an OpenTTD sound ``.cat`` file (empty when none).

    Layout: a table of (offset | 0x80000000, size) little-endian uint32 pairs, as many as the
    first offset / 8; at each offset a length byte, that many bytes of title, then a RIFF WAV.
    Raises ``ValueError`` when ``index`` is outside the table.
    """
    data = cat.read_bytes()
    count = (int.from_bytes(data[:4], "little") & 0x7FFFFFFF) // 8
    if not 0 <= index < count:
        raise ValueError(f"{cat}: no entry {index} (has {count})")
    offset = int.from_bytes(data[8 * index : 8 * index + 4], "little") & 0x7FFFFFFF
    size = int.from_bytes(data[8 * index + 4 : 8 * index + 8], "little")
    entry = data[offset : offset + size]
    return entry[1 + entry[0] :] if entry else b""


def source_bytes(root: Path, rel: str) -> bytes:
    """The bytes of source ``rel``: a file, or ``CONTAINER#NN`` (hex) inside a ``.cat``."""
    if "#" in rel:
        container, index = rel.rsplit("#", 1)
        return read_cat_entry(root / container, int(index, 16))
    return (root / rel).read_bytes()


def _opensfx_planner(root: Path) -> list[Item]:
    """The ``OPENSFX`` entries that hold a sound, one file each."""
    items = []
    for index, (name, category) in sorted(OPENSFX.items()):
        rel = f"{OPENSFX_CAT}#{index:02x}"
        if categorise("openttd-opensfx", rel) != category or not source_bytes(root, rel):
            continue
        out = f"noise/{category}/openttd_{index:02x}_{name}.flac"
        items.append(Item(out, "noise", category, (rel,)))
    return items


def categorise(package: str, rel: str) -> str | None:
    """The noise category of file ``rel`` of ``package`` by ``NOISE_RULES``; None: not used."""
    for pattern, category in NOISE_RULES.get(package, []):
        if fnmatch.fnmatchcase(rel, pattern):
            return category
    return None


def _noise_planner(package: str, patterns: Sequence[str]) -> Callable[[Path], list[Item]]:
    """Every file matching ``patterns`` that ``categorise`` keeps, at most
    ``MAX_PER_NOISE_GROUP`` per category (chosen in SHA-256 order of the path), one file each."""

    def plan(root: Path) -> list[Item]:
        by_category: dict[str, list[str]] = {}
        for pattern in patterns:
            for rel in _files(root, pattern):
                category = categorise(package, rel)
                if category is not None:
                    by_category.setdefault(category, []).append(rel)
        items = []
        for category in sorted(by_category):
            chosen = sorted(_hash_order(by_category[category])[:MAX_PER_NOISE_GROUP])
            for rel in chosen:
                name = _noise_name(package, rel)
                items.append(Item(f"noise/{category}/{name}.flac", "noise", category, (rel,)))
        return items

    return plan


def _noise_name(package: str, rel: str) -> str:
    """``PREFIX_STEM`` file name for a noise recording (prefix from the package)."""
    prefix = {
        "sonic-pi-samples": "sonicpi",
        "sound-theme-freedesktop": "freedesktop",
        "asterisk-moh-opsound-g722": "moh",
        "fillets-ng-data": "fillets",
    }[package]
    parts = Path(rel).parts
    level = parts[-3] if package == "fillets-ng-data" and len(parts) >= 3 else ""
    stem = f"{level}_{_stem(rel)}" if level and level not in ("sound", "fillets-ng") else _stem(rel)
    return f"{prefix}_{stem}"


FILLETS_SOUND = "usr/share/games/fillets-ng/sound"
PACKAGES: tuple[Package, ...] = (
    Package(
        "fillets-ng-data-nl",
        "GPL-2",
        "version 2",
        _fillets_speech_planner("nl"),
        "speech nl: small_fish, big_fish (game dialogue, wide-band)",
    ),
    Package(
        "fillets-ng-data-cs",
        "GPL-2",
        "version 2",
        _fillets_speech_planner("cs"),
        "speech cs: small_fish, big_fish (game dialogue, wide-band)",
    ),
    Package(
        "asterisk-core-sounds-fr-g722",
        "CC-BY-SA-3.0",
        "June Wallack",
        _asterisk_planner("fr_CA_f_June", "fr", "june", "g722"),
        "speech fr: june (Canadian French prompts, G.722 wide-band)",
    ),
    Package(
        "asterisk-core-sounds-it-g722",
        "CC-BY-3.0",
        "Carlo Flora",
        _asterisk_planner("it_IT_m_Carlo", "it", "carlo", "g722"),
        "speech it: carlo (Italian prompts, G.722 wide-band)",
    ),
    Package(
        "asterisk-core-sounds-ru-g722",
        "CC-BY-3.0",
        "ivrvoice",
        _asterisk_planner("ru_RU_f_IvrvoiceRU", "ru", "ivrvoice", "g722"),
        "speech ru: ivrvoice (Russian prompts, G.722 wide-band)",
    ),
    Package(
        "asterisk-prompt-fr-armelle",
        "GPL-2+",
        "GNU General Public License",
        _asterisk_planner("", "fr", "armelle", "gsm"),
        "speech fr: armelle (French prompts, GSM 8 kHz narrow-band)",
    ),
    Package(
        "asterisk-prompt-es-co",
        "GPL-2+",
        "GNU General Public License",
        _asterisk_planner("", "es", "colombia", "gsm"),
        "speech es: colombia (Colombian Spanish prompts, GSM 8 kHz narrow-band)",
    ),
    Package(
        "asterisk-prompt-it-menardi-wav",
        "CC-BY-SA-3.0",
        "Creative Commons Attribution Share Alike 3.0",
        _asterisk_planner("it_IT_f_Menardi", "it", "menardi", "wav"),
        "speech it: menardi (Italian prompts, 8 kHz PCM narrow-band)",
    ),
    Package(
        "klettres-data",
        "GPL-2+",
        "License: GPL-2+",
        _joined_words_planner(
            "usr/share/klettres", ("*/*.ogg", "*/*.wav"), "klettres", 4, skip=("en_GB",)
        ),
        "speech: one reader per language of letters and syllables, 4 joined per clip",
    ),
    Package(
        "ktuberling-data",
        "GPL-2+",
        "License: GPL-2+",
        _joined_words_planner(
            "usr/share/ktuberling/sounds",
            ("*.ogg", "*.wav"),
            "ktuberling",
            6,
            skip=("sr@ijekavian", "sr@ijekavianlatin", "sr@latin"),
        ),
        "speech: one reader per language of single words, 6 joined per clip",
    ),
    Package(
        "sonic-pi-samples",
        "CC0-1.0",
        "CC0",
        _noise_planner("sonic-pi-samples", ["usr/share/sonic-pi/samples/*.flac"]),
        "noise: all six categories but babble (freesound.org samples)",
    ),
    Package(
        "sound-theme-freedesktop",
        "CC-BY-SA-3.0, CC-BY-3.0, GPL-2+ or GPL-2 (per file)",
        "License: CC-BY-SA-3.0",
        _noise_planner("sound-theme-freedesktop", ["usr/share/sounds/freedesktop/stereo/*.oga"]),
        "noise: tonal (bells, alarms, ring tones), impulsive (shutter, crumple)",
        per_file_license=True,
    ),
    Package(
        "asterisk-moh-opsound-g722",
        "CC-BY-SA-3.0",
        "by-sa/3.0",
        _noise_planner("asterisk-moh-opsound-g722", ["usr/share/asterisk/moh/**/*.g722"]),
        "noise: music (instrumental music-on-hold tracks)",
    ),
    Package(
        "fillets-ng-data",
        "GPL-2",
        "version 2",
        _noise_planner(
            "fillets-ng-data",
            [
                f"{FILLETS_SOUND}/*/en/*.ogg",
                f"{FILLETS_SOUND}/share/*.ogg",
                "usr/share/games/fillets-ng/music/*.ogg",
            ],
        ),
        "noise: game sound effects and music (no crowd chatter, no bubbles)",
    ),
    Package(
        "openttd-opensfx",
        "CC-BY-SA-3.0",
        "License: CC-BY-SA-3.0",
        _opensfx_planner,
        "noise: vehicles, machinery, wind, animals, horns, crashes, a crowd (OpenSFX)",
    ),
)
PACKAGE_NAMES = tuple(p.name for p in PACKAGES)
BABBLE_SOURCES = ("klettres-data", "ktuberling-data")


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


def render(item: Item, root: Path) -> tuple[np.ndarray, int, tuple[str, ...]] | None:
    """The 16 kHz mono samples of ``item``, the lowest source rate and the sources used, or
    None when rejected.

    Speech: a clipped source (``is_clipped``) is left out; each kept source is resampled and
    its digital silence trimmed; several are joined with ``GAP_S`` of silence; the clip is
    rejected when nothing is left or it is outside ``MIN_SPEECH_S``-``MAX_SPEECH_S``
    seconds; levels are the recording's own (only attenuated to -1 dBFS peak, never
    amplified). Noise: sources joined, cut to ``MAX_NOISE_S``, rejected when shorter than
    ``MIN_NOISE_S`` or silent, and peak-normalised to -1 dBFS.
    """
    parts, rates, used = [], [], []
    for rel in item.sources:
        x, sr = decode(root / rel)
        if item.kind == "speech" and is_clipped(x):
            continue
        y = to_16k_mono(x, sr)
        if item.kind == "speech":
            y = trim_silence(y)
        if len(y):
            parts.append(y)
            rates.append(sr)
            used.append(rel)
    if not parts:
        return None
    gap = np.zeros(round(GAP_S * SAMPLE_RATE) if item.kind == "speech" else 0)
    y = np.concatenate([p if i == 0 else np.concatenate([gap, p]) for i, p in enumerate(parts)])
    peak = float(np.max(np.abs(y)))
    if item.kind == "speech":
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


def read_license(root: Path, package: Package) -> str:
    """``package.license`` after checking its phrase in the extracted copyright file.

    Raises ``ValueError`` when the copyright file is missing or no longer says it.
    """
    path = root / "usr/share/doc" / package.name / "copyright"
    if not path.is_file() or package.license_phrase not in path.read_text(errors="replace"):
        raise ValueError(f"{package.name}: {path} does not state {package.license_phrase!r}")
    return package.license


def dep5_license(copyright_text: str, rel: str) -> str | None:
    """The ``License:`` of the last DEP-5 ``Files:`` stanza matching ``rel``, or None.

    Patterns are matched against the end of ``rel`` (a path inside the installed package;
    the stanzas name paths in the source tree), ``*`` matching across ``/`` as DEP-5 says.
    """
    found = None
    for stanza in copyright_text.split("\n\n"):
        patterns: list[str] = []
        license_ = None
        in_files = False
        for line in stanza.splitlines():
            if line.startswith("Files:"):
                patterns, in_files = line[len("Files:") :].split(), True
            elif in_files and line.startswith((" ", "\t")):
                patterns += line.split()
            else:
                in_files = False
                if line.startswith("License:"):
                    license_ = line[len("License:") :].strip()
        if license_ and any(
            fnmatch.fnmatchcase(rel, pat) or fnmatch.fnmatchcase(rel, "*/" + pat)
            for pat in patterns
        ):
            found = license_
    return found


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


def _item_license(package: Package, license_: str, copyright_text: str, item: Item) -> str | None:
    """The package's licence, or for ``per_file_license`` packages the sources' own (None
    when the copyright file names no licence for one of them: such files are left out)."""
    if not package.per_file_license:
        return license_
    found = {dep5_license(copyright_text, s) for s in item.sources}
    if None in found:
        return None
    return " AND ".join(sorted(found))


def build_package(package: Package, deb: Path, out: Path) -> list[dict[str, str]]:
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
            item_license = _item_license(package, license_, copyright_text, item)
            if item_license is None:
                print(f"  {package.name}: no licence stanza for {item.sources[0]}, left out")
                continue
            digest = hashlib.sha256(b"".join(source_bytes(root, s) for s in item.sources)).digest()
            if digest in seen:  # the games reuse some files in several levels
                continue
            seen.add(digest)
            result = render(item, root)
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
) -> tuple[list[dict[str, str]], list[str]]:
    """Build ``packages`` into ``out``; returns (all manifest rows, one line per failure).

    ``download(name, cache)`` returns a package's ``.deb`` (``apt_download``; raises
    ``DownloadError``), ``version_of(deb)`` its version (``deb_version``) and
    ``build_one(package, deb, out)`` its manifest rows (``build_package``). A package whose
    stamp matches its version is not rebuilt. A package that fails is reported and skipped,
    and the others are still built. ``manifest.csv`` lists the rows of every package built so
    far, also those of earlier runs, and the babble mixtures once their voices are built.
    """
    download = download or apt_download
    version_of = version_of or deb_version
    build_one = build_one or build_package
    cache = out / ".cache" / "debs"
    rows_by_package: dict[str, list[dict[str, str]]] = {}
    failures: list[str] = []
    for package in packages:
        try:
            deb = download(package.name, cache)
            version = version_of(deb)
            key = f"{version} rules {RULES_VERSION}"
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
        key += f" rules {RULES_VERSION}"
        babble = _read_stamp(out, "babble", key)
        if babble is None:
            _remove_stale(out, "babble")
            babble = build_babble(out, speech)
            _write_stamp(out, "babble", key, babble)
        rows_by_package["babble"] = babble
    all_rows = [r for rows in rows_by_package.values() for r in rows]
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out / "manifest.csv", all_rows)
    return all_rows, failures


def summary(rows: Sequence[dict[str, str]]) -> list[str]:
    """Files and minutes per noise category and per speech language, plus speaker counts."""
    lines = []
    for kind in ("speech", "noise"):
        groups: dict[str, list[float]] = {}
        speakers: dict[str, set[str]] = {}
        for r in rows:
            if r["kind"] != kind:
                continue
            key = r["group"].split("/")[0]
            groups.setdefault(key, []).append(float(r["duration_s"]))
            speakers.setdefault(key, set()).add(r["group"])
        for key in sorted(groups):
            extra = f" {len(speakers[key])} speakers" if kind == "speech" else ""
            lines.append(
                f"{kind:6s} {key:15s} {len(groups[key]):5d} files {sum(groups[key]) / 60:7.1f} min{extra}"
            )
    n_speakers = len({r["group"] for r in rows if r["kind"] == "speech"})
    n_noise = sum(r["kind"] == "noise" for r in rows)
    lines.append(f"total: {n_speakers} speakers, {n_noise} noise recordings")
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
    rows, failures = build(out, packages)
    print("\n".join(summary(rows)))
    print(f"manifest: {out / 'manifest.csv'} ({len(rows)} files)")
    if failures:
        print(f"{len(failures)} package(s) failed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
