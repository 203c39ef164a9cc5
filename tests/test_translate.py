"""Tests for transformer_book.encoder_decoder.translate: configs, data preparation and the model cache.

They train on the tiny synthetic number task (``dataset="numbers"``), so they take seconds."""
from __future__ import annotations

import dataclasses
import multiprocessing

from pathlib import Path

import pytest
import torch

from transformer_book.encoder_decoder.batching import BOS_ID, EOS_ID
from transformer_book.encoder_decoder.translate import (CACHE_VERSION, TranslatorConfig, build_model, cache_key,
    default_cache_dir, load_splits, make_split_batches, prepare_data, train_translator)

TINY = TranslatorConfig(
    vocab_size=80, N=1, d_model=16, d_ff=32, h=2, dropout=0.0, epochs=3, batch_size=50,
    warmup=10, lr_factor=0.5, max_len=40, dataset="numbers", dataset_size=600,
)


def test_config_profiles_and_validation():
    full = TranslatorConfig.for_profile("full")
    assert full == TranslatorConfig() and full.max_train_pairs is None and full.dataset == "ding"
    quick = TranslatorConfig.for_profile("quick")
    assert quick.d_model < full.d_model and quick.max_train_pairs is not None
    assert TranslatorConfig.from_dict(full.to_dict()) == full
    with pytest.raises(ValueError, match="profile"):
        TranslatorConfig.for_profile("huge")
    with pytest.raises(ValueError, match="divisible"):
        TranslatorConfig(d_model=30, h=4)
    with pytest.raises(ValueError, match="positive"):
        TranslatorConfig(epochs=0)
    with pytest.raises(ValueError, match="dataset"):
        TranslatorConfig(dataset="wmt14")
    with pytest.raises(ValueError, match="attention_dropout"):
        TranslatorConfig(attention_dropout=1.0)
    with pytest.raises(ValueError, match="activation_dropout"):
        TranslatorConfig(activation_dropout=-0.1)


@pytest.mark.parametrize("field, value", [
    ("lr_factor", -1.0), ("lr_factor", 0.0), ("clip_norm", -1.0), ("clip_norm", 0.0), ("epochs", True),
    ("d_ff", 0), ("vocab_size", -5), ("seed", -1), ("max_train_pairs", 0), ("dataset_size", 0),
    ("norm_first", "yes"), ("dropout", 1.0), ("smoothing", -0.1),
])
def test_config_refuses_each_bad_field_by_name(field, value):
    with pytest.raises(ValueError, match=f"TranslatorConfig.{field}"):
        TranslatorConfig(**{field: value})


def test_build_model_places_dropout_as_the_config_says():
    paper = build_model(TranslatorConfig(vocab_size=50, d_model=16, d_ff=32, h=2, dropout=0.2))
    layer = paper.decoder.layers[0]
    assert layer.self_attention_block.dropout.p == 0.2 and layer.feed_forward.dropout.p == 0.0
    assert layer.self_attention.dropout == layer.cross_attention.dropout == 0.0
    more = build_model(TranslatorConfig(vocab_size=50, d_model=16, d_ff=32, h=2, attention_dropout=0.3,
                                        activation_dropout=0.4))
    assert more.encoder.layers[0].self_attention.dropout == 0.3
    assert more.encoder.layers[0].feed_forward.dropout.p == 0.4


def test_prepare_data_trains_the_tokenizer_on_the_training_split_only():
    tokenizer, splits, encoded = prepare_data(TINY)
    assert set(splits) == {"train", "valid", "test"}
    assert sum(len(pairs) for pairs in splits.values()) == TINY.dataset_size
    german = {de for pairs in splits.values() for de, _ in pairs}
    assert len(german) == TINY.dataset_size  # no German sentence in two splits
    for name in splits:
        assert len(encoded[name]) == len(splits[name])
        for src, tgt in encoded[name]:
            assert src[-1] == EOS_ID and tgt[0] == BOS_ID and tgt[-1] == EOS_ID
            assert len(src) <= TINY.max_len
    # a tokenizer trained on other text gives other ids: the split really is the training text
    other, _, _ = prepare_data(dataclasses.replace(TINY, seed=1))
    assert other.to_str() != tokenizer.to_str()
    batches = make_split_batches(TINY, encoded)
    assert sum(len(batch) for batch in batches["train"]) == len(splits["train"])


