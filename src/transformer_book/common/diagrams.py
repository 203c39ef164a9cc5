"""The book's architecture diagrams, drawn at build time from Graphviz DOT text kept in this module.

``show(name)`` renders one diagram with the ``graphviz`` Python package and Graphviz's ``dot``
program and returns a ``Diagram``: in Jupyter, on Colab and on the website it displays as a
``<figure>`` holding the SVG (as a data URI, with alt text) and its caption; as plain text it says
what the diagram shows. No picture is stored in the repository: change the DOT below and every
page that shows the diagram changes with it.

The diagrams use the package's names (``MultiHeadAttention``, ``SublayerConnection``,
``PositionwiseFeedForward``, ``EncoderLayer``, ``DecoderLayer``, ``Generator``, ...) and flow
bottom to top like Figure 1 of Vaswani et al. (2017), except the one-head path, which reads left
to right.

=====================  =========================================================  =======
name                   what it shows                                              chapter
=====================  =========================================================  =======
``qkv_head``           one token's query, keys and values through one head        5
``encoder_layer``      one ``EncoderLayer``: two sublayers with their residuals    8
``decoder_layer``      one ``DecoderLayer``; cross-attention's Q, K and V inputs   9
``encoder_decoder``    the whole model, the paper's Figure 1                       10
``bert_block``         BERT's encoder-only model beside the original               13
``gpt_block``          GPT's decoder-only block beside the original decoder layer  14
=====================  =========================================================  =======
"""
from __future__ import annotations

import base64
import html
import os
import warnings
from dataclasses import dataclass

INSTALL_DOT = (
    "Graphviz's `dot` program is not installed (the diagrams are drawn with it). Install it with "
    "`sudo apt-get install graphviz` (Debian, Ubuntu), `conda install -c conda-forge graphviz` (conda) "
    "or `brew install graphviz` (macOS), or see https://graphviz.org/download/; Colab has it already."
)
INSTALL_PACKAGE = (
    "the `graphviz` Python package is not installed (the diagrams are drawn with it): "
    "`pip install graphviz`, and Graphviz's `dot` program too (`sudo apt-get install graphviz`, "
    "`conda install -c conda-forge graphviz` or `brew install graphviz`)."
)


class GraphvizNotFoundError(RuntimeError):
    """Graphviz (its ``dot`` program or the ``graphviz`` Python package) is missing."""


# Shared look: one font, the book's colours (seaborn's colour-blind palette, lightened for fills).
_STYLE = """
  graph [fontname="Helvetica", fontsize=12, nodesep=0.3, ranksep=0.3, bgcolor="white", pad=0.15,
         newrank=true];
  node  [fontname="Helvetica", fontsize=11, shape=box, style="rounded,filled", fillcolor="white",
         color="#444444", margin="0.12,0.05", height=0.3];
  edge  [fontname="Helvetica", fontsize=9, color="#444444", arrowsize=0.7];
"""
ATTENTION = "#fbe3c4"   # orange: attention
FEED_FORWARD = "#c9e4f6"   # blue: feed-forward
NORM = "#fdf6c3"        # yellow: Add & Norm, LayerNorm
EMBED = "#f7d0e0"       # pink: embeddings and positions
OUTPUT = "#d5efdb"      # green: the output layer
DROPPED = "#eeeeee"     # grey: what a variant leaves out
CROSS = "#0072b2"       # the colour of the cross-attention arrows


def _attention_node(node_id: str, title: str, subtitle: str, fill: str = ATTENTION) -> str:
    """A ``MultiHeadAttention`` box with three input ports at the bottom, ``v``, ``k`` and ``q`` from left to
    right, as in the paper's Figure 2."""
    return (
        f'  {node_id} [shape=plain, style="", label=<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" '
        f'CELLPADDING="3" STYLE="ROUNDED" BGCOLOR="{fill}" COLOR="#444444">'
        f'<TR><TD COLSPAN="3"><B>{title}</B></TD></TR>'
        f'<TR><TD COLSPAN="3"><FONT POINT-SIZE="9">{subtitle}</FONT></TD></TR>'
        f'<TR><TD PORT="v" BORDER="1" SIDES="T">V</TD><TD PORT="k" BORDER="1" SIDES="TLR">K</TD>'
        f'<TD PORT="q" BORDER="1" SIDES="T">Q</TD></TR></TABLE>>];\n'
    )


