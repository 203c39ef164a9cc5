import pytest

from transformer_book.data.packages import MissingDataError, package_dir
from transformer_book.data.shakespeare import list_plays, load_shakespeare
from transformer_book.data.shakespeare import markdown_to_text
from transformer_book.pieces.tokenization import char_tokens, train_bpe, word_tokens


def test_missing_package_error_says_how_to_install():
    with pytest.raises(MissingDataError, match="not installed"):
        package_dir("no_such_data_package_xyz")


def test_markdown_to_text():
    md = "# Play\n\n### SCENE I. A room.\n\n_Enter ROMEO_\n\n**ROMEO**  \nBut soft!  \nWhat light\n"
    assert markdown_to_text(md) == "Play\n\nSCENE I. A room.\n\nEnter ROMEO\n\nROMEO:\nBut soft!\nWhat light\n"


def test_shakespeare_loads_from_the_package():
    plays = list_plays()
    assert len(plays) == 38 and "twelfth-night" in plays
    text = load_shakespeare("twelfth-night")
    assert "If music be the food of love, play on;" in text
    assert "**" not in text and "DUKE ORSINO:" in text


def test_unknown_play_is_reported():
    with pytest.raises(KeyError, match="unknown plays"):
        load_shakespeare(["hamlet-the-musical"])


def test_char_and_word_tokens():
    assert char_tokens("to be") == ["t", "o", " ", "b", "e"]
    assert word_tokens("To be, or not.") == ["To", "be", ",", "or", "not", "."]


def test_bpe_round_trip_and_special_tokens():
    text = load_shakespeare("twelfth-night")
    tokenizer = train_bpe(text.splitlines(), vocab_size=400)
    assert tokenizer.token_to_id("[PAD]") == 0
    assert tokenizer.get_vocab_size() <= 400
    line = "If music be the food of love, play on;"
    encoding = tokenizer.encode(line)
    assert tokenizer.decode(encoding.ids) == line
    assert len(encoding.ids) < len(line)


def test_bpe_vocab_too_small():
    with pytest.raises(ValueError, match="no room"):
        train_bpe(["a b"], vocab_size=4)
