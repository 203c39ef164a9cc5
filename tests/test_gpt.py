"""The GPT: shapes, causality, parity with transformers' GPT-2, the KV cache, and generation."""
import pytest
import torch
from torch import nn

from transformer_book.pieces.feed_forward import PositionwiseFeedForward
from transformer_book.gpt.generation import generate, next_token
from transformer_book.gpt.model import (GPT, GPTConfig, KVCache, LayerCache, gpt2_small_config,
    width_scaled_init_std)
from transformer_book.pieces.sublayers import SublayerConnection
from transformer_book.common.utils import count_parameters

ATOL = 1e-5   # float32: logits of these small models agree to about 1e-6

TINY = GPTConfig(vocab_size=23, block_size=16, n_layer=2, n_head=2, n_embd=16)


def tiny_model(seed: int = 0, **changes) -> GPT:
    torch.manual_seed(seed)
    config = GPTConfig(**{**TINY.__dict__, **changes})
    model = GPT(config).eval()
    with torch.no_grad():   # random biases and norms too, so that every tensor matters
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return model


# --- the model ---------------------------------------------------------------------------------
def test_forward_shape_and_tied_head():
    model = tiny_model()
    logits = model(torch.randint(0, 23, (3, 7)))
    assert logits.shape == (3, 7, 23)
    assert model.head.weight is model.token_embedding.weight


@pytest.mark.parametrize("fused", [True, False])
def test_causal_later_tokens_do_not_change_earlier_logits(fused):
    model = tiny_model().set_fused_attention(fused)
    x = torch.randint(0, 23, (2, 10))
    changed = x.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 23
    assert torch.allclose(model(x)[:, :6], model(changed)[:, :6], atol=ATOL)
    assert not torch.allclose(model(x)[:, 6:], model(changed)[:, 6:], atol=ATOL)


def test_fused_and_step_by_step_attention_agree():
    model = tiny_model()
    x = torch.randint(0, 23, (2, 12))
    fused = model(x)
    assert torch.allclose(model.set_fused_attention(False)(x), fused, atol=ATOL)


def test_bad_inputs_are_reported():
    model = tiny_model()
    with pytest.raises(ValueError, match="batch, seq"):
        model(torch.zeros(5, dtype=torch.long))
    with pytest.raises(TypeError, match="idx must hold integer"):
        model(torch.zeros(1, 5))
    with pytest.raises(ValueError, match=r"idx must be token ids in \[0, 23\)"):
        model(torch.tensor([[1, 23]]))
    with pytest.raises(ValueError, match="block_size=16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="d_model=16"):
        model.blocks[0].attention(torch.zeros(2, 3, 8))


@pytest.mark.parametrize("changes, message", [
    ({"n_embd": 10, "n_head": 3}, "divisible"),
    ({"n_layer": 0}, "n_layer"),
    ({"dropout": 1.0}, "dropout"),
    ({"activation": "swish"}, "activation"),
    ({"init_std": 0.0}, "init_std"),
])
def test_config_is_checked(changes, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig(**{**TINY.__dict__, **changes})


def test_without_bias_there_are_no_bias_parameters():
    model = GPT(GPTConfig(**{**TINY.__dict__, "bias": False}))
    names = [name for name, _ in model.named_parameters()]
    assert not [name for name in names if name.endswith("bias")]
    with_bias = count_parameters(GPT(TINY))
    d, layers = TINY.n_embd, TINY.n_layer
    # Per layer: 2 LayerNorms (d each), w_qkv (3d), w_o (d), FFN (4d + d); and the final norm (d).
    assert with_bias - count_parameters(model) == layers * (2 * d + 3 * d + d + 4 * d + d) + d


def test_bias_options_of_the_shared_layers():
    ffn = PositionwiseFeedForward(4, 8, bias=False)
    assert ffn.linear1.bias is None and ffn.linear2.bias is None
    x = torch.randn(3, 4)
    assert torch.allclose(ffn(x), torch.relu(x @ ffn.linear1.weight.T) @ ffn.linear2.weight.T, atol=ATOL)
    sub = SublayerConnection(4, norm_first=True, bias=False)
    assert sub.norm.bias is None
    assert torch.allclose(sub(x, nn.Identity()), x + nn.functional.layer_norm(x, (4,)), atol=ATOL)
    assert PositionwiseFeedForward(4, 8).linear1.bias is not None    # the default is unchanged


def test_initialisation_follows_gpt2():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=500, block_size=64, n_layer=4, n_head=4, n_embd=64))
    assert abs(model.token_embedding.weight.std().item() - 0.02) < 0.002
    assert abs(model.blocks[0].attention.w_o.weight.std().item() - 0.02 / (2 * 4) ** 0.5) < 0.001
    assert torch.count_nonzero(model.blocks[0].attention.w_qkv.bias) == 0