def _table(title: str, subtitle: str = "", fill: str = "white", border: int = 1) -> str:
    """An HTML-like label: ``title`` over a smaller ``subtitle``, in table rows (a ``<BR/>`` would let
    subscripts run into the next line)."""
    sub = f'<TR><TD><FONT POINT-SIZE="9">{subtitle}</FONT></TD></TR>' if subtitle else ""
    style = ' STYLE="ROUNDED"' if border else ""
    return (f'<TABLE BORDER="{border}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2" BGCOLOR="{fill}" '
            f'COLOR="#444444"{style}><TR><TD>{title}</TD></TR>{sub}</TABLE>')


def _box(node_id: str, title: str, subtitle: str = "", fill: str = "white") -> str:
    return f'  {node_id} [shape=plain, style="", label=<{_table(title, subtitle, fill)}>];\n'


def _text(node_id: str, title: str, subtitle: str = "", shape: str = "plaintext") -> str:
    """A label without a box (``shape=plaintext``) or in an ellipse (``shape=ellipse``)."""
    return f'  {node_id} [shape={shape}, style="", margin=0, label=<{_table(title, subtitle, border=0)}>];\n'


def _add_norm(node_id: str) -> str:
    return _box(node_id, "Add &amp; Norm", "LayerNorm(x + Dropout(sublayer(x)))", NORM)


def _ffn(node_id: str, activation: str = "ReLU") -> str:
    return _box(node_id, "<B>PositionwiseFeedForward</B>", f"Linear, {activation}, Linear", FEED_FORWARD)


_RESIDUAL = 'style=dashed, color="#777777", label=" residual", fontcolor="#777777"'


def _encoder_layer_body(p: str, source: str, activation: str = "ReLU", title: str = "self-attention") -> str:
    """The inside of an encoder layer, node ids prefixed by ``p``, reading node ``source``; output ``{p}an2``."""
    return (
        _attention_node(f"{p}att", "MultiHeadAttention", title)
        + _add_norm(f"{p}an1")
        + _ffn(f"{p}ffn", activation)
        + _add_norm(f"{p}an2")
        + f"  {source} -> {p}att:q; {source} -> {p}att:k; {source} -> {p}att:v;\n"
        + f"  {p}att -> {p}an1;\n  {source} -> {p}an1 [{_RESIDUAL}];\n"
        + f"  {p}an1 -> {p}ffn;\n  {p}ffn -> {p}an2;\n  {p}an1 -> {p}an2 [{_RESIDUAL}];\n"
    )


def _graph(body: str, rankdir: str = "BT") -> str:
    return f"digraph G {{\n  rankdir={rankdir};\n{_STYLE}{body}}}\n"


