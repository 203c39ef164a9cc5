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
    return sorted((ROOT / "book").glob("ch*.md")) + sorted((ROOT / "book").glob("appendix_*.md"))


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


# ---- review fixes: math, admonition labels, idempotence, {eq}, glue blocks, the environment

MACROS = {"softmax": r"\operatorname{softmax}"}


def clean_markdown(text: str, **kwargs) -> tuple[str, list[str]]:
    notebook = json.loads(nbformat.writes(v4.new_notebook(cells=[v4.new_markdown_cell(text)])))
    cleaned_notebook, problems = clean_notebook(notebook, macros=MACROS, **kwargs)
    return cleaned_notebook["cells"][0]["source"].strip("\n"), problems


def test_math_roles_and_glued_math_get_the_macros_expanded():
    glue = {"attn": {"data": {"text/latex": r"$\softmax(QK^\top)$", "text/plain": "<Math>"}}}
    text, problems = clean_markdown(r"{math}`\softmax(x)` and {glue:math}`attn`", glue=glue)
    assert problems == []
    assert text == r"$\operatorname{softmax}(x)$ and $\operatorname{softmax}(QK^\top)$"
    block, problems = clean_markdown(":::{glue:math} attn\n:::\n", glue=glue)
    assert problems == [] and block == "$$\n\\operatorname{softmax}(QK^\\top)\n$$"


def test_site_only_macros_come_from_the_config():
    from notebook_checks import SITE_ONLY_MACROS, site_only_macros

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    macros = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    assert macros and all(SITE_ONLY_MACROS.search(f"$\\{name}(x)$") for name in macros)
    custom = site_only_macros({"sphinx": {"config": {"mathjax3_config": {"tex": {"macros": {"R": r"\mathbb{R}"}}}}}})
    assert custom.search(r"$x \in \R$") and not custom.search(r"$\Rightarrow$ \softmax")
    assert not site_only_macros({}).search(r"\softmax")
    problems = notebook_problems({"cells": [{"cell_type": "markdown", "metadata": {}, "source": r"$\R^n$"}]})
    assert problems == []  # \R is not one of the book's macros


@pytest.mark.parametrize("name, label", [("note", "Note"), ("warning", "Warning"), ("tip", "Tip"),
                                         ("important", "Important"), ("seealso", "See also")])
def test_admonitions_without_a_title_keep_their_label(name, label):
    text, problems = clean_markdown(f":::{{{name}}} Some text\nand more.\n:::\n")
    assert problems == []
    assert text == f"> **{label}**\n>\n> Some text\n> and more."
    text, _ = clean_markdown(f":::{{{name}}} Hidden\n:class: dropdown\nbody\n:::\n")
    assert text == f"<details>\n<summary>{label}</summary>\n\nHidden\nbody\n\n</details>"


def test_titled_directives_keep_their_title():
    assert clean_markdown(":::{admonition} Why\nBecause.\n:::\n")[0] == "> **Why**\n>\n> Because."
    assert clean_markdown(":::{topic} Aside\nText.\n:::\n")[0] == "> **Aside**\n>\n> Text."


def test_the_execution_table_points_to_the_website():
    text, problems = clean_markdown("Before.\n\n```{nb-exec-table}\n```\n")
    assert problems == [] and "{nb-exec-table}" not in text
    assert text.startswith("Before.") and "website" in text


def test_cleaning_is_idempotent():
    once, _ = cleaned()
    twice, problems = clean_notebook(json.loads(json.dumps(once)), glue=GLUE, resolve=resolve, macros=MACROS)
    assert problems == []
    assert twice == once
    assert sum(cell["metadata"].get("published_notebooks") == "figure caption" for cell in twice["cells"]) == 1


def fake_app(equations: dict, *, numfig: bool = False):
    """Just enough of a Sphinx application for published_notebooks._resolver."""
    from types import SimpleNamespace

    domains = {
        "std": SimpleNamespace(labels={}, anonlabels={}),
        "math": SimpleNamespace(equations=equations),
    }
    env = SimpleNamespace(get_domain=domains.__getitem__, titles={},
                          toc_fignumbers={"ch04": {"displaymath": {"equation-eq-attention": (4, 2)}}})
    config = SimpleNamespace(html_baseurl="https://site/book/", numfig=numfig, math_numfig=True,
                             math_numsep=".", math_eqref_format=None, numfig_format={})
    builder = SimpleNamespace(get_target_uri=lambda docname: f"{docname}.html")
    return SimpleNamespace(env=env, config=config, builder=builder)


