import pytest
import torch

from transformer_book.encoder_decoder.batching import (BOS_ID, EOS_ID, PAD_ID, UNK_ID, Batch, decode_ids,
    encode_pairs, make_batches, train_tokenizer)
from transformer_book.pieces.tokenization import SPECIAL_TOKENS, train_bpe

PAIRS = [
    ("Ich bin müde.", "I am tired."),
    ("Das ist gut.", "That is good."),
    ("Er kommt morgen, oder?", "He is coming tomorrow, isn't he?"),
    ("Wo ist der Bahnhof?", "Where is the station?"),
    ("Sie liest ein Buch.", "She is reading a book."),
    ("Wir gehen nach Hause.", "We are going home."),
    ("Es regnet.", "It is raining."),
    ("Kannst du mir helfen?", "Can you help me?"),
    ("Das Wetter ist heute schön.", "The weather is nice today."),
    ("Ich habe keine Zeit.", "I have no time."),
    ("Guten Morgen!", "Good morning!"),
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(PAIRS, vocab_size=120, min_frequency=1)


@pytest.fixture(scope="module")
def encoded(tokenizer):
    return encode_pairs(tokenizer, PAIRS)


def test_special_ids_match_tokenizer_order(tokenizer):
    assert [PAD_ID, UNK_ID, BOS_ID, EOS_ID] == [0, 1, 2, 3]
    for token_id, token in enumerate(SPECIAL_TOKENS):
        assert tokenizer.token_to_id(token) == token_id


def test_tokenizer_is_shared_and_trained_on_both_sides(tokenizer):
    # A German-only and an English-only sentence both tokenize without unknowns.
    assert UNK_ID not in tokenizer.encode("Guten Morgen!", add_special_tokens=False).ids
    assert UNK_ID not in tokenizer.encode("Good morning!", add_special_tokens=False).ids


def test_encode_pairs_markers(tokenizer, encoded):
    assert len(encoded) == len(PAIRS)
    for (src, tgt), (de, en) in zip(encoded, PAIRS):
        assert src[-1] == EOS_ID and BOS_ID not in src
        assert tgt[0] == BOS_ID and tgt[-1] == EOS_ID
        assert decode_ids(tokenizer, src) == de
        assert decode_ids(tokenizer, tgt) == en


def test_encode_pairs_max_len(tokenizer):
    short = encode_pairs(tokenizer, PAIRS, max_len=4)
    for src, tgt in short:
        assert len(src) <= 4 and len(tgt) <= 5
        assert src[-1] == EOS_ID and tgt[0] == BOS_ID and tgt[-1] == EOS_ID
    with pytest.raises(ValueError):
        encode_pairs(tokenizer, PAIRS, max_len=1)


def test_bad_input_is_rejected(tokenizer, encoded):
    with pytest.raises(ValueError, match="empty"):
        train_tokenizer([], 100)
    with pytest.raises(ValueError, match="empty"):
        encode_pairs(tokenizer, [])
    with pytest.raises(TypeError):
        encode_pairs(tokenizer, [("nur eine Seite",)])
    with pytest.raises(ValueError, match="batch_size"):
        make_batches(encoded, 0)
    with pytest.raises(ValueError, match="empty"):
        make_batches([], 4)
    # A tokenizer whose special tokens are in another order is refused.
    other = train_bpe(["a b c"], 20, special_tokens=("[UNK]", "[PAD]", "[BOS]", "[EOS]"), min_frequency=1)
    with pytest.raises(ValueError, match="PAD"):
        encode_pairs(other, PAIRS)


def test_batch_shapes_shift_and_padding(encoded):
    batches = make_batches(encoded, batch_size=4, seed=1)
    assert [len(b) for b in sorted(batches, key=len, reverse=True)] == [4, 4, 3]
    for batch in batches:
        assert isinstance(batch, Batch)
        assert batch.src.dtype == torch.long and batch.tgt_in.shape == batch.tgt_out.shape
        assert batch.src.shape[0] == batch.tgt_in.shape[0] == len(batch.indices)
        for row, i in enumerate(batch.indices):
            src, tgt = encoded[i]
            # Real tokens, then nothing but padding.
            assert batch.src[row, : len(src)].tolist() == src
            assert (batch.src[row, len(src):] == PAD_ID).all()
            assert batch.tgt_in[row, : len(tgt) - 1].tolist() == tgt[:-1]
            assert batch.tgt_out[row, : len(tgt) - 1].tolist() == tgt[1:]
            assert (batch.tgt_in[row, len(tgt) - 1:] == PAD_ID).all()
            assert (batch.tgt_out[row, len(tgt) - 1:] == PAD_ID).all()
            # The shift: what the decoder reads at t+1 is what it had to predict at t.
            assert torch.equal(batch.tgt_in[row, 1 : len(tgt) - 1], batch.tgt_out[row, : len(tgt) - 2])
        # Some row has no padding in each tensor (no wasted columns).
        assert (batch.src[:, -1] != PAD_ID).any() and (batch.tgt_out[:, -1] != PAD_ID).any()
        assert batch.ntokens == int((batch.tgt_out != PAD_ID).sum())
        assert batch.ntokens == sum(len(encoded[i][1]) - 1 for i in batch.indices)


def test_every_pair_exactly_once(encoded):
    for batch_size in (1, 3, 4, 100):
        batches = make_batches(encoded, batch_size=batch_size, seed=5)
        seen = sorted(i for b in batches for i in b.indices)
        assert seen == list(range(len(encoded)))
        # And by content: the unpadded rows are exactly the encoded pairs.
        rows = sorted(
            (tuple(t for t in b.src[r].tolist() if t != PAD_ID),
             tuple(t for t in b.tgt_out[r].tolist() if t != PAD_ID))
            for b in batches for r in range(len(b))
        )
        assert rows == sorted((tuple(s), tuple(t[1:])) for s, t in encoded)


def test_batches_group_similar_lengths(encoded):
    batches = make_batches(encoded, batch_size=4, shuffle=False)
    lengths = [len(encoded[i][1]) for b in batches for i in b.indices]
    assert lengths == sorted(lengths)


def test_deterministic_under_seed(encoded):
    def key(batches):
        return [b.indices for b in batches]

    assert key(make_batches(encoded, 2, seed=3)) == key(make_batches(encoded, 2, seed=3))
    orders = {tuple(key(make_batches(encoded, 2, seed=s))) for s in range(6)}
    assert len(orders) > 1  # the seed changes the order of the batches
    assert key(make_batches(encoded, 2, shuffle=False)) == key(make_batches(encoded, 2, shuffle=False, seed=9))


def test_batch_to_device(encoded):
    batch = make_batches(encoded, 4)[0]
    moved = batch.to("cpu")
    assert isinstance(moved, Batch) and moved.ntokens == batch.ntokens and moved.indices == batch.indices
    assert torch.equal(moved.src, batch.src) and moved.src.device.type == "cpu"


def test_decode_ids_stops_at_eos_and_skips_specials(tokenizer):
    ids = tokenizer.encode("Guten Morgen!", add_special_tokens=False).ids
    tail = tokenizer.encode("Es regnet.", add_special_tokens=False).ids
    assert decode_ids(tokenizer, [BOS_ID] + ids + [EOS_ID] + tail) == "Guten Morgen!"
    assert decode_ids(tokenizer, torch.tensor([BOS_ID] + ids + [EOS_ID, PAD_ID, PAD_ID])) == "Guten Morgen!"
    assert decode_ids(tokenizer, [EOS_ID] + ids) == ""
    with pytest.raises(ValueError):
        decode_ids(tokenizer, torch.zeros(2, 3, dtype=torch.long))
