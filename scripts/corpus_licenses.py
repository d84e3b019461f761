"""Licences of corpus files: the package's copyright file, or a DEP-5 stanza per file."""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_sources import Item, Package  # noqa: E402


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


def license_for_item(
    package: Package, license_: str, copyright_text: str, item: Item
) -> str | None:
    """The package's licence, or for ``per_file_license`` packages the sources' own (None
    when the copyright file names no licence for one of them: such files are left out)."""
    if not package.per_file_license:
        return license_
    found = {dep5_license(copyright_text, s) for s in item.sources}
    if None in found:
        return None
    return " AND ".join(sorted(found))
