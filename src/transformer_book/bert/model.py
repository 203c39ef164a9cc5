"""BERT (Devlin et al., 2019): an encoder-only transformer with a masked-LM head and a classifier.

The body is the book's own encoder (chapter 8) in the paper's post-norm order, with GELU and
``eps=1e-12``. Around it: ``BertEmbeddings`` (token + learned position + segment, then LayerNorm),
a ``BertPooler`` (dense + tanh on the first token, ``[CLS]``), a masked-LM head whose output
matrix *is* the token-embedding matrix, and a classification head. Module names follow the
reference implementation (``embeddings.word_embeddings``, ``cls.predictions.transform``...)
wherever the book has no name of its own, so that ``bert_weights.hf_to_book_key`` maps real
checkpoints onto these modules key by key.

Shapes: token ids ``(B, T)``, hidden states ``(B, T, D)``, pooled ``(B, D)``, logits ``(B, T, V)``
for the masked LM and ``(B, C)`` for the classifier.

Token ids may have any integer dtype (int8 to int64, uint8); float and bool ids are refused with a
``TypeError``, ids outside the vocabulary and sequences longer than ``max_position_embeddings``
with a ``ValueError``, before any work.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from transformer_book.encoder_decoder.encoder import Encoder, EncoderLayer
from transformer_book.common.validation import check_int, check_token_ids

_SIZES = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
          "max_position_embeddings", "type_vocab_size")


def check_number_where(name: str, value, expected: str, ok) -> None:
    """``value`` must be a real number (not a bool) for which ``ok(value)`` holds (NaN never does)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number {expected}, got {value!r}")
    if not ok(value):
        raise ValueError(f"{name} must be {expected}, got {value!r}")


def _check_config(config) -> None:
    if not isinstance(config, BertConfig):
        raise TypeError(f"config must be a BertConfig, got {type(config).__name__}")


def _checking() -> bool:
    """Value checks (one host sync each) are skipped while torch.compile traces: no graph break."""
    return not torch.compiler.is_compiling()


@dataclass(frozen=True)
class BertConfig:
    """The sizes of a BERT model, with the reference implementation's names.

    BERT-base is ``hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
    intermediate_size=3072``; MiniLM-L6 is 384, 6, 12, 1536.

    Every size must be a positive integer (bools refused), ``pad_token_id`` an id of the
    vocabulary, ``layer_norm_eps`` positive and both dropout probabilities in ``[0, 1)``.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        for name in _SIZES:
            check_int(name, getattr(self, name))
        check_int("pad_token_id", self.pad_token_id, minimum=0)
        check_number_where("layer_norm_eps", self.layer_norm_eps, "positive and finite", lambda v: 0 < v < math.inf)
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            check_number_where(name, getattr(self, name), "in [0, 1)", lambda v: 0 <= v < 1)
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} must be divisible by num_attention_heads={self.num_attention_heads}"
            )
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"pad_token_id={self.pad_token_id} is not in the vocabulary of {self.vocab_size}")

    @classmethod
    def from_dict(cls, config: dict) -> "BertConfig":
        """From a ``config.json`` of the reference implementation (other keys are ignored)."""
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a dict (a parsed config.json), got {type(config).__name__}")
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"only hidden_act='gelu' is supported, got {config['hidden_act']!r}")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute (learned) position embeddings are supported")
        return cls(**{key: config[key] for key in asdict(cls()) if key in config})


class BertEmbeddings(nn.Module):
    """``LayerNorm(token + position + segment)`` then dropout: ids ``(B, T)`` to ``(B, T, D)``.

    Unlike the paper's ``Embeddings`` (chapter 2) there is no ``sqrt(d_model)`` scale: all three
    tables are learned together, and the LayerNorm fixes the scale of their sum.
    ``forward`` checks the ids first (see ``BertModel.forward`` for what is refused).
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        _check_config(config)
        self.config = config
        d = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, d)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, d)
        self.LayerNorm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        input_ids, token_type_ids = _check_ids(self.config, input_ids, token_type_ids)
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)        # (T,)
        x = (self.word_embeddings(input_ids)                                          # (B, T, D)
             + self.position_embeddings(positions)                                    # (T, D), broadcast
             + self.token_type_embeddings(token_type_ids))                            # (B, T, D)
        return self.dropout(self.LayerNorm(x))


