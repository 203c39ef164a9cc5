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
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .encoder import Encoder, EncoderLayer


@dataclass(frozen=True)
class BertConfig:
    """The sizes of a BERT model, with the reference implementation's names.

    BERT-base is ``hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
    intermediate_size=3072``; MiniLM-L6 is 384, 6, 12, 1536.
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
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} must be divisible by num_attention_heads={self.num_attention_heads}"
            )
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"pad_token_id={self.pad_token_id} is not in the vocabulary of {self.vocab_size}")

    @classmethod
    def from_dict(cls, config: dict) -> "BertConfig":
        """From a ``config.json`` of the reference implementation (other keys are ignored)."""
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"only hidden_act='gelu' is supported, got {config['hidden_act']!r}")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute (learned) position embeddings are supported")
        return cls(**{key: config[key] for key in asdict(cls()) if key in config})


class BertEmbeddings(nn.Module):
    """``LayerNorm(token + position + segment)`` then dropout: ids ``(B, T)`` to ``(B, T, D)``.

    Unlike the paper's ``Embeddings`` (chapter 2) there is no ``sqrt(d_model)`` scale: all three
    tables are learned together, and the LayerNorm fixes the scale of their sum.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        d = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, d)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, d)
        self.LayerNorm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)        # (T,)
        x = (self.word_embeddings(input_ids)                                          # (B, T, D)
             + self.position_embeddings(positions)                                    # (T, D), broadcast
             + self.token_type_embeddings(token_type_ids))                            # (B, T, D)
        return self.dropout(self.LayerNorm(x))


class BertPooler(nn.Module):
    """``tanh(W h_[CLS] + b)``: the hidden state of the first token, ``(B, T, D)`` to ``(B, D)``."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))


class BertModel(nn.Module):
    """Embeddings, then ``num_hidden_layers`` post-norm encoder layers with GELU, then (optionally)
    the pooler. ``forward`` returns the last hidden states ``(B, T, D)``."""

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__()
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

    def _check(self, input_ids, token_type_ids, attention_mask) -> None:
        vocab, length = self.config.vocab_size, self.config.max_position_embeddings
        if input_ids.dim() != 2 or input_ids.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"input_ids must be integer ids of shape (batch, seq), got {input_ids.dtype} {tuple(input_ids.shape)}"
            )
        if input_ids.shape[1] > length:
            raise ValueError(f"sequences of {input_ids.shape[1]} tokens exceed max_position_embeddings={length}")
        low, high = (int(input_ids.min()), int(input_ids.max())) if input_ids.numel() else (0, 0)
        if low < 0 or high >= vocab:
            raise IndexError(f"token ids must lie in [0, {vocab}), got {low}..{high}")
        for name, other in (("token_type_ids", token_type_ids), ("attention_mask", attention_mask)):
            if other is not None and other.shape != input_ids.shape:
                raise ValueError(
                    f"{name} must have the shape of input_ids {tuple(input_ids.shape)}, got {tuple(other.shape)}"
                )
        if token_type_ids is not None and token_type_ids.numel():
            if int(token_type_ids.min()) < 0 or int(token_type_ids.max()) >= self.config.type_vocab_size:
                raise IndexError(f"token_type_ids must lie in [0, {self.config.type_vocab_size})")

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
        """
        self._check(input_ids, token_type_ids, attention_mask)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = input_ids != self.config.pad_token_id
        mask = attention_mask.bool()[:, None, None, :]                       # (B, 1, 1, T): True = attend
        x = self.embeddings(input_ids, token_type_ids)                       # (B, T, D)
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
    ``(B, T)`` is 1 there): ``(B, D)``. This is how sentence-transformers embeds a sentence."""
    if attention_mask.shape != hidden.shape[:2]:
        raise ValueError(
            f"attention_mask {tuple(attention_mask.shape)} must match hidden states {tuple(hidden.shape[:2])}"
        )
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)                  # (B, T, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)        # (B, D)


class BertPredictionHeadTransform(nn.Module):
    """``LayerNorm(gelu(W h + b))``: one more layer between the encoder and the vocabulary."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(F.gelu(self.dense(hidden)))


class BertLMPredictionHead(nn.Module):
    """Hidden states ``(..., D)`` to vocabulary logits ``(..., V)`` through the *tied* embedding
    matrix ``E`` ``(V, D)``: ``logits = transform(h) E^T + bias``. Only the bias is its own."""

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
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
    """BERT with the masked-LM head: ids ``(B, T)`` to logits ``(B, T, V)`` for every position."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config, self.bert.embeddings.word_embeddings)
        init_bert_weights(self)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.cls(self.bert(input_ids, token_type_ids, attention_mask))


class BertForSequenceClassification(nn.Module):
    """BERT with a classifier on the pooled ``[CLS]`` state: ids ``(B, T)`` to logits ``(B, num_labels)``."""

    def __init__(self, config: BertConfig, num_labels: int = 2) -> None:
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be positive, got {num_labels}")
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
    LayerNorms at (1, 0), the padding row of the embeddings 0."""
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
