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


def check_out_dir(out, overwrite: bool = False, option: str = "--out", reusable=None,
                  offer_overwrite: bool = True) -> Path | None:
    """Refuse, before any computation, an output directory the run could not fill: one under a file,
    one that is a file, one that cannot be written, or one that already holds something (unless
    `overwrite`, or `reusable(path)` says its contents are this command's own, as a tuning study's
    resumed directory is). Nothing is created. Returns the path (None when `out` is None).

    A RunError of one line names the directory and, for a taken one, the way out (--overwrite).
    """
    from backtests.errors import RunError  # files.py stays importable without the rest of backtests

    if out is None:
        return None
    target = Path(out).expanduser()
    ancestor = target
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        where = "is an existing file" if ancestor == target else f"is under the file {ancestor}"
        raise RunError(f"{option} {target} {where}; choose a directory")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        if reusable is None or not reusable(target):
            offer = " or add --overwrite" if offer_overwrite else ""
            raise RunError(f"{option} {target} is not empty; choose a new directory{offer}")
    try:  # a probe, not os.access: root passes every access check, a read-only filesystem does not
        probe = tempfile.mkdtemp(prefix=".probe.", dir=ancestor)
        os.rmdir(probe)
    except OSError as exc:
        raise RunError(f"{option} {target} cannot be written ({exc.strerror or exc} in {ancestor})") from None
    return target


def check_out_file(path, overwrite: bool = False, option: str = "--plot") -> Path | None:
    """check_out_dir for one output file: refused before any computation when it is a directory, lies
    under a file, cannot be written, or exists (unless `overwrite`). Nothing is created."""
    from backtests.errors import RunError

    if path is None:
        return None
    target = Path(path).expanduser()
    if target.is_dir():
        raise RunError(f"{option} {target} is a directory; give a file name, e.g. {target / 'plot.png'}")
    if target.exists() and not overwrite:
        raise RunError(f"{option} {target} exists; choose a new file or add --overwrite")
    for ancestor in target.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise RunError(f"{option} {target} is under the file {ancestor}; choose another path")
            break
    check_out_dir(target.parent, overwrite=True, option=option)
    return target
