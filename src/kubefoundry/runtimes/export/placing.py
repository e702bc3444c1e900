"""Putting exported files on disk: only into a directory that is new, empty or ours, and
never half-written.

Every export leaves a marker file listing what it wrote. A later export into the same
directory replaces those files and removes the ones it no longer writes; files someone else
put there are left alone. A non-empty directory without the marker is refused unless the
caller says ``overwrite=True``. All files are first written to a staging directory beside
the target, so a failure leaves the target as it was (a new directory appears whole).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from kubefoundry.core.errors import InvalidInputError, Remedy

MARKER = ".kubefoundry-export.json"


def place(
    files: Mapping[str, str], *, directory: Path, fmt: str, name: str, overwrite: bool = False
) -> list[Path]:
    """Write ``files`` (relative POSIX path → text) under ``directory``; return their paths."""
    for rel in files:
        _check_relative(rel)
    previous = _claim(directory, overwrite=overwrite)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        staging.chmod(0o755)  # mkdtemp's 0700 would become the new directory's mode
    except OSError as exc:
        raise _unwritable(directory, exc, moved=False) from None
    moving = False
    try:
        for rel, text in files.items():
            _write(staging / rel, text)
        _write(staging / MARKER, _marker(files, fmt=fmt, name=name))
        moving = True
        if directory.exists():
            _move_into(staging, directory, files=list(files), stale=previous - set(files))
        else:
            staging.rename(directory)
    except OSError as exc:
        raise _unwritable(directory, exc, moved=moving and directory.exists()) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [directory / rel for rel in files]


def _unwritable(directory: Path, exc: OSError, *, moved: bool) -> InvalidInputError:
    where = f" ({exc.filename})" if exc.filename else ""
    left = (
        f"Some files in {directory} may already be replaced; export again once it is fixed."
        if moved
        else f"Nothing was written to {directory}."
    )
    return InvalidInputError(
        f"Cannot write the export to {directory}: {exc.strerror or exc}{where}. {left}",
        hint="Choose a directory you can write to (it is created when missing), or print "
        "the YAML instead of writing files.",
    )


def owned_files(directory: Path) -> set[str] | None:
    """The files an earlier export wrote into ``directory``; None when it is not ours."""
    try:
        data = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("generator") != "kubefoundry":
        return None
    listed = data.get("files")
    if not isinstance(listed, list):
        return None
    return {str(f) for f in listed}


def _claim(directory: Path, *, overwrite: bool) -> set[str]:
    if not directory.exists():
        return set()
    if not directory.is_dir():
        raise InvalidInputError(
            f"Cannot export into {directory}: it is a file, not a directory.",
            hint="Choose a directory path (it is created when missing).",
        )
    ours = owned_files(directory)
    if ours is not None:
        return ours
    if any(directory.iterdir()) and not overwrite:
        raise InvalidInputError(
            f"Refusing to export into {directory}: it is not empty and KubeFoundry did not "
            f"write it (no {MARKER} there). Nothing was written.",
            hint="Or choose a new or empty directory.",
            remedies=(Remedy.OVERWRITE,),
        )
    return set()


def _move_into(staging: Path, directory: Path, *, files: list[str], stale: set[str]) -> None:
    for rel in files:
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, target)
    for rel in sorted(stale):
        _check_relative(rel)
        (directory / rel).unlink(missing_ok=True)
        _prune_empty_parents(directory / rel, stop=directory)
    os.replace(staging / MARKER, directory / MARKER)  # last: the export is complete


def _prune_empty_parents(path: Path, *, stop: Path) -> None:
    parent = path.parent
    while parent != stop and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _marker(files: Mapping[str, str], *, fmt: str, name: str) -> str:
    data = {"generator": "kubefoundry", "format": fmt, "name": name, "files": sorted(files)}
    return json.dumps(data, indent=2) + "\n"


def _check_relative(rel: str) -> None:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not path.parts or rel == MARKER:
        raise InvalidInputError(f"Refusing to write {rel!r}: not a plain relative file path.")
