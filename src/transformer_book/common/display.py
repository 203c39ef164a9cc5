"""Show the package's real source code on a page of the book."""
from __future__ import annotations

import inspect
import textwrap
from typing import Any


class SourceListing:
    """Source code that renders as a highlighted Python block in Jupyter and in the book."""

    def __init__(self, source: str, name: str) -> None:
        if not isinstance(source, str) or not isinstance(name, str):
            raise TypeError(
                f"source and name must be strings, got {type(source).__name__} and {type(name).__name__}"
            )
        self.source = source
        self.name = name

    def _repr_markdown_(self) -> str:
        return f"```python\n{self.source.rstrip()}\n```"

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return self.source


def show_source(obj: Any) -> SourceListing:
    """The source of a class, function or module from ``transformer_book``, for display.

    The book shows code this way instead of copying it into a cell, so the page always
    shows exactly the code the tests test.
    """
    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as error:
        raise TypeError(
            f"show_source needs a class, function, method or module defined in Python source; "
            f"got {type(obj).__name__}: {error}"
        ) from error
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", type(obj).__name__))
    return SourceListing(textwrap.dedent(source), name)


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Make a computed value available to the prose as ``{glue:text}`name` ``.

    Uses ``myst_nb.glue`` when the book is being built; elsewhere (Jupyter, Colab) it only
    returns the value, so the chapter still runs without the book's toolchain. ``name`` must be a
    non-empty string (the key the prose refers to).

    Because it returns the value, a cell whose last line is a ``glue(...)`` call would show that
    value as its output (in Jupyter and on the page): end such a line with ``;``, as the chapters
    do (tests/test_notebooks.py checks them).
    """
    if not isinstance(name, str):
        raise TypeError(f"glue name must be a string, got {type(name).__name__}")
    if not name.strip():
        raise ValueError(f"glue name must be a non-empty string, got {name!r}")
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # NumPy and torch scalars: format specs like :.2f need a Python number
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return value
    myst_glue(name, value, display=display)
    return value
