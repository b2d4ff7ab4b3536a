"""The code and package versions run.json records (backtests.provenance reads them back)."""

from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "playbook-backtest"
# the libraries whose versions can change a figure
PACKAGES = ("backtrader", "numpy", "pandas", "scipy", "arch", "scikit-learn", "exchange_calendars",
            "quantstats", "optuna", "PyYAML")


def source_hash() -> str:
    """sha256 of the project's Python sources (paths and bytes, in a fixed order)."""
    digest = hashlib.sha256()
    files = [ROOT / "cli.py", *sorted(p for pkg in ("backtests", "strategies", "data")
                                      for p in (ROOT / pkg).rglob("*.py"))]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def _code_version() -> tuple:
    return tuple(_describe().items())


def code_version() -> dict:
    """`git describe --always --dirty` of the checkout when there is one, the package version, and
    the hash of the source tree (what identifies the code without git); computed once a process."""
    return dict(_code_version())


def _describe() -> dict:
    version = {"package": _version(PACKAGE), "source_sha256": source_hash()}
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--tags"],
                              capture_output=True, text=True, timeout=10)
        if done.returncode == 0:
            version["git"] = done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return version


@lru_cache(maxsize=1)
def _package_versions() -> tuple:
    return tuple((name, _version(name)) for name in PACKAGES)


def package_versions() -> dict:
    """The versions of PACKAGES; read once a process (importlib.metadata scans the installed
    distributions each time, 12 ms a run, which a tuning study pays on every trial)."""
    return dict(_package_versions())


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