def _check_ids(
    config: BertConfig, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check ``input_ids`` ``(B, T)`` and ``token_type_ids`` (default all 0) against ``config`` and
    return both in a dtype ``nn.Embedding`` takes (int8, int16 and uint8 become int64).

    Refused: float, complex or bool ids (``TypeError``); another shape than ``(B, T)`` with
    ``T >= 1``, ``T > max_position_embeddings``, ids outside ``[0, vocab_size)``, segments outside
    ``[0, type_vocab_size)`` (``ValueError``). An empty batch (``B = 0``) passes.
    """
    check_token_ids("input_ids", input_ids)
    if input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise ValueError(f"input_ids must have shape (batch, seq) with seq >= 1, got {tuple(input_ids.shape)}")
    length = config.max_position_embeddings
    if input_ids.shape[1] > length:
        raise ValueError(
            f"input_ids has sequences of {input_ids.shape[1]} tokens, more than max_position_embeddings={length}"
        )
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids, dtype=torch.long)
    check_token_ids("token_type_ids", token_type_ids)
    if token_type_ids.shape != input_ids.shape:
        raise ValueError(
            f"token_type_ids must have the shape of input_ids {tuple(input_ids.shape)}, "
            f"got {tuple(token_type_ids.shape)}"
        )
    input_ids, token_type_ids = (t if t.dtype in (torch.int32, torch.int64) else t.long()
                                 for t in (input_ids, token_type_ids))
    if input_ids.numel() and _checking():
        low, high, type_low, type_high = torch.stack(
            [input_ids.min().long(), input_ids.max().long(), token_type_ids.min().long(), token_type_ids.max().long()]
        ).tolist()                                                           # one host sync for four numbers
        if low < 0 or high >= config.vocab_size:
            raise ValueError(f"input_ids must lie in [0, vocab_size={config.vocab_size}), got {low}..{high}")
        if type_low < 0 or type_high >= config.type_vocab_size:
            raise ValueError(
                f"token_type_ids must lie in [0, type_vocab_size={config.type_vocab_size}), got {type_low}..{type_high}"
            )
    return input_ids, token_type_ids


def _check_attention_mask(attention_mask: torch.Tensor, shape: tuple[int, ...], default: bool = False) -> torch.Tensor:
    """Check a ``(B, T)`` ``attention_mask`` (1 or True = real token, 0 = padding) and return it as bool.

    Refused: a float or complex mask (``TypeError``: an additive mask of 0 and -inf would flip
    meaning), another shape than ``shape``, values other than 0 and 1, and a row with no real token
    (``ValueError`` naming the row): attention over no key at all has no meaning, and it would give
    finite numbers that look like an answer. ``default`` says that the mask was made from
    ``input_ids != pad_token_id``, for the message.
    """
    if not isinstance(attention_mask, torch.Tensor):
        raise TypeError(f"attention_mask must be a tensor, got {type(attention_mask).__name__}")
    if attention_mask.is_floating_point() or attention_mask.is_complex():
        raise TypeError(
            f"attention_mask must be bool or integer (1 = real token, 0 = padding), got {attention_mask.dtype}"
        )
    if tuple(attention_mask.shape) != tuple(shape):
        raise ValueError(f"attention_mask must have shape {tuple(shape)}, got {tuple(attention_mask.shape)}")
    mask = attention_mask.bool()
    if mask.numel() and _checking():
        not_binary = ((attention_mask != 0) & (attention_mask != 1)).any()
        empty = ~mask.any(-1)                                                 # (B,): rows with no real token
        bad_values, any_empty = torch.stack([not_binary, empty.any()]).tolist()
        if bad_values:
            raise ValueError("attention_mask must hold only 0 and 1 (1 = real token), got other values")
        if any_empty:
            row = int(empty.nonzero()[0, 0])
            where = ("row {row} of input_ids is all pad_token_id, so the default attention_mask"
                     if default else "attention_mask row {row}").format(row=row)
            raise ValueError(f"{where} has no real token (every position is padding)")
    return mask


class BertPooler(nn.Module):
    """``tanh(W h_[CLS] + b)``: the hidden state of the first token, ``(B, T, D)`` to ``(B, D)``."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        _check_config(config)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        _check_hidden(hidden, self.dense.in_features)
        return torch.tanh(self.dense(hidden[:, 0]))


def _check_hidden(hidden: torch.Tensor, size: int | None, dims: int = 3) -> None:
    """Hidden states: a float tensor ``(B, T, size)`` with ``T >= 1`` (``dims=0``: any ``(..., size)``)."""
    if not isinstance(hidden, torch.Tensor) or not hidden.is_floating_point():
        raise TypeError(f"hidden must be a float tensor, got {getattr(hidden, 'dtype', type(hidden).__name__)}")
    wrong_size = size is not None and hidden.shape[-1:] != (size,)
    if wrong_size or (dims and (hidden.dim() != dims or hidden.shape[1] == 0)):
        expected = f"(batch, seq >= 1, {size or 'dim'})" if dims else f"(..., {size})"
        raise ValueError(f"hidden must have shape {expected}, got {tuple(hidden.shape)}")


class BertModel(nn.Module):
    """Embeddings, then ``num_hidden_layers`` post-norm encoder layers with GELU, then (optionally)
    the pooler. ``forward`` returns the last hidden states ``(B, T, D)``."""

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__()
        _check_config(config)
        self.config = config
        self.embeddings = BertEmbeddings(config)
        layer = lambda: EncoderLayer(  # noqa: E731 - the factory LayerStack calls once per layer
            config.hidden_size, config.num_attention_heads, config.intermediate_size,
            dropout=config.hidden_dropout_prob, norm_first=False, activation="gelu",
            eps=config.layer_norm_eps, attention_dropout=config.attention_probs_dropout_prob,
        )  # no dropout on the feed-forward hidden units, as in BERT (activation_dropout 0)
        self.encoder = Encoder(layer, config.num_hidden_layers, config.hidden_size, final_norm=False)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        init_bert_weights(self)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> torch.Tensor | list[torch.Tensor]:
        """Hidden states ``(B, T, D)`` of the last layer, or with ``output_hidden_states=True`` the
        list of ``num_hidden_layers + 1`` states (the embeddings' output first).

        ``attention_mask`` ``(B, T)``: 1 (or True) for a real token, 0 for padding; by default every
        position that is not ``pad_token_id``. ``token_type_ids`` (the segment, 0 or 1) default to 0.
        Every row must have at least one real token: a row that is all padding (attention over no
        key at all, which would give finite garbage) is refused with a ``ValueError`` naming
        ``attention_mask`` and the row. Refused too, before any work: float or bool ids, segments or
        masks (``TypeError``); ids outside ``[0, vocab_size)``, more than ``max_position_embeddings``
        positions, segments outside ``[0, type_vocab_size)``, mask values other than 0 and 1, and
        shapes that differ from ``input_ids`` ``(B, T)`` (``ValueError``). An empty batch passes.
        """
        x = self.embeddings(input_ids, token_type_ids)                       # (B, T, D); checks the ids
        default = attention_mask is None
        if default:
            attention_mask = input_ids != self.config.pad_token_id
        mask = _check_attention_mask(attention_mask, input_ids.shape, default)  # (B, T): True = real token
        mask = mask[:, None, None, :]                                        # (B, 1, 1, T): True = attend
        states = [x]
        for layer in self.encoder.layers:
            x = layer(x, mask)                                               # (B, T, D)
            states.append(x)
        return states if output_hidden_states else x

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """The pooler's ``(B, D)`` summary of hidden states ``(B, T, D)``."""
        if self.pooler is None:
            raise ValueError("this BertModel was built with add_pooling_layer=False")
        return self.pooler(hidden)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The average of the hidden states ``(B, T, D)`` over the real tokens (``attention_mask``
    ``(B, T)`` is 1 there): ``(B, D)``. This is how sentence-transformers embeds a sentence.
    A row of the mask with no real token has no average and is refused (``ValueError`` naming
    the row), as are masks that are float, of another shape, or hold values other than 0 and 1."""
    _check_hidden(hidden, None)
    _check_attention_mask(attention_mask, hidden.shape[:2])
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)                  # (B, T, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)        # (B, D)


class BertPredictionHeadTransform(nn.Module):
    """``LayerNorm(gelu(W h + b))``: one more layer between the encoder and the vocabulary."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        _check_config(config)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        _check_hidden(hidden, self.dense.in_features, dims=0)
        return self.LayerNorm(F.gelu(self.dense(hidden)))


class BertLMPredictionHead(nn.Module):
    """Hidden states ``(..., D)`` to vocabulary logits ``(..., V)`` through the *tied* embedding
    matrix ``E`` ``(V, D)``: ``logits = transform(h) E^T + bias``. Only the bias is its own."""

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        _check_config(config)
        if not isinstance(word_embeddings, nn.Embedding) or tuple(word_embeddings.weight.shape) != (
            config.vocab_size, config.hidden_size
        ):
            raise ValueError(
                f"word_embeddings must be an nn.Embedding({config.vocab_size}, {config.hidden_size}), "
                f"got {word_embeddings!r}"
            )
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.decoder.weight = word_embeddings.weight                           # one tensor, two uses
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden)) + self.bias


