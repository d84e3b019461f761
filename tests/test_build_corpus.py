"""scripts/build_corpus.py (and its corpus_sources, corpus_licenses) offline: refusals, categorisation, naming, manifest, skip-and-report."""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

import build_corpus as bc  # noqa: E402
import corpus_licenses as lic  # noqa: E402
import corpus_sources as cs  # noqa: E402

SR = 16000


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "name",
    [
        "ufoai-sound",
        "alsa-utils",
        "codec2-examples",
        "musescore-general-soundfont",
        "musescore-general-soundfont-lossless",
        "musescore-general-soundfont-small",
        "timgm6mb-soundfont",
        "pretty-midi",
        "python3-pretty-midi",
        "pytest-audioeval",
        "pyannote-audio",
        "pysptk",
        "asterisk-core-sounds-en",
        "asterisk-core-sounds-en-g722",
        "asterisk-core-sounds-en-wav",
        "asterisk-core-sounds-es-gsm",  # es-MX is Allison Smith too
        "usr/share/asterisk/sounds/es_MX_f_Allison/vm-intro.g722",
    ],
)
def test_reserved_sources_are_refused_by_name(name):
    with pytest.raises(cs.ReservedSourceError, match="reserved|held-out"):
        cs.check_allowed(name)


def test_allowed_sources_pass_and_no_listed_package_is_reserved():
    for package in cs.PACKAGES:
        cs.check_allowed(package.name)  # raises if a listed source were reserved
    cs.check_allowed("alsaplayer-common")  # a prefix of a name, not a reserved name
    with pytest.raises(cs.ReservedSourceError):
        bc.select_packages(["sonic-pi-samples", "ufoai-sound"])
    with pytest.raises(ValueError, match="unknown package"):
        bc.select_packages(["no-such-package"])
    assert [p.name for p in bc.select_packages(["sonic-pi-samples", "klettres-data"])] == [
        "klettres-data",
        "sonic-pi-samples",
    ]