def test_width_scaled_init_std_keeps_gpt2s_output_scale():
    assert width_scaled_init_std(768) == pytest.approx(0.02)
    assert width_scaled_init_std(128) == pytest.approx(0.02 * 6 ** 0.5)
    torch.manual_seed(0)
    scales = []
    for width in (128, 768):
        layer = nn.Linear(width, width, bias=False)
        nn.init.normal_(layer.weight, std=width_scaled_init_std(width))
        scales.append(layer(nn.functional.layer_norm(torch.randn(4096, width), (width,))).std().item())
    assert scales[0] == pytest.approx(scales[1], rel=0.05)           # both 0.02 * sqrt(768)
    assert scales[0] == pytest.approx(0.02 * 768 ** 0.5, rel=0.05)
    with pytest.raises(ValueError, match="n_embd must be an integer >= 1"):
        width_scaled_init_std(0)


def test_init_std_scales_every_initial_matrix():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=500, block_size=64, n_layer=4, n_head=4, n_embd=64, init_std=0.05))
    assert abs(model.token_embedding.weight.std().item() - 0.05) < 0.004
    assert abs(model.position_embedding.table.weight.std().item() - 0.05) < 0.004
    assert abs(model.blocks[0].feed_forward.linear1.weight.std().item() - 0.05) < 0.004
    assert abs(model.blocks[3].feed_forward.linear2.weight.std().item() - 0.05 / (2 * 4) ** 0.5) < 0.002


def test_gpt2_small_has_gpt2_smalls_parameter_count():
    with torch.device("meta"):
        model = GPT(gpt2_small_config())
    assert count_parameters(model) == 124_439_808


# --- parity with transformers -----------------------------------------------------------------
def hf_gpt2(seed: int = 0, **sizes):
    transformers = pytest.importorskip("transformers", reason="the parity tests need transformers (the test extra)")
    config = transformers.GPT2Config(
        vocab_size=50, n_positions=32, n_embd=32, n_layer=3, n_head=4, bos_token_id=49, eos_token_id=49,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **sizes,
    )
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():   # GPT-2 starts with zero biases and unit norms: perturb them all
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model


@pytest.mark.parametrize("fused", [True, False])
def test_logits_match_transformers_gpt2(fused):
    from transformer_book.gpt.weights import gpt_from_gpt2

    reference = hf_gpt2()
    model = gpt_from_gpt2(reference).eval().set_fused_attention(fused)
    x = torch.randint(0, 50, (3, 32))
    with torch.no_grad():
        expected = reference(x).logits
        assert (model(x) - expected).abs().max().item() < ATOL


def test_parity_fails_when_two_weights_are_swapped():
    from transformer_book.gpt.weights import gpt_from_gpt2

    reference = hf_gpt2()
    model = gpt_from_gpt2(reference).eval()
    x = torch.randint(0, 50, (2, 20))
    with torch.no_grad():
        first, second = model.blocks[0].attention_block.norm, model.blocks[0].feed_forward_block.norm
        saved = first.weight.clone()
        first.weight.copy_(second.weight)
        second.weight.copy_(saved)
        assert (model(x) - reference(x).logits).abs().max().item() > 1e-3


