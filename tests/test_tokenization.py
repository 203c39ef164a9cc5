"""train_bpe's individual_digits option: digits as tokens of their own, the default unchanged."""
import json

import pytest
from tokenizers import pre_tokenizers

from transformer_book.data.numbers import number_pairs
from transformer_book.encoder_decoder.batching import decode_ids, train_tokenizer
from transformer_book.pieces.tokenization import train_bpe

PAIRS = number_pairs(2000, seed=0)
TEXTS = [side for pair in PAIRS for side in pair] + ["Im Jahr 2024 gab es 365 Tage.", "Room 101, floor 23"]


def test_default_merges_digits_and_individual_digits_splits_them():
    merged = train_bpe(TEXTS, 300)
    split = train_bpe(TEXTS, 300, individual_digits=True)
    assert any(len(token.strip("▁")) > 1 and token.strip("▁").isdigit() for token in merged.get_vocab())
    assert not any(len(token.strip("▁")) > 1 and any(c.isdigit() for c in token) for token in split.get_vocab())
    encoding = split.encode("2024 dreiundzwanzig")
    digits = [token for token in encoding.tokens if token.isdigit()]
    assert digits == ["2", "0", "2", "4"]
    assert split.decode(split.encode("2024").ids) == "2024"   # no spaces between the digits
    assert split.decode(encoding.ids) == "2024 dreiundzwanzig"


def test_default_pre_tokenizer_is_unchanged():
    """Without individual_digits the tokenizer is the one train_bpe always made."""
    expected = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
    tokenizer = train_bpe(TEXTS, 300)
    assert json.loads(tokenizer.to_str())["pre_tokenizer"] == json.loads(expected.__getstate__())
    assert tokenizer.to_str() == train_bpe(TEXTS, 300, individual_digits=False).to_str()
    with_digits = json.loads(train_bpe(TEXTS, 300, individual_digits=True).to_str())["pre_tokenizer"]
    assert with_digits["pretokenizers"][-1] == {"type": "Digits", "individual_digits": True}


def test_train_tokenizer_passes_individual_digits_on():
    tokenizer = train_tokenizer(PAIRS, 200, individual_digits=True)
    ids = tokenizer.encode("9876", add_special_tokens=False).ids
    assert [tokenizer.id_to_token(i) for i in ids if tokenizer.id_to_token(i) != "▁"] == ["9", "8", "7", "6"]
    assert decode_ids(tokenizer, ids) == "9876"


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_individual_digits_must_be_a_bool(bad):
    with pytest.raises(TypeError, match="individual_digits"):
        train_bpe(TEXTS, 300, individual_digits=bad)