def test_cli_refuses_a_reserved_package_before_fetching(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        bc.main(["--out", str(tmp_path / "c"), "--packages", "pysptk", "--dry-run"])
    assert exc.value.code == 2
    assert "pysptk" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_cli_refuses_an_output_inside_the_repository(capsys):
    with pytest.raises(SystemExit) as exc:
        bc.main(["--out", str(ROOT / "data" / "corpus"), "--dry-run"])
    assert exc.value.code == 2
    assert "inside the repository" in capsys.readouterr().err


def test_apt_download_refuses_reserved_before_running_apt(tmp_path):
    with pytest.raises(cs.ReservedSourceError):
        bc.apt_download("codec2-examples", tmp_path)
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------- categorisation


MG = "usr/share/games/megaglest/tilesets"
MT = "usr/share/games/minetest/games/minetest_game/mods"


@pytest.mark.parametrize(
    ("package", "rel", "category"),
    [
        ("sonic-pi-samples", "usr/share/sonic-pi/samples/ambi_sauna.flac", "stationary"),
        ("sonic-pi-samples", "usr/share/sonic-pi/samples/vinyl_hiss.flac", "stationary"),
        ("sonic-pi-samples", "usr/share/sonic-pi/samples/vinyl_scratch.flac", "non_stationary"),
        ("sonic-pi-samples", "usr/share/sonic-pi/samples/elec_beep.flac", "tonal"),
        ("sonic-pi-samples", "usr/share/sonic-pi/samples/elec_snare.flac", "impulsive"),
        ("sonic-pi-samples", "usr/share/sonic-pi/samples/tabla_na.flac", "impulsive"),
        ("sonic-pi-samples", "usr/share/sonic-pi/samples/loop_amen.flac", "music"),
        ("sonic-pi-samples", "usr/share/sonic-pi/samples/loop_3d_printer.flac", "stationary"),
        ("sonic-pi-samples", "usr/share/sonic-pi/samples/README.md", None),
        ("sound-theme-freedesktop", "s/freedesktop/stereo/audio-channel-front-left.oga", None),
        ("sound-theme-freedesktop", "s/freedesktop/stereo/camera-shutter.oga", "impulsive"),
        ("sound-theme-freedesktop", "s/freedesktop/stereo/bell.oga", "tonal"),
        ("asterisk-moh-opsound-g722", "usr/share/asterisk/moh/macroform-robot_dity.g722", "music"),
        (
            "fillets-ng-data",
            "usr/share/games/fillets-ng/sound/engine/en/mot-x-motor.ogg",
            "stationary",
        ),
        ("fillets-ng-data", "usr/share/games/fillets-ng/music/rybky01.ogg", "music"),
        # the sessions of the bundled held-out noises stay out
        ("fillets-ng-data", "usr/share/games/fillets-ng/sound/society/en/mik-x-stebet0.ogg", None),
        ("fillets-ng-data", "usr/share/games/fillets-ng/sound/share/sp-bubles_00.ogg", None),
        # dialogue and unknown files are not noise
        ("fillets-ng-data", "usr/share/games/fillets-ng/sound/elk/en/deu-p-los.ogg", None),
        ("unknown-package", "a/b.ogg", None),
        ("openttd-opensfx", f"{cs.OPENSFX_CAT}#0b", "stationary"),  # mining machinery
        ("openttd-opensfx", f"{cs.OPENSFX_CAT}#1e", "babble"),  # a crowd's "oooh"
        ("openttd-opensfx", f"{cs.OPENSFX_CAT}#06", "tonal"),  # ship horn
        ("openttd-opensfx", f"{cs.OPENSFX_CAT}#3c", None),  # a Toyland comedy sound
        # ambient scenes; the recordings sharing a stretch with validation noise stay out
        ("megaglest-data", f"{MG}/autumn/sounds/rain.ogg", "ambient"),
        ("megaglest-data", f"{MG}/desert2/sounds/rain.wav", "ambient"),
        ("megaglest-data", f"{MG}/spring/sounds/day.ogg", "ambient"),
        ("megaglest-data", f"{MG}/autumn/sounds/nightime.ogg", "ambient"),
        ("megaglest-data", f"{MG}/winter/sounds/wind.ogg", "ambient"),
        ("megaglest-data", f"{MG}/winter_forest/sounds/wind.ogg", None),
        ("megaglest-data", f"{MG}/mediterran/sounds/desertday.ogg", None),
        ("megaglest-data", f"{MG}/hell/sounds/hell.ogg", None),
        ("megaglest-data", f"{MG}/fernland/sounds/night.ogg", None),
        ("megaglest-data", f"{MG}/jungle/sounds/night.ogg", None),
        ("megaglest-data", f"{MG}/autumn/sounds/owl.ogg", None),  # an animal call
        (
            "megaglest-data",
            "usr/share/games/megaglest/data/core/water_sounds/water3.wav",
            "ambient",
        ),
        (
            "wesnoth-1.16-data",
            "usr/share/games/wesnoth/1.16/data/core/sounds/ambient/ship.ogg",
            "ambient",
        ),
        (
            "wesnoth-1.16-data",
            "usr/share/games/wesnoth/1.16/data/core/sounds/ambient/wardrums.ogg",
            None,
        ),
        ("minetest-data", f"{MT}/env_sounds/sounds/env_sounds_water.1.ogg", "ambient"),
        ("minetest-data", f"{MT}/fire/sounds/fire_small.ogg", "ambient"),
        ("minetest-data", f"{MT}/fire/sounds/fire_flint_and_steel.ogg", None),
        ("minetest-data", f"{MT}/doors/sounds/doors_door_open.ogg", None),
        ("tuxfootball", "usr/share/games/tuxfootball/sound/crowdcheer.wav", "ambient"),
        ("tuxfootball", "usr/share/games/tuxfootball/sound/kick.wav", None),
    ],
)
def test_categorise_rules(package, rel, category):
    assert cs.categorise(package, rel) == category


def test_noise_planner_skips_byte_copies_before_the_cap(tmp_path, monkeypatch):
    # a game copies one rain loop into several tilesets: the copies must not use up the cap
    sounds = tmp_path / "usr/share/games/megaglest/tilesets"
    for tileset in ("a", "b", "c", "d"):
        (sounds / tileset / "sounds").mkdir(parents=True)
        (sounds / tileset / "sounds" / "rain.ogg").write_bytes(b"the same loop")
    (sounds / "a" / "sounds" / "day.ogg").write_bytes(b"a day")
    (sounds / "b" / "sounds" / "day.ogg").write_bytes(b"another day")
    monkeypatch.setattr(cs, "MAX_PER_NOISE_GROUP", 3)
    plan = cs._noise_planner("megaglest-data", ["usr/share/games/megaglest/tilesets/*/sounds/*"])
    items = plan(tmp_path)
    assert sorted(i.rel for i in items) == [
        "noise/ambient/megaglest_a_day.flac",
        "noise/ambient/megaglest_a_rain.flac",  # the first copy in path order
        "noise/ambient/megaglest_b_day.flac",
    ]


def test_every_rule_names_a_known_category():
    for rules in cs.NOISE_RULES.values():
        for _, category in rules:
            assert category is None or category in cs.CATEGORIES


def test_dep5_license_last_matching_stanza_wins():
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: x\nLicense: MIT\n\n"
        "Files: stereo/bell.oga\n stereo/complete.oga\nCopyright: y\nLicense: CC-BY-3.0\n\n"
        "Files: debian/*\nLicense: GPL-2+\n\n"
        "License: CC-BY-3.0\n full text\n"
    )
    assert lic.dep5_license(text, "usr/share/sounds/freedesktop/stereo/bell.oga") == "CC-BY-3.0"
    assert lic.dep5_license(text, "usr/share/sounds/freedesktop/stereo/complete.oga") == "CC-BY-3.0"
    assert lic.dep5_license(text, "usr/share/sounds/freedesktop/stereo/other.oga") == "MIT"
    assert lic.dep5_license("Files: a.oga\nLicense: GPL-2\n", "x/b.oga") is None


