"""The architecture diagrams (transformer_book.common.diagrams): each renders to SVG with alt text,
shows what it claims to show, uses the package's names, and fails clearly without Graphviz."""
import base64
import html
import importlib
import pkgutil
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

import transformer_book
from transformer_book.common import diagrams

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot is not installed (make setup installs it with apt-get)")


def _has_cairo() -> bool:
    """Whether this Graphviz has the cairo renderer ``render_svg`` prefers."""
    import subprocess
    if shutil.which("dot") is None:
        return False
    result = subprocess.run(["dot", "-Tsvg:cairo"], input=b"digraph { a }", capture_output=True)
    return result.returncode == 0


CAIRO = _has_cairo()

# The labels each diagram must show, and the chapter that shows it.
EXPECTED = {
    "qkv_head": ({"W", "Q", "K", "V", "query q", "softmax over j", "attention_scores", "attention_weights",
                  "scaled_dot_product_attention"}, "ch05_scaled_dot_product_attention"),
    "encoder_layer": ({"MultiHeadAttention", "Add & Norm", "PositionwiseFeedForward", "SublayerConnection",
                       "attention_block", "feed_forward_block", "residual"}, "ch08_the_encoder"),
    "decoder_layer": ({"MultiHeadAttention", "cross_attention", "memory", "EncoderLayer", "Add & Norm",
                       "PositionwiseFeedForward", "queries from the decoder", "self_attention_block",
                       "cross_attention_block", "feed_forward_block"}, "ch09_the_decoder"),
    "encoder_decoder": ({"Embeddings", "PositionalEncoding", "Encoder", "Decoder", "EncoderLayer", "DecoderLayer",
                         "MultiHeadAttention", "PositionwiseFeedForward", "Add & Norm", "Generator", "softmax",
                         "cross-attention", "masked self-attention", "src_embed", "tgt_embed"}, "ch10_the_full_model"),
    "bert_block": ({"BertModel", "BertEmbeddings", "EncoderLayer", "DecoderLayer", "MultiHeadAttention",
                    "BertOnlyMLMHead", "BertPooler", "dropped by BERT", "bidirectional self-attention:"},
                   "ch13_bert"),
    "gpt_block": ({"GPTBlock", "CausalSelfAttention", "LayerNorm", "PositionwiseFeedForward", "DecoderLayer",
                   "EncoderLayer", "dropped by GPT", "masked self-attention:", "final_norm: LayerNorm"},
                  "ch14_gpt"),
}


def _texts(svg: str) -> str:
    """All the text the SVG draws, one <text> element a line."""
    root = ET.fromstring(svg)
    return "\n".join("".join(node.itertext()) for node in root.iter(f"{SVG}text"))


def _edges(svg: str) -> set[str]:
    """The edges, as Graphviz names them in each edge's <title>: "tail->head:port"."""
    root = ET.fromstring(svg)
    return {group.find(f"{SVG}title").text for group in root.iter(f"{SVG}g") if group.get("class") == "edge"}


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.captions, self._in_caption = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        self._in_caption = tag == "figcaption"

    def handle_data(self, data):
        if self._in_caption:
            self.captions.append(data)


@pytest.fixture(scope="module")
def rendered():
    """What the book shows: each diagram drawn by the cairo renderer, its text as glyph outlines."""
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (make setup installs it with apt-get)")
    return {name: diagrams.show(name) for name in diagrams.names()}


@pytest.fixture(scope="module")
def core():
    """The same diagrams as dot's own SVG, whose text and edge names can be read."""
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (make setup installs it with apt-get)")
    return {name: diagrams.render_svg(name, renderer="core") for name in diagrams.names()}


def test_every_diagram_is_listed_here():
    assert diagrams.names() == list(EXPECTED)


@needs_dot
@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_diagram_renders_to_svg_with_its_labels(rendered, core, name):
    for svg in (rendered[name].svg, core[name]):
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg"
        assert float(root.get("width").removesuffix("pt")) > 100 and float(root.get("height").removesuffix("pt")) > 100
    if CAIRO:   # with cairo, text is drawn as glyph outlines (the fallback, dot's own SVG, keeps <text>)
        assert "<use" in rendered[name].svg and "<text" not in rendered[name].svg, "not drawn with cairo's glyphs"
    texts = _texts(core[name])
    missing = [label for label in EXPECTED[name][0] if label not in texts]
    assert not missing, f"{name} does not show {missing}"


@needs_dot
@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_diagram_has_alt_text_and_a_caption_in_html_and_in_text(rendered, name):
    diagram = rendered[name]
    page = _Images()
    page.feed(diagram._repr_html_())
    (image,) = page.images
    assert len(image["alt"]) > 200 and image["alt"] == diagram.alt
    assert image["src"].startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(image["src"].split(",", 1)[1]).decode("utf-8") == diagram.svg
    assert "".join(page.captions) == diagram.caption
    assert f'id="diagram-{name.replace("_", "-")}"' in diagram._repr_html_()
    text = repr(diagram)   # what a text-only front end shows
    assert diagram.caption in text and diagram.alt in text