# --- 1. The whole model (the paper's Figure 1) ------------------------------------------------
_ENCODER_DECODER = _graph(
    '  subgraph cluster_src { label=<<B>src_embed</B>>; style="rounded,dashed"; color="#999999";\n'
    + _box("src_emb", "<B>Embeddings</B>", "lookup &#215; &#8730;d<SUB>model</SUB>", EMBED)
    + _box("src_pos", "<B>PositionalEncoding</B>", "+ sinusoidal_table, Dropout", EMBED)
    + "  }\n"
    + '  src [label=<source ids<BR/><FONT POINT-SIZE="9">(B, S)</FONT>>, shape=plaintext, style=""];\n'
    + '  subgraph cluster_enc { label=<<B>Encoder: N &#215; EncoderLayer  (N = 6)</B>>; labeljust=l;\n'
    '    style="rounded"; color="#444444"; fillcolor="#f6f6f6"; style="rounded,filled";\n'
    + _encoder_layer_body("e_", "src_pos")
    + "  }\n"
    + '  memory [label=<memory: the encoder output<BR/><FONT POINT-SIZE="9">(B, S, D)</FONT>>, shape=plaintext, style=""];\n'
    + '  subgraph cluster_tgt { label=<<B>tgt_embed</B>>; style="rounded,dashed"; color="#999999";\n'
    + _box("tgt_emb", "<B>Embeddings</B>", "lookup &#215; &#8730;d<SUB>model</SUB>", EMBED)
    + _box("tgt_pos", "<B>PositionalEncoding</B>", "+ sinusoidal_table, Dropout", EMBED)
    + "  }\n"
    + '  tgt [label=<target ids, shifted right<BR/><FONT POINT-SIZE="9">(B, T)</FONT>>, shape=plaintext, style=""];\n'
    + '  subgraph cluster_dec { label=<<B>Decoder: N &#215; DecoderLayer  (N = 6)</B>>; labeljust=r;\n'
    '    color="#444444"; fillcolor="#f6f6f6"; style="rounded,filled";\n'
    + _attention_node("d_self", "MultiHeadAttention", "masked self-attention")
    + _add_norm("d_an1")
    + _attention_node("d_cross", "MultiHeadAttention", "cross-attention")
    + _add_norm("d_an2")
    + _ffn("d_ffn")
    + _add_norm("d_an3")
    + "  }\n"
    + _box("gen", "<B>Generator</B>", "Linear(D, V): logits", OUTPUT)
    + _box("softmax", "softmax", "in the loss, or when decoding", OUTPUT)
    + '  probs [label=<next-token probabilities<BR/><FONT POINT-SIZE="9">(B, T, V)</FONT>>, shape=plaintext, style=""];\n'
    + "  src -> src_emb -> src_pos;\n"
    + "  e_an2 -> memory;\n"
    + "  tgt -> tgt_emb -> tgt_pos;\n"
    + "  tgt_pos -> d_self:q; tgt_pos -> d_self:k; tgt_pos -> d_self:v;\n"
    + f"  d_self -> d_an1;\n  tgt_pos -> d_an1 [{_RESIDUAL}];\n"
    + "  d_an1 -> d_cross:q;\n"
    + f'  memory -> d_cross:k [color="{CROSS}", penwidth=1.6];\n'
    + f'  memory -> d_cross:v [color="{CROSS}", penwidth=1.6];\n'
    + f"  d_cross -> d_an2;\n  d_an1 -> d_an2 [{_RESIDUAL}];\n"
    + f"  d_an2 -> d_ffn -> d_an3;\n  d_an2 -> d_an3 [{_RESIDUAL}];\n"
    + "  d_an3 -> gen -> softmax -> probs;\n"
    + "  {rank=same; src -> tgt [style=invis];}\n  {rank=same; src_emb -> tgt_emb [style=invis];}\n"
    + "  {rank=same; src_pos; tgt_pos;}\n  {rank=same; e_att; d_self;}\n  {rank=same; memory -> d_an1 [style=invis];}\n"
)

# --- 2. One encoder layer ------------------------------------------------------------------
_ENCODER_LAYER = _graph(
    '  e_in [label=<x<BR/><FONT POINT-SIZE="9">(B, T, D)</FONT>>, shape=plaintext, style=""];\n'
    + '  subgraph cluster_att { label=<attention_block: SublayerConnection>; labeljust=r;\n'
    '    style="rounded,dashed"; color="#999999";\n'
    + _attention_node("e_att", "MultiHeadAttention", "self_attention: Q = K = V = x<BR/>mask: padding_mask")
    + _add_norm("e_an1")
    + "  }\n"
    + '  subgraph cluster_ffn { label=<feed_forward_block: SublayerConnection>; labeljust=r;\n'
    '    style="rounded,dashed"; color="#999999";\n'
    + _ffn("e_ffn")
    + _add_norm("e_an2")
    + "  }\n"
    + '  e_out [label=<output<BR/><FONT POINT-SIZE="9">(B, T, D)</FONT>>, shape=plaintext, style=""];\n'
    + "  e_in -> e_att:q; e_in -> e_att:k; e_in -> e_att:v;\n"
    + f"  e_att -> e_an1;\n  e_in -> e_an1 [{_RESIDUAL}];\n"
    + f"  e_an1 -> e_ffn -> e_an2;\n  e_an1 -> e_an2 [{_RESIDUAL}];\n"
    + "  e_an2 -> e_out;\n"
)

