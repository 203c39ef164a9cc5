"""Appendix A, the glossary, is complete and its links resolve.

The convention: in the prose of a chapter or an appendix, a term in bold (``**term**``) is being
defined there, and Appendix A lists it. Bold that is not a definition is one of:

- a run-in heading, bold text that ends in ``.``, ``:``, ``?`` or ``!`` (``**Padding.**``), or a
  numbered step, bold text that starts ``Step N:`` (``**Step 4: softmax**, over the keys``);
- an exercise title, ``**N. Title.**``;
- the exact text ``What you will learn``.

Emphasis is written in italics, never in bold. Bold inside code (fenced blocks, code cells, inline
code) and inside math does not count.

The glossary (``book/appendix_a_glossary.md``) has one list item per entry, under a ``## X``
heading for the entry's first letter::

    - **term** (also: *alias*, *alias*): one or two sentences. Built in {ref}`label`.

What is tested:

1. Every entry has at least one link; every ``{ref}`` target is a label ``(target)=`` defined in a
   file of ``_toc.yml``, and every ``{doc}`` target is a file of ``_toc.yml``. Labels of Appendices
   B, C and D (``metrics-``, ``questions-``, ``timeline-``) are checked once their file exists.
2. Terms are unique (ignoring case) and in alphabetical order, each under the heading of its first
   letter.
3. Every term that a chapter or another appendix defines in bold is a glossary term or alias,
   ignoring case, a plural ``s``/``es`` and surrounding backticks or dollar signs.
4. The checker itself can fail: small synthetic texts with known problems are caught.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
GLOSSARY = BOOK / "appendix_a_glossary.md"

# Labels of appendices written separately: checked only once the appendix exists.
LATER_LABELS = {
    "metrics-": "appendix_b_metrics.md",
    "questions-": "appendix_c_questions.md",
    "timeline-": "appendix_d_timeline.md",
}

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
LABEL = re.compile(r"^\(([A-Za-z0-9_.:-]+)\)=\s*$", re.MULTILINE)
BOLD = re.compile(r"(?<![\\*])\*\*(?=\S)((?:(?!\n[ \t]*\n).)+?)(?<=\S)\*\*(?!\*)", re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.DOTALL)
RUN_IN = re.compile(r"[.:?!]$")
EXERCISE_TITLE = re.compile(r"^\d+\.\s")
STEP = re.compile(r"^Step \d+:")
ROLE = re.compile(r"\{(ref|doc)\}`([^`]+)`")
ENTRY = re.compile(
    r"^- \*\*(?P<term>[^*]+?)\*\*(?: \(also: (?P<aliases>\*[^*]+\*(?:, \*[^*]+\*)*)\))?: (?P<definition>.+)$",
    re.DOTALL
)
ALIAS = re.compile(r"\*([^*]+)\*")


@dataclass
class Entry:
    term: str
    aliases: list[str]
    definition: str
    line: int                                        # 1-based line of the list item
    heading: str | None                              # the ``## X`` heading the entry is under
    refs: list[str] = field(default_factory=list)    # targets of {ref}
    docs: list[str] = field(default_factory=list)    # targets of {doc}


# --- reading the sources ----------------------------------------------------------------------


def prose_of(text: str) -> str:
    """The text with everything that is not prose blanked out, line numbers kept.

    The YAML front matter and fenced blocks (code cells included) become empty lines. In inline code
    and math the asterisks become spaces, so that they cannot open or close bold, while the code and
    the math themselves stay (a bold term may contain them).
    """
    lines = text.split("\n")
    out: list[str] = []
    fence: str | None = None
    in_front_matter = bool(lines) and lines[0].strip() == "---"
    for number, line in enumerate(lines):
        if in_front_matter:
            out.append("")
            if number > 0 and line.strip() == "---":
                in_front_matter = False
            continue
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            out.append("")
        elif fence is not None:
            if line.strip().startswith(fence) and line.strip().strip(fence[0]) == "":
                fence = None
            out.append("")
        else:
            out.append(line)
    prose = "\n".join(out)

    def no_stars(match: re.Match) -> str:
        return match.group(0).replace("*", " ")

    prose = INLINE_CODE.sub(no_stars, prose)
    return MATH.sub(no_stars, prose)


def is_definition(bold: str) -> bool:
    """Whether the text of a bold span defines a term (see the module's docstring)."""
    bold = bold.strip()
    if RUN_IN.search(bold) or EXERCISE_TITLE.match(bold) or STEP.match(bold):
        return False
    return bold != "What you will learn"


def bold_terms(text: str) -> list[tuple[int, str]]:
    """The terms a source defines in bold, as ``(line, term)`` pairs, line 1-based."""
    prose = prose_of(text)
    terms = []
    for match in BOLD.finditer(prose):
        bold = " ".join(match.group(1).split())
        if is_definition(bold):
            terms.append((prose.count("\n", 0, match.start()) + 1, bold))
    return terms


def normalise(term: str) -> str:
    """A term as compared: surrounding backticks and dollar signs stripped, lower case, one space."""
    return " ".join(term.replace("`", "").strip().strip("$").split()).lower()


def singulars(term: str) -> set[str]:
    """The forms a term may have once a plural ending is dropped (the term itself included)."""
    forms = {term}
    if term.endswith("ies"):
        forms.add(term[:-3] + "y")
    if term.endswith("es"):
        forms.add(term[:-2])
    if term.endswith("s"):
        forms.add(term[:-1])
    return forms


def sort_key(term: str) -> str:
    """The key entries are ordered by: lower case, letters, digits and spaces only."""
    return re.sub(r"[^a-z0-9 ]", "", term.lower()).strip()


def glossary_entries(text: str) -> list[Entry]:
    """The glossary's entries, in the order they appear, each with its letter heading and links.

    An entry is a list item that starts ``- **``; its continuation lines are indented. A list item
    that does not have the entry's form is returned with an empty term, so that it is reported.
    """
    prose = prose_of(text)
    items: list[tuple[int, str | None, list[str]]] = []
    heading: str | None = None
    for number, line in enumerate(prose.split("\n"), 1):
        if line.startswith("## "):
            heading = line[3:].strip()
            items.append((0, None, []))                 # a heading ends any open item
        elif line.startswith("- "):
            items.append((number, heading, [line]))
        elif items and items[-1][0] and line.startswith((" ", "\t")) and line.strip():
            items[-1][2].append(line.strip())
        elif items and items[-1][0]:
            items.append((0, None, []))
    entries = []
    for number, under, lines in items:
        if not number:
            continue
        item = " ".join(lines)
        match = ENTRY.match(item)
        if match is None:
            entries.append(Entry("", [], item, number, under))
            continue
        aliases = ALIAS.findall(match.group("aliases") or "")
        definition = match.group("definition")
        entry = Entry(match.group("term").strip(), [a.strip() for a in aliases], definition, number, under)
        for role, content in ROLE.findall(definition):
            target = re.search(r"<([^>]+)>\s*$", content)
            target = target.group(1) if target else content
            (entry.refs if role == "ref" else entry.docs).append(target.strip())
        entries.append(entry)
    return entries


def labels_of(text: str) -> set[str]:
    """The MyST labels ``(name)=`` a source defines, outside code."""
    return set(LABEL.findall(prose_of(text)))


def toc_files() -> list[str]:
    """The files of ``_toc.yml``, as ``book/name`` without the suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]


# --- the checks -------------------------------------------------------------------------------


def entry_problems(entries: list[Entry], labels: set[str], docs: set[str],
                   unchecked_prefixes: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with the entries: malformed items, missing or dangling links, duplicate or
    misordered terms, entries under the wrong letter. ``labels`` are the labels that exist,
    ``docs`` the documents (``ch05_scaled_dot_product_attention``); a ``{ref}`` target that starts
    with one of ``unchecked_prefixes`` is not checked."""
    problems = []
    seen: dict[str, int] = {}
    previous: Entry | None = None
    for entry in entries:
        where = f"line {entry.line}"
        if not entry.term:
            problems.append(f"{where}: not an entry '- **term** (also: *alias*): definition': "
                            f"{entry.definition[:60]!r}")
            continue
        where = f"line {entry.line} ({entry.term})"
        if not entry.refs and not entry.docs:
            problems.append(f"{where}: no link to the section that builds it")
        for target in entry.refs:
            if target not in labels and not target.startswith(unchecked_prefixes):
                problems.append(f"{where}: {{ref}} target '{target}' is not a label of the book")
        for target in entry.docs:
            if target not in docs:
                problems.append(f"{where}: {{doc}} target '{target}' is not a file of _toc.yml")
        key = sort_key(entry.term)
        if key.lower() in seen:
            problems.append(f"{where}: the term is already an entry (line {seen[key]})")
        seen.setdefault(key, entry.line)
        if previous is not None and key < sort_key(previous.term):
            problems.append(f"{where}: out of alphabetical order, after '{previous.term}'")
        letter = key[:1].upper()
        if entry.heading != letter:
            problems.append(f"{where}: under heading '{entry.heading}', not '{letter}'")
        previous = entry
    return problems


def glossary_names(entries: list[Entry]) -> set[str]:
    """Every term and alias of the glossary, normalised."""
    return {normalise(name) for entry in entries for name in [entry.term, *entry.aliases] if name}


def missing_terms(sources: dict[str, str], names: set[str]) -> list[str]:
    """``file:line: term`` for every term defined in bold in ``sources`` (name -> text) that is not
    among ``names`` (normalised glossary terms and aliases)."""
    known = {form for name in names for form in singulars(name)}
    missing = []
    for name, text in sources.items():
        for line, term in bold_terms(text):
            if not singulars(normalise(term)) & known:
                missing.append(f"{name}:{line}: {term}")
    return missing


# --- the book's glossary ----------------------------------------------------------------------


def _book_labels() -> set[str]:
    labels = set()
    for name in toc_files():
        path = ROOT / f"{name}.md"
        if path.exists():
            labels |= labels_of(path.read_text(encoding="utf-8"))
    return labels


def _unchecked_prefixes() -> tuple[str, ...]:
    return tuple(prefix for prefix, file in LATER_LABELS.items() if not (BOOK / file).exists())


def test_every_entry_links_to_a_label_or_document_that_exists():
    entries = glossary_entries(GLOSSARY.read_text(encoding="utf-8"))
    assert len(entries) >= 100, f"only {len(entries)} entries"
    docs = {name.removeprefix("book/") for name in toc_files()}
    problems = entry_problems(entries, _book_labels(), docs, _unchecked_prefixes())
    assert not problems, "appendix_a_glossary.md:\n  " + "\n  ".join(problems)


def test_every_bold_term_of_the_book_is_in_the_glossary():
    names = glossary_names(glossary_entries(GLOSSARY.read_text(encoding="utf-8")))
    sources = {path.name: path.read_text(encoding="utf-8")
               for path in sorted(BOOK.glob("ch*.md")) + sorted(BOOK.glob("appendix_*.md"))
               if path != GLOSSARY}
    missing = missing_terms(sources, names)
    assert not missing, ("terms defined in bold but not in the glossary (add them, or write "
                         "emphasis in italics):\n  " + "\n  ".join(missing))


def test_labels_are_unique_across_the_book():
    seen: dict[str, str] = {}
    duplicates = []
    for name in toc_files():
        path = ROOT / f"{name}.md"
        if not path.exists():
            continue
        for label in LABEL.findall(prose_of(path.read_text(encoding="utf-8"))):
            if label in seen:
                duplicates.append(f"{label}: {seen[label]} and {path.name}")
            seen[label] = path.name
    assert not duplicates


# --- the checker can fail ---------------------------------------------------------------------

SAMPLE_CHAPTER = """---
jupytext:
  title: **not a term**
---

# A chapter

## What you will learn

**Padding.** A run-in heading. **Step 2: scale**, a numbered step. The **attention weight** is
defined here, and so are the **queries**. A **term that
spans two lines** counts too, and so does **`GGUF`**.

```{code-cell} ipython3
def f(*args, **kwargs): return "**inside a code cell**"
```

```
**inside a fenced block**
```

Inline code `f(**kwargs)` and math $a**b$ are not bold, and **What you will learn** is not a term.

:::{admonition} A note
Inside an admonition, **a missing term** is prose.
:::

## Exercises

**1. An exercise title.** Do it.
"""

SAMPLE_GLOSSARY = """# Appendix A: Glossary

## A

- **attention weight** (also: *weight*, *attention map*): how much one position takes from
  another. Built in {ref}`ch04-weights`.
- **attention** : a malformed entry.
- **a term without a link**: it links nowhere.

## Q

- **query**: what a position looks for. Built in {ref}`ch04-nowhere` and {doc}`ch04_by_hand`.
- **padding**: under the wrong letter, and out of order. See {doc}`a chapter <ch02_tokens>`.
"""


def test_bold_terms_are_found_and_headings_titles_and_code_are_not():
    terms = [term for _, term in bold_terms(SAMPLE_CHAPTER)]
    assert terms == ["attention weight", "queries", "term that spans two lines", "`GGUF`",
                     "a missing term"]
    assert bold_terms(SAMPLE_CHAPTER)[0][0] == 10        # line numbers count the front matter


def test_a_missing_bold_term_is_reported_with_its_file_and_line():
    names = {"attention weight", "query", "term that spans two lines", "gguf"}
    assert missing_terms({"chNN.md": SAMPLE_CHAPTER}, names) == ["chNN.md:25: a missing term"]
    names.add("a missing term")
    assert missing_terms({"chNN.md": SAMPLE_CHAPTER}, names) == []


def test_entries_are_parsed_with_aliases_and_links():
    entries = glossary_entries(SAMPLE_GLOSSARY)
    first = entries[0]
    assert (first.term, first.aliases, first.refs, first.heading) == (
        "attention weight", ["weight", "attention map"], ["ch04-weights"], "A")
    assert entries[3].refs == ["ch04-nowhere"] and entries[3].docs == ["ch04_by_hand"]
    assert entries[4].docs == ["ch02_tokens"]
    assert "attention map" in glossary_names(entries)


def test_entry_problems_are_reported():
    entries = glossary_entries(SAMPLE_GLOSSARY)
    problems = entry_problems(entries, labels={"ch04-weights"}, docs={"ch04_by_hand", "ch02_tokens"})
    assert len(problems) == 6, problems
    assert "not an entry" in problems[0]
    assert "(a term without a link): no link" in problems[1]
    assert "(a term without a link): out of alphabetical order" in problems[2]
    assert "'ch04-nowhere' is not a label" in problems[3]
    assert "(padding): out of alphabetical order" in problems[4]
    assert "(padding): under heading 'Q', not 'P'" in problems[5]


def test_a_dangling_doc_and_a_duplicate_are_reported():
    text = ("## A\n\n- **attention**: one. {doc}`ch99_missing`\n"
            "- **Attention**: twice. {ref}`metrics-ter`\n")
    problems = entry_problems(glossary_entries(text), labels=set(), docs=set())
    assert any("'ch99_missing' is not a file" in p for p in problems)
    assert any("already an entry" in p for p in problems)
    assert any("'metrics-ter' is not a label" in p for p in problems)
    later = entry_problems(glossary_entries(text), set(), {"ch99_missing"}, ("metrics-",))
    assert later == ["line 4 (Attention): the term is already an entry (line 3)"]


@pytest.mark.parametrize("bold, defines", [
    ("residual stream", True), ("Padding.", False), ("Step 1: scores.", False),
    ("Step 4: softmax", False), ("3. Where does it live?", False), ("What you will learn", False),
    ("Masks are boolean, and `True` means *may attend*.", False),
])
def test_what_counts_as_a_definition(bold, defines):
    assert is_definition(bold) is defines


def test_labels_are_read_outside_code_only():
    text = "(ch01-a)=\n## A\n\n```python\n(ch01-b)=\n```\n(not a label)=\n"
    assert labels_of(text) == {"ch01-a"}
