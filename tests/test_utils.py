import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from transformer_book.common import plotting
from transformer_book.common.display import SourceListing, glue, show_source
from transformer_book.pieces.multi_head import MultiHeadAttention
from transformer_book.common.timing import median_time
from transformer_book.common.utils import book_profile, count_parameters, pick_device, seed_everything


def test_seed_everything_repeats_draws():
    seed_everything(7)
    a = torch.randn(5)
    seed_everything(7)
    assert torch.equal(a, torch.randn(5))
    g = seed_everything(7)
    assert torch.equal(torch.randn(5, generator=g), torch.randn(5, generator=seed_everything(7)))


def test_book_profile(monkeypatch):
    monkeypatch.delenv("BOOK_PROFILE", raising=False)
    assert book_profile() == "quick"
    monkeypatch.setenv("BOOK_PROFILE", "FULL")
    assert book_profile() == "full"
    monkeypatch.setenv("BOOK_PROFILE", "fast")
    with pytest.raises(ValueError, match="'fast'"):
        book_profile()


def test_pick_device(monkeypatch):
    monkeypatch.delenv("BOOK_DEVICE", raising=False)
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("BOOK_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    monkeypatch.delenv("BOOK_DEVICE")
    assert pick_device().type in {"cpu", "cuda", "mps"}


def test_count_parameters():
    layer = torch.nn.Linear(3, 4)
    assert count_parameters(layer) == 16
    layer.bias.requires_grad_(False)
    assert count_parameters(layer, trainable_only=True) == 12


def test_show_source_renders_markdown():
    listing = show_source(MultiHeadAttention.split_heads)
    assert isinstance(listing, SourceListing)
    assert listing.source.startswith("def split_heads")  # dedented method
    assert listing._repr_markdown_().startswith("```python\ndef split_heads")


def test_show_source_rejects_builtins():
    with pytest.raises(TypeError, match="show_source"):
        show_source(len)


def test_glue_returns_value_outside_the_book():
    assert glue("x", 3.5) == 3.5


def test_median_time_calls_and_measures():
    calls = []
    result = median_time(lambda: calls.append(1), warmup=2, repeats=3)
    assert len(calls) == 5 and result >= 0.0
    with pytest.raises(ValueError, match="repeats"):
        median_time(lambda: None, repeats=0)


def test_heatmap_labels_and_shape_check():
    ax = plotting.heatmap(torch.eye(3), row_labels="abc", col_labels="xyz", title="t", xlabel="key", ylabel="query")
    assert ax.get_xlabel() == "key" and ax.get_ylabel() == "query" and ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    with pytest.raises(ValueError, match="2-D"):
        plotting.heatmap(torch.zeros(2, 2, 2))


def test_plot_curves():
    ax = plotting.plot_curves({"a": ([1, 2], [3, 4]), "b": ([1, 2], [1, 1])}, xlabel="x", ylabel="y", logy=True)
    assert len(ax.get_lines()) == 2 and ax.get_yscale() == "log" and ax.get_legend() is not None
    with pytest.raises(ValueError, match="'a' has 2 x values but 1 y"):
        plotting.plot_curves({"a": ([1, 2], [3])}, xlabel="x", ylabel="y")


def test_glue_turns_numpy_and_torch_scalars_into_python_numbers():
    import numpy as np

    assert type(glue("a", np.float64(1.5))) is float
    assert type(glue("b", torch.tensor(3))) is int
    assert isinstance(glue("c", torch.ones(2)), torch.Tensor)
