"""What the training corpus takes from where: the Debian packages, their planners and rules.

Used by ``scripts/build_corpus.py``. Reserved sources and the held-out voice are refused by
name (``check_allowed``); each ``Package`` names its licence and a planner that lists, inside
the extracted package, the files to convert (``Item``): Asterisk prompts, Fish Fillets
dialogue, short words joined per clip, Tux Paint's spoken descriptions as validation voices
(and opt-in extra speech), LinCity-NG's crowds and water as validation noise, and noise
sorted into ``CATEGORIES`` by ``NOISE_RULES`` (OpenSFX sounds are entries of one ``.cat``
container, read by ``read_cat_entry``). Planners only read the package; converting and
writing the files is ``build_corpus``'s job.
"""

from __future__ import annotations

import fnmatch
import hashlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import yaml

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_data import NON_SPEECH  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# ambient: whole outdoor or room scenes (rain, running water, wind, fire, forests by day and night,
# a stadium crowd), the kind of recording users' backgrounds are and the other six lack
CATEGORIES = ("stationary", "non_stationary", "impulsive", "tonal", "babble", "music", "ambient")
MAX_PER_NOISE_GROUP = 32  # per package and category, so no source floods a category
RULES_VERSION = 6  # stamps also hold a digest of this file, so any edit here rebuilds

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
    kind: str  # speech, noise, val_speech (validation voices), extra_speech (opt-in), val_noise
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


def _joined(files: Sequence[str], per_clip: int) -> list[tuple[str, ...]]:
    """``files`` in consecutive groups of ``per_clip`` (one clip each); the remainder of fewer
    than ``per_clip`` is left out."""
    return [tuple(files[k : k + per_clip]) for k in range(0, len(files) - per_clip + 1, per_clip)]


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
            for n, group in enumerate(_joined(files, per_clip)):
                rel = f"speech/{lang}/{speaker}/{speaker}_{lang_dir.name}_{n:03d}.flac"
                items.append(Item(rel, "speech", f"{lang}/{speaker}", group))
        return items

    return plan


VAL_SPEECH_PER_CLIP = 4  # short spoken descriptions (about 1.4 s each) joined per clip
VAL_SPEECH_CLIPS = 12  # clips per language: every language (one reader each) weighs the same
# readers whose descriptions beyond their validation clips are also written as extra_speech/
# (opt-in training speech, train_denoise_corpus.py --extra-speech); the others (bg, da, el,
# en, lt, ml, nl) stay voices that no model trains on
EXTRA_SPEECH_LANGS = ("be", "ca", "fr", "ro", "ru")


def _tuxpaint_voices_planner(
    base: str,
    per_clip: int = VAL_SPEECH_PER_CLIP,
    max_clips: int = VAL_SPEECH_CLIPS,
    extra_langs: Sequence[str] = EXTRA_SPEECH_LANGS,
) -> Callable[[Path], list[Item]]:
    """Tux Paint's spoken stamp descriptions (``NAME_desc_LANG.ogg``; English ``NAME_desc.ogg``)
    as *validation* speech (kind ``val_speech``, under ``val_speech/``): voices that no model
    trains on, for choosing between denoisers without the test split.

    Per language (one reader each, as far as the package tells), files sampled below 16 kHz
    are left out, the rest are taken in SHA-256 order (spread over every stamp folder) and
    ``per_clip`` are joined per clip, at most ``max_clips`` clips. English is taken too: it is
    held out of *training* (the test voice's language), and validation voices in it are what
    the test voice is most like. For the languages in ``extra_langs`` the files after those
    go, ``per_clip`` joined, to ``extra_speech/`` (kind ``extra_speech``): training speech that
    a run takes only when asked (their readers are then no longer unseen voices).
    """

    def plan(root: Path) -> list[Item]:
        by_lang: dict[str, list[str]] = {}
        for rel in _files(root, f"{base}/**/*_desc*.ogg"):
            stem = _stem(rel)
            lang = stem.split("_desc", 1)[1].lstrip("_").split("_")[0].split(".")[0] or "en"
            if len(lang) != 2 or sf.info(str(root / rel)).samplerate < 16000:
                continue
            by_lang.setdefault(lang, []).append(rel)
        items = []
        for lang in sorted(by_lang):
            ordered = _hash_order(by_lang[lang])
            parts = [("val_speech", ordered[: per_clip * max_clips])]
            if lang in extra_langs:
                parts.append(("extra_speech", ordered[per_clip * max_clips :]))
            for kind, files in parts:
                for n, group in enumerate(_joined(files, per_clip)):
                    rel = f"{kind}/{lang}/tuxpaint/tuxpaint_{lang}_{n:04d}.flac"
                    items.append(Item(rel, kind, f"{lang}/tuxpaint", group))
        return items

    return plan