def test_license_for_item_per_file_joins_the_stanzas_and_drops_an_unlicensed_file():
    text = "Files: a.oga\nLicense: GPL-2\n\nFiles: b.oga\nLicense: CC-BY-3.0\n"
    per_file = cs.Package("p", "X (per file)", "License:", lambda root: [], "", True)
    whole = cs.Package("q", "GPL-2+", "License:", lambda root: [], "")
    both = cs.Item("noise/tonal/ab.flac", "noise", "tonal", ("s/b.oga", "s/a.oga"))
    stray = cs.Item("noise/tonal/ac.flac", "noise", "tonal", ("s/a.oga", "s/c.oga"))
    assert lic.license_for_item(per_file, "X (per file)", text, both) == "CC-BY-3.0 AND GPL-2"
    assert lic.license_for_item(per_file, "X (per file)", text, stray) is None
    assert lic.license_for_item(whole, "GPL-2+", text, stray) == "GPL-2+"  # package-wide


def _cat(entries: list[tuple[bytes, bytes]]) -> bytes:
    """An OpenTTD-style sound container of (title, wav bytes) entries."""
    table, body = b"", b""
    start = 8 * len(entries)
    for title, wav in entries:
        blob = bytes([len(title)]) + title + wav
        table += ((start + len(body)) | 0x80000000).to_bytes(4, "little")
        table += len(blob).to_bytes(4, "little")
        body += blob
    return table + body


