"""Writing result files so that a failure never leaves a half-written one behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: str | os.PathLike, write) -> Path:
    """Call write(temp_path) for a temp file beside `path`, then move it into place in one rename.

    The temp file is in the same directory (so the rename is atomic), keeps `path`'s suffix (so
    writers that go by it, like matplotlib's savefig, pick the right format), and is removed if
    anything fails, an interrupt included.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        write(Path(temp))
        os.chmod(temp, 0o644)  # mkstemp makes the file private; a result is an ordinary file
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