# Validation noise (kind val_noise, under val_noise/): real crowd and water recordings, which the
# training noise lacks (its babble is mixed from single words), for choosing between
# denoisers on noise like the test's babble and bubbles without touching them; never trained on.
LINCITY_VAL_NOISE = {
    "crowd": ("MarketFull1", "MarketMed1", "SportsCroud*", "School*", "University*"),
    "water": ("Water*", "Harbor*", "ParklandLake*"),
}


def _lincity_val_noise_planner(base: str = "usr/share/games/lincity-ng/sounds"):
    """LinCity-NG's city sounds of crowds (market, stadium, school, university) and water
    (water, harbour, lake) as validation noise, one file each (``LINCITY_VAL_NOISE``)."""

    def plan(root: Path) -> list[Item]:
        items = []
        for category, patterns in LINCITY_VAL_NOISE.items():
            rels = sorted({r for pat in patterns for r in _files(root, f"{base}/{pat}.wav")})
            for rel in rels:
                out = f"val_noise/{category}/lincity_{_stem(rel)}.flac"
                items.append(Item(out, "val_noise", category, (rel,)))
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


# Ambient scenes (category ambient). None of these packages is a source of the validation noise
# (LinCity-NG) or of the bundled test noise (Fish Fillets).
NOISE_RULES["megaglest-data"] = [
    # the tilesets' background loops; the animal calls (wolf, chicken, owl, ...) are left out.
    # three of them hold a stretch of the market recording in LinCity-NG's MarketFull1, a
    # validation noise (scripts/noise_overlap.py: 0.91, 0.69 and 0.63 against 0.17 or less for
    # every other pair; data/README.md), so they are left out
    ("*/tilesets/mediterran/sounds/desertday.ogg", None),
    ("*/tilesets/hell/sounds/hell.ogg", None),
    ("*/tilesets/fernland/sounds/night.ogg", None),
    ("*/tilesets/jungle/sounds/night.ogg", None),  # a copy of fernland's
    ("*/tilesets/*/sounds/*day.ogg", "ambient"),  # day, sunny_day
    ("*/tilesets/*/sounds/*night*.ogg", "ambient"),  # night, nightime
    ("*/tilesets/*/sounds/rain.*", "ambient"),
    ("*/tilesets/winter/sounds/wind.ogg", "ambient"),  # winter_forest's wind is a re-encoding
    ("*/data/core/water_sounds/water*.wav", "ambient"),  # splashes
]
NOISE_RULES["wesnoth-1.16-data"] = [
    ("*/sounds/ambient/wardrums.ogg", None),  # drumming: music, not a scene
    ("*/sounds/ambient/*.ogg", "ambient"),  # birds, campfire, morning, night, ship
]
NOISE_RULES["minetest-data"] = [
    ("*/env_sounds/sounds/env_sounds_*.ogg", "ambient"),  # running water, bubbling lava
    ("*/fire/sounds/fire_fire.*.ogg", "ambient"),
    ("*/fire/sounds/fire_large.ogg", "ambient"),
    ("*/fire/sounds/fire_small.ogg", "ambient"),
    ("*/default/sounds/default_water_footstep.*.ogg", "ambient"),  # wading
]
NOISE_RULES["tuxfootball"] = [("*/sound/crowd*.wav", "ambient")]  # stadium crowds


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