def test_read_cat_entry_and_decode_an_entry(tmp_path):
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(4410) / 44100)
    buf = io.BytesIO()
    sf.write(buf, tone, 44100, format="WAV", subtype="PCM_16")
    cat = tmp_path / "opensfx.cat"
    cat.write_bytes(_cat([(b'"Beep". By someone', buf.getvalue()), (b"empty", b"")]))
    assert cs.read_cat_entry(cat, 0) == buf.getvalue()
    assert cs.read_cat_entry(cat, 1) == b""
    with pytest.raises(ValueError, match="no entry 2"):
        cs.read_cat_entry(cat, 2)
    x, sr = bc.decode(tmp_path / "opensfx.cat#00")
    assert sr == 44100 and np.allclose(x, tone, atol=1e-4)
    assert cs.source_bytes(tmp_path, "opensfx.cat#00") == buf.getvalue()


# ---------------------------------------------------------------- planning and naming


def _touch(root: Path, rels: list[str]) -> None:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())


def test_file_names_do_not_depend_on_creation_order(tmp_path):
    rels = [
        f"usr/share/ktuberling/sounds/{lang}/{w}.{'wav' if lang == 'fr' else 'ogg'}"
        for lang in ("de", "en", "fr", "sr@latin")
        for w in ("ball", "bow", "coat", "ear", "eye", "hat", "nose")
    ] + ["usr/share/ktuberling/sounds/de/README.txt"]
    planner = cs._joined_words_planner(
        "usr/share/ktuberling/sounds", ("*.ogg", "*.wav"), "ktuberling", 3, skip=("sr@latin",)
    )
    _touch(tmp_path / "a", rels)
    _touch(tmp_path / "b", list(reversed(rels)))
    plan_a, plan_b = planner(tmp_path / "a"), planner(tmp_path / "b")
    assert plan_a == plan_b
    assert [i.rel for i in plan_a] == [
        "speech/de/ktuberling/ktuberling_de_000.flac",
        "speech/de/ktuberling/ktuberling_de_001.flac",
        "speech/fr/ktuberling/ktuberling_fr_000.flac",
        "speech/fr/ktuberling/ktuberling_fr_001.flac",
    ]  # English is held out, sr@latin skipped, the 7th word of each language left over
    assert plan_a[0].sources == tuple(
        f"usr/share/ktuberling/sounds/de/{w}.ogg" for w in ("ball", "bow", "coat")
    )
    assert {i.group for i in plan_a} == {"de/ktuberling", "fr/ktuberling"}


def _ogg(path: Path, seconds: float = 0.3, rate: int = 44100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), rate, format="OGG", subtype="VORBIS")


def test_tuxpaint_voices_are_validation_speech_per_language(tmp_path):
    base = "usr/share/tuxpaint/stamps"
    names = [f"animals/a{k}" for k in range(5)] + [f"food/f{k}" for k in range(4)]
    for name in names:
        _ogg(tmp_path / "a" / f"{base}/{name}_desc_fr.ogg")
        _ogg(tmp_path / "a" / f"{base}/{name}_desc.ogg", rate=8000 if "a0" in name else 44100)
    _ogg(tmp_path / "a" / f"{base}/food/f0_desc_da.ogg.ogg")  # a doubled suffix in the package
    _ogg(tmp_path / "a" / f"{base}/food/f0_outline_en_GB.ogg")  # no description: not taken
    planner = cs._tuxpaint_voices_planner(base, per_clip=4, max_clips=3, extra_langs=())
    plan = planner(tmp_path / "a")
    assert all(i.kind == "val_speech" and i.rel.startswith("val_speech/") for i in plan)
    by_lang = Counter(i.group for i in plan)
    # fr: 9 files -> 2 clips of 4 (one left over); en: the 8 kHz file left out -> 8 -> 2 clips;
    # da: one file, fewer than per_clip -> none
    assert by_lang == {"fr/tuxpaint": 2, "en/tuxpaint": 2}
    assert [i.rel for i in plan if i.group == "en/tuxpaint"] == [
        "val_speech/en/tuxpaint/tuxpaint_en_0000.flac",
        "val_speech/en/tuxpaint/tuxpaint_en_0001.flac",
    ]
    assert all(len(i.sources) == 4 for i in plan)
    assert not any("a0_desc.ogg" in src for i in plan for src in i.sources)
    # an opt-in training reader: its validation clips first, the rest as extra_speech
    extra = cs._tuxpaint_voices_planner(base, per_clip=2, max_clips=2, extra_langs=("fr",))(
        tmp_path / "a"
    )
    fr_val = [i for i in extra if i.group == "fr/tuxpaint" and i.kind == "val_speech"]
    fr_extra = [i for i in extra if i.kind == "extra_speech"]
    assert len(fr_val) == 2 and len(fr_extra) == 2  # 9 files: 4 validation, 4 extra, 1 left
    assert fr_extra[0].rel == "extra_speech/fr/tuxpaint/tuxpaint_fr_0000.flac"
    val_src = {src for i in fr_val for src in i.sources}
    assert not val_src & {src for i in fr_extra for src in i.sources}
    assert not any(i.kind == "extra_speech" for i in extra if i.group != "fr/tuxpaint")
    # the same files in another creation order give the same plan (SHA-256 order)
    for name in reversed(names):
        _ogg(tmp_path / "b" / f"{base}/{name}_desc_fr.ogg")
        _ogg(tmp_path / "b" / f"{base}/{name}_desc.ogg", rate=8000 if "a0" in name else 44100)
    assert planner(tmp_path / "b") == [i for i in plan if i.group != "da/tuxpaint"]
    # the cap: at most max_clips clips per language
    assert all(
        n == 1
        for n in Counter(
            i.group for i in cs._tuxpaint_voices_planner(base, 4, 1, ())(tmp_path / "a")
        ).values()
    )


