"""Let nbval test the book's chapters, which are jupytext MyST-Markdown notebooks (``book/*.md``).

nbval collects only ``.ipynb`` files. Here every ``book/*.md`` file with a jupytext header is
collected as a notebook too: nbval reads it through jupytext instead of nbformat, in memory, so
no ``.ipynb`` is ever written next to the source.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).parent
BOOK = ROOT / "book"

# Chapters and tests run the quick profile unless told otherwise.
os.environ.setdefault("BOOK_PROFILE", "quick")


def _is_chapter(path: Path) -> bool:
    if path.suffix != ".md" or path.parent != BOOK:
        return False
    with path.open(encoding="utf-8") as handle:
        head = handle.read(400)
    return head.startswith("---") and "jupytext" in head


def pytest_collect_file(file_path: Path, parent):
    options = parent.config.option
    if not (getattr(options, "nbval", False) or getattr(options, "nbval_lax", False)):
        return None
    if not _is_chapter(file_path):
        return None
    if MarkdownNotebook is None:
        raise pytest.UsageError(
            "testing the chapters needs nbval and jupytext: pip install -e '.[test]'"
        )
    return MarkdownNotebook.from_parent(parent, path=file_path)


def _make_markdown_notebook_class():
    import jupytext
    import nbformat
    from nbval import plugin
    from nbval.plugin import IPyNbFile

    class _JupytextReader:
        """Stands in for nbformat inside nbval: reads jupytext files, defers everything else."""

        def __getattr__(self, name):
            return getattr(nbformat, name)

        @staticmethod
        def read(path, as_version=4):
            if str(path).endswith(".md"):
                return jupytext.read(path, fmt="md:myst")
            return nbformat.read(path, as_version=as_version)

    plugin.nbformat = _JupytextReader()

    class MarkdownNotebook(IPyNbFile):
        """An nbval notebook whose source is a jupytext MyST-Markdown file."""

    return MarkdownNotebook


try:
    MarkdownNotebook = _make_markdown_notebook_class()
except ImportError:  # nbval or jupytext missing: the unit tests still run
    MarkdownNotebook = None


def pytest_addoption(parser):
    parser.addoption(
        "--site-check",
        action="store_true",
        default=False,
        help="check the built site in _build/html (run `make book` first)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--site-check"):
        return
    skip = pytest.mark.skip(reason="site checks run with `make site-check`, after `make book`")
    for item in items:
        if "tests/site/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)
