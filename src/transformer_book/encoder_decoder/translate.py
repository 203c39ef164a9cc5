"""A German-to-English translator, end to end: data, tokenizer, model, training, and a cache.

``train_translator(TranslatorConfig.for_profile("full"))`` loads the Ding sentence pairs, splits
them by a hash of the German side, trains one shared BPE tokenizer on the training split only,
builds the encoder-decoder of ``model.make_model`` and trains it with ``training.fit``. The
finished model is cached on disk, keyed by a hash of the configuration and of the data, so that
the next call (chapter 12, the benchmarks, a second run of chapter 11) loads it in a second.

The cache lives in ``_build/cache/translator/`` under the repository root, or in
``$BOOK_CACHE/translator/`` when the environment variable ``BOOK_CACHE`` is set. Every file in it
is written atomically, and a lock file makes a second process that wants the same model wait for
the first one instead of training it again.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Iterator

import torch
from tokenizers import Tokenizer

from transformer_book.encoder_decoder.batching import (PAD_ID, EncodedPair, Batch, encode_pairs,
    make_batches, train_tokenizer)
from transformer_book.encoder_decoder.model import EncoderDecoder, make_model
from transformer_book.common.checkpoints import (CheckpointError, atomic_write, load_checkpoint,
    read_checkpoint_metadata, save_checkpoint)
from transformer_book.encoder_decoder.training import History, fit, make_optimizer
from transformer_book.common.utils import book_profile, pick_device, seed_everything
from transformer_book.common.validation import check_number

CACHE_VERSION = "translator/3"   # change it when a change of the code should retrain cached models
DATASETS = ("ding", "numbers")


@dataclass(frozen=True)
class TranslatorConfig:
    """Everything that decides what ``train_translator`` trains (and so the cache key).

    Model: ``vocab_size`` (one BPE vocabulary shared by German and English), ``N`` layers in each
    stack, ``d_model``, ``d_ff``, ``h`` heads, ``dropout``. Training: ``epochs``, ``batch_size``
    (sentence pairs per batch), ``warmup`` steps and ``lr_factor`` of the learning-rate schedule,
    label ``smoothing``, ``clip_norm`` for gradient clipping, ``seed``. Data: ``max_len`` (longer
    sentences are truncated to this many tokens), ``max_train_pairs`` (a random subset of the
    training split, or all of it with None), ``dataset`` ("ding", or "numbers" for the tiny
    synthetic task of ``data.numbers`` with ``dataset_size`` pairs). ``norm_first``: pre-norm
    layers (the default: in a run of a few thousand steps they learn faster than the paper's
    post-norm layers); False for the paper's order. ``dropout`` is the paper's (on the embeddings
    and each sublayer's output); ``attention_dropout`` and ``activation_dropout`` (attention
    weights, feed-forward hidden units) are 0, as in the paper (see ``model.make_model``).
    """

    vocab_size: int = 4000
    N: int = 2
    d_model: int = 128
    d_ff: int = 512
    h: int = 4
    dropout: float = 0.1
    epochs: int = 15
    batch_size: int = 32
    warmup: int = 400
    smoothing: float = 0.1
    seed: int = 0
    max_len: int = 64
    lr_factor: float = 0.5
    clip_norm: float = 1.0
    max_train_pairs: int | None = None
    dataset: str = "ding"
    dataset_size: int = 3000
    norm_first: bool = True
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "N", "d_model", "d_ff", "h", "epochs", "batch_size", "warmup", "max_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TranslatorConfig.{name} must be a positive integer, got {value!r}")
        if self.d_model % self.h:
            raise ValueError(f"d_model={self.d_model} must be divisible by h={self.h}")
        for name in ("dropout", "attention_dropout", "activation_dropout", "smoothing"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"TranslatorConfig.{name} must be in [0, 1), got {getattr(self, name)!r}")
        check_number("TranslatorConfig.lr_factor", self.lr_factor, low=0.0, low_open=True)
        check_number("TranslatorConfig.clip_norm", self.clip_norm, low=0.0, low_open=True)
        if not isinstance(self.norm_first, bool):
            raise ValueError(f"TranslatorConfig.norm_first must be True or False, got {self.norm_first!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"TranslatorConfig.seed must be a non-negative integer, got {self.seed!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        for name in ("max_train_pairs", "dataset_size"):
            value = getattr(self, name)
            if value is None and name == "max_train_pairs":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TranslatorConfig.{name} must be a positive integer{' or None' * (name == 'max_train_pairs')}, got {value!r}")

    @classmethod
    def for_profile(cls, profile: str | None = None, device: torch.device | str | None = None) -> "TranslatorConfig":
        """The book's settings for an execution profile (``book_profile()`` when None) on ``device``
        (the CPU settings when None).

        - ``"full"``: d_model 128, 2 + 2 pre-norm layers, d_ff 512, 4 heads, a 4,000-token
          vocabulary, the whole training split, 15 epochs of batches of 32 pairs, budgeted for about
          a quarter of an hour of 2 idle CPU cores (longer on a busy machine, far less on a GPU). With so little data, many epochs of a small model
          beat a few epochs of a large one in the same time: d_model 256 and 3 + 3 layers manage
          6 epochs in that time and still ignore most of the source.
        - ``"full"`` on a CUDA device: the paper's base size (d_model 512, 6 + 6 layers, d_ff 2048,
          8 heads) for 30 epochs of batches of 128 pairs, trained with mixed precision (``fit``'s
          default on CUDA), for readers on a GPU or Colab. Not yet run by the book's authors: its time
          and its result are whatever the chapter's run measures.
        - ``"quick"``: a tiny model (d_model 64, 2 + 2 layers) on a subset of 3,000 training pairs
          for a few epochs, under half a minute on one CPU thread: it learns, but does not translate.
        """
        profile = book_profile() if profile is None else profile
        on_gpu = device is not None and torch.device(device).type == "cuda"
        if profile == "full" and on_gpu:
            return cls(d_model=512, N=6, d_ff=2048, h=8, epochs=30, batch_size=128, warmup=400, lr_factor=1.0)
        if profile == "full":
            return cls()
        if profile == "quick":
            return cls(
                vocab_size=2000, N=2, d_model=64, d_ff=256, h=4, dropout=0.1, epochs=4,
                batch_size=32, warmup=100, lr_factor=1.0, max_len=40, max_train_pairs=3000,
            )
        raise ValueError(f"profile must be 'quick' or 'full', got {profile!r}")

    @classmethod
    def numbers_task(cls, profile: str | None = None) -> "TranslatorConfig":
        """The book's settings for the number task (``dataset="numbers"``: German number words
        to digits, ``data.numbers``) for an execution profile (``book_profile()`` when None).

        Both use every number below 10,000 (``dataset_size=10000``, so the hash split gives about
        9,000 training numbers and 500 test numbers, never seen in training) and a 150-piece
        vocabulary with the digits split off (``prepare_data``).

        - ``"full"``: d_model 64, 2 + 2 pre-norm layers, d_ff 256, 4 heads, 40 epochs of batches of
          128 with a warm-up of 200 steps: about 150 s on one thread of a 2-core Xeon, 99.8% exact
          match on the test numbers (515 of 516, seed 0).
        - ``"quick"``: the same model for 10 epochs, under a minute on one thread: about 98%.
        """
        profile = book_profile() if profile is None else profile
        if profile == "full":
            return cls(vocab_size=150, N=2, d_model=64, d_ff=256, h=4, dropout=0.1, epochs=40, batch_size=128,
                       warmup=200, lr_factor=1.0, max_len=64, dataset="numbers", dataset_size=10000)
        if profile == "quick":
            return cls(vocab_size=150, N=2, d_model=64, d_ff=256, h=4, dropout=0.1, epochs=10, batch_size=128,
                       warmup=200, lr_factor=1.0, max_len=64, dataset="numbers", dataset_size=10000)
        raise ValueError(f"profile must be 'quick' or 'full', got {profile!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TranslatorConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def load_splits(config: TranslatorConfig) -> dict[str, list[tuple[str, str]]]:
    """The (German, English) pairs of ``config.dataset``, split train/valid/test by a hash of the
    German side (``data.ding.split_by_hash``), with the training split cut to a random subset of
    ``config.max_train_pairs`` pairs (kept in their original order) when that is set."""
    from transformer_book.data.ding import load_ding_pairs, split_by_hash

    if config.dataset == "ding":
        pairs = load_ding_pairs()
    else:
        from transformer_book.data.numbers import number_pairs

        pairs = number_pairs(config.dataset_size, seed=config.seed)
    splits = split_by_hash(pairs)
    if config.max_train_pairs is not None and config.max_train_pairs < len(splits["train"]):
        keep = sorted(random.Random(config.seed).sample(range(len(splits["train"])), config.max_train_pairs))
        splits["train"] = [splits["train"][i] for i in keep]
    return splits


def prepare_data(
    config: TranslatorConfig, tokenizer: Tokenizer | None = None
) -> tuple[Tokenizer, dict[str, list[tuple[str, str]]], dict[str, list[EncodedPair]]]:
    """``(tokenizer, splits, encoded)`` for ``config``.

    The tokenizer (one BPE vocabulary of ``config.vocab_size`` for both languages) is trained on
    the TRAINING split only, unless one is passed in; for the number task each digit is a token
    of its own (``individual_digits``), so that the model writes numbers digit by digit.
    ``encoded[name]`` holds the token ids of ``splits[name]``, aligned with it, truncated to
    ``config.max_len`` tokens.
    """
    splits = load_splits(config)
    if tokenizer is None:
        tokenizer = train_tokenizer(
            splits["train"], config.vocab_size, individual_digits=(config.dataset == "numbers")
        )
    encoded = {name: encode_pairs(tokenizer, pairs, config.max_len) for name, pairs in splits.items()}
    return tokenizer, splits, encoded


def make_split_batches(config: TranslatorConfig, encoded: dict[str, list[EncodedPair]]) -> dict[str, list[Batch]]:
    """Length-grouped batches of ``config.batch_size`` pairs for each split (only the training
    batches are shuffled)."""
    return {
        name: make_batches(pairs, config.batch_size, shuffle=(name == "train"), seed=config.seed)
        for name, pairs in encoded.items()
        if pairs
    }


def build_model(config: TranslatorConfig, vocab_size: int | None = None) -> EncoderDecoder:
    """The encoder-decoder for ``config``: one vocabulary and one embedding matrix shared by the
    source, the target and the generator (seeded with ``config.seed``)."""
    seed_everything(config.seed)
    return make_model(
        vocab_size or config.vocab_size, N=config.N, d_model=config.d_model, d_ff=config.d_ff,
        h=config.h, dropout=config.dropout, shared_vocab=True, tie_embeddings=True,
        norm_first=config.norm_first, pad_id=PAD_ID, attention_dropout=config.attention_dropout,
        activation_dropout=config.activation_dropout,
    )


# --------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """``$BOOK_CACHE/translator`` if ``BOOK_CACHE`` is set, else ``_build/cache/translator`` under
    the repository root (found from this file; the current folder when the package is installed
    without the repository)."""
    if os.environ.get("BOOK_CACHE"):
        return Path(os.environ["BOOK_CACHE"]) / "translator"
    here = Path(__file__).resolve()
    root = next((folder for folder in here.parents if (folder / "pyproject.toml").exists()
                 and (folder / "src" / "transformer_book").is_dir()), Path.cwd())
    return root / "_build" / "cache" / "translator"


def cache_key(config: TranslatorConfig, splits: dict[str, list[tuple[str, str]]]) -> str:
    """A short hash of the cache version, the configuration and every sentence pair of every split
    (and, for the number task, of its tokenizer's digit splitting, so that models cached before
    ``individual_digits`` are trained again while the German-English keys stay as they were)."""
    digest = hashlib.sha256()
    digest.update(CACHE_VERSION.encode())
    digest.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    if config.dataset == "numbers":   # its tokenizer splits digits since translator/3: retrain older entries
        digest.update(b"individual_digits")
    digest.update(json.dumps(splits, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (POSIX ``flock``; no lock where that is missing). The OS
    releases it if the process dies, so a crashed run never blocks the next one."""
    try:
        import fcntl
    except ImportError:  # Windows: atomic writes still keep the cache intact
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load_cached(folder: Path, config: TranslatorConfig):
    """The cached model (on the CPU), tokenizer, history and extra of ``folder``; ``CachedEntryError``
    if a file there is damaged."""
    try:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as error:   # tokenizers raises a plain Exception for a file it cannot parse
        raise CachedEntryError(f"{folder / 'tokenizer.json'} cannot be read: {error}") from error
    model = build_model(config, tokenizer.get_vocab_size())
    try:
        info = load_checkpoint(folder / "model.safetensors", model)
    except (CheckpointError, OSError) as error:
        raise CachedEntryError(str(error)) from error
    return model.eval(), tokenizer, History.from_dict(info["extra"]["history"]), info["extra"]