class BertOnlyMLMHead(nn.Module):
    """The container the reference implementation calls ``cls`` (its keys: ``cls.predictions.*``)."""

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(config, word_embeddings)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.predictions(hidden)


class BertForMaskedLM(nn.Module):
    """BERT with the masked-LM head: ids ``(B, T)`` to logits ``(B, T, V)`` for every position.
    The inputs are checked as by ``BertModel.forward`` (a row that is all padding is refused)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        _check_config(config)
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config, self.bert.embeddings.word_embeddings)
        init_bert_weights(self)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.cls(self.bert(input_ids, token_type_ids, attention_mask))


class BertForSequenceClassification(nn.Module):
    """BERT with a classifier on the pooled ``[CLS]`` state: ids ``(B, T)`` to logits ``(B, num_labels)``.
    The inputs are checked as by ``BertModel.forward`` (a row that is all padding is refused)."""

    def __init__(self, config: BertConfig, num_labels: int = 2) -> None:
        super().__init__()
        _check_config(config)
        check_int("num_labels", num_labels)
        self.config, self.num_labels = config, num_labels
        self.bert = BertModel(config, add_pooling_layer=True)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, num_labels)
        init_bert_weights(self)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.bert(input_ids, token_type_ids, attention_mask)             # (B, T, D)
        return self.classifier(self.dropout(self.bert.pool(hidden)))              # (B, C)


@torch.no_grad()
def init_bert_weights(model: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation: every weight matrix and embedding from N(0, 0.02^2), biases 0,
    LayerNorms at (1, 0), the padding row of the embeddings 0. ``std`` must be positive and finite."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    check_number_where("std", std, "positive and finite", lambda v: 0 < v < math.inf)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.normal_(0.0, std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.zero_()
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()