@needs_dot
def test_cross_attention_takes_queries_from_the_decoder_and_keys_and_values_from_the_encoder(core):
    edges = _edges(core["decoder_layer"])
    assert {"memory->cross:k", "memory->cross:v", "an1->cross:q", "enc->memory"} <= edges
    assert "memory->cross:q" not in edges and not {"an1->cross:k", "an1->cross:v"} & edges
    # Self-attention reads the decoder's own states three times, and nothing from the encoder.
    assert {"d_in->self_att:q", "d_in->self_att:k", "d_in->self_att:v"} <= edges
    assert not any(edge.startswith("memory->self_att") for edge in edges)

    edges = _edges(core["encoder_decoder"])
    assert {"memory->d_cross:k", "memory->d_cross:v", "d_an1->d_cross:q", "e_an2->memory"} <= edges
    assert "memory->d_cross:q" not in edges


@needs_dot
def test_the_sublayers_have_their_residual_arrows(core):
    edges = _edges(core["encoder_layer"])
    assert {"e_in->e_an1", "e_an1->e_an2", "e_att->e_an1", "e_an1->e_ffn", "e_ffn->e_an2"} <= edges
    assert {"e_in->e_att:q", "e_in->e_att:k", "e_in->e_att:v"} <= edges
    edges = _edges(core["gpt_block"])
    assert {"g_emb->g_add1", "g_add1->g_add2", "g_emb->g_ln1", "g_add1->g_ln2"} <= edges   # pre-norm


@needs_dot
def test_the_qkv_path_goes_through_the_scores_softmax_and_the_weighted_sum(core):
    edges = _edges(core["qkv_head"])
    path = {"xi->wq", "wq->q", "xs->wk", "wk->k", "xs->wv", "wv->v", "q->scores", "k->scores",
            "scores->softmax", "softmax->sum", "v->sum", "sum->out"}
    assert path <= edges
    assert "v->scores" not in edges   # the values are weighted, never scored


def _package_classes() -> set[str]:
    """The classes the package defines or imports (so ``LayerNorm`` and ``GELU`` of ``torch.nn`` count)."""
    from torch import nn
    names = {name for name in dir(nn) if isinstance(getattr(nn, name), type)}
    for module in pkgutil.walk_packages(transformer_book.__path__, "transformer_book."):
        if module.name.endswith("__main__"):
            continue
        names |= {name for name, obj in vars(importlib.import_module(module.name)).items() if isinstance(obj, type)}
    return names


@needs_dot
def test_the_class_names_in_the_diagrams_are_the_packages(core):
    classes = _package_classes()
    for name, svg in core.items():
        camel = set(re.findall(r"\b[A-Z][a-z]+(?:[A-Z][a-zA-Z]*)+\b", _texts(svg)))   # LayerNorm, BertModel
        camel |= set(re.findall(r"\b[A-Z]{2,}[a-z][A-Za-z]*\b", _texts(svg)))             # GPTBlock
        assert camel or name == "qkv_head", name
        unknown = sorted(word for word in camel if word not in classes)
        assert not unknown, f"{name} names {unknown}, which the package does not define"
    from transformer_book.pieces import attention
    for function in ("attention_scores", "attention_weights", "scaled_dot_product_attention"):
        assert callable(getattr(attention, function)) and function in _texts(core["qkv_head"])


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_chapter_shows_the_diagram_as_a_picture_only(name):
    chapter = (ROOT / "book" / f"{EXPECTED[name][1]}.md").read_text()
    cells = re.findall(r"```\{code-cell\} ipython3\n(.*?)```", chapter, flags=re.S)
    showing = [cell for cell in cells if f'diagrams.show("{name}")' in cell]
    assert len(showing) == 1, f"{EXPECTED[name][1]} should show {name} once"
    assert re.search(r"^:tags: \[.*remove-input.*\]$", showing[0], flags=re.M), "the cell's code is not hidden"


def test_a_bad_name_is_refused_with_the_list_of_diagrams():
    with pytest.raises(ValueError, match="no diagram named 'encoder'.*encoder_layer.*decoder_layer"):
        diagrams.show("encoder")
    with pytest.raises(ValueError, match="no diagram named"):
        diagrams.source("Encoder_Layer")
    with pytest.raises(TypeError, match="must be a string, got int"):
        diagrams.render_svg(3)
    with pytest.raises(ValueError, match="renderer must be 'cairo' or 'core'"):
        diagrams.render_svg("qkv_head", renderer="png")


def test_a_missing_dot_program_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))   # an empty folder: no `dot` on the PATH
    monkeypatch.setenv("BOOK_REQUIRE_DIAGRAMS", "1")   # as in the book's build and tests
    with pytest.raises(diagrams.GraphvizNotFoundError) as error:
        diagrams.show("encoder_layer")
    message = str(error.value)
    for hint in ("apt-get install graphviz", "conda install -c conda-forge graphviz", "brew install graphviz"):
        assert hint in message
    assert isinstance(error.value, RuntimeError)


def test_a_missing_graphviz_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)   # `import graphviz` now raises ImportError
    with pytest.raises(diagrams.GraphvizNotFoundError, match="pip install graphviz"):
        diagrams.render_svg("qkv_head")


def test_without_dot_a_reader_gets_a_warning_and_the_description(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BOOK_REQUIRE_DIAGRAMS", raising=False)
    with pytest.warns(UserWarning, match="apt-get install graphviz"):
        shown = diagrams.show("decoder_layer")
    assert shown.svg is None and "<img" not in shown._repr_html_()
    assert html.escape(shown.alt) in shown._repr_html_() and shown.caption in repr(shown)
    with pytest.raises(ValueError, match="not drawn"):
        shown.data_uri
