"""The docs point only at what a clone has: every relative link and every project path mentioned in
README.md and docs/ exists, and nothing points outside the project."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# top-level entries of the project a path in the docs may start with
TOP = ("cli.py", "setup.cfg", "pyproject.toml", "ruff.toml", "mkdocs.yml", "README.md", ".ci/", "data/",
       "strategies/", "backtests/", "benchmarks/", "tests/", "examples/", "docs/")
LINK = re.compile(r"\]\(([^)\s]+)\)")
_TOPS = "|".join(re.escape(t) for t in TOP)
PATH = re.compile(rf"(?<![\w./~-])((?:\.\./)+[\w./-]+|shared/[\w./-]+|(?:{_TOPS})[\w./<>*-]*)")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def links(page: Path):
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        yield target


def mentioned_paths(page: Path):
    for match in PATH.finditer(page.read_text()):
        path = match.group(1).rstrip(".,;:")
        if any(c in path for c in "<>*"):  # a pattern such as results/<strategy>-<time>/, not a file
            continue
        yield path


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_relative_link_exists(page):
    missing = [t for t in links(page) if not (page.parent / t.split("#")[0]).resolve().exists()]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_project_path_mentioned_exists_and_none_points_outside(page):
    outside = [p for p in mentioned_paths(page) if p.startswith(("../", "shared/"))]
    assert outside == [], "these are not in a clone of the project"
    missing = [p for p in mentioned_paths(page) if not p.startswith("../") and not (ROOT / p).exists()]
    assert missing == []


def test_the_checker_sees_paths_in_prose_code_and_links(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("see `../shared/PLAYBOOK.md`, run `python examples/nope.py`, [x](gone.md), "
                    "[web](https://example.org), [top](#top), files in results/<strategy>-<time>/\n")
    assert list(mentioned_paths(page)) == ["../shared/PLAYBOOK.md", "examples/nope.py"]
    assert list(links(page)) == ["gone.md"]


def test_every_docs_page_is_in_the_site_nav():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)  # mkdocs' !ENV and the like
    nav = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)["nav"]

    def files(entries):
        for entry in entries:
            for value in entry.values() if isinstance(entry, dict) else [entry]:
                yield from files(value) if isinstance(value, list) else [value]

    pages = {_rel(p)[len("docs/"):] for p in (ROOT / "docs").rglob("*.md")}
    assert pages == set(files(nav))


def test_readme_opens_with_the_two_setup_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```", 2)[1].strip().splitlines()
    test_command = 'python -m pip install -e ".[test]" && python -m pytest'
    run_command = "python -m pip install -e . && python cli.py backtest --strategy neutral"
    assert first_block == [run_command, test_command]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert any(line.startswith(test_command) for line in ci)
    assert len(readme.encode()) <= 10_000