def test_equation_references_resolve_from_the_math_domain():
    pytest.importorskip("sphinx")
    from published_notebooks import _resolver

    app = fake_app({"eq-attention": ("ch04", 3)})
    text, problems = clean_markdown("By {eq}`eq-attention` and {eq}`eq-missing`.", resolve=_resolver(app, "ch05"))
    assert text == "By [(3)](https://site/book/ch04.html#equation-eq-attention) and eq-missing."
    assert problems == ["unresolved {eq}`eq-missing`"]
    assert _resolver(app, "ch04")("eq", "eq-attention", None) == Reference("(3)")  # on its own page: no link
    numbered = _resolver(fake_app({"eq-attention": ("ch04", 3)}, numfig=True), "ch05")
    assert numbered("eq", "eq-attention", None).text == "(4.2)"


def test_glue_blocks_are_rendered_or_reported():
    glue = {
        "summary": {"data": {"text/markdown": "**bold** summary", "text/plain": "<IPython.core.display.Markdown object>"}},
        "count": {"data": {"text/plain": "42"}},
        "plot": {"data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480 with 1 Axes>"}},
    }
    figures = {("numref", "fig-summary"): Reference("Fig. 3.1")}
    text, problems = clean_markdown(
        ":::{glue:any} summary\n:::\n\n:::{glue} count\n:::\n\n"
        ":::{glue:figure} summary\n:name: fig-summary\n\nThe summary.\n:::\n",
        glue=glue, resolve=lambda role, target, shown: figures.get((role, target)))
    assert problems == []
    assert text == "**bold** summary\n\n```\n42\n```\n\n**bold** summary\n\n**Fig. 3.1.** The summary."
    text, problems = clean_markdown(":::{glue:figure} plot\n\nA plot.\n:::\n\n:::{glue:math} count\n:::\n\n"
                                    ":::{glue} nothing\n:::\n", glue=glue)
    assert len(problems) == 3, problems
    assert "'plot'" in problems[0] and "image/png" in problems[0]
    assert "text/latex" in problems[1] and "'nothing'" in problems[2]
    assert "*A plot.*" in text


def test_the_execution_env_is_restored_when_the_build_ends(monkeypatch):
    from types import SimpleNamespace

    from published_notebooks import _restore_execution_env, _set_execution_env

    monkeypatch.setenv("PYTHONWARNINGS", "ignore::FutureWarning")
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    app = SimpleNamespace()
    config = SimpleNamespace(notebook_execution_env={"TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore:IProgress"})
    _set_execution_env(app, config)
    assert os.environ["TQDM_DISABLE"] == "1"
    assert os.environ["PYTHONWARNINGS"] == "ignore::FutureWarning,ignore:IProgress"
    _restore_execution_env(app, None)
    assert "TQDM_DISABLE" not in os.environ
    assert os.environ["PYTHONWARNINGS"] == "ignore::FutureWarning"


@pytest.mark.parametrize("text, fmt", [
    ("0.123456", ".3f"), ("1200", ",d"), ("'quick'", "s"), ("'quick'", ""), ("0.5", ".1%"), ("3", "d"),
    ("not python", "s"), ("[1, 2]", ""), ("2.5e-05", ".2e"), ("12", "x"), ("1.5", "g"),
])
def test_the_fallback_format_plain_text_agrees_with_myst_nb(text, fmt):
    myst = pytest.importorskip("myst_nb.core.variables")
    from published_notebooks import _format_plain_text_fallback

    assert _format_plain_text_fallback(text, fmt) == myst.format_plain_text(text, fmt)


def test_the_fallback_format_plain_text_raises_as_myst_nb_does():
    myst = pytest.importorskip("myst_nb.core.variables")
    from published_notebooks import _format_plain_text_fallback

    for text, fmt in (("'quick'", ".2f"), ("'many'", "d")):
        with pytest.raises(ValueError):
            myst.format_plain_text(text, fmt)
        with pytest.raises(ValueError):
            _format_plain_text_fallback(text, fmt)
