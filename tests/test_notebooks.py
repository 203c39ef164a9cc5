"""The notebooks behind the download and Colab buttons read cleanly in Jupyter and Colab.

Three layers, so that CI checks this without building the book:
- unit tests of the rewriting that the build applies to the published notebooks
  (``book/_ext/published_notebooks.py``), on small synthetic notebooks, and of the checker
  (``tests/notebook_checks.py``) that finds raw MyST roles, progress bars, object reprs, ...;
- checks of the chapter sources: no macro that only the site's MathJax knows, no cell that ends in a
  bare ``glue(...)`` (its value would be shown as an output), the build's kernels draw no progress bars;
- the checker on built notebooks, when there are some to check: set ``BOOK_NOTEBOOKS`` to a built
  site (``_build/html``) or a folder of ``.ipynb`` files. ``make site-check`` checks the built site's
  notebooks too (tests/site/test_published_notebooks.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from notebook_checks import notebook_problems, site_notebooks  # noqa: E402
from published_notebooks import Reference, clean_notebook, clean_stream_text, html_table_as_text  # noqa: E402

nbformat = pytest.importorskip("nbformat")
v4 = nbformat.v4

GLUE = {
    "loss": {"data": {"text/plain": "0.123456"}},
    "steps": {"data": {"text/plain": "1200"}},
    "profile": {"data": {"text/plain": "'quick'"}},
    "table": {"data": {"text/markdown": "**bold**", "text/plain": "<IPython.core.display.Markdown object>"}},
}
TARGETS = {
    ("doc", "ch04_attention_by_hand"): Reference("Attention by hand", "https://site/book/ch04_attention_by_hand.html"),
    ("ref", "execution-profiles"): Reference("Execution profiles", "https://site/book/ch00.html#execution-profiles"),
    ("numref", "fig-here"): Reference("Fig. 5.2"),
    ("numref", "fig-there"): Reference("Fig. 4.1", "https://site/book/ch04.html#fig-there"),
}


def resolve(role, target, text):
    ref = TARGETS.get((role, target))
    return None if ref is None else Reference(text or ref.text, ref.url)


MARKDOWN = """\
(my-section)=
## Results
% a MyST comment, not for readers
The loss is {glue:text}`loss:.3f` after {glue:text}`steps` steps ({glue:text}`profile` profile,
{glue:text}`steps:,d` in all); see {doc}`ch04_attention_by_hand`, {doc}`that chapter <ch04_attention_by_hand>`,
{ref}`execution-profiles` and {numref}`fig-here`, {numref}`fig-there`. Attention is
$\\softmax(QK^\\top)V$, not $\\softmaxed$. Write `{glue:text}` in prose, or ``{doc}`x` `` inline.

```python
print("{doc}`kept` in a code block")
```

:::{admonition} Solution
:class: dropdown
Run `check(42)`; the answer is {glue:text}`steps`.
```python
check(42)
```
:::