def test_parity_fails_without_the_conv1d_transpose():
    from transformer_book.gpt.weights import gpt_from_gpt2

    reference = hf_gpt2()
    model = gpt_from_gpt2(reference).eval()
    x = torch.randint(0, 50, (2, 20))
    with torch.no_grad():
        w_o = model.blocks[1].attention.w_o.weight
        w_o.copy_(w_o.t().clone())     # square, so the mistake loads without a shape error
        assert (model(x) - reference(x).logits).abs().max().item() > 1e-3


def test_loading_into_a_different_model_is_refused():
    from transformer_book.gpt.weights import load_gpt2_weights

    reference = hf_gpt2()
    with pytest.raises(ValueError, match="same parameters"):
        load_gpt2_weights(GPT(GPTConfig(vocab_size=50, block_size=32, n_layer=2, n_head=4, n_embd=32)), reference)
    with pytest.raises(ValueError, match="does not fit"):
        load_gpt2_weights(GPT(GPTConfig(vocab_size=50, block_size=32, n_layer=3, n_head=4, n_embd=16)), reference)


def test_parameter_count_equals_transformers_gpt2_small():
    transformers = pytest.importorskip("transformers", reason="the parity tests need transformers (the test extra)")
    with torch.device("meta"):
        reference = transformers.GPT2LMHeadModel(transformers.GPT2Config())
        model = GPT(gpt2_small_config())
    assert count_parameters(model) == sum(p.numel() for p in reference.parameters()) == 124_439_808


# --- the KV cache ------------------------------------------------------------------------------
def test_cached_forward_in_pieces_equals_one_forward():
    model = tiny_model()
    x = torch.randint(0, 23, (2, 12))
    full = model(x)
    cache = KVCache(model.config, batch=2)
    pieces = [model(x[:, :5], cache), model(x[:, 5:6], cache), model(x[:, 6:12], cache)]
    assert cache.length == 12
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=ATOL)