def test_max_train_pairs_takes_a_fixed_random_subset():
    config = dataclasses.replace(TINY, max_train_pairs=100)
    subset = load_splits(config)["train"]
    assert len(subset) == 100 and subset == load_splits(config)["train"]
    everything = load_splits(TINY)["train"]
    assert set(subset) <= set(everything) and subset != everything[:100]


def test_cache_key_depends_on_config_and_data():
    splits = load_splits(TINY)
    key = cache_key(TINY, splits)
    assert key == cache_key(TINY, load_splits(TINY))
    assert key != cache_key(dataclasses.replace(TINY, epochs=TINY.epochs + 1), splits)
    changed = {name: list(pairs) for name, pairs in splits.items()}
    changed["test"][0] = ("neu", "0")
    assert key != cache_key(TINY, changed)


def test_default_cache_dir_follows_book_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("BOOK_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "translator"
    monkeypatch.delenv("BOOK_CACHE")
    monkeypatch.chdir(tmp_path)        # wherever it runs from (a notebook runs in book/), the repository's cache
    repository = Path(__file__).resolve().parents[1]
    assert default_cache_dir() == repository / "_build" / "cache" / "translator"


def test_train_translator_learns_and_caches(tmp_path):
    model, tokenizer, splits, history = train_translator(TINY, cache_dir=tmp_path, device="cpu", progress=False)
    assert history.valid_loss[-1] < history.valid_loss[0]
    assert not model.training
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == 1
    assert sorted(p.name for p in folders[0].iterdir()) == ["model.safetensors", "tokenizer.json"]

    again, tokenizer2, splits2, history2 = train_translator(TINY, cache_dir=tmp_path, device="cpu", progress=False)
    assert history2 == history and splits2 == splits
    assert tokenizer2.to_str() == tokenizer.to_str()
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert again.generator.proj.weight is again.src_embed[0].lookup.weight  # still tied


@pytest.mark.parametrize("damage", ["truncate", "flip", "tokenizer"])
def test_a_damaged_cache_entry_is_reported_and_trained_again(tmp_path, damage):
    model, _, _, history = train_translator(TINY, cache_dir=tmp_path, device="cpu", progress=False)
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    if damage == "truncate":
        weights.write_bytes(bytes(data[: len(data) // 3]))
    elif damage == "flip":
        data[-5] ^= 0xFF
        weights.write_bytes(bytes(data))
    else:
        (folder / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.warns(RuntimeWarning, match="cannot be loaded.*training it again"):
        again, _, _, history2 = train_translator(TINY, cache_dir=tmp_path, device="cpu", progress=False)
    assert history2.valid_loss == history.valid_loss           # the same run, trained again
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_a_damaged_partial_run_is_reported_and_started_over(tmp_path):
    _, _, _, history = train_translator(TINY, use_cache=False, device="cpu", progress=False)
    key = cache_key(TINY, load_splits(TINY))
    (tmp_path / key).mkdir()
    (tmp_path / key / "training.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.warns(RuntimeWarning, match="cannot be resumed.*training it again"):
        _, _, _, again = train_translator(TINY, cache_dir=tmp_path, device="cpu", progress=False)
    assert again.valid_loss == history.valid_loss
    assert sorted(p.name for p in (tmp_path / key).iterdir()) == ["model.safetensors", "tokenizer.json"]


def test_a_schedule_replaces_the_learning_rate_and_needs_use_cache_false(tmp_path):
    peak = TINY.d_model ** -0.5 * TINY.warmup ** -0.5 * TINY.lr_factor

    def no_warmup(n):                  # the peak rate from the first update, then the same decay
        return TINY.lr_factor * TINY.d_model ** -0.5 * max(n, TINY.warmup) ** -0.5

    _, _, _, plain = train_translator(TINY, use_cache=False, device="cpu", progress=False)
    _, _, _, flat = train_translator(TINY, use_cache=False, device="cpu", progress=False, schedule=no_warmup)
    assert flat.lr == [no_warmup(n) for n in flat.steps]
    assert flat.lr[0] == pytest.approx(peak) and plain.lr[0] < peak / 2
    assert flat.lr[TINY.warmup - 1 :] == pytest.approx(plain.lr[TINY.warmup - 1 :])   # the same after the warm-up
    assert flat.train_loss != plain.train_loss
    with pytest.raises(ValueError, match="use_cache=False"):
        train_translator(TINY, cache_dir=tmp_path, device="cpu", progress=False, schedule=no_warmup)
    with pytest.raises(ValueError, match="function"):
        train_translator(TINY, use_cache=False, device="cpu", progress=False, schedule=0.001)
    assert not any(tmp_path.iterdir())


def _train_in_subprocess(cache_dir: str) -> float:
    torch.set_num_threads(1)
    _, _, _, history = train_translator(TINY, cache_dir=cache_dir, device="cpu", progress=False)
    return history.valid_loss[-1]


def test_two_processes_training_at_once_share_one_intact_cache(tmp_path):
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = pool.map(_train_in_subprocess, [str(tmp_path)] * 2)
    assert results[0] == results[1]
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors", "tokenizer.json"]
    assert _train_in_subprocess(str(tmp_path)) == results[0]


def test_a_cuda_device_gets_the_papers_base_size_in_the_full_profile():
    cpu = TranslatorConfig.for_profile("full")
    assert TranslatorConfig.for_profile("full", device="cpu") == cpu == TranslatorConfig.for_profile("full", device=None)
    gpu = TranslatorConfig.for_profile("full", device="cuda")
    assert (gpu.d_model, gpu.N, gpu.d_ff, gpu.h) == (512, 6, 2048, 8) and gpu != cpu
    assert TranslatorConfig.for_profile("full", device=torch.device("cuda", 0)) == gpu
    assert TranslatorConfig.for_profile("quick", device="cuda") == TranslatorConfig.for_profile("quick")
    assert cache_key(gpu, {"train": [("a", "b")]}) != cache_key(cpu, {"train": [("a", "b")]})


def test_numbers_task_profiles(monkeypatch):
    full, quick = TranslatorConfig.numbers_task("full"), TranslatorConfig.numbers_task("quick")
    for config in (full, quick):
        assert config.dataset == "numbers" and config.dataset_size <= 10_000
        assert TranslatorConfig.from_dict(config.to_dict()) == config
    assert quick.epochs < full.epochs
    monkeypatch.setenv("BOOK_PROFILE", "full")
    assert TranslatorConfig.numbers_task() == full
    monkeypatch.setenv("BOOK_PROFILE", "quick")
    assert TranslatorConfig.numbers_task() == quick
    with pytest.raises(ValueError, match="profile"):
        TranslatorConfig.numbers_task("huge")


def test_number_task_tokenizer_splits_digits_and_its_cache_key_says_so():
    tokenizer, splits, _ = prepare_data(TINY)
    digits = [tokenizer.id_to_token(i) for i in tokenizer.encode("2024", add_special_tokens=False).ids]
    assert [token for token in digits if token != "▁"] == ["2", "0", "2", "4"]
    # a German-English config's key is what it was before the number task split digits; a
    # number-task key is not, so that number models cached before are trained again
    import hashlib
    import json

    def plain_key(config, splits):
        digest = hashlib.sha256()
        for part in (CACHE_VERSION, json.dumps(config.to_dict(), sort_keys=True),
                     json.dumps(splits, sort_keys=True, ensure_ascii=False)):
            digest.update(part.encode("utf-8"))
        return digest.hexdigest()[:16]

    fake = {"train": [("Hallo", "Hello")], "valid": [], "test": []}
    assert cache_key(TranslatorConfig(), fake) == plain_key(TranslatorConfig(), fake)
    assert cache_key(TINY, fake) != plain_key(TINY, fake)
