"""Every exercise in the book has a check, and a solution that runs through it.

The convention (chapter 1's Exercises section is the model): in the ``## Exercises`` section of a
chapter, each exercise is a paragraph that starts ``**N. Title.**``. A code cell of the exercise
defines ``def check_<name>(...)``, which asserts what a correct answer must satisfy and prints
``correct: ...``. A later code cell of the same exercise, tagged ``remove-cell`` or ``hide-input``
or untagged, runs a solution through that check, outside any ``try``. nbval executes every code
cell, so the test command runs each solution through its check: a wrong solution or a broken check
fails. This file checks the convention itself, by reading the chapters' source.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("ch*.md"))
# An appendix (a glossary, a syllabus) need not have exercises; one that has them follows the convention.
APPENDICES = sorted(BOOK.glob("appendix_*.md"))

SOLUTION_TAGS = {"remove-cell", "hide-input"}   # or no tag at all
# nbval skips these cells or lets them fail: a solution there would never be checked.
NOT_RUN_TAGS = {"nbval-skip", "skip-execution", "raises-exception", "nbval-raises-exception"}
EXERCISE = re.compile(r"^\*\*(\d+)\.\s")
FENCE = re.compile(r"^(`{3,})\{code-cell\}")


@dataclass
class Cell:
    source: str
    tags: list[str]
    line: int                                # 1-based line of the opening fence


@dataclass
class Exercise:
    number: int
    line: int
    cells: list[Cell] = field(default_factory=list)


def _cell_tags(options: list[str]) -> list[str]:
    """The tags of a code cell from its options: ``:tags: [...]`` lines or a ``---`` YAML block."""
    if not options:
        return []
    if options[0].strip() == "---":
        meta = yaml.safe_load("\n".join(options[1:-1])) or {}
    else:
        meta = yaml.safe_load("\n".join(line.strip()[1:].replace(":", ": ", 1) for line in options)) or {}
    tags = meta.get("tags") or []
    return [tags] if isinstance(tags, str) else list(tags)


def exercises_of(text: str) -> list[Exercise] | None:
    """The exercises of a chapter's ``## Exercises`` section, each with its code cells in order, or
    None when there is no such section. Fenced code outside code cells (a ``python`` block in a
    solution dropdown) is markdown: it is never run, so it does not count."""
    lines = text.splitlines()
    exercises: list[Exercise] = []
    in_section = False
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            ticks, start = fence.group(1), i
            i += 1
            options: list[str] = []
            if i < len(lines) and lines[i].strip() == "---":          # a YAML block
                options.append(lines[i])
                i += 1
                while i < len(lines) and lines[i].strip() != "---":
                    options.append(lines[i])
                    i += 1
                options.append("---")
                i += 1
            else:
                while i < len(lines) and lines[i].startswith(":"):    # :key: value lines
                    options.append(lines[i])
                    i += 1
            body = []
            while i < len(lines) and lines[i].rstrip() != ticks:
                body.append(lines[i])
                i += 1
            if in_section and exercises:
                exercises[-1].cells.append(Cell("\n".join(body), _cell_tags(options), start + 1))
            i += 1
            continue
        if line.startswith("```"):                                   # markdown code: skip it whole
            ticks = re.match(r"^`+", line).group(0)
            i += 1
            while i < len(lines) and lines[i].rstrip() != ticks:
                i += 1
            i += 1
            continue
        if line.startswith("## "):
            if in_section:
                break
            in_section = line.strip() == "## Exercises"
        elif in_section:
            number = EXERCISE.match(line)
            if number:
                exercises.append(Exercise(int(number.group(1)), i + 1))
        i += 1
    return exercises if in_section or exercises else None


def _parse(cell: Cell) -> ast.Module | None:
    # IPython magics and shell escapes are not Python; drop those lines before parsing.
    source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _defined_checks(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("check_")}


def _top_level_calls(tree: ast.AST) -> set[str]:
    """Names called where a failure would fail the cell: not inside a function or class body
    (perhaps never run) and not inside a ``try`` that catches (a test of the check on a wrong answer)."""
    called: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return
        if isinstance(node, ast.Try) and node.handlers:
            for part in (*node.orelse, *node.finalbody):
                visit(part)
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return called


def _says_correct(function: ast.FunctionDef) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print" and node.args:
            first = node.args[0]
            if isinstance(first, ast.JoinedStr) and first.values:
                first = first.values[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.startswith("correct"):
                return True
    return False


def _can_fail(function: ast.FunctionDef) -> bool:
    return any(isinstance(node, (ast.Assert, ast.Raise)) for node in ast.walk(function))


def problems_of(text: str) -> list[str]:
    """What is wrong with the exercises of a chapter's source, one line per problem ([] when none)."""
    exercises = exercises_of(text)
    if exercises is None:
        return ["no '## Exercises' section"]
    if not exercises:
        return ["the Exercises section has no '**N. Title.**' exercise"]
    problems = []
    numbers = [exercise.number for exercise in exercises]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"exercises are numbered {numbers}, expected 1 to {len(numbers)}")
    for exercise in exercises:
        where = f"exercise {exercise.number} (line {exercise.line})"
        trees = [_parse(cell) for cell in exercise.cells]
        for cell, tree in zip(exercise.cells, trees):
            if tree is None:
                problems.append(f"{where}: the code cell at line {cell.line} is not valid Python")
        checks: dict[str, int] = {}                    # check name -> index of the cell defining it
        for index, tree in enumerate(trees):
            for name, function in (_defined_checks(tree) if tree else {}).items():
                checks.setdefault(name, index)
                if not _can_fail(function):
                    problems.append(f"{where}: {name} has no assert, so it cannot fail")
                if not _says_correct(function):
                    problems.append(f"{where}: {name} does not print 'correct: ...'")
        if not checks:
            problems.append(f"{where}: no code cell defines a check_... function")
            continue
        for name, defined_at in checks.items():
            solved = any(
                tree is not None and name in _top_level_calls(tree)
                and (not cell.tags or SOLUTION_TAGS & set(cell.tags))
                and not NOT_RUN_TAGS & set(cell.tags)
                for cell, tree in list(zip(exercise.cells, trees))[defined_at + 1:]
            )
            if not solved:
                problems.append(
                    f"{where}: no later code cell (tagged remove-cell or hide-input, or untagged) "
                    f"runs a solution through {name}, outside a try")
    return problems


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_every_exercise_has_a_check_and_a_solution_that_runs(chapter: Path) -> None:
    problems = problems_of(chapter.read_text(encoding="utf-8"))
    assert not problems, f"{chapter.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("appendix", APPENDICES, ids=[path.stem for path in APPENDICES])