def test_cache_limits_are_reported():
    model = tiny_model()
    cache = KVCache(model.config, batch=1)
    model(torch.zeros(1, 16, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="exceed block_size"):
        model(torch.zeros(1, 1, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="max_len"):
        KVCache(model.config, batch=1, max_len=17)
    layer = LayerCache(batch=1, heads=2, max_len=4, d_k=8, dtype=torch.float32)
    with pytest.raises(ValueError, match="cannot add"):
        layer.update(torch.zeros(1, 2, 5, 8), torch.zeros(1, 2, 5, 8))


@pytest.mark.parametrize("options", [
    {"greedy": True},
    {"temperature": 0.8},
    {"temperature": 1.3, "top_k": 5},
    {"top_p": 0.9},
])
def test_generation_with_and_without_cache_is_identical(options):
    model = tiny_model()
    prompt = torch.randint(0, 23, (3, 4))
    # 4 + 20 > block_size 16: the last steps also cover the fall-back past the positions.
    runs = [generate(model, prompt, 20, use_cache=cache, return_logits=True,
                     generator=torch.Generator().manual_seed(7), **options) for cache in (True, False)]
    assert torch.equal(runs[0].tokens, runs[1].tokens)
    assert runs[0].logits.shape == (3, 20, 23)
    assert (runs[0].logits - runs[1].logits).abs().max().item() < ATOL


def test_generation_logits_are_the_models_logits():
    model = tiny_model()
    prompt = torch.randint(0, 23, (2, 3))
    out = generate(model, prompt, 5, greedy=True, return_logits=True)
    full = model(out.tokens)                                  # (B, 8, V)
    assert torch.allclose(out.logits, full[:, 2:7], atol=ATOL)
    assert torch.equal(out.tokens[:, 3:], full[:, 2:7].argmax(-1))


# --- sampling ----------------------------------------------------------------------------------
def test_top_k_one_is_greedy():
    model = tiny_model()
    prompt = torch.randint(0, 23, (2, 3))
    greedy = generate(model, prompt, 10, greedy=True).tokens
    sampled = generate(model, prompt, 10, top_k=1, temperature=1.7, generator=torch.Generator().manual_seed(0)).tokens
    assert torch.equal(greedy, sampled)


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log().repeat(4000, 1)
    generator = torch.Generator().manual_seed(0)
    draws = next_token(logits, top_p=0.75, generator=generator)
    assert set(draws.tolist()) == {0, 1}                    # 0.5 < 0.75 <= 0.5 + 0.3
    assert abs((draws == 0).float().mean().item() - 0.5 / 0.8) < 0.03
    assert set(next_token(logits, top_p=0.8, generator=generator).tolist()) == {0, 1}
    assert set(next_token(logits, top_p=0.81, generator=generator).tolist()) == {0, 1, 2}


def test_temperature_sharpens_and_flattens():
    logits = torch.tensor([2.0, 1.0, 0.0]).repeat(4000, 1)
    share = {t: (next_token(logits, temperature=t, generator=torch.Generator().manual_seed(0)) == 0).float().mean().item()
             for t in (0.5, 1.0, 2.0)}
    expected = {t: torch.softmax(torch.tensor([2.0, 1.0, 0.0]) / t, 0)[0].item() for t in share}
    assert share[0.5] > share[1.0] > share[2.0]
    assert all(abs(share[t] - expected[t]) < 0.03 for t in share)


def test_seeded_sampling_repeats_and_seeds_differ():
    model = tiny_model()
    prompt = torch.zeros(1, 1, dtype=torch.long)
    draw = lambda seed: generate(model, prompt, 30, generator=torch.Generator().manual_seed(seed)).tokens
    assert torch.equal(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))


def test_stop_token_ends_rows_and_generation():
    model = tiny_model()
    prompt = torch.randint(0, 23, (4, 2))
    free = generate(model, prompt, 12, generator=torch.Generator().manual_seed(3)).tokens
    stop = int(free[0, 4])                                   # a token that row 0 produces at step 3
    out = generate(model, prompt, 12, stop_token=stop, generator=torch.Generator().manual_seed(3)).tokens
    for row in out[:, 2:].tolist():
        if stop in row:
            first = row.index(stop)
            assert all(token == stop for token in row[first:])   # padded with the stop token
    assert out.shape[1] <= free.shape[1]
    first_stops = [row.index(stop) if stop in row else None for row in out[:, 2:].tolist()]
    if all(index is not None for index in first_stops):
        assert out.shape[1] == 2 + max(first_stops) + 1     # it stopped as soon as all rows had


def test_stop_token_stops_early_when_every_row_stops():
    model = tiny_model()
    prompt = torch.randint(0, 23, (1, 2))
    greedy = generate(model, prompt, 8, greedy=True).tokens
    out = generate(model, prompt, 8, greedy=True, stop_token=int(greedy[0, 2]))
    assert out.tokens.shape == (1, 3)


@pytest.mark.parametrize("options, message", [
    ({"temperature": 0.0}, "greedy=True"),
    ({"temperature": -1.0}, "temperature"),
    ({"greedy": True, "top_k": 3}, "greedy=True"),
    ({"top_p": 0.0}, "top_p"),
    ({"top_k": 0}, "top_k"),
    ({"stop_token": 23}, "stop_token"),
])
def test_bad_generation_options_are_reported(options, message):
    with pytest.raises(ValueError, match=message):
        generate(tiny_model(), torch.zeros(1, 1, dtype=torch.long), 3, **options)


def test_generate_zero_new_tokens_and_mode():
    model = tiny_model()
    prompt = torch.randint(0, 23, (2, 3))
    assert torch.equal(generate(model, prompt, 0).tokens, prompt)
    assert generate(model, prompt, 4, greedy=True).tokens.shape == (2, 7)
    model.train()
    generate(model, prompt, 2, greedy=True)
    assert model.training                                    # the mode is restored
