"""transformer_book: the package the book builds, chapter by chapter, and tests."""
from .attention import attention_scores, attention_weights, scaled_dot_product_attention
from .display import show_source
from .embeddings import Embeddings, LearnedPositionalEncoding, PositionalEncoding, sinusoidal_table
from .encoder import EncoderLayer
from .feed_forward import PositionwiseFeedForward
from .masks import causal_mask, check_mask, padding_mask
from .multi_head import MultiHeadAttention
from .sublayers import SublayerConnection
from .utils import book_profile, count_parameters, pick_device, seed_everything

__version__ = "0.1.0"

__all__ = [
    "attention_scores",
    "attention_weights",
    "scaled_dot_product_attention",
    "show_source",
    "Embeddings",
    "LearnedPositionalEncoding",
    "PositionalEncoding",
    "sinusoidal_table",
    "EncoderLayer",
    "PositionwiseFeedForward",
    "causal_mask",
    "check_mask",
    "padding_mask",
    "MultiHeadAttention",
    "SublayerConnection",
    "book_profile",
    "count_parameters",
    "pick_device",
    "seed_everything",
]
