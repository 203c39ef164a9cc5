"""The full encoder-decoder transformer (Vaswani et al., 2017), and a factory for it."""
from __future__ import annotations

import torch
from torch import nn

from transformer_book.encoder_decoder.decoder import Decoder, DecoderCache, DecoderLayer
from transformer_book.pieces.embeddings import Embeddings, LearnedPositionalEncoding, PositionalEncoding
from transformer_book.encoder_decoder.encoder import Encoder, EncoderLayer
from transformer_book.pieces.masks import causal_mask, padding_mask
from transformer_book.common.validation import check_int, check_probability


class Generator(nn.Module):
    """The final linear layer: decoder states ``(B, T, D)`` to logits over the target vocabulary
    ``(B, T, V)``. (Apply ``log_softmax`` for log-probabilities; losses take the logits.)"""

    def __init__(self, d_model: int, vocab_size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class EncoderDecoder(nn.Module):
    """Source ids ``(B, S)`` and target-prefix ids ``(B, T)`` to next-token logits ``(B, T, V)``."""

    def __init__(
        self,
        src_embed: nn.Sequential,
        tgt_embed: nn.Sequential,
        encoder: Encoder,
        decoder: Decoder,
        generator: Generator,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        check_int("pad_id", pad_id, minimum=0)
        self.src_embed, self.tgt_embed = src_embed, tgt_embed
        self.encoder, self.decoder, self.generator = encoder, decoder, generator
        self.pad_id = pad_id
        self.config: dict | None = None   # make_model records its arguments here; checkpoints compare it

    def source_mask(self, src: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 1, S)``: every query may look at every real (non-padding) source token."""
        return padding_mask(src, self.pad_id)

    def target_mask(self, tgt: torch.Tensor) -> torch.Tensor:
        """``(B, 1, T, T)``: no padding, and no looking ahead."""
        return padding_mask(tgt, self.pad_id) & causal_mask(tgt.shape[1], device=tgt.device)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Source ids ``(B, S)`` to the encoder output ("memory") ``(B, S, D)``."""
        src_mask = self.source_mask(src) if src_mask is None else src_mask
        return self.encoder(self.src_embed(src), src_mask)

    def decode(
        self,
        memory: torch.Tensor,
        src_mask: torch.Tensor,
        tgt: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decoder states ``(B, T, D)`` for the target prefix ``tgt`` ``(B, T)``."""
        tgt_mask = self.target_mask(tgt) if tgt_mask is None else tgt_mask
        return self.decoder(self.tgt_embed(tgt), memory, tgt_mask, src_mask)

    def start_decoding(self, memory: torch.Tensor, src_mask: torch.Tensor, repeats: int = 1) -> DecoderCache:
        """A key-value cache for decoding from the encoder output ``memory`` ``(B, S, D)`` with its
        ``(B, 1, 1, S)`` ``src_mask``: the cross-attention keys and values, computed once; ``repeats``
        prefixes (beams) per sentence (see ``Decoder.start_cache``)."""
        return self.decoder.start_cache(memory, src_mask, repeats)

    def decode_step(self, cache: DecoderCache, tokens: torch.Tensor) -> torch.Tensor:
        """Decoder states ``(N, T, D)`` for the next ``T`` target tokens ``tokens`` ``(N, T)`` of each
        prefix, the ``cache.length`` before them being in ``cache`` (which grows by ``T``): the same
        states as ``decode`` on the whole prefix gives at those positions. Needs the target embedding
        that ``make_model`` builds (token embedding, then positions, which continue at ``cache.length``)."""
        if not (isinstance(self.tgt_embed, nn.Sequential) and len(self.tgt_embed) == 2
                and isinstance(self.tgt_embed[1], (PositionalEncoding, LearnedPositionalEncoding))):
            raise TypeError("decode_step needs tgt_embed = nn.Sequential(token embedding, positional encoding), "
                            "as make_model builds it")
        tokens_embedded = self.tgt_embed[0](tokens)                                 # (N, T, D)
        x = self.tgt_embed[1](tokens_embedded, offset=cache.length)
        return self.decoder.step(x, cache)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        src_mask = self.source_mask(src)
        memory = self.encode(src, src_mask)                        # (B, S, D)
        return self.generator(self.decode(memory, src_mask, tgt))  # (B, T, V)


def make_model(
    src_vocab: int,
    tgt_vocab: int | None = None,
    N: int = 6,
    d_model: int = 512,
    d_ff: int = 2048,
    h: int = 8,
    dropout: float = 0.1,
    *,
    shared_vocab: bool = False,
    tie_embeddings: bool = True,
    norm_first: bool = False,
    final_norm: bool | None = None,
    max_len: int = 5000,
    pad_id: int = 0,
    attention_dropout: float = 0.0,
    activation_dropout: float = 0.0,
) -> EncoderDecoder:
    """The transformer with the paper's hyperparameters as defaults (the base model).

    ``dropout`` is where the paper puts it (section 5.4): on the sum of embeddings and positions,
    and on each sublayer's output before the residual sum. ``attention_dropout`` (attention
    weights) and ``activation_dropout`` (feed-forward hidden units) are 0, as in the paper; set
    both to ``dropout`` for ``nn.Transformer``'s placement.

    ``shared_vocab``: one vocabulary for both languages (``tgt_vocab`` must be None or equal) and
    one embedding table for source, target and generator (the paper's section 3.4).
    ``tie_embeddings``: the generator's weight is the target embedding table.
    ``final_norm``: a LayerNorm after each stack; by default only for pre-norm (see ``Encoder``).
    Weights are initialised with Xavier/Glorot uniform, as in the reference implementations.
    """
    tgt_vocab = src_vocab if tgt_vocab is None else tgt_vocab
    final_norm = norm_first if final_norm is None else final_norm
    config = dict(
        src_vocab=src_vocab, tgt_vocab=tgt_vocab, N=N, d_model=d_model, d_ff=d_ff, h=h, dropout=dropout,
        shared_vocab=shared_vocab, tie_embeddings=tie_embeddings, norm_first=norm_first,
        final_norm=final_norm, max_len=max_len, pad_id=pad_id, attention_dropout=attention_dropout,
        activation_dropout=activation_dropout,
    )
    for name in ("src_vocab", "tgt_vocab", "N", "d_model", "d_ff", "h", "max_len"):
        check_int(name, config[name])
    for name in ("dropout", "attention_dropout", "activation_dropout"):
        check_probability(name, config[name])
    check_int("pad_id", pad_id, minimum=0)
    if pad_id >= min(src_vocab, tgt_vocab):
        raise ValueError(f"pad_id must be a token id of both vocabularies (< {min(src_vocab, tgt_vocab)}), got {pad_id}")
    if d_model % h:
        raise ValueError(f"d_model={d_model} must be divisible by h={h}")
    if shared_vocab and tgt_vocab != src_vocab:
        raise ValueError(f"shared_vocab needs one vocabulary, got src_vocab={src_vocab}, tgt_vocab={tgt_vocab}")
    inner_dropout = {"attention_dropout": attention_dropout, "activation_dropout": activation_dropout}

    def encoder_layer() -> EncoderLayer:
        return EncoderLayer(d_model, h, d_ff, dropout, norm_first, **inner_dropout)

    def decoder_layer() -> DecoderLayer:
        return DecoderLayer(d_model, h, d_ff, dropout, norm_first, **inner_dropout)

    src_tokens = Embeddings(src_vocab, d_model, padding_idx=pad_id)
    tgt_tokens = src_tokens if shared_vocab else Embeddings(tgt_vocab, d_model, padding_idx=pad_id)
    model = EncoderDecoder(
        nn.Sequential(src_tokens, PositionalEncoding(d_model, max_len, dropout)),
        nn.Sequential(tgt_tokens, PositionalEncoding(d_model, max_len, dropout)),
        Encoder(encoder_layer, N, d_model, final_norm),
        Decoder(decoder_layer, N, d_model, final_norm),
        Generator(d_model, tgt_vocab),
        pad_id=pad_id,
    )
    for parameter in model.parameters():
        if parameter.dim() > 1:
            nn.init.xavier_uniform_(parameter)
    if tie_embeddings:
        model.generator.proj.weight = tgt_tokens.lookup.weight
    with torch.no_grad():  # Xavier overwrote the padding rows; keep them zero.
        src_tokens.lookup.weight[pad_id].zero_()
        tgt_tokens.lookup.weight[pad_id].zero_()
    model.config = config
    return model
