"""The learned-decoder benchmark's table and its summary of the issue's targets."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_vocoder import HEADING, format_section, summary_lines  # noqa: E402


def _row(pesq: float, mr: float, t: float) -> dict[str, float]:
    return {"pesq": pesq, "mr_stft": mr, "log_mel_l1": 0.1, "sc": 0.2, "time": t}


def _table():
    names = ("griffin-lim 32", "learned", "learned+griffin-lim 16", "learned+griffin-lim 32")
    table = {("exact", "speech", n): [_row(2.9, 0.86, 0.03)] for n in names}
    table[("exact", "speech", "learned")] = [_row(2.0, 0.90, 0.005), _row(3.0, 0.80, 0.007)]
    return table


def test_summary_compares_with_griffin_lim_32_from_the_same_features() -> None:
    lines = summary_lines(_table())
    learned = next(line for line in lines if "speech, learned vs" in line)
    assert "PESQ 2.50 vs 2.90" in learned and "MR-STFT 0.850 vs 0.860" in learned
    assert "5.0x the speed of griffin-lim 32" in learned and "167x real time" in learned


def test_section_has_the_heading_and_one_row_per_method() -> None:
    info = dict(date="d", machine="m", clips="c", vocoder="v", params="1 M", trained="t")
    text = format_section(_table(), info)
    assert text.startswith(HEADING) and "`v`, 1 M parameters" in text
    assert text.count("| exact | speech |") == 4
