"""The layout rules of STYLE.md, checked by walking the imports, and the linter, clean."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "strategies": {"data", "backtests", "cli", "yfinance", "quantstats"},
    "data": {"backtrader", "backtests", "strategies", "cli", "quantstats"},
    "backtests": {"cli"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_quantstats_is_imported_in_one_module_only():
    """Tests may import it to check our figures against it; the project itself in one place."""
    modules = [ROOT / "cli.py", *(p for pkg in FORBIDDEN for p in (ROOT / pkg).rglob("*.py"))]
    users = [str(p.relative_to(ROOT)) for p in modules if "quantstats" in imported_roots(p)]
    assert users == ["backtests/reports.py"]


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (it comes with the test extra)")
    done = subprocess.run([ruff, "check", "--no-cache", str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
