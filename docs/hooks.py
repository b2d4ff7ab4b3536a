"""MkDocs hooks: doctests in docstrings render as code on the API page; the CLI reference shows no
click sentinel.

Docstrings here are plain text with `>>>` examples, not Google-style "Examples:" sections; without
this, Markdown would run an example and its output together into one paragraph (and read
`...]` followed by `[(19, 21)]` as a reference link).
"""

import re

from markdown import Extension
from markdown.preprocessors import Preprocessor
from mkdocs.plugins import event_priority

FENCE = re.compile(r"^\s*(```|~~~)")


class DoctestBlocks(Preprocessor):
    """A run of lines from `>>>` to the next blank line becomes a fenced `pycon` block (fenced code
    already in the page is left alone)."""

    def run(self, lines):
        out, fenced, i = [], False, 0
        while i < len(lines):
            line = lines[i]
            if FENCE.match(line):
                fenced = not fenced
            if fenced or not line.lstrip().startswith(">>>"):
                out.append(line)
                i += 1
                continue
            indent = line[: len(line) - len(line.lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
                i += 1
            out += ["", f"{indent}```pycon", *(indent + b for b in block), f"{indent}```", ""]
        return out


class DoctestExtension(Extension):
    def extendMarkdown(self, md):  # noqa: N802 (Markdown's API)
        md.preprocessors.register(DoctestBlocks(md), "doctest_blocks", 40)


@event_priority(100)  # before mkdocstrings reads the Markdown extensions in its own on_config
def on_config(config):
    config.markdown_extensions.append(DoctestExtension())
    return config


def on_page_content(html, page, config, files):
    """mkdocs-click prints click 8.2's "no default" sentinel as a default; the CLI reference says
    "-" there, as `--help` shows nothing."""
    return html.replace("<td><code>Sentinel.UNSET</code></td>", "<td>-</td>")