def test_lincity_crowds_and_water_are_validation_noise(tmp_path):
    base = "usr/share/games/lincity-ng/sounds"
    names = ["MarketFull1", "MarketEmpty1", "SportsCroud2", "School1", "Water3", "Harbor1"]
    names += ["ParklandLake2", "ParklandPlane1", "TraficHigh1"]
    _touch(tmp_path, [f"{base}/{n}.wav" for n in names])
    plan = cs._lincity_val_noise_planner()(tmp_path)
    assert [(i.rel, i.kind, i.group) for i in plan] == [
        ("val_noise/crowd/lincity_MarketFull1.flac", "val_noise", "crowd"),
        ("val_noise/crowd/lincity_School1.flac", "val_noise", "crowd"),
        ("val_noise/crowd/lincity_SportsCroud2.flac", "val_noise", "crowd"),
        ("val_noise/water/lincity_Harbor1.flac", "val_noise", "water"),
        ("val_noise/water/lincity_ParklandLake2.flac", "val_noise", "water"),
        ("val_noise/water/lincity_Water3.flac", "val_noise", "water"),
    ]  # an empty market, planes and traffic are not crowds or water
    assert plan[0].sources == (f"{base}/MarketFull1.wav",)


def test_validation_noise_renders_as_noise(tmp_path):
    t = np.arange(8000) / 16000
    sf.write(tmp_path / "w.wav", 0.2 * np.sin(2 * np.pi * 300 * t), 16000)
    y, _, _ = bc.render(
        cs.Item("val_noise/water/w.flac", "val_noise", "water", ("w.wav",)), tmp_path
    )
    assert np.max(np.abs(y)) == pytest.approx(bc.PEAK) and len(y) == 8000  # not trimmed


def test_summary_counts_validation_voices_apart():
    rows = [
        {"kind": "speech", "group": "fr/june", "duration_s": "60"},
        {"kind": "noise", "group": "tonal", "duration_s": "30"},
        {"kind": "val_speech", "group": "en/tuxpaint", "duration_s": "120"},
        {"kind": "val_speech", "group": "da/tuxpaint", "duration_s": "60"},
    ]
    rows.append({"kind": "val_noise", "group": "crowd", "duration_s": "4"})
    lines = bc.summary(rows)
    assert lines[-1] == (
        "total: 1 speakers, 1 noise recordings; 2 validation speakers (val_speech/), "
        "1 validation noise recordings (val_noise/), never trained on"
    )
    assert any(line.split()[:3] == ["val_noise", "crowd", "1"] for line in lines)
    assert any(line.split()[:3] == ["val_speech", "en", "1"] for line in lines)
    assert any(line.split()[:2] == ["speech", "fr"] for line in lines)