# --- 3. One decoder layer, with the encoder's output ----------------------------------------
_DECODER_LAYER = _graph(
    '  subgraph cluster_encoder { label=<<B>Encoder</B>>; style="rounded,dashed"; color="#999999";\n'
    + _box("enc", "<B>N &#215; EncoderLayer</B>", "over the source (B, S, D)", "#f6f6f6")
    + f'  memory [label=<<B>memory: the encoder output</B><BR/><FONT POINT-SIZE="9">(B, S, D)</FONT>>, '
    f'fillcolor="white", color="{CROSS}", penwidth=1.6];\n'
    + "  }\n"
    + '  d_in [label=<x: the target prefix\'s states<BR/><FONT POINT-SIZE="9">(B, T, D)</FONT>>, shape=plaintext, style=""];\n'
    + '  subgraph cluster_self { label=<self_attention_block: SublayerConnection>; labeljust=r;\n'
    '    style="rounded,dashed"; color="#999999";\n'
    + _attention_node("self_att", "MultiHeadAttention",
                      "self_attention, masked: Q = K = V = x<BR/>mask: tgt_mask (causal and padding)")
    + _add_norm("an1")
    + "  }\n"
    + '  subgraph cluster_cross { label=<cross_attention_block: SublayerConnection>; labeljust=r;\n'
    '    style="rounded,dashed"; color="#999999";\n'
    + _attention_node("cross", "MultiHeadAttention", "cross_attention<BR/>mask: memory_mask (source padding)")
    + _add_norm("an2")
    + "  }\n"
    + '  subgraph cluster_ffn { label=<feed_forward_block: SublayerConnection>; labeljust=r;\n'
    '    style="rounded,dashed"; color="#999999";\n'
    + _ffn("ffn")
    + _add_norm("an3")
    + "  }\n"
    + '  d_out [label=<output<BR/><FONT POINT-SIZE="9">(B, T, D)</FONT>>, shape=plaintext, style=""];\n'
    + "  enc -> memory;\n"
    + "  d_in -> self_att:q; d_in -> self_att:k; d_in -> self_att:v;\n"
    + f"  self_att -> an1;\n  d_in -> an1 [{_RESIDUAL}];\n"
    + '  an1 -> cross:q [label=" queries from the decoder", penwidth=1.6];\n'
    + f'  memory -> cross:k [color="{CROSS}", fontcolor="{CROSS}", penwidth=1.6];\n'
    + f'  memory -> cross:v [color="{CROSS}", fontcolor="{CROSS}", penwidth=1.6, '
    'label=<  keys and values<BR/>  from the encoder>];\n'
    + f"  cross -> an2;\n  an1 -> an2 [{_RESIDUAL}];\n"
    + f"  an2 -> ffn -> an3;\n  an2 -> an3 [{_RESIDUAL}];\n"
    + "  an3 -> d_out;\n"
    + "  {rank=same; memory; an1;}\n  {rank=same; enc; self_att;}\n"
)

# --- 4. One token through one head ---------------------------------------------------------
_QKV_HEAD = _graph(
    _text("xi", "x<SUB>i</SUB>: token i", "(d<SUB>model</SUB>)")
    + _text("xs", "x<SUB>1</SUB> &#8230; x<SUB>T</SUB>: every token", "the same sequence, in self-attention")
    + _box("wq", "&#215; W<SUB>Q</SUB>", "(d<SUB>model</SUB>, d<SUB>k</SUB>)", ATTENTION)
    + _box("wk", "&#215; W<SUB>K</SUB>", "(d<SUB>model</SUB>, d<SUB>k</SUB>)", ATTENTION)
    + _box("wv", "&#215; W<SUB>V</SUB>", "(d<SUB>model</SUB>, d<SUB>v</SUB>)", ATTENTION)
    + _text("q", "query q<SUB>i</SUB>", "(d<SUB>k</SUB>)", "ellipse")
    + _text("k", "keys k<SUB>1</SUB> &#8230; k<SUB>T</SUB>", "(T, d<SUB>k</SUB>)", "ellipse")
    + _text("v", "values v<SUB>1</SUB> &#8230; v<SUB>T</SUB>", "(T, d<SUB>v</SUB>)", "ellipse")
    + _box("scores", "scores q<SUB>i</SUB> &#183; k<SUB>j</SUB> / &#8730;d<SUB>k</SUB>, for every key j",
           "attention_scores", NORM)
    + '  mask [label="mask (optional):\\n-inf where a key is hidden", shape=note, fontsize=9];\n'
    + _box("softmax", "softmax over j: weights a<SUB>i1</SUB> &#8230; a<SUB>iT</SUB>, summing to 1",
           "attention_weights", NORM)
    + _box("sum", "weighted sum &#931;<SUB>j</SUB> a<SUB>ij</SUB> v<SUB>j</SUB>", "scaled_dot_product_attention", OUTPUT)
    + _text("out", "z<SUB>i</SUB>: token i's output from this head", "(d<SUB>v</SUB>)")
    + "  xi -> wq -> q;\n  xs -> wk -> k;\n  xs -> wv -> v;\n"
    + "  q -> scores;\n  k -> scores;\n"
    + "  scores -> softmax;\n  mask -> softmax [style=dotted, arrowhead=odot];\n"
    + "  softmax -> sum;\n  v -> sum;\n  sum -> out;\n"
    + "  {rank=same; xi -> xs [style=invis];}\n  {rank=same; wq; wk; wv;}\n  {rank=same; q; k; v;}\n"
    + "  {rank=same; scores; mask;}\n"
)