class CachedEntryError(ValueError):
    """A file of a cached translator is damaged (so the entry is trained again)."""


def train_translator(
    config: TranslatorConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    amp: bool | None = None,
    progress: bool = True,
    use_cache: bool = True,
    schedule: Callable[[int], float] | None = None,
) -> tuple[EncoderDecoder, Tokenizer, dict[str, list[tuple[str, str]]], History]:
    """Train a translator for ``config`` (``TranslatorConfig.for_profile()`` when None), or load the
    one trained before, and return ``(model, tokenizer, splits, history)``.

    The model is in evaluation mode on ``device`` (``pick_device()`` when None). A finished model
    is cached in ``cache_dir/<key>/`` (``default_cache_dir()`` when None), where ``<key>`` is
    ``cache_key(config, splits)``; training itself checkpoints after each epoch there and resumes
    from that checkpoint if it was interrupted. ``use_cache=False`` trains without reading or
    writing the cache. ``amp``: mixed precision, as in ``training.fit``. ``schedule``: the learning
    rate of update n (n = 1, 2, ...) in place of ``transformer_lr(n, config.d_model,
    config.warmup, config.lr_factor)``; only with ``use_cache=False``, since the cache key cannot
    tell one function from another.
    """
    config = TranslatorConfig.for_profile() if config is None else config
    if schedule is not None and (use_cache or not callable(schedule)):
        raise ValueError("schedule must be a function of the update number, and it needs use_cache=False "
                         "(the cache key records the config, not a function)")
    device = pick_device() if device is None else torch.device(device)
    splits = load_splits(config)
    if not use_cache:
        model, tokenizer, history, _ = _train(config, None, device, amp, progress, schedule)
        return model, tokenizer, splits, history
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / cache_key(config, splits)
    finished = folder / "model.safetensors"
    with _file_lock(folder.parent / f"{folder.name}.lock"):
        try:   # another process may have finished it while we waited for the lock
            loaded = _load_cached(folder, config) if finished.exists() else None
        except CachedEntryError as error:
            _discard(finished, f"the cached translator in {folder} cannot be loaded ({error})")
            loaded = None
        if loaded is None:
            _train(config, folder, device, amp, progress)
            loaded = _load_cached(folder, config)
    model, tokenizer, history, _ = loaded
    return model.to(device), tokenizer, splits, history