def test_asterisk_prompts_skip_test_clips_tones_and_silence(tmp_path):
    base = "usr/share/asterisk/sounds"
    _touch(
        tmp_path,
        [
            f"{base}/fr/vm-delete.gsm",  # a test prompt (en/allison/vm-delete.flac)
            f"{base}/fr/call-from.gsm",  # followme_call-from is a test prompt
            f"{base}/fr/vm-intro.gsm",
            f"{base}/fr/beep.gsm",
            f"{base}/silence/fr/1.gsm",
            f"{base}/digits/fr/1.gsm",
        ],
    )
    plan = cs._asterisk_planner("", "fr", "armelle", "gsm")(tmp_path)
    assert [i.rel for i in plan] == [
        "speech/fr/armelle/digits_1.flac",
        "speech/fr/armelle/vm-intro.flac",
    ]
    assert all(i.group == "fr/armelle" and i.kind == "speech" for i in plan)


def test_noise_plan_is_capped_sorted_and_order_free(tmp_path, monkeypatch):
    monkeypatch.setattr(cs, "MAX_PER_NOISE_GROUP", 3)
    names = [f"drum_{k:02d}" for k in range(8)] + ["loop_a", "ambi_sauna"]
    rels = [f"usr/share/sonic-pi/samples/{n}.flac" for n in names]
    _touch(tmp_path / "a", rels)
    _touch(tmp_path / "b", list(reversed(rels)))
    planner = cs._noise_planner("sonic-pi-samples", ["usr/share/sonic-pi/samples/*.flac"])
    plan = planner(tmp_path / "a")
    assert plan == planner(tmp_path / "b")
    by_cat: dict[str, list[str]] = {}
    for item in plan:
        by_cat.setdefault(item.group, []).append(item.rel)
    assert sorted(by_cat) == ["impulsive", "music", "stationary"]
    assert len(by_cat["impulsive"]) == 3
    assert by_cat["impulsive"] == sorted(by_cat["impulsive"])
    assert by_cat["stationary"] == ["noise/stationary/sonicpi_ambi_sauna.flac"]


# ---------------------------------------------------------------- rendering


def test_render_joins_speech_and_normalises_noise(tmp_path):
    t = np.arange(int(0.6 * 22050)) / 22050
    word = 0.3 * np.sin(2 * np.pi * 220 * t)
    for name in ("a", "b"):
        sf.write(
            tmp_path / f"{name}.wav", np.concatenate([np.zeros(2205), word, np.zeros(2205)]), 22050
        )
    speech = cs.Item("speech/xx/s/c.flac", "speech", "xx/s", ("a.wav", "b.wav"))
    y, rate, used = bc.render(speech, tmp_path)
    val = cs.Item("val_speech/xx/s/c.flac", "val_speech", "xx/s", ("a.wav", "b.wav"))
    assert np.array_equal(bc.render(val, tmp_path)[0], y)  # validation voices: as speech
    assert rate == 22050 and used == ("a.wav", "b.wav")
    # two trimmed 0.6 s words (+ one 10 ms margin frame each side) and one gap
    assert abs(len(y) / SR - (2 * 0.62 + bc.GAP_S)) < 0.03
    assert np.max(np.abs(y)) == pytest.approx(0.3, abs=0.02)  # levels kept, never amplified
    noise = cs.Item("noise/tonal/n.flac", "noise", "tonal", ("a.wav",))
    y, _, _ = bc.render(noise, tmp_path)
    assert np.max(np.abs(y)) == pytest.approx(bc.PEAK)
    # a clipped word is left out of a joined clip, and a clip of only clipped words is dropped
    long_word = 0.3 * np.sin(2 * np.pi * 220 * np.arange(2 * 22050) / 22050)  # 2 s
    sf.write(tmp_path / "clipped.wav", np.clip(5 * long_word, -1, 1), 22050)
    sf.write(tmp_path / "clean.wav", long_word, 22050)
    clean = cs.Item("speech/xx/s/f.flac", "speech", "xx/s", ("clean.wav",))
    assert bc.render(clean, tmp_path) is not None
    joined = cs.Item("speech/xx/s/d.flac", "speech", "xx/s", ("clipped.wav", "clean.wav"))
    y, _, used = bc.render(joined, tmp_path)
    assert used == ("clean.wav",) and abs(len(y) / SR - 2.0) < 0.03
    alone = cs.Item("speech/xx/s/e.flac", "speech", "xx/s", ("clipped.wav",))
    assert bc.render(alone, tmp_path) is None


