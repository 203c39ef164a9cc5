"""Checks of the built site (`make book`, then `make site-check`): links, math, figures, Colab."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("img", "link") and (attrs.get("src") or attrs.get("href")):
            self.links.append(attrs.get("src") or attrs.get("href"))
        if tag == "img":
            self.images.append(attrs)
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])


def _chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


def _parse(page: Path) -> _Page:
    parser = _Page()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def pages() -> dict[str, Path]:
    if not (SITE / "index.html").exists():
        pytest.fail("no site in _build/html: run `make book` first")
    return {name: SITE / f"{name}.html" for name in _chapters()}



def dump_dom(browser: str, page: Path, budget_ms: int) -> str:
    """The DOM of ``page`` after headless Chromium has run its scripts for ``budget_ms`` of virtual time."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout

def test_every_page_was_built(pages):
    missing = [name for name, path in pages.items() if not path.exists()]
    assert not missing


def test_internal_links_resolve(pages):
    broken = []
    built = [p for p in SITE.rglob("*.html") if "_static" not in p.relative_to(SITE).parts]
    assert len(built) > len(pages)
    for page in sorted(built):
        for link in _parse(page).links:
            parts = urlparse(link)
            if parts.scheme or link.startswith(("#", "mailto:", "//")):
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if parts.path and not target.exists():
                broken.append(f"{page.relative_to(SITE)} -> {link}")
    assert not broken, "\n".join(broken[:20])


def test_mathjax_is_served_locally(pages):
    math_pages = 0
    for name, page in pages.items():
        html = page.read_text(encoding="utf-8")
        if "\\(" in html or "\\[" in html:
            math_pages += 1
            scripts = _parse(page).scripts
            assert any(s.endswith("_static/mathjax/tex-chtml.js") for s in scripts), name
        assert "cdn.jsdelivr.net/npm/mathjax" not in html, name
    assert math_pages >= 5
    assert (SITE / "_static" / "mathjax" / "tex-chtml.js").exists()


def test_figures_have_alt_text_and_exist(pages):
    figures = 0
    for name, page in pages.items():
        for image in _parse(page).images:
            src = image.get("src") or ""
            if "_images/" in src:
                figures += 1
                assert (image.get("alt") or "").strip(), f"{name}: {src} has no alt text"
                assert (page.parent / src).resolve().exists(), f"{name}: {src} missing"
    assert figures >= 10


def test_colab_buttons_open_notebooks_that_exist(pages):
    for name, page in list(pages.items())[1:]:
        html = page.read_text(encoding="utf-8")
        links = re.findall(r'href="(https://colab\.research\.google\.com/github/[^"]+)"', html)
        assert links, f"{name} has no Colab button"
        path = links[0].split("/blob/", 1)[1].split("/", 1)[1]
        assert path.endswith(".ipynb"), links[0]
        assert (SITE / path).exists(), f"{name}: Colab opens {path}, which is not in the site"


def test_pages_render_math_and_figures_in_a_headless_browser(pages):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium; `make site-check` installs it with apt-get where it can")
    page = pages["book/ch05_scaled_dot_product_attention"]
    dom = dump_dom(browser, page, budget_ms=15000)
    assert dom.count("<mjx-container") >= 3, "MathJax did not typeset the page"
    assert "_images/" in dom


# The architecture diagrams (transformer_book.common.diagrams): an SVG inline in each chapter's page
# as a data URI, with alt text, drawn at build time; the code cell that draws it is hidden.
DIAGRAMS = {
    "book/ch05_scaled_dot_product_attention": "qkv-head",
    "book/ch08_the_encoder": "encoder-layer",
    "book/ch09_the_decoder": "decoder-layer",
    "book/ch10_the_full_model": "encoder-decoder",
    "book/ch13_bert": "bert-block",
    "book/ch14_gpt": "gpt-block",
}
_SVG_URI = "data:image/svg+xml;base64,"


def _diagram_images(page: Path) -> list[dict[str, str | None]]:
    return [image for image in _parse(page).images if (image.get("src") or "").startswith(_SVG_URI)]


def test_diagrams_are_inline_svg_with_alt_text(pages):
    import base64

    for name, diagram in DIAGRAMS.items():
        html = pages[name].read_text(encoding="utf-8")
        assert f'id="diagram-{diagram}"' in html, f"{name} does not show the {diagram} diagram"
        assert "diagrams.show(" not in html, f"{name} shows the code that draws its diagram"
        images = _diagram_images(pages[name])
        assert images, name
        for image in images:
            assert len((image.get("alt") or "").strip()) > 100, f"{name}: a diagram without alt text"
            svg = base64.b64decode(image["src"][len(_SVG_URI):]).decode("utf-8")
            assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>"), f"{name}: not an SVG"


def test_diagrams_render_in_a_headless_browser(pages, tmp_path):
    """Chromium decodes every diagram's SVG to an image of a sensible size."""
    import html as html_module

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium; `make site-check` installs it with apt-get where it can")
    images = [image for name in DIAGRAMS for image in _diagram_images(pages[name])]
    assert len(images) >= len(DIAGRAMS)
    tags = "\n".join(f'<img src="{image["src"]}" alt="{html_module.escape(image["alt"] or "")}">'
                     for image in images)
    probe = tmp_path / "diagrams.html"
    probe.write_text(
        f'<!DOCTYPE html><html><body><pre id="sizes">pending</pre>\n{tags}\n<script>'
        "window.addEventListener('load', () => { document.getElementById('sizes').textContent = "
        "'sizes:' + [...document.images].map(i => i.complete ? i.naturalWidth + 'x' + i.naturalHeight "
        ": '0x0').join(','); });</script></body></html>",
        encoding="utf-8",
    )
    dom = dump_dom(browser, probe, budget_ms=10000)
    found = re.search(r"sizes:([0-9x,]*)", dom)
    assert found, "the page's load event did not fire"
    sizes = [tuple(map(int, size.split("x"))) for size in found.group(1).split(",")]
    assert len(sizes) == len(images)
    assert all(width > 200 and height > 150 for width, height in sizes), sizes
