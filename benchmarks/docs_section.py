"""Write one ``## Title`` section of docs/benchmarks.md, keeping every other section as it is."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def replace_section(section: str, path: Path = DOCS) -> None:
    """Replace the section whose first line (``## Title``) ``section`` starts with, or append it.

    The old section runs from its heading to the next ``## `` heading (or the end of the file).
    """
    heading = section.splitlines()[0].strip()
    if not heading.startswith("## "):
        raise ValueError(f"a section must start with a '## ' heading, got {heading!r}")
    section = section.rstrip("\n") + "\n"
    lines = (path.read_text() if path.exists() else "# Benchmarks\n").splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        path.write_text("".join(lines).rstrip("\n") + "\n\n" + section)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    rest = "".join(lines[end:])
    path.write_text("".join(lines[:start]) + section + ("\n" + rest if rest else ""))
