"""A self-contained HTML report: audio players, spectrogram images and metric tables.

The page references its wavs and PNGs by relative paths inside the output folder and loads
nothing else (no scripts, no fonts, no network), so it opens straight from disk.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from .fileio import atomic_output

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.items { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; padding: 0.6em; border: 1px solid #ddd; border-radius: 6px; width: 320px; }
figure img { width: 100%; } figure audio { width: 100%; }
figcaption { font-size: 0.9em; margin-bottom: 0.4em; font-weight: 600; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
p.note { color: #555; font-size: 0.92em; }
"""


@dataclass
class Item:
    """One sound in the report: a caption, its wav and (optionally) its spectrogram PNG (relative paths)."""

    caption: str
    audio: str | None = None
    image: str | None = None


@dataclass
class Section:
    """A titled group of items with optional metric tables and notes."""

    title: str
    items: list[Item] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, caption: str, header: list[str], rows: list[list[object]]) -> None:
        """Add a table; numbers are formatted with 3 significant decimals."""
        self.tables.append((caption, header, [[_fmt(v) for v in row] for row in rows]))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def render(title: str, sections: list[Section], intro: str = "") -> str:
    """The report as one HTML string."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    if intro:
        parts.append(f'<p class="note">{e(intro)}</p>')
    for section in sections:
        parts.append(f"<h2>{e(section.title)}</h2>")
        for note in section.notes:
            parts.append(f'<p class="note">{e(note)}</p>')
        for caption, header, rows in section.tables:
            parts.append(f"<table><caption>{e(caption)}</caption><tr>")
            parts.extend(f"<th>{e(h)}</th>" for h in header)
            parts.append("</tr>")
            for row in rows:
                parts.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
            parts.append("</table>")
        if section.items:
            parts.append('<div class="items">')
            for item in section.items:
                parts.append(f"<figure><figcaption>{e(item.caption)}</figcaption>")
                if item.audio:
                    parts.append(f'<audio controls preload="none" src="{e(item.audio)}"></audio>')
                if item.image:
                    parts.append(
                        f'<img src="{e(item.image)}" alt="spectrogram of {e(item.caption)}">'
                    )
                parts.append("</figure>")
            parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    path: str | os.PathLike,
    title: str,
    sections: list[Section],
    *,
    intro: str = "",
    overwrite: bool = False,
) -> Path:
    """Write the report atomically; every audio/image path must exist relative to its folder.

    Raises:
        FileNotFoundError: a referenced file is missing (the page would show a broken player).
    """
    path = Path(path)
    for section in sections:
        for item in section.items:
            for rel in (item.audio, item.image):
                if rel and not (path.parent / rel).is_file():
                    raise FileNotFoundError(
                        f"{path}: report references {rel}, which does not exist"
                    )
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(render(title, sections, intro), encoding="utf-8")
    return path