def test_is_clipped_tolerates_a_few_peak_samples():
    x = 0.5 * np.sin(np.linspace(0, 600, 48000))
    x[[10, 20, 30, 40]] = 1.0  # peak-normalised recording: a few samples at full scale
    assert not bc.is_clipped(x)
    x[1000:1200] = 1.0  # a clipped stretch
    assert bc.is_clipped(x)


# ---------------------------------------------------------------- manifest and the build loop


def _row(
    file: str, package: str = "p", group: str = "xx/s", kind: str = "speech"
) -> dict[str, str]:
    return {
        "file": file,
        "kind": kind,
        "group": group,
        "package": package,
        "version": "1.0",
        "license": "CC0-1.0",
        "source": "usr/x.ogg",
        "source_sample_rate": "8000",
        "duration_s": "1.500",
    }


def test_write_manifest_sorts_rows_and_writes_every_field(tmp_path):
    rows = [_row("speech/b.flac"), _row("noise/a.flac", kind="noise", group="music")]
    bc.write_manifest(tmp_path / "manifest.csv", rows)
    with open(tmp_path / "manifest.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == bc.MANIFEST_FIELDS
        back = list(reader)
    assert [r["file"] for r in back] == ["noise/a.flac", "speech/b.flac"]
    assert back[1] == rows[0]
    assert not (tmp_path / "manifest.tmp").exists()


def _fake_build_one(calls: list[str], clip: str = "clip"):
    def build_one(package, deb, out):
        calls.append(package.name)
        rel = f"speech/xx/{package.name}/{clip}.flac"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(out / rel, np.zeros(SR), SR, subtype="PCM_16", format="FLAC")
        return [_row(rel, package.name, f"xx/{package.name}")]

    return build_one


def test_a_failing_download_is_skipped_reported_and_the_rest_is_built(tmp_path):
    packages = bc.select_packages(["asterisk-prompt-es-co", "asterisk-prompt-fr-armelle"])

    def download(name: str, cache: Path) -> Path:
        if name == "asterisk-prompt-es-co":
            raise bc.DownloadError(f"{name}: apt-get download failed: 404 Not Found")
        return cache / f"{name}_1.0_all.deb"

    calls: list[str] = []
    out = tmp_path / "corpus"
    rows, failures = bc.build(out, packages, download, lambda deb: "1.0", _fake_build_one(calls))
    assert calls == ["asterisk-prompt-fr-armelle"]
    assert len(failures) == 1 and failures[0].startswith("asterisk-prompt-es-co:")
    assert [r["file"] for r in rows] == ["speech/xx/asterisk-prompt-fr-armelle/clip.flac"]
    with open(out / "manifest.csv", newline="") as f:
        assert [r["package"] for r in csv.DictReader(f)] == ["asterisk-prompt-fr-armelle"]

    # idempotent: a second run at the same version rebuilds nothing, keeps the manifest
    armelle = bc.select_packages(["asterisk-prompt-fr-armelle"])
    rows2, failures2 = bc.build(
        out, armelle, lambda n, c: c / "x.deb", lambda d: "1.0", _fake_build_one(calls)
    )
    assert calls == ["asterisk-prompt-fr-armelle"] and not failures2 and rows2 == rows
    # a new version is rebuilt, and the files of the old build no longer planned are removed
    rows3, _ = bc.build(
        out, armelle, lambda n, c: c / "x.deb", lambda d: "2.0", _fake_build_one(calls, "new")
    )
    assert calls == ["asterisk-prompt-fr-armelle"] * 2
    assert [r["file"] for r in rows3] == ["speech/xx/asterisk-prompt-fr-armelle/new.flac"]
    assert sorted(p.name for p in out.rglob("*.flac")) == ["new.flac"]

    # a file no build lists (an interrupted build, a dropped rule) is removed; the .deb cache
    # and anything outside the corpus's own folders are kept
    orphan = out / "noise" / "tonal" / "gone" / "old.flac"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"x")
    cached = out / ".cache" / "debs" / "keep.flac"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"x")
    foreign = out / "mine" / "take.flac"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"x")
    bc.build(out, armelle, lambda n, c: c / "x.deb", lambda d: "2.0", _fake_build_one(calls, "new"))
    assert calls == ["asterisk-prompt-fr-armelle"] * 2  # still nothing rebuilt
    assert not orphan.exists() and cached.exists() and foreign.exists()
    assert (out / "speech/xx/asterisk-prompt-fr-armelle/new.flac").exists()