def _discard(path: Path, why: str) -> None:
    """Report a damaged cache file and delete it, so that what it held is trained again."""
    warnings.warn(f"{why}: training it again", RuntimeWarning, stacklevel=3)
    path.unlink(missing_ok=True)


def _train(config: TranslatorConfig, folder: Path | None, device: torch.device, amp: bool | None, progress: bool,
           schedule: Callable[[int], float] | None = None):
    tokenizer, splits, encoded = prepare_data(config)
    batches = make_split_batches(config, encoded)
    model = build_model(config, tokenizer.get_vocab_size())
    optimizer = scheduler = None
    if schedule is not None:
        optimizer = make_optimizer(model)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda updates_done: schedule(updates_done + 1))
    extra = {"config": config.to_dict(), "cache_version": CACHE_VERSION}
    partial = None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "tokenizer.json", lambda tmp: tmp.write_text(tokenizer.to_str(), encoding="utf-8"))
        partial = folder / "training.safetensors"
        if partial.exists():
            try:   # the checks that fit's resume makes, before it is asked to resume
                load_checkpoint(partial, build_model(config, tokenizer.get_vocab_size()))
            except (CheckpointError, OSError) as error:
                _discard(partial, f"the interrupted training run in {partial} cannot be resumed ({error})")
    start = time.perf_counter()
    history = fit(
        model, batches["train"], batches["valid"], config.epochs,
        warmup=config.warmup, factor=config.lr_factor, smoothing=config.smoothing,
        clip_norm=config.clip_norm, optimizer=optimizer, scheduler=scheduler, device=device, amp=amp,
        checkpoint_path=partial,
        resume=partial is not None, extra=extra, seed=config.seed, progress=progress,
    )
    extra["train_seconds"] = time.perf_counter() - start
    extra["history"] = history.to_dict()
    if folder is not None:
        save_checkpoint(folder / "model.safetensors", model, step=history.steps[-1], extra=extra)
        partial.unlink(missing_ok=True)
    return model.eval(), tokenizer, history, extra


def cached_training_info(model_dir: str | os.PathLike) -> dict:
    """The ``extra`` saved with a cached model (its config, history and training time)."""
    return read_checkpoint_metadata(Path(model_dir) / "model.safetensors")["extra"]