# --- 5. BERT and GPT beside the original ----------------------------------------------------
def _original(keep: str) -> str:
    """The original encoder-decoder in brief, the half that the variant drops in grey."""
    enc_fill, dec_fill = ("#f6f6f6", DROPPED) if keep == "encoder" else (DROPPED, "#f6f6f6")
    enc_style, dec_style = ('"rounded,filled"', '"rounded,filled,dashed"') if keep == "encoder" else (
        '"rounded,filled,dashed"', '"rounded,filled"')
    enc_note = "kept by BERT" if keep == "encoder" else "dropped by GPT"
    dec_note = "dropped by BERT" if keep == "encoder" else "kept by GPT, without cross-attention"
    return (
        '  subgraph cluster_original { label=<<B>The original (EncoderDecoder): chapter 10</B>>;\n'
        '    style="rounded"; color="#444444";\n'
        '    o_src [label="source ids", shape=plaintext, style=""];\n'
        '    o_tgt [label="target ids, shifted right", shape=plaintext, style=""];\n'
        f'    o_enc [label=<<B>N &#215; EncoderLayer</B><BR/><FONT POINT-SIZE="9">self-attention, Add &amp; Norm,<BR/>'
        f'PositionwiseFeedForward, Add &amp; Norm<BR/><I>{enc_note}</I></FONT>>, '
        f'fillcolor="{enc_fill}", style={enc_style}];\n'
        f'    o_dec [label=<<B>N &#215; DecoderLayer</B><BR/><FONT POINT-SIZE="9">masked self-attention, '
        f'Add &amp; Norm,<BR/>cross-attention, Add &amp; Norm,<BR/>PositionwiseFeedForward, Add &amp; Norm<BR/>'
        f'<I>{dec_note}</I></FONT>>, fillcolor="{dec_fill}", style={dec_style}];\n'
        f'    o_gen [label=<<B>Generator, softmax</B>>, fillcolor="{OUTPUT}"];\n'
        "    o_src -> o_enc;\n    o_tgt -> o_dec;\n"
        f'    o_enc -> o_dec [label=" memory: K, V", color="{CROSS}", fontcolor="{CROSS}"];\n'
        "    o_dec -> o_gen;\n"
        "    {rank=same; o_src -> o_tgt [style=invis];}\n"
        "  }\n"
    )


_BERT_BLOCK = _graph(
    _original("encoder")
    + '  subgraph cluster_bert { label=<<B>BERT (BertModel): encoder-only, chapter 13</B>>;\n'
    '    style="rounded"; color="#444444";\n'
    '    b_ids [label="input_ids, token_type_ids", shape=plaintext, style=""];\n'
    + _box("b_emb", "<B>BertEmbeddings</B>", "token + position + segment, LayerNorm", EMBED)
    + '  subgraph cluster_bert_layer { label=<<B>L &#215; EncoderLayer (post-norm, GELU)</B>>; labeljust=r;\n'
    '    style="rounded,filled"; color="#444444"; fillcolor="#f6f6f6";\n'
    + _attention_node("b_att", "MultiHeadAttention",
                      "bidirectional self-attention:<BR/>every token sees every token (only padding is masked)")
    + _add_norm("b_an1")
    + _ffn("b_ffn", "GELU")
    + _add_norm("b_an2")
    + "  }\n"
    + '    b_hidden [label=<hidden states<BR/><FONT POINT-SIZE="9">(B, T, D)</FONT>>, shape=plaintext, style=""];\n'
    + _box("b_mlm", "<B>BertOnlyMLMHead</B>", "masked LM, tied to word_embeddings", OUTPUT)
    + _box("b_pool", "<B>BertPooler &#8594; classifier</B>", "[CLS]: BertForSequenceClassification", OUTPUT)
    + "    b_ids -> b_emb;\n"
    + "    b_emb -> b_att:q; b_emb -> b_att:k; b_emb -> b_att:v;\n"
    + f"    b_att -> b_an1;\n    b_emb -> b_an1 [{_RESIDUAL}];\n"
    + f"    b_an1 -> b_ffn -> b_an2;\n    b_an1 -> b_an2 [{_RESIDUAL}];\n"
    + "    b_an2 -> b_hidden;\n    b_hidden -> b_mlm;\n    b_hidden -> b_pool;\n"
    + "  }\n"
    + "  {rank=same; o_src; b_ids;}\n"
)

