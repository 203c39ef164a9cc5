"""Copy the book's weights into PyTorch's own layers, to check that both compute the same thing.

Each function builds the PyTorch module with the same sizes (dropout 0, ``batch_first=True``)
and copies every weight across. PyTorch stacks the query, key and value projections into one
``in_proj_weight``; the book keeps them as ``w_q``, ``w_k``, ``w_v``.
Remember that PyTorch's boolean masks mean the opposite: ``True`` = blocked.
"""
from __future__ import annotations

import torch
from torch import nn

from transformer_book.encoder_decoder.decoder import DecoderLayer
from transformer_book.encoder_decoder.encoder import EncoderLayer
from transformer_book.encoder_decoder.model import EncoderDecoder
from transformer_book.pieces.multi_head import MultiHeadAttention


@torch.no_grad()
def copy_attention(book: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    ref.in_proj_weight.copy_(torch.cat([book.w_q.weight, book.w_k.weight, book.w_v.weight]))
    ref.in_proj_bias.copy_(torch.cat([book.w_q.bias, book.w_k.bias, book.w_v.bias]))
    ref.out_proj.weight.copy_(book.w_o.weight)
    ref.out_proj.bias.copy_(book.w_o.bias)


def to_torch_attention(book: MultiHeadAttention) -> nn.MultiheadAttention:
    """An ``nn.MultiheadAttention`` with the weights of ``book``."""
    ref = nn.MultiheadAttention(book.d_model, book.num_heads, dropout=0.0, batch_first=True)
    copy_attention(book, ref)
    return ref


@torch.no_grad()
def _copy_feed_forward_and_norms(book, ref, norms: list[nn.LayerNorm]) -> None:
    ref.linear1.load_state_dict(book.feed_forward.linear1.state_dict())
    ref.linear2.load_state_dict(book.feed_forward.linear2.state_dict())
    for index, norm in enumerate(norms, start=1):
        getattr(ref, f"norm{index}").load_state_dict(norm.state_dict())


def to_torch_encoder_layer(book: EncoderLayer) -> nn.TransformerEncoderLayer:
    """An ``nn.TransformerEncoderLayer`` with the weights and norm order of ``book``."""
    attention, linear1 = book.self_attention, book.feed_forward.linear1
    ref = nn.TransformerEncoderLayer(
        attention.d_model, attention.num_heads, linear1.out_features, dropout=0.0,
        activation=book.feed_forward.activation, batch_first=True,
        norm_first=book.attention_block.norm_first, layer_norm_eps=book.attention_block.norm.eps,
    )
    copy_attention(attention, ref.self_attn)
    _copy_feed_forward_and_norms(book, ref, [book.attention_block.norm, book.feed_forward_block.norm])
    return ref


def to_torch_decoder_layer(book: DecoderLayer) -> nn.TransformerDecoderLayer:
    """An ``nn.TransformerDecoderLayer`` with the weights and norm order of ``book``."""
    attention, linear1 = book.self_attention, book.feed_forward.linear1
    ref = nn.TransformerDecoderLayer(
        attention.d_model, attention.num_heads, linear1.out_features, dropout=0.0,
        activation=book.feed_forward.activation, batch_first=True,
        norm_first=book.self_attention_block.norm_first,
        layer_norm_eps=book.self_attention_block.norm.eps,
    )
    copy_attention(attention, ref.self_attn)
    copy_attention(book.cross_attention, ref.multihead_attn)
    norms = [book.self_attention_block.norm, book.cross_attention_block.norm, book.feed_forward_block.norm]
    _copy_feed_forward_and_norms(book, ref, norms)
    return ref


def to_torch_transformer(book: EncoderDecoder) -> nn.Transformer:
    """An ``nn.Transformer`` with the encoder and decoder stacks of ``book`` (which must have final
    LayerNorms: ``nn.Transformer`` always has them). Embeddings and generator stay with the book."""
    encoder_layers, decoder_layers = book.encoder.layers, book.decoder.layers
    if not isinstance(book.encoder.norm, nn.LayerNorm) or not isinstance(book.decoder.norm, nn.LayerNorm):
        raise ValueError("nn.Transformer always ends each stack with a LayerNorm: build with final_norm=True")
    first = encoder_layers[0]
    ref = nn.Transformer(
        d_model=first.self_attention.d_model, nhead=first.self_attention.num_heads,
        num_encoder_layers=len(encoder_layers), num_decoder_layers=len(decoder_layers),
        dim_feedforward=first.feed_forward.linear1.out_features, dropout=0.0,
        activation=first.feed_forward.activation, batch_first=True,
        norm_first=first.attention_block.norm_first, layer_norm_eps=first.attention_block.norm.eps,
    )
    with torch.no_grad():
        for mine, theirs in zip(encoder_layers, ref.encoder.layers):
            theirs.load_state_dict(to_torch_encoder_layer(mine).state_dict())
        for mine, theirs in zip(decoder_layers, ref.decoder.layers):
            theirs.load_state_dict(to_torch_decoder_layer(mine).state_dict())
        ref.encoder.norm.load_state_dict(book.encoder.norm.state_dict())
        ref.decoder.norm.load_state_dict(book.decoder.norm.state_dict())
    return ref