def _first_of_each_content(root: Path, rels: Sequence[str]) -> list[str]:
    """``rels`` in order without the files whose bytes repeat an earlier one's (games copy one
    sound into several levels), so that copies do not use up ``MAX_PER_NOISE_GROUP``; the
    copy kept is the first in ``rels``, as ``build_corpus.py``'s own check would keep."""
    seen: set[bytes] = set()
    kept = []
    for rel in rels:
        digest = hashlib.sha256((root / rel).read_bytes()).digest()
        if digest not in seen:
            seen.add(digest)
            kept.append(rel)
    return kept


def _noise_planner(package: str, patterns: Sequence[str]) -> Callable[[Path], list[Item]]:
    """Every file matching ``patterns`` that ``categorise`` keeps, at most
    ``MAX_PER_NOISE_GROUP`` per category (chosen in SHA-256 order of the path, byte-identical
    copies skipped before counting), one file each."""

    def plan(root: Path) -> list[Item]:
        by_category: dict[str, list[str]] = {}
        for pattern in patterns:
            for rel in _files(root, pattern):
                category = categorise(package, rel)
                if category is not None:
                    by_category.setdefault(category, []).append(rel)
        items = []
        for category in sorted(by_category):
            unique = _first_of_each_content(root, sorted(by_category[category]))
            chosen = sorted(_hash_order(unique)[:MAX_PER_NOISE_GROUP])
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
        "megaglest-data": "megaglest",
        "wesnoth-1.16-data": "wesnoth",
        "minetest-data": "minetest",
        "tuxfootball": "tuxfootball",
    }[package]
    parts = Path(rel).parts
    named_by_level = package in ("fillets-ng-data", "megaglest-data")  # rain.ogg in every tileset
    level = parts[-3] if named_by_level and len(parts) >= 3 else ""
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
        "lincity-ng-data",
        "GPL-2+",
        "License: GPL-2+",
        _lincity_val_noise_planner(),
        "validation noise only (val_noise/, never trained on): crowd 11 (market, stadium, "
        "school, university), water 9 (water, harbour, lake; a duplicate left out)",
    ),
    Package(
        "tuxpaint-stamps-default",
        "GPL-2",
        "either version 2",
        _tuxpaint_voices_planner("usr/share/tuxpaint/stamps"),
        "validation speech (val_speech/, never trained on): one reader per language of the "
        "stamps' spoken descriptions, 4 joined per clip, 12 clips per language; the rest of "
        "be, ca, fr, ro, ru as opt-in training speech (extra_speech/)",
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
        "noise: five categories, all but babble and ambient (freesound.org samples)",
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
    Package(
        "megaglest-data",
        "CC-BY-SA-3.0",
        "License: CC-BY-SA-3.0",
        _noise_planner(
            "megaglest-data",
            [
                "usr/share/games/megaglest/tilesets/*/sounds/*",
                "usr/share/games/megaglest/data/core/water_sounds/*.wav",
            ],
        ),
        "noise: ambient (rain, wind, forests by day and night, splashes; MegaGlest tilesets)",
    ),
    Package(
        "wesnoth-1.16-data",
        "GPL-2+",
        "GNU General Public License version 2",
        _noise_planner(
            "wesnoth-1.16-data", ["usr/share/games/wesnoth/*/data/core/sounds/ambient/*"]
        ),
        "noise: ambient (birds, campfire, morning, night, a ship at sea)",
    ),
    Package(
        "minetest-data",
        "CC-BY-SA-3.0",
        "License: CC-BY-SA-3.0",
        _noise_planner(
            "minetest-data", ["usr/share/games/minetest/games/minetest_game/mods/*/sounds/*.ogg"]
        ),
        "noise: ambient (running water, lava, fire, wading; Minetest Game)",
    ),
    Package(
        "tuxfootball",
        "GPL-2+",
        "License: GPL-2+",
        _noise_planner("tuxfootball", ["usr/share/games/tuxfootball/sound/*.wav"]),
        "noise: ambient (stadium crowds cheering, booing, gasping)",
    ),
)
PACKAGE_NAMES = tuple(p.name for p in PACKAGES)
BABBLE_SOURCES = ("klettres-data", "ktuberling-data")