_GPT_BLOCK = _graph(
    _original("decoder")
    + '  subgraph cluster_gpt { label=<<B>GPT (GPT): decoder-only, chapter 14</B>>;\n'
    '    style="rounded"; color="#444444";\n'
    '    g_ids [label="token ids (B, T)", shape=plaintext, style=""];\n'
    + _box("g_emb", "token_embedding + position_embedding", "LearnedPositionalEncoding", EMBED)
    + '  subgraph cluster_gpt_block { label=<<B>n_layer &#215; GPTBlock (pre-norm)</B>>; labeljust=r;\n'
    '    style="rounded,filled"; color="#444444"; fillcolor="#f6f6f6";\n'
    + _box("g_ln1", "LayerNorm", "", NORM)
    + _attention_node("g_att", "CausalSelfAttention",
                      "masked self-attention:<BR/>position t sees positions 0 &#8230; t")
    + '    g_add1 [label="+", shape=circle, width=0.3, fixedsize=true, fillcolor="white"];\n'
    + _box("g_ln2", "LayerNorm", "", NORM)
    + _ffn("g_ffn", "GELU")
    + '    g_add2 [label="+", shape=circle, width=0.3, fixedsize=true, fillcolor="white"];\n'
    + '    g_nocross [label=<no cross-attention:<BR/>there is no encoder>, shape=note, fontsize=9, '
    f'fillcolor="{DROPPED}"];\n'
    + "  }\n"
    + _box("g_lnf", "final_norm: LayerNorm", "", NORM)
    + _box("g_head", "<B>head: Linear, tied to token_embedding</B>", "logits (B, T, V), softmax", OUTPUT)
    + "    g_ids -> g_emb;\n"
    + "    g_emb -> g_ln1;\n    g_ln1 -> g_att:q; g_ln1 -> g_att:k; g_ln1 -> g_att:v;\n"
    + f"    g_att -> g_add1;\n    g_emb -> g_add1 [{_RESIDUAL}];\n"
    + f"    g_add1 -> g_ln2 -> g_ffn -> g_add2;\n    g_add1 -> g_add2 [{_RESIDUAL}];\n"
    + "    g_add2 -> g_lnf -> g_head;\n"
    + "    {rank=same; g_nocross; g_ln2;}\n"
    + "  }\n"
    + "  {rank=same; o_tgt; g_ids;}\n"
)


@dataclass(frozen=True)
class DiagramSource:
    """A diagram's DOT text with its alt text (what a screen reader says) and its caption."""

    name: str
    dot: str
    alt: str
    caption: str


