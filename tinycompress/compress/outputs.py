"""Output paths checked before any work: a file in the way or a read-only directory
is one error line before the model is loaded, not a traceback after minutes.

    check_output_dir("build/digits", "--output")      # a directory to create or fill
    check_output_file("model.keras", "--save-model")  # a file to create or replace

Nothing is left behind: writability is probed with a temporary directory
that is removed at once.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tinycompress.errors import OutputPathError


def check_output_dir(path: str | Path, what: str = "--output") -> None:
    """OutputPathError unless `path` is a directory, or could be created as one, that we can write."""
    path = Path(path)
    if os.path.lexists(path) and not path.is_dir():
        raise OutputPathError(f"{what} {path} exists and is not a directory")
    _check_writable(path, what)


def check_output_file(path: str | Path, what: str) -> None:
    """OutputPathError unless a file `path` could be written (its directory created if needed)."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{what} {path} is a directory, not a file")
    _check_writable(path.parent, what, path)


def _check_writable(directory: Path, what: str, given: Path | None = None) -> None:
    given = directory if given is None else given
    base = next(p for p in (directory, *directory.parents) if os.path.lexists(p))
    if not base.is_dir():
        raise OutputPathError(f"{what} {given}: {base} is not a directory")
    try:  # os.access would say yes to root on a read-only mount or in /sys
        tempfile.TemporaryDirectory(prefix=".tinycompress-", dir=base).cleanup()
    except OSError as exc:
        raise OutputPathError(f"{what} {given}: cannot write in {base} "
                              f"({exc.strerror or exc})") from exc