def test_an_edited_rule_file_rebuilds_without_a_version_bump(tmp_path, monkeypatch):
    """The stamp holds a digest of corpus_sources.py: the same package version is rebuilt
    once the rules' text differs (here: the digest function reports another text)."""
    packages = bc.select_packages(["asterisk-prompt-fr-armelle"])
    calls: list[str] = []
    out = tmp_path / "corpus"
    args = (lambda n, c: c / "x.deb", lambda d: "1.0", _fake_build_one(calls))
    bc.build(out, packages, *args)
    bc.build(out, packages, *args)
    assert calls == ["asterisk-prompt-fr-armelle"]
    key = bc.rules_key()
    assert key.startswith(f"rules {bc.RULES_VERSION} ") and len(key.split()[-1]) == 16
    monkeypatch.setattr(bc, "rules_key", lambda: key + "-edited")
    bc.build(out, packages, *args)
    assert calls == ["asterisk-prompt-fr-armelle"] * 2


def test_main_exits_non_zero_and_names_the_failed_package(tmp_path, monkeypatch, capsys):
    def download(name: str, cache: Path) -> Path:
        raise bc.DownloadError(f"{name}: apt-get download failed: E: Unable to locate package")

    monkeypatch.setattr(bc, "apt_download", download)
    code = bc.main(["--out", str(tmp_path / "c"), "--packages", "sound-theme-freedesktop"])
    assert code == 1
    err = capsys.readouterr().err
    assert "sound-theme-freedesktop" in err and "1 package(s) failed" in err
    assert (tmp_path / "c" / "manifest.csv").read_text().startswith("file,kind,group")


def test_babble_plan_mixes_distinct_voices_deterministically():
    rows = [
        _row(f"speech/{lang}/klettres/c{k}.flac", "klettres-data", f"{lang}/klettres")
        for lang in ("cs", "da", "de", "es", "fr", "hu", "it")
        for k in range(8)
    ]
    plan = bc.babble_plan(rows)
    assert plan == bc.babble_plan(list(reversed(rows)))
    assert len(plan) == bc.BABBLE_FILES
    for rel, talkers in plan:
        assert rel.startswith("noise/babble/mix")
        voices = {files[0].split("/")[1] for files in talkers}
        assert len(voices) == bc.BABBLE_TALKERS
        # 1.5 s clips until 8 s: 6 clips per talker
        assert all(len(files) == 6 for files in talkers)
    assert bc.babble_plan(rows[:8]) == []  # one voice is not babble