DIAGRAMS: dict[str, DiagramSource] = {
    spec.name: spec
    for spec in (
        DiagramSource(
            "qkv_head", _QKV_HEAD,
            alt=("Diagram, left to right: token i's vector x_i is multiplied by W_Q to give its query q_i; every "
                 "token's vector x_1 to x_T is multiplied by W_K to give the keys k_1 to k_T and by W_V to give "
                 "the values v_1 to v_T. The query and the keys give one score per key, q_i dot k_j divided by the "
                 "square root of d_k; an optional mask sets hidden keys to minus infinity; a softmax over j turns "
                 "the scores into weights a_ij that sum to 1; the weighted sum of the values, sum over j of a_ij "
                 "v_j, is token i's output z_i of this head."),
            caption=("One token through one head. Token i's query is compared with every token's key; the "
                     "softmax of the scaled scores weights the values."),
        ),
        DiagramSource(
            "encoder_layer", _ENCODER_LAYER,
            alt=("Diagram of one EncoderLayer, bottom to top. The input x of shape (B, T, D) goes into "
                 "MultiHeadAttention as query, key and value alike (self-attention), with the padding mask; a "
                 "dashed residual arrow carries x around it to Add & Norm, LayerNorm(x + Dropout(sublayer(x))). "
                 "Together they are the attention_block, a SublayerConnection. Its output goes into the "
                 "PositionwiseFeedForward network (Linear, ReLU, Linear), and a second residual arrow carries it "
                 "around to a second Add & Norm: the feed_forward_block. The output has the input's shape."),
            caption=("One EncoderLayer: self-attention, then the feed-forward network, each wrapped in a "
                     "SublayerConnection (the residual arrow, dashed, and Add & Norm)."),
        ),
        DiagramSource(
            "decoder_layer", _DECODER_LAYER,
            alt=("Diagram of one DecoderLayer, bottom to top, with the encoder beside it. The target prefix's "
                 "states x go into masked MultiHeadAttention as query, key and value (with tgt_mask, causal and "
                 "padding), then Add & Norm with a residual arrow. Then cross-attention: the query arrow comes "
                 "from the decoder's Add & Norm below it, while the key and value arrows come from memory, the "
                 "encoder's output of shape (B, S, D), with memory_mask for the source padding; Add & Norm "
                 "with a residual. Last, the PositionwiseFeedForward network and a third Add & Norm."),
            caption=("One DecoderLayer. In cross-attention the queries come from the decoder and the keys and "
                     "values from the encoder's output, memory (blue arrows)."),
        ),
        DiagramSource(
            "encoder_decoder", _ENCODER_DECODER,
            alt=("Diagram of the whole transformer, the paper's Figure 1, bottom to top. Left: source ids go "
                 "through Embeddings (scaled by the square root of d_model) and PositionalEncoding (added "
                 "sinusoids) into the Encoder, N = 6 EncoderLayers of self-attention, Add & Norm, "
                 "PositionwiseFeedForward and Add & Norm, each sublayer with a residual arrow; its output is "
                 "memory. Right: the target ids, shifted right, go through their own Embeddings and "
                 "PositionalEncoding into the Decoder, N = 6 DecoderLayers of masked self-attention, Add & Norm, "
                 "cross-attention whose keys and values come from memory, Add & Norm, PositionwiseFeedForward "
                 "and Add & Norm. On top, the Generator (a linear layer to the vocabulary) and a softmax give "
                 "the next-token probabilities."),
            caption=("The whole EncoderDecoder, after Figure 1 of Vaswani et al. (2017): the encoder's output, "
                     "memory, is the key and value of every decoder layer's cross-attention."),
        ),
        DiagramSource(
            "bert_block", _BERT_BLOCK,
            alt=("Two diagrams side by side. Left, the original EncoderDecoder in brief: N EncoderLayers over the "
                 "source ids, kept by BERT; N DecoderLayers over the shifted target ids, reading the encoder's "
                 "memory as keys and values, shown in grey as dropped by BERT; the Generator on top. Right, "
                 "BERT's BertModel: BertEmbeddings (token plus position plus segment, then LayerNorm) feed L "
                 "EncoderLayers, the same layer as the original's, in post-norm order with GELU: "
                 "MultiHeadAttention with bidirectional self-attention, where every token sees every token and "
                 "only padding is masked, Add & Norm, PositionwiseFeedForward and Add & Norm with residual "
                 "arrows. The hidden states go to the masked-LM head (BertOnlyMLMHead) and to the BertPooler "
                 "and classifier."),
            caption=("BERT keeps the original's encoder and drops its decoder: its layer is the EncoderLayer, "
                     "with bidirectional self-attention."),
        ),
        DiagramSource(
            "gpt_block", _GPT_BLOCK,
            alt=("Two diagrams side by side. Left, the original EncoderDecoder in brief: the encoder, shown in "
                 "grey as dropped by GPT, and N DecoderLayers of masked self-attention, cross-attention and "
                 "feed-forward, kept by GPT without cross-attention. Right, GPT: token and position embeddings "
                 "feed n_layer GPTBlocks in pre-norm order. Each block: LayerNorm, then CausalSelfAttention, "
                 "masked so that position t sees only positions 0 to t, added back by a residual arrow; then "
                 "LayerNorm, PositionwiseFeedForward with GELU, added back by a second residual. There is no "
                 "cross-attention, since there is no encoder. After the blocks: a final LayerNorm and the head, "
                 "a linear layer tied to the token embedding, giving the logits."),
            caption=("GPT keeps the original's decoder without cross-attention: a GPTBlock is masked "
                     "self-attention and the feed-forward network, each with LayerNorm first (pre-norm)."),
        ),
    )
}


def names() -> list[str]:
    """The names of the book's diagrams, in the book's order."""
    return list(DIAGRAMS)


