"""The package is laid out like the book: a folder per part, shared machinery in `common`, imports
that only run from later parts to earlier ones (so no cycle), and one import path per public name."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "transformer_book"

# What each folder may import, besides itself: the book's order, Part I before II before III.
MAY_IMPORT = {
    "common": set(),
    "data": {"common"},
    "pieces": {"common", "data"},
    "encoder_decoder": {"common", "data", "pieces"},
    "bert": {"common", "data", "pieces", "encoder_decoder"},
    "gpt": {"common", "data", "pieces", "encoder_decoder"},
    "llama": {"common", "data", "pieces", "encoder_decoder", "gpt"},
    "scaling": {"common", "data", "pieces", "encoder_decoder", "bert", "gpt", "llama"},
}
PARTS = {"pieces": "Part I", "encoder_decoder": "Part II", "bert": "Part III", "gpt": "Part III", "llama": "Part IV",
         "scaling": "Part V"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """The transformer_book modules that ``path`` imports, anywhere in the file (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path.name}: relative import from {'.' * node.level}{node.module or ''}; "
                                     "the package imports by absolute path, as the chapters do")
            if node.module and node.module.split(".")[0] == "transformer_book":
                for alias in node.names:   # `from transformer_book.bert import model` imports a module
                    candidate = f"{node.module}.{alias.name}"
                    found.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "transformer_book"}
    return found


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def test_every_import_names_a_module_that_exists():
    for name, targets in GRAPH.items():
        assert targets <= set(MODULES), f"{name} imports {sorted(targets - set(MODULES))}"


def test_the_folders_are_the_books_parts():
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    assert folders == set(MAY_IMPORT)
    loose = sorted(path.name for path in PACKAGE.glob("*.py") if path.name != "__init__.py")
    assert loose == [], f"modules outside the part folders: {loose}"
    for folder, part in PARTS.items():
        assert part in ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text())), folder


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_run_from_later_parts_to_earlier_ones(name):
    folder = name.split(".")[1] if name.count(".") >= 1 else None
    for target in GRAPH[name]:
        target_folder = target.split(".")[1] if target.count(".") >= 1 else None
        if folder is None or target_folder == folder:
            continue
        assert target_folder in MAY_IMPORT[folder], (
            f"{name} imports {target}: {folder} may import only {sorted(MAY_IMPORT[folder])} besides itself")


def test_no_import_cycle():
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(GRAPH[name]):
            if state.get(target) == "open":
                cycle = path[path.index(target):] + [target] if target in path else [name, target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


def test_the_cycle_check_can_fail():
    saved = dict(GRAPH)
    try:
        GRAPH["transformer_book.pieces.masks"] = GRAPH["transformer_book.pieces.masks"] | {
            "transformer_book.pieces.attention"}
        with pytest.raises(AssertionError, match="import cycle"):
            test_no_import_cycle()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


@pytest.mark.parametrize("name", sorted(n for n, p in MODULES.items() if p.name == "__init__.py"))
def test_package_inits_re_export_nothing(name):
    """Each public name has one import path: the module that defines it."""
    tree = ast.parse(MODULES[name].read_text())
    statements = [node for node in tree.body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    names = [target.id for node in statements if isinstance(node, ast.Assign) for target in node.targets
             if isinstance(target, ast.Name)]
    assert all(isinstance(node, ast.Assign) for node in statements) and set(names) <= {"__version__"}, (
        f"{name} defines or imports {ast.unparse(statements[0]) if statements else ''!r}")


def test_the_packages_own_rule_is_this_tests_rule_and_holds():
    from transformer_book.common import layout

    assert {folder: set(allowed) for folder, allowed in layout.MAY_IMPORT.items()} == MAY_IMPORT
    assert layout.backward_imports() == []


def test_the_packages_rule_catches_a_backward_import(monkeypatch):
    from transformer_book.common import layout

    real = layout.book_imports
    monkeypatch.setattr(layout, "book_imports", lambda path: real(path) + (
        ["transformer_book.gpt.model"] if str(path).endswith("masks.py") else []))
    assert layout.backward_imports() == ["transformer_book.pieces.masks imports transformer_book.gpt.model"]
