"""The one helper for every path the studio builds from a name: resolved, and refused outside its root.

A name a user typed (a dataset, a run, an export, an uploaded file's own name) is data, never a path: it is
checked against NAME before it names anything, and every path joined from it goes through `confined`,
which resolves symlinks and `..` and refuses a result outside the root it was meant for.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from studio.errors import StudioError

#: Names of datasets, runs and exports: 1-80 letters, digits, spaces, '_', '-' or '.', starting with a
#: letter or digit (so never '..', never a separator, never a hidden file).
NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,79}$"
_NAME = re.compile(NAME)
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


class UnsafePath(StudioError):
    """A path built from a name would leave the folder it belongs in (`..`, an absolute part, a symlink out)."""

    exit_code = 2


def check_name(name: str, *, what: str = "name") -> str:
    """`name` stripped, or a DataError-shaped refusal that says which characters are allowed."""
    name = name.strip()
    if not _NAME.match(name):
        raise UnsafePath(f"{name!r} is not a valid {what}. Use 1-80 letters, digits, spaces, '_', '-' or '.', "
                         "starting with a letter or digit.")
    return name


def slug(name: str, *, default: str = "file") -> str:
    """A file-name-safe form of any text: runs of other characters become '-', no leading dot."""
    return re.sub(r"^[.-]+|-+$", "", _SLUG.sub("-", name))[:80] or default


def confined(root: Path, *parts: str | Path) -> Path:
    """`root / parts`, resolved; raises UnsafePath when the result is not inside `root` (or `root` itself)."""
    base = Path(root).resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base):
        raise UnsafePath(f"Refused a path outside {base.name!r}: {'/'.join(str(p) for p in parts)!r} leaves the "
                         "folder it belongs in. Use a plain name without '..' or '/'.")
    return path


def within(roots: tuple[Path, ...], path: str | Path) -> Path:
    """`path` resolved, when it lies inside one of `roots`; UnsafePath otherwise."""
    for root in roots:
        try:
            return confined(root, path)
        except UnsafePath:
            continue
    raise UnsafePath(f"Refused {Path(path).name!r}: it is not in one of the studio's own folders.")


def generated_file(root: Path, suffix: str, *, allowed: tuple[str, ...]) -> Path:
    """A new, unguessable file name under `root` for an upload: only its suffix comes from the user's name."""
    suffix = suffix.lower()
    if suffix not in allowed:
        raise UnsafePath(f"A {suffix or 'suffix-less'} file is not accepted here; use one of {', '.join(allowed)}.")
    return confined(root, f"{uuid.uuid4().hex}{suffix}")
