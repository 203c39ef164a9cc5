"""The notebooks that the built site's download and Colab buttons serve read cleanly (`make site-check`).

No raw MyST roles or directives, no macro that only the site's MathJax defines, no progress bars,
ANSI escapes or tqdm warnings in the outputs, no object reprs instead of tables, no bare glue values.
The checks are in tests/notebook_checks.py; tests/test_notebooks.py tests them and the build's rewriting
(book/_ext/published_notebooks.py) without a build.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from notebook_checks import notebook_problems, site_notebooks  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"


def test_published_notebooks_read_cleanly():
    notebooks = site_notebooks(SITE)
    if not notebooks:
        pytest.fail("no notebooks in _build/html/_sources: run `make book` first")
    report = []
    for notebook in notebooks:
        problems = notebook_problems(json.loads(notebook.read_text(encoding="utf-8")))
        report += [f"{notebook.relative_to(SITE)}: {problem}" for problem in problems]
    assert not report, f"{len(report)} problems:\n" + "\n".join(report[:40])
