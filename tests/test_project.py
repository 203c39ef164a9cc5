"""The project's own files stay consistent: environment.yml, constraints, the table of contents."""
import re
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def _requirement(line: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", line)
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in ("book", "test"):
        lines += project["optional-dependencies"][extra]
    return dict(_requirement(line) for line in lines)


def test_environment_yml_lists_the_same_packages_as_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    listed = dict(_requirement(line) for line in pip_section if not line.startswith("-e"))
    assert listed == _pyproject_requirements()
    assert "-e ." in pip_section


def test_constraints_pin_every_dependency_and_the_cpu_torch():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, spec = _requirement(line)
            pins[name] = spec
    assert pins["torch"] == "==2.13.0"
    missing = set(_pyproject_requirements()) - set(pins)
    assert not missing, f"constraints.txt does not pin {sorted(missing)}"
    assert all(spec.startswith("==") for spec in pins.values())


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]


def test_every_chapter_is_in_the_toc_and_exists():
    chapters = sorted(f"book/{p.stem}" for p in BOOK.glob("*.md") if p.stem != "index")
    assert sorted(_toc_files()) == chapters
    numbered = [name for name in _toc_files() if name.startswith("book/ch")]
    appendices = [name for name in _toc_files() if name.startswith("book/appendix_")]
    assert numbered + appendices == _toc_files(), "the chapters first, then the appendices"
    assert numbered == sorted(numbered), "chapters appear in file-name order"
    assert appendices == sorted(appendices), "appendices appear in file-name order"


def test_chapters_are_jupytext_notebooks_with_the_colab_cell():
    for name in _toc_files():
        text = (ROOT / f"{name}.md").read_text()
        assert text.startswith("---\njupytext:"), name
        first_cell = text.split("```{code-cell} ipython3", 1)[1].split("```", 1)[0]
        assert '"google.colab" in sys.modules' in first_cell, name
        assert "transformer_book.data install" in first_cell, name


def test_no_notebook_is_committed_under_book():
    tracked = subprocess.run(
        ["git", "ls-files", "book"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    assert not [path for path in tracked if path.endswith(".ipynb")]
