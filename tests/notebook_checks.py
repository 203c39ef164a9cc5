"""What makes a published notebook read badly in Jupyter or Colab, found in a notebook's JSON.

Used by tests/test_notebooks.py (on synthetic notebooks and, when given, on built ones) and by
tests/site/test_published_notebooks.py (on the notebooks of the built site, `make site-check`).
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any, Mapping

# A MyST role left raw, e.g. {glue:text}`name:.2f`, {doc}`ch04`, {numref}`fig-x`.
RAW_ROLE = re.compile(r"\{[A-Za-z][\w:.+-]*\}`")
# A MyST directive fence (``:::{admonition}``, ```` ```{note} ````), a target ``(label)=``.
RAW_DIRECTIVE = re.compile(r"^ {0,3}(?::{3,}|`{3,}|~{3,})\s*\{[^}]+\}", re.M)
RAW_TARGET = re.compile(r"^\([^()\s]+\)=\s*$", re.M)
# The book's configuration, whose mathjax3_config defines the site's MathJax macros.
CONFIG = Path(__file__).resolve().parents[1] / "_config.yml"


def site_only_macros(config: Path | Mapping[str, Any] = CONFIG) -> re.Pattern:
    """A pattern for the macros that only the site's MathJax defines: ``mathjax3_config``'s ``tex.macros``
    in the book's ``_config.yml`` (or in ``config``, the loaded file). It matches nothing if there are none."""
    if not isinstance(config, Mapping):
        import yaml

        config = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
    sphinx_config = (config.get("sphinx") or {}).get("config") or {}
    macros = ((sphinx_config.get("mathjax3_config") or {}).get("tex") or {}).get("macros") or {}
    if not macros:
        return re.compile(r"(?!)")
    names = "|".join(sorted(map(re.escape, macros), key=len, reverse=True))
    return re.compile(rf"\\(?:{names})(?![A-Za-z])")


# Macros defined only in the site's MathJax configuration.
SITE_ONLY_MACROS = site_only_macros()
# Scanned left to right, a role's backticks belong to the role, not to a code span.
ROLE_OR_CODE = re.compile(r"(?P<role>\{[A-Za-z][\w:.+-]*\}(`+).+?\2)|(`+).+?\3", re.S)
CODE_BLOCK = re.compile(r"^ {0,3}(`{3,}|~{3,})(?!\s*\{)[^\n]*\n.*?^ {0,3}\1\s*$", re.S | re.M)

ANSI = re.compile(r"\x1b\[")
PROGRESS = re.compile(r"\bit/s\b|s/it\b|\d+%\|[^|\n]*\||[█▏▎▍▌▋▊▉]{2,}")
OBJECT_REPR = re.compile(r"<(?:IPython\.core\.display\.|pandas\.)[^>]*>|<[\w.]+ object at 0x[0-9a-f]+>")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def _prose(markdown: str) -> str:
    """Markdown without its code blocks and inline code, where MyST syntax may be shown on purpose."""
    return ROLE_OR_CODE.sub(lambda m: m.group("role") or "", CODE_BLOCK.sub("", markdown))


def _without_comments(code: str) -> str:
    """``code`` without its comments (``glue(...);  # note`` still ends in ``;``)."""
    import io
    import tokenize
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type != tokenize.COMMENT]
        return tokenize.untokenize(tokens)
    except (tokenize.TokenError, SyntaxError):
        return code


def _ends_in_glue(source: str) -> bool:
    """Whether the cell's last statement is a bare ``glue(...)`` call (its value is then displayed)."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return False
    if _without_comments(code).rstrip().endswith(";"):
        return False
    call = tree.body[-1].value
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name == "glue"


def _output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return _text(output.get("text"))
    return _text(output.get("data", {}).get("text/plain"))


def notebook_problems(notebook: dict) -> list[str]:
    """Every problem found, as 'cell N: what' lines (empty: the notebook reads cleanly)."""
    problems: list[str] = []
    for index, cell in enumerate(notebook.get("cells", [])):
        where = f"cell {index}"
        source = _text(cell.get("source"))
        if cell.get("cell_type") == "markdown":
            prose = _prose(source)
            for pattern, what in ((RAW_ROLE, "raw MyST role"), (RAW_DIRECTIVE, "raw MyST directive"),
                                  (RAW_TARGET, "raw MyST target"),
                                  (SITE_ONLY_MACROS, "macro that only the site's MathJax defines")):
                for match in pattern.finditer(prose):
                    snippet = prose[match.start():match.start() + 50].split("\n")[0]
                    problems.append(f"{where}: {what}: {snippet!r}")
            continue
        if cell.get("cell_type") != "code":
            continue
        outputs = cell.get("outputs", [])
        seen: set[str] = set()
        for output in outputs:
            if output.get("output_type") == "error":  # its traceback is coloured with ANSI codes
                problems.append(f"{where}: an error in the outputs: {output.get('ename')}: {output.get('evalue')}")
                continue
            blob = json.dumps(output, ensure_ascii=False)
            text = _output_text(output)
            data = output.get("data", {})
            if "IProgress" in blob:
                problems.append(f"{where}: tqdm's 'IProgress not found' warning in an output")
            if ANSI.search(text) or "\\u001b[" in blob:
                problems.append(f"{where}: ANSI escape codes in an output")
            if output.get("output_type") == "stream" and "\r" in text:
                problems.append(f"{where}: carriage returns (a progress bar) in a stream output")
            if PROGRESS.search(text):
                problems.append(f"{where}: a progress bar in an output: {PROGRESS.search(text).group()!r}")
            if "data" in output and set(data) <= {"text/plain"} and OBJECT_REPR.search(text):
                problems.append(f"{where}: an object repr instead of a rendered output: {text[:60]!r}")
            key = text.strip()
            if key and key in seen:
                problems.append(f"{where}: the same output twice: {key[:60]!r}")
            seen.add(key)
        if any(o.get("output_type") == "execute_result" for o in outputs) and _ends_in_glue(source):
            problems.append(f"{where}: ends in a bare glue(...), whose value is shown as an output")
    return problems


def site_notebooks(site: Path) -> list[Path]:
    """The notebooks that a built site's download and Colab buttons serve."""
    return sorted((Path(site) / "_sources").rglob("*.ipynb"))