def test_exercises_of_an_appendix_follow_the_convention(appendix: Path) -> None:
    text = appendix.read_text(encoding="utf-8")
    problems = [] if exercises_of(text) is None else problems_of(text)
    assert not problems, f"{appendix.name}:\n  " + "\n  ".join(problems)


def test_the_chapters_are_found() -> None:
    assert len(CHAPTERS) >= 15, [path.name for path in CHAPTERS]


# --- the parser itself, on small chapters written here -------------------------------------

GOOD = '''
## Summary

```{code-cell} ipython3
def check_not_an_exercise(x):
    pass
```

## Exercises

Each exercise has a check.

**1. Double.** Write `double(x)`.

```{code-cell} ipython3
def check_double(double):
    assert double(2) == 4
    print(f"correct: {double(2)}")

try:
    check_double(lambda x: x)
except AssertionError:
    print("rejected")
```

:::{admonition} Solution
:class: dropdown
```python
check_double(lambda x: 2 * x)
```
:::

```{code-cell} ipython3
:tags: [remove-cell]

check_double(lambda x: 2 * x)
```

**2. Halve.** Write `halve(x)`.

```{code-cell} ipython3
def check_halve(halve):
    assert halve(4) == 2
    print("correct")
```

```{code-cell} ipython3
---
tags: [hide-input]
---
check_halve(lambda x: x / 2)
```

## Further reading

```{code-cell} ipython3
check_not_an_exercise(1)
```
'''


def test_parser_accepts_a_good_section() -> None:
    exercises = exercises_of(GOOD)
    assert [exercise.number for exercise in exercises] == [1, 2]
    assert [len(exercise.cells) for exercise in exercises] == [2, 2]   # the python block is markdown
    assert exercises[0].cells[1].tags == ["remove-cell"] and exercises[1].cells[1].tags == ["hide-input"]
    assert problems_of(GOOD) == []


def _without_check(text: str) -> str:
    return text.replace("def check_halve(halve):\n    assert halve(4) == 2\n    print(\"correct\")",
                        "halve = lambda x: x / 2")


@pytest.mark.parametrize("broken, expected", [
    (_without_check(GOOD), "exercise 2 (line"),                                      # no check at all
    (GOOD.replace(":tags: [remove-cell]\n\ncheck_double(lambda x: 2 * x)", ":tags: [remove-cell]\n\n"),
     "runs a solution through check_double"),                 # the solution only in the dropdown
    (GOOD.replace("---\ntags: [hide-input]\n---\n", "---\ntags: [hide-cell]\n---\n"),
     "runs a solution through check_halve"),                  # a tag the convention does not allow
    (GOOD.replace("check_halve(lambda x: x / 2)", "try:\n    check_halve(lambda x: x / 2)\nexcept AssertionError:\n    pass"),
     "runs a solution through check_halve"),                  # a solution whose failure is caught
    (GOOD.replace("    assert halve(4) == 2\n", "    halve(4)\n"), "cannot fail"),
    (GOOD.replace('print("correct")', 'print("ok")'), "does not print 'correct"),
    (GOOD.replace("**2. Halve.**", "**3. Halve.**"), "numbered [1, 3]"),
    (GOOD.replace("## Exercises", "## Practice"), "no '## Exercises' section"),
])
def test_parser_catches_a_broken_exercise(broken: str, expected: str) -> None:
    problems = problems_of(broken)
    assert any(expected in problem for problem in problems), problems


def test_a_missing_check_names_the_chapter_and_exercise(tmp_path: Path) -> None:
    chapter = tmp_path / "ch99_example.md"
    chapter.write_text(_without_check(GOOD), encoding="utf-8")
    with pytest.raises(AssertionError, match=r"ch99_example\.md:\n\s+exercise 2 \(line \d+\): no code cell defines"):
        test_every_exercise_has_a_check_and_a_solution_that_runs(chapter)
