"""Make the notebooks that the download and Colab buttons serve read well in Jupyter and Colab.

The chapters are MyST-Markdown notebooks. On the website, Sphinx fills in their glued values
(``{glue:text}`name:fmt` ``), cross-references (``{doc}``, ``{ref}``, ``{numref}``), admonitions and
figure captions. The executed ``.ipynb`` that sphinx-book-theme copies to
``_build/html/_sources/<page>.ipynb`` for the buttons still holds the raw MyST, which Jupyter and
Colab show as literal text. After that copy, this extension rewrites the file:

- glue roles become the formatted values from the executed notebook's glue data
  (``_build/jupyter_execute/<page>.glue.json``, the same values the page shows);
- ``{glue}``, ``{glue:any}``, ``{glue:figure}`` and ``{glue:math}`` blocks become the glued Markdown,
  LaTeX or text (a glued image cannot be shown in a Markdown cell: it is reported);
- ``{doc}``, ``{ref}``, ``{numref}`` and ``{eq}`` become the text the page shows ("Fig. 4.1", a chapter's
  title, "(3)"), linked to the page on the website when ``html_baseurl`` is set; other roles become their text;
- ``:::{admonition}`` blocks become ``<details>`` (dropdowns) or block quotes; ``(label)=`` targets
  and MyST comments are dropped;
- a figure cell (``mystnb: figure:`` metadata) gets its numbered caption as a Markdown cell below it;
- the MathJax macros of ``mathjax3_config`` (for example ``\\softmax``) are expanded, in ``$...$`` and in
  ``{math}`` roles and glued math, since Jupyter does not know them;
- progress bars, ANSI escapes and tqdm's "IProgress not found" warning are removed from the outputs,
  and ``<IPython.core.display.Markdown object>``-style text reprs of rich outputs are replaced by text.

It also sets the environment variables of ``notebook_execution_env`` (``_config.yml``) before the
chapters execute, so the kernels draw no progress bars at all (``TQDM_DISABLE=1``). Readers who run a
chapter themselves do not have them set, and see progress as usual. The Sphinx process gets its own
values back when the build ends.

:func:`clean_notebook` does the rewriting on a notebook given as a plain dict; it needs no Sphinx, so
the tests (``tests/test_notebooks.py``) call it on small synthetic notebooks.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.config import Config

# --------------------------------------------------------------------------------------------
# The rewriting itself (no Sphinx needed)


@dataclass(frozen=True)
class Reference:
    """What a cross-reference shows: its text, and where it points (None: plain text)."""

    text: str
    url: str | None = None


# (role, target, explicit text or None) -> Reference, or None when the target is unknown.
Resolver = Callable[[str, str, "str | None"], "Reference | None"]
# (document or None for this one, key) -> the glued output ({"data": {mime: ...}}), or None.
GlueLookup = Callable[["str | None", str], "Mapping[str, Any] | None"]

_ROLE = r"\{(?P<role>[A-Za-z][\w:.+-]*)\}(?P<ticks>`+)(?P<content>.+?)(?P=ticks)"
_CODE_SPAN = r"(?P<code>(?P<cticks>`+).+?(?P=cticks))"
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,}|:{3,})\s*(?P<info>.*?)\s*$")
_DIRECTIVE_INFO = re.compile(r"^\{(?P<name>[^}\s]+)\}\s*(?P<argument>.*)$")
_TARGET = re.compile(r"^\((?P<label>[^()\s]+)\)=\s*$")
_COMMENT = re.compile(r"^%( |$)")
_EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
# A tqdm line: "desc:  45%|####      | 45/100 [00:01<00:02, 30.1it/s]" and its variants.
# Only tqdm's own layout matches: a bar "NN%|...|" followed by "n/total [" or a counter "n unit [elapsed,"; a
# line that merely mentions "it/s" or a percentage is the reader's output and stays.
_PROGRESS_LINE = re.compile(r"\d+%\|[^|\n]*\|\s*[\d.]+[kMGT]?/(?:[\d.]+[kMGT]?|\?)\s*\[|\b\d+(?:it|[a-z]+) \[\d+:\d+(?::\d+)?, ")
_IPROGRESS = re.compile(r"IProgress not found|from \.autonotebook import tqdm as notebook_tqdm")
_OBJECT_REPR = re.compile(r"^<[\w.]+(?: object)?(?: at 0x[0-9a-fA-F]+)?>$")

_ADMONITIONS = {
    "admonition", "attention", "caution", "danger", "error", "hint", "important", "note",
    "seealso", "tip", "warning", "dropdown", "margin", "sidebar", "topic",
}
# The directives whose argument is their title; for the others (note, warning, ...) the argument is
# the first line of the content, and the title is the directive's label.
_TITLED = {"admonition", "dropdown", "margin", "sidebar", "topic"}
_LABELS = {"seealso": "See also"}
_GLUE_DIRECTIVES = {"glue", "glue:any", "glue:figure", "glue:math"}
_CAPTION_MARK = "figure caption"  # metadata["published_notebooks"] of the caption cells this adds


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def _format_plain_text_fallback(text: str, fmt_spec: str) -> str:
    """myst_nb's ``format_plain_text``, for environments without the book's toolchain (the tests
    check that the two agree where myst_nb is installed)."""
    try:
        value: Any = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if fmt_spec == "":
        return str(value)
    kind = fmt_spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, fmt_spec)


def format_plain_text(text: str, fmt_spec: str) -> str:
    """Format glued ``text/plain`` as ``{glue:text}`` does on the page (myst_nb's own function)."""
    try:
        from myst_nb.core.variables import format_plain_text as myst_format
    except ImportError:
        return _format_plain_text_fallback(text, fmt_spec)
    return myst_format(text, fmt_spec)


def strip_latex_delimiters(latex: str) -> str:
    r"""LaTeX without the ``$…$``, ``$$…$$``, ``\(…\)`` or ``\[…\]`` around it (as myst_nb strips them)."""
    latex = latex.strip()
    for start, end in (("\\(", "\\)"), ("\\[", "\\]"), ("$$", "$$"), ("$", "$")):
        if len(latex) >= len(start) + len(end) and latex.startswith(start) and latex.endswith(end):
            return latex[len(start):-len(end)].strip()
    return latex


class _Rewriter:
    def __init__(self, glue: GlueLookup, resolve: Resolver, macros: Mapping[str, str]) -> None:
        self.glue = glue
        self.resolve = resolve
        self.macros = dict(macros)
        self.problems: list[str] = []
        pattern = [_ROLE, _CODE_SPAN]
        self.macro: re.Pattern | None = None
        if self.macros:
            names = "|".join(sorted(map(re.escape, self.macros), key=len, reverse=True))
            macro = rf"\\(?P<macro>{names})(?![A-Za-z])"
            pattern.append(macro)
            self.macro = re.compile(macro)
        self.inline = re.compile("|".join(pattern), re.S)

    def expand_macros(self, latex: str) -> str:
        """``latex`` with the site's MathJax macros replaced by their definitions."""
        if self.macro is None:
            return latex
        return self.macro.sub(lambda match: self.macros[match.group("macro")], latex)

    # ---- inline text
    def inline_text(self, text: str) -> str:
        return self.inline.sub(self._inline_match, text)

    def _inline_match(self, match: re.Match) -> str:
        if match.group("code"):
            return match.group("code")
        if match.groupdict().get("macro"):
            return self.macros[match.group("macro")]
        return self.role(match.group("role"), match.group("content").strip())

    def role(self, role: str, content: str) -> str:
        if role.startswith("glue"):
            return self.glue_role(role, content)
        explicit = _EXPLICIT.match(content)
        text, target = (explicit["text"], explicit["target"]) if explicit else (None, content)
        if role in ("doc", "ref", "numref", "eq", "any", "term", "std:ref", "std:doc"):
            ref = self.resolve(role.split(":")[-1], target, text)
            if ref is None:
                self.problems.append(f"unresolved {{{role}}}`{content}`")
                ref = Reference(text or target)
            return f"[{ref.text}]({ref.url})" if ref.url else ref.text
        if role == "math":
            return f"${self.expand_macros(content)}$"
        if role in ("sub", "sup"):
            return f"<{role}>{content}</{role}>"
        if role in ("code", "kbd", "file", "samp", "command", "program"):
            return f"`{content}`"
        if role == "download":
            return text or target
        return text if text is not None else content  # abbr, guilabel, ...

    def glue_role(self, role: str, content: str) -> str:
        kind = role.partition(":")[2] or "any"
        key, fmt = content, None
        if kind in ("text", "md") and ":" in content.replace("::", "\0"):
            key, fmt = content.rsplit(":", 1)
        document, _, name = key.rpartition("::")
        output = self.glue(document or None, name)
        if output is None:
            self.problems.append(f"no glued value {key!r} for {{{role}}}`{content}`")
            return f"`{content}`"
        data = output.get("data", {})
        plain = _text(data.get("text/plain"))
        try:
            if kind == "text":
                return format_plain_text(plain, "s" if fmt is None else fmt)
            if kind in ("md", "any") and "text/markdown" in data:
                return _text(data["text/markdown"]).strip()
            if kind == "math":
                if "text/latex" not in data:
                    self.problems.append(f"no text/latex in glued value {key!r} for {{{role}}}`{content}`")
                    return format_plain_text(plain, "")
                return f"${self.expand_macros(strip_latex_delimiters(_text(data['text/latex'])))}$"
            return format_plain_text(plain, "")
        except (TypeError, ValueError) as error:
            self.problems.append(f"cannot format glued value {key!r} with {fmt!r}: {error}")
            return plain

    # ---- blocks
    def markdown(self, source: str) -> str:
        lines = source.split("\n")
        out: list[str] = []
        prose: list[str] = []

        def flush() -> None:
            if prose:
                out.append(self.inline_text("\n".join(prose)))
                prose.clear()

        i = 0
        while i < len(lines):
            line = lines[i]
            fence = _FENCE.match(line)
            if fence:
                flush()
                end = _closing_fence(lines, i + 1, fence["fence"])
                body = lines[i + 1:end]
                directive = _DIRECTIVE_INFO.match(fence["info"])
                if directive:
                    out.append(self.directive(directive["name"], directive["argument"], body))
                else:  # a code block: verbatim
                    out.append("\n".join(lines[i:end + 1]))
                i = end + 1
                continue
            # Targets "(label)=" and comments "% ..." are dropped: cross-references link to the
            # website, and an HTML anchor would swallow the heading that follows it into an HTML block.
            if not (_TARGET.match(line) or _COMMENT.match(line)):
                prose.append(line)
            i += 1
        flush()
        return "\n".join(out)

    def directive(self, name: str, argument: str, body: list[str]) -> str:
        options, body = _split_options(body)
        if name in _ADMONITIONS and name not in _TITLED and argument.strip():
            # ":::{note} Some text": the argument is the first line of the note, as in MyST.
            body, argument = [argument.strip(), *body], ""
        content = self.markdown("\n".join(body)).strip("\n")
        title = self.inline_text(argument.strip())
        if name in ("math",):
            return f"$$\n{content}\n$$"
        if name in _GLUE_DIRECTIVES:
            return self.glue_directive(name, argument.strip(), options, content)
        if name in ("tableofcontents", "toctree"):
            return ""
        if name == "nb-exec-table":   # filled in by myst-nb from the whole build: only the site has it
            return "*The table of run times, as the build of the website measured them, is on the website's page.*"
        if name in ("code", "code-block", "sourcecode"):
            return f"```{argument.strip()}\n" + "\n".join(body) + "\n```"
        if name in ("figure", "image"):
            alt = options.get("alt", "")
            return (f"![{alt}]({argument.strip()})\n\n*{content}*" if content else f"![{alt}]({argument.strip()})")
        if name in _ADMONITIONS:
            title = title or _LABELS.get(name, name.capitalize())
            dropdown = name == "dropdown" or "dropdown" in options.get("class", "").split()
            if dropdown:
                return f"<details>\n<summary>{title}</summary>\n\n{content}\n\n</details>"
            quoted = "\n".join(f"> {line}" if line else ">" for line in content.split("\n"))
            return f"> **{title}**\n>\n{quoted}"
        self.problems.append(f"directive {{{name}}} shown as plain Markdown")
        return (f"**{title}**\n\n{content}" if title else content)

    def glue_directive(self, name: str, key: str, options: Mapping[str, str], caption: str) -> str:
        """A ``{glue}``, ``{glue:any}``, ``{glue:figure}`` or ``{glue:math}`` block as Markdown."""
        document, _, short = key.rpartition("::")
        output = self.glue(options.get("doc") or document or None, short)
        if output is None:
            self.problems.append(f"no glued value {key!r} for {{{name}}}")
            return f"`{key}`"
        data = output.get("data", {})
        if name == "glue:math":
            if "text/latex" not in data:
                self.problems.append(f"no text/latex in glued value {key!r} for {{{name}}}")
                return f"`{key}`"
            return f"$$\n{self.expand_macros(strip_latex_delimiters(_text(data['text/latex'])))}\n$$"
        shown = self.glued_output(key, name, data)
        if name != "glue:figure" or not caption:
            return shown
        number = None
        if options.get("name"):
            ref = self.resolve("numref", options["name"], None)
            number = ref.text if ref else None
        caption = f"**{number}.** {caption}" if number else f"*{caption}*"
        return f"{shown}\n\n{caption}" if shown else caption

    def glued_output(self, key: str, name: str, data: Mapping[str, Any]) -> str:
        """A glued output as Markdown: its Markdown, LaTeX or plain text ("" and a problem if none fits)."""
        if "text/markdown" in data:
            return _text(data["text/markdown"]).strip()
        if "text/latex" in data:
            return f"$$\n{self.expand_macros(strip_latex_delimiters(_text(data['text/latex'])))}\n$$"
        plain = _text(data.get("text/plain")).strip()
        if plain and not _is_repr(plain):
            return f"```\n{plain}\n```"
        mimes = ", ".join(sorted(set(data) - {"text/plain"})) or "no data"
        self.problems.append(f"glued value {key!r} for {{{name}}} ({mimes}) cannot be shown in a Markdown cell")
        return ""


def _is_repr(plain: str) -> bool:
    """Whether ``text/plain`` is only the repr of a rich output (``<Figure size 640x480 with 1 Axes>``)."""
    return bool(_OBJECT_REPR.match(plain) or re.match(r"^<[^<>\n]+>$", plain))


def _closing_fence(lines: list[str], start: int, opening: str) -> int:
    """Index of the line that closes a fence opened with ``opening`` (len(lines) if none does).

    As in CommonMark: the same character, at least as long, no info string. A directive nested in
    another uses a shorter fence, so its closing line does not close the outer one.
    """
    for j in range(start, len(lines)):
        fence = _FENCE.match(lines[j])
        if fence and not fence["info"] and fence["fence"][0] == opening[0] and len(fence["fence"]) >= len(opening):
            return j
    return len(lines)


def _split_options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    if body and body[0].strip() == "---":  # a YAML block of options
        for j in range(1, len(body)):
            if body[j].strip() == "---":
                for line in body[1:j]:
                    key, _, value = line.partition(":")
                    options[key.strip()] = value.strip()
                return options, body[j + 1:]
        return options, body
    j = 0
    while j < len(body) and re.match(r"^:[\w-]+:", body[j]):
        key, _, value = body[j][1:].partition(":")
        options[key] = value.strip()
        j += 1
    return options, body[j:]


class _TableText(HTMLParser):
    """The rows of the first HTML table in a string, as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self.skip += 1
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self.skip -= 1
        elif tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None and not self.skip:
            self.cell.append(data)


def html_table_as_text(html: str) -> str | None:
    """The first HTML table in ``html`` as aligned plain text (columns separated by two spaces), or None
    if there is no table: the ``text/plain`` of a pandas Styler, whose own is only its repr."""
    parser = _TableText()
    parser.feed(html)
    rows = [row for row in parser.rows if row]
    if not rows:
        return None
    width = max(map(len, rows))
    rows = [row + [""] * (width - len(row)) for row in rows]
    sizes = [max(len(row[c]) for row in rows) for c in range(width)]
    return "\n".join("  ".join(cell.ljust(size) for cell, size in zip(row, sizes)).rstrip() for row in rows)


def clean_stream_text(text: str) -> str:
    """Stream text without ANSI escapes, progress bars and tqdm's widget warning."""
    text = _ANSI.sub("", text)
    kept = []
    for line in text.split("\n"):
        if "\r" in line:  # a terminal would show only what follows the last carriage return
            line = line.rstrip("\r").rsplit("\r", 1)[-1]
        if _PROGRESS_LINE.search(line) or _IPROGRESS.search(line):
            continue
        kept.append(line)
    cleaned = "\n".join(kept)
    return "" if not cleaned.strip() else cleaned


def _clean_outputs(outputs: list[dict]) -> list[dict]:
    cleaned: list[dict] = []
    for output in outputs:
        if output.get("output_type") == "stream":
            text = clean_stream_text(_text(output.get("text")))
            if not text:
                continue
            if cleaned and cleaned[-1].get("output_type") == "stream" and cleaned[-1]["name"] == output["name"]:
                cleaned[-1]["text"] = _text(cleaned[-1]["text"]) + text
                continue
            output = {**output, "text": text}
        elif "data" in output:
            data = dict(output["data"])
            plain = _text(data.get("text/plain")).strip()
            if _OBJECT_REPR.match(plain):
                if "text/markdown" in data:
                    data["text/plain"] = _text(data["text/markdown"])
                elif "text/html" in data and (table := html_table_as_text(_text(data["text/html"]))):
                    data["text/plain"] = table
            output = {**output, "data": data}
        cleaned.append(output)
    return cleaned


def _cell_id(seed: str) -> str:
    return "caption-" + hashlib.sha1(seed.encode()).hexdigest()[:12]


def _figure(cell: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``mystnb: figure:`` metadata of a cell ({} if none)."""
    return (cell.get("metadata", {}).get("mystnb") or {}).get("figure") or {}


def _is_caption_cell(cell: Mapping[str, Any]) -> bool:
    return cell.get("cell_type") == "markdown" and cell.get("metadata", {}).get("published_notebooks") == _CAPTION_MARK


def clean_notebook(
    notebook: dict,
    *,
    glue: GlueLookup | Mapping[str, Mapping[str, Any]] | None = None,
    resolve: Resolver | None = None,
    macros: Mapping[str, str] | None = None,
) -> tuple[dict, list[str]]:
    """Rewrite an executed MyST notebook (a JSON dict) so that Jupyter and Colab show it cleanly.

    ``glue`` gives the glued outputs (a dict from key to output, or a function of document and key),
    ``resolve`` the text and link of a cross-reference, ``macros`` the MathJax macros to expand
    (name without backslash -> replacement). Returns the new notebook and a list of problems
    (values or targets that could not be filled in). Cleaning a cleaned notebook changes nothing.
    """
    if glue is None:
        glue = {}
    if isinstance(glue, Mapping):
        values = glue
        glue = lambda document, key: values.get(key) if document is None else None  # noqa: E731
    rewriter = _Rewriter(glue, resolve or (lambda role, target, text: None), macros or {})
    cells = []
    source = notebook.get("cells", [])
    for index, cell in enumerate(source):
        if _is_caption_cell(cell) and index and _figure(source[index - 1]).get("caption"):
            continue  # added by an earlier cleaning: the figure's caption cell is made again below
        cell = dict(cell)
        if cell.get("cell_type") == "markdown":
            cell["source"] = rewriter.markdown(_text(cell.get("source")))
        cells.append(cell)
        if cell.get("cell_type") != "code":
            continue
        cell["outputs"] = _clean_outputs(cell.get("outputs", []))
        figure = _figure(cell)
        caption = figure.get("caption")
        if caption:
            number = None
            if figure.get("name"):
                ref = rewriter.resolve("numref", figure["name"], None)
                number = ref.text if ref else None
            text = rewriter.inline_text(str(caption).strip())
            caption_cell = {
                "cell_type": "markdown",
                "metadata": {"published_notebooks": _CAPTION_MARK},
                "source": f"**{number}.** {text}" if number else f"*{text}*",
            }
            if "id" in cell:
                caption_cell["id"] = _cell_id(str(cell["id"]))
            cells.append(caption_cell)
    return {**notebook, "cells": cells}, rewriter.problems


# --------------------------------------------------------------------------------------------
# Sphinx


def _site_url(app: Sphinx) -> str | None:
    base = (app.config.html_baseurl or "").strip()
    return base.rstrip("/") + "/" if base else None


def _resolver(app: Sphinx, pagename: str) -> Resolver:
    """What the page shows for a cross-reference: from the std domain's labels, the math domain's
    equations ({eq}), the documents' titles ({doc}) and the figure numbers ({numref})."""
    from sphinx.util import docname_join
    from docutils.nodes import make_id

    env = app.env
    std = env.get_domain("std")
    base = _site_url(app)

    def url(docname: str, anchor: str | None = None) -> str | None:
        if base is None:
            return None
        return base + app.builder.get_target_uri(docname) + (f"#{anchor}" if anchor else "")

    def equation(target: str, text: str | None) -> Reference | None:
        found = env.get_domain("math").equations.get(target)
        if found is None:
            return None
        docname, number = found
        node_id = make_id(f"equation-{target}")
        config = app.config
        if config.math_numfig and config.numfig:  # as sphinx.domains.math.MathDomain.resolve_xref
            numbers = env.toc_fignumbers.get(docname, {}).get("displaymath", {}).get(node_id, ())
            eqno = ".".join(map(str, numbers))
            eqno = config.math_numsep.join(eqno.rsplit(".", 1))
        else:
            eqno = str(number)
        try:
            shown = (config.math_eqref_format or "({number})").format(number=eqno)
        except KeyError:
            shown = f"({number})"
        # An equation of this notebook is right there: no link.
        return Reference(text or shown, None if docname == pagename else url(docname, node_id))

    def resolve(role: str, target: str, text: str | None) -> Reference | None:
        if role == "eq":
            return equation(target, text)
        if role == "doc":
            docname = docname_join(pagename, target.removesuffix(".md").removesuffix(".ipynb"))
            docname = docname.lstrip("/")
            if docname not in env.titles:
                return None
            return Reference(text or env.titles[docname].astext(), url(docname))
        label = target.lower()
        if role == "numref":
            docname, labelid = std.anonlabels.get(label, (None, None))
            if docname is None:
                return None
            for figtype, numbers in env.toc_fignumbers.get(docname, {}).items():
                if labelid in numbers:
                    number = ".".join(map(str, numbers[labelid]))
                    template = text or app.config.numfig_format.get(figtype, "%s")
                    shown = template.replace("{number}", number).replace("%s", number)
                    # A figure of this notebook is right there, with its caption: no link.
                    return Reference(shown, None if docname == pagename else url(docname, labelid))
            return None
        if role in ("ref", "any", "term"):
            if label in std.labels:
                docname, labelid, title = std.labels[label]
                return Reference(text or title, url(docname, labelid))
            if label in std.anonlabels and text:
                docname, labelid = std.anonlabels[label]
                return Reference(text, url(docname, labelid))
        if role == "any":
            return equation(target, text)
        return None

    return resolve


def _glue_lookup(app: Sphinx, pagename: str) -> GlueLookup:
    """The glued outputs of the executed notebooks (``_build/jupyter_execute/<doc>.glue.json``)."""
    from sphinx.util import docname_join

    folder = Path(app.outdir).parent / "jupyter_execute"
    cache: dict[str, dict] = {}

    def load(docname: str) -> dict:
        if docname not in cache:
            path = folder / f"{docname}.glue.json"
            cache[docname] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        return cache[docname]

    def lookup(document: str | None, key: str) -> Mapping[str, Any] | None:
        docname = pagename
        if document:
            docname = docname_join(pagename, document.removesuffix(".md").removesuffix(".ipynb"))
        return load(docname).get(key)

    return lookup


def _macros(app: Sphinx) -> dict[str, str]:
    """The string macros of ``mathjax3_config`` (those with arguments are left alone)."""
    config = getattr(app.config, "mathjax3_config", None) or {}
    macros = (config.get("tex") or {}).get("macros") or {}
    return {name: value for name, value in macros.items() if isinstance(value, str)}


def _clean_published_notebook(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Rewrite the page's notebook in ``_sources``, and warn about what could not be filled in."""
    if not context.get("ipynb_source"):
        return
    path = Path(app.outdir) / "_sources" / context["ipynb_source"]
    if not path.exists():
        return
    from sphinx.util import logging

    notebook = json.loads(path.read_text(encoding="utf-8"))
    cleaned, problems = clean_notebook(
        notebook, glue=_glue_lookup(app, pagename), resolve=_resolver(app, pagename), macros=_macros(app)
    )
    path.write_text(json.dumps(cleaned, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    logger = logging.getLogger(__name__)
    for problem in problems:
        logger.warning(f"published notebook {context['ipynb_source']}: {problem}",
                       location=pagename, type="published_notebooks", subtype="unresolved")


# id(app) -> the values that _set_execution_env replaced (None: unset), restored when the build ends.
_SAVED_ENV: dict[int, dict[str, str | None]] = {}


def _set_execution_env(app: Sphinx, config: Config) -> None:
    """Set ``notebook_execution_env`` for the kernels that execute the chapters (they inherit it)."""
    saved = _SAVED_ENV.setdefault(id(app), {})
    for name, value in (config.notebook_execution_env or {}).items():
        saved.setdefault(name, os.environ.get(name))
        value = str(value)
        if name == "PYTHONWARNINGS" and os.environ.get(name):
            value = f"{os.environ[name]},{value}"
        os.environ[name] = value


def _restore_execution_env(app: Sphinx, exception: BaseException | None) -> None:
    """Give the Sphinx process back its own environment: the kernels have run by the end of the build."""
    for name, value in _SAVED_ENV.pop(id(app), {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the extension: the ``notebook_execution_env`` setting and the rewriting of the notebooks."""
    # Environment variables for the kernels that execute the chapters during the build.
    app.add_config_value("notebook_execution_env", {}, "env")
    app.connect("config-inited", _set_execution_env)
    app.connect("build-finished", _restore_execution_env)
    # After sphinx-book-theme has copied the executed notebook to _sources (priority 501).
    app.connect("html-page-context", _clean_published_notebook, priority=950)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