def _spec(name: str) -> DiagramSource:
    if not isinstance(name, str):
        raise TypeError(f"a diagram's name must be a string, got {type(name).__name__}")
    if name not in DIAGRAMS:
        raise ValueError(f"no diagram named {name!r}: the diagrams are {', '.join(DIAGRAMS)}")
    return DIAGRAMS[name]


def source(name: str) -> str:
    """The DOT text of diagram ``name``."""
    return _spec(name).dot


def render_svg(name: str, renderer: str = "cairo") -> str:
    """Diagram ``name`` drawn by Graphviz's ``dot``, as SVG text.

    ``renderer="cairo"`` (the default, what ``show`` uses) draws the text as glyph outlines, so the
    picture is the same in every browser and notebook whatever fonts it has; where Graphviz was built
    without cairo it falls back to ``"core"``, dot's own SVG, whose text is ``<text>`` elements (and
    each edge has a ``<title>`` like ``memory->cross:k``: the tests read those). Raises
    ``GraphvizNotFoundError``, saying how to install it, when the ``graphviz`` package or the ``dot``
    program is missing; ``ValueError`` for an unknown name or renderer."""
    spec = _spec(name)
    if renderer not in ("cairo", "core"):
        raise ValueError(f"renderer must be 'cairo' or 'core', got {renderer!r}")
    try:
        import graphviz
    except ImportError as error:
        raise GraphvizNotFoundError(INSTALL_PACKAGE) from error
    source = graphviz.Source(spec.dot)
    try:
        if renderer == "cairo":
            try:
                svg = source.pipe(format="svg", renderer="cairo", encoding="utf-8")
            except graphviz.CalledProcessError:   # a dot without the cairo plugin
                svg = source.pipe(format="svg", encoding="utf-8")
        else:
            svg = source.pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound as error:
        raise GraphvizNotFoundError(INSTALL_DOT) from error
    # dot writes an XML prolog (and a DOCTYPE); a data URI does not need them, and the core
    # renderer's <title> (the graph's name, "G") would be a useless tooltip.
    svg = svg[svg.index("<svg"):]
    return svg.replace("<title>G</title>", "", 1)


class Diagram:
    """A rendered diagram: a ``<figure>`` with the SVG and its alt text in Jupyter and the book, and
    a description as plain text."""

    def __init__(self, name: str, svg: str | None, alt: str, caption: str) -> None:
        self.name, self.svg, self.alt, self.caption = name, svg, alt, caption

    @property
    def data_uri(self) -> str:
        """The SVG as a ``data:`` URI, for an ``<img src=...>``."""
        if self.svg is None:
            raise ValueError(f"diagram {self.name!r} was not drawn: Graphviz's dot is missing")
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode("utf-8")).decode("ascii")

    def _repr_html_(self) -> str:
        if self.svg is None:   # no Graphviz here: the description stands in for the picture
            return (f'<figure class="book-diagram"><pre style="white-space: pre-wrap;">{html.escape(self.alt)}</pre>'
                    f"<figcaption>{html.escape(self.caption)} (not drawn: {html.escape(INSTALL_DOT)})</figcaption>"
                    "</figure>")
        return (
            f'<figure class="book-diagram" id="diagram-{self.name.replace("_", "-")}" '
            'style="margin: 1em auto; text-align: center;">'
            f'<img src="{self.data_uri}" alt="{html.escape(self.alt, quote=True)}" '
            'style="max-width: 100%; height: auto;"/>'
            f'<figcaption style="font-size: 0.9em; margin-top: 0.5em;">{html.escape(self.caption)}</figcaption>'
            "</figure>"
        )

    def __repr__(self) -> str:
        return f"[Diagram '{self.name}': {self.caption}]\n{self.alt}"

    __str__ = __repr__


def show(name: str) -> Diagram:
    """Diagram ``name`` (see ``names()``), ready to display as a cell's result.

    Without Graphviz a reader's notebook still runs: ``show`` warns, saying how to install it, and
    the diagram shows its description instead of the picture. Where ``BOOK_REQUIRE_DIAGRAMS`` is set
    (the book's build and its tests) a missing Graphviz raises ``GraphvizNotFoundError``."""
    spec = _spec(name)
    try:
        svg = render_svg(name)
    except GraphvizNotFoundError as error:
        if os.environ.get("BOOK_REQUIRE_DIAGRAMS"):
            raise
        warnings.warn(f"diagram {name!r} is shown as text: {error}", stacklevel=2)
        svg = None
    return Diagram(spec.name, svg, spec.alt, spec.caption)