:::{note}
Keep {glue:text}`loss:.1f` in mind.
:::
"""

PROGRESS_BAR = (
    "\r", "Loading weights:   0%|          | 0/103 [00:00<?, ?it/s]",
    "\rLoading weights: 100%|\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588| 103/103 [00:00<00:00, 9156.12it/s]\n",
)
IPROGRESS = (
    "/x/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update jupyter and "
    "ipywidgets. See https://ipywidgets.readthedocs.io/en/stable/user_install.html\n"
    "  from .autonotebook import tqdm as notebook_tqdm\n"
)


def synthetic_notebook() -> dict:
    """A notebook with every kind of junk that the issue lists, as the build leaves it."""
    stderr = lambda text: v4.new_output("stream", name="stderr", text=text)  # noqa: E731
    figure = v4.new_code_cell("plot()", metadata={"mystnb": {"figure": {
        "caption": "Weights, as in {numref}`fig-there`.", "name": "fig-here"}}})
    figure.outputs = [v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480 with 1 Axes>"})]
    training = v4.new_code_cell("history = train(model)\nhistory.final_loss")
    training.outputs = [
        stderr(IPROGRESS), stderr(PROGRESS_BAR[0] + PROGRESS_BAR[1]), stderr(PROGRESS_BAR[2]),
        stderr("UserWarning: a real warning that readers should see\n"),
        v4.new_output("stream", name="stdout", text="epoch 1: loss 2.5\n\x1b[1mdone\x1b[0m\n"),
        v4.new_output("execute_result", data={"text/plain": "2.5"}, execution_count=2),
    ]
    table = v4.new_code_cell('Markdown("| a | b |\\n|---|---|\\n| 1 | 2 |")')
    table.outputs = [v4.new_output("execute_result", execution_count=3, data={
        "text/markdown": "| a | b |\n|---|---|\n| 1 | 2 |", "text/plain": "<IPython.core.display.Markdown object>"})]
    styler = v4.new_code_cell('frame.style.format("{:.2f}")')
    styler.outputs = [v4.new_output("execute_result", execution_count=4, data={
        "text/html": "<style>td {color: red}</style><table><thead><tr><th></th><th>share</th></tr></thead>"
                     "<tbody><tr><th>embedding</th><td>30.01</td></tr></tbody></table>",
        "text/plain": "<pandas.io.formats.style.Styler at 0x7f0c2a1b3d90>"})]
    glued = v4.new_code_cell('print("value", 3)\nglue("x", 3)')
    glued.outputs = [v4.new_output("stream", name="stdout", text="3\n"),
                     v4.new_output("execute_result", data={"text/plain": "3"}, execution_count=5)]
    failed = v4.new_code_cell("1 / 0")
    failed.outputs = [v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                    traceback=["\x1b[31mZeroDivisionError\x1b[39m: division by zero"])]
    bare_repr = v4.new_code_cell("display(Markdown('x'))")
    bare_repr.outputs = [v4.new_output("display_data", data={"text/plain": "<IPython.core.display.Markdown object>"})]
    return json.loads(nbformat.writes(v4.new_notebook(cells=[
        v4.new_markdown_cell(MARKDOWN), figure, training, table, styler, glued, failed, bare_repr])))


def kinds(problems: list[str]) -> set[str]:
    return {problem.split(": ", 2)[1] for problem in problems}


# ---- the checker


def test_checker_finds_every_kind_of_junk():
    found = kinds(notebook_problems(synthetic_notebook()))
    assert {
        "raw MyST role", "raw MyST directive", "raw MyST target", "macro that only the site's MathJax defines",
        "tqdm's 'IProgress not found' warning in an output", "ANSI escape codes in an output",
        "carriage returns (a progress bar) in a stream output", "a progress bar in an output",
        "an object repr instead of a rendered output", "the same output twice",
        "ends in a bare glue(...), whose value is shown as an output", "an error in the outputs",
    } <= found, found


def test_checker_ignores_myst_syntax_shown_as_code():
    cell = v4.new_markdown_cell("Write `{glue:text}` or ``{doc}`x` ``:\n\n```md\n:::{note}\n{ref}`y`\n:::\n```\n")
    code = v4.new_code_cell('glue("x", 3);')
    code.outputs = [v4.new_output("display_data", data={"text/plain": "<Figure size 2x2>", "image/png": "AA=="})]
    assert notebook_problems(json.loads(nbformat.writes(v4.new_notebook(cells=[cell, code])))) == []


# ---- the rewriting


def cleaned() -> tuple[dict, list[str]]:
    return clean_notebook(synthetic_notebook(), glue=GLUE, resolve=resolve,
                          macros={"softmax": r"\operatorname{softmax}"})


def test_cleaned_notebook_reads_cleanly_except_for_what_the_source_must_fix():
    notebook, problems = cleaned()
    assert problems == []
    nbformat.validate(nbformat.reads(json.dumps(notebook), as_version=4))
    # A cell that ends in a bare glue(...) is fixed in the chapter (end it with ';'), not here.
    assert kinds(notebook_problems(notebook)) == {
        "ends in a bare glue(...), whose value is shown as an output", "the same output twice",
        "an error in the outputs",  # the build fails on errors; here there is one on purpose
        "an object repr instead of a rendered output"}  # the last: a repr with nothing to render


def test_glue_and_cross_references_are_filled_in():
    text = cleaned()[0]["cells"][0]["source"]
    assert "The loss is 0.123 after 1200 steps (quick profile,\n1,200 in all)" in text
    assert "see [Attention by hand](https://site/book/ch04_attention_by_hand.html), " in text
    assert "[that chapter](https://site/book/ch04_attention_by_hand.html)" in text
    assert "[Execution profiles](https://site/book/ch00.html#execution-profiles)" in text
    assert "and Fig. 5.2, [Fig. 4.1](https://site/book/ch04.html#fig-there)." in text
    assert r"$\operatorname{softmax}(QK^\top)V$, not $\softmaxed$" in text


def test_code_spans_and_code_blocks_are_left_alone():
    text = cleaned()[0]["cells"][0]["source"]
    assert "Write `{glue:text}` in prose, or ``{doc}`x` `` inline." in text
    assert 'print("{doc}`kept` in a code block")' in text
    assert cleaned()[0]["cells"][6]["source"] == synthetic_notebook()["cells"][5]["source"]  # after a caption


def test_targets_comments_and_admonitions_become_markdown():
    text = cleaned()[0]["cells"][0]["source"]
    assert text.startswith("## Results\nThe loss")
    assert "MyST comment" not in text
    assert ("<details>\n<summary>Solution</summary>\n\nRun `check(42)`; the answer is 1200.\n"
            "```python\ncheck(42)\n```\n\n</details>") in text
    assert "> **Note**\n>\n> Keep 0.1 in mind." in text
    assert ":::" not in text


def test_figures_get_their_numbered_caption():
    cells = cleaned()[0]["cells"]
    assert cells[1]["cell_type"] == "code"
    caption = cells[2]
    assert caption["cell_type"] == "markdown"
    assert caption["source"] == "**Fig. 5.2.** Weights, as in [Fig. 4.1](https://site/book/ch04.html#fig-there)."


def test_progress_bars_and_widget_warnings_leave_the_outputs():
    outputs = cleaned()[0]["cells"][3]["outputs"]
    assert [o["output_type"] for o in outputs] == ["stream", "stream", "execute_result"]
    assert outputs[0]["text"] == "UserWarning: a real warning that readers should see\n"
    assert outputs[1]["text"] == "epoch 1: loss 2.5\ndone\n"
    assert clean_stream_text("step 3\rstep 4\rfinal\n") == "final\n"
    assert clean_stream_text("training: 100%|##########| 50/50 [00:02<00:00, 21.3step/s]\n") == ""


def test_rich_outputs_get_a_readable_text_form():
    cells = cleaned()[0]["cells"]
    assert cells[4]["outputs"][0]["data"]["text/plain"] == "| a | b |\n|---|---|\n| 1 | 2 |"
    styled = cells[5]["outputs"][0]["data"]
    assert styled["text/plain"] == "           share\nembedding  30.01"
    assert "".join(styled["text/html"]).startswith("<style>")  # what Jupyter shows is untouched
    assert html_table_as_text("<p>no table</p>") is None


def test_what_cannot_be_filled_in_is_reported():
    cell = v4.new_markdown_cell("{glue:text}`missing:.2f` and {doc}`nowhere` and {ref}`nothing`")
    notebook, problems = clean_notebook(json.loads(nbformat.writes(v4.new_notebook(cells=[cell]))))
    assert len(problems) == 3 and "missing" in problems[0]
    assert notebook["cells"][0]["source"] == "`missing:.2f` and nowhere and nothing"


# ---- the chapter sources and the build's configuration


def chapters() -> list[Path]:
    return sorted((ROOT / "book").glob("ch*.md"))


@pytest.mark.parametrize("chapter", chapters(), ids=lambda path: path.stem)
def test_chapter_uses_no_site_only_macro_and_ends_no_cell_in_a_bare_glue(chapter):
    jupytext = pytest.importorskip("jupytext")
    notebook = json.loads(nbformat.writes(jupytext.read(chapter, fmt="md:myst")))
    # Pretend that every code cell has a result, so that the checker looks at how it ends.
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=1)]
    problems = [p for p in notebook_problems(notebook)
                if "bare glue" in p or "only the site's MathJax" in p]
    assert not problems, "\n".join(problems)


def test_the_build_executes_the_chapters_without_progress_bars():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]
    assert "published_notebooks" in config["extra_extensions"]
    env = config["config"]["notebook_execution_env"]
    assert env["TQDM_DISABLE"] == "1" and "IProgress not found" in env["PYTHONWARNINGS"]
    pytest.importorskip("tqdm")
    # tqdm reads TQDM_* when it is imported, so ask a fresh interpreter.
    script = "import sys, tqdm\nfor _ in tqdm.tqdm(range(3), file=sys.stdout): pass"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **{k: str(v) for k, v in env.items()}}, check=True)
    assert run.stdout == "" and run.stderr == ""


# ---- built notebooks, when there are some


def built_notebooks() -> list[Path]:
    where = os.environ.get("BOOK_NOTEBOOKS")
    if not where:
        return []
    path = Path(where)
    return site_notebooks(path) if (path / "_sources").is_dir() else sorted(path.rglob("*.ipynb"))


@pytest.mark.parametrize("notebook", built_notebooks() or [None],
                         ids=lambda path: path.stem if path else "none")
def test_built_notebook_reads_cleanly(notebook):
    if notebook is None:
        pytest.skip("no built notebooks to check: set BOOK_NOTEBOOKS to a built site (_build/html) or a "
                    "folder of .ipynb files; `make site-check` checks the site's notebooks after `make book`")
    problems = notebook_problems(json.loads(notebook.read_text(encoding="utf-8")))
    assert not problems, f"{notebook}:\n" + "\n".join(problems[:30])


def test_only_tqdm_lines_are_stripped_from_streams():
    bars = "\r".join(PROGRESS_BAR) + "123it [00:01, 10.0it/s]\n"
    readers = "throughput 1234.5 it/s\naccuracy 95%| 90%|\nepoch 1: loss 2.5\n"
    assert clean_stream_text(bars + readers) == readers
