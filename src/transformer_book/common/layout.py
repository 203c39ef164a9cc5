"""The package's layout rule: a folder per part of the book, and imports only from earlier parts.

``MAY_IMPORT`` says which folders each folder may import from besides itself: the shared machinery
(``common``) imports nothing of the book, the loaders (``data``) only ``common``, Part I (``pieces``)
both, Part II (``encoder_decoder``) all of those, and Part III's two families (``bert``, ``gpt``)
everything before them but not each other, and Part IV (``llama``) everything before it: the
modern decoder is GPT's with four pieces swapped in, and it reuses GPT's cache and generation; Part V
(``scaling``) trains the models of the earlier parts, so it may import all of them. So no import
cycle can run across folders.
"""
from __future__ import annotations

import ast
import importlib.util
import pkgutil
from pathlib import Path

MAY_IMPORT: dict[str, frozenset[str]] = {
    "common": frozenset(),
    "data": frozenset({"common"}),
    "pieces": frozenset({"common", "data"}),
    "encoder_decoder": frozenset({"common", "data", "pieces"}),
    "bert": frozenset({"common", "data", "pieces", "encoder_decoder"}),
    "gpt": frozenset({"common", "data", "pieces", "encoder_decoder"}),
    "llama": frozenset({"common", "data", "pieces", "encoder_decoder", "gpt"}),
    "scaling": frozenset({"common", "data", "pieces", "encoder_decoder", "bert", "gpt", "llama"}),
}


def book_imports(path: str | Path) -> list[str]:
    """The ``transformer_book`` modules that the Python file ``path`` imports, anywhere in it
    (inside functions too), each as written: ``from transformer_book.bert import model`` counts as
    ``transformer_book.bert``."""
    found = []
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name.split(".")[0] == "transformer_book"]


def backward_imports() -> list[str]:
    """Every import in the installed package that breaks ``MAY_IMPORT``, as ``"A imports B"``
    (an empty list when the layout holds)."""
    package = Path(__file__).resolve().parents[1]     # src/transformer_book
    problems = []
    for info in pkgutil.walk_packages([str(package)], prefix="transformer_book."):
        parts = info.name.split(".")
        if len(parts) < 2 or parts[1] not in MAY_IMPORT:
            problems.append(f"{info.name} is outside the part folders {sorted(MAY_IMPORT)}")
            continue
        source = importlib.util.find_spec(info.name).origin
        for target in book_imports(source):
            folder = target.split(".")[1] if target.count(".") else None
            if folder is not None and folder != parts[1] and folder not in MAY_IMPORT[parts[1]]:
                problems.append(f"{info.name} imports {target}")
    return problems
