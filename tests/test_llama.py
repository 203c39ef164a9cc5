"""Part IV's decoder: RMSNorm, rotary positions, SwiGLU, grouped-query attention, and the whole model
against ``transformers``' ``LlamaForCausalLM`` with the same (random) weights.

Tolerance: ``common.checks.assert_close`` (rtol 1e-4, atol 1e-5 of the largest logit: about a
hundred float32 roundings). The book's model and ``transformers`` compute the same operations in
the same order, so they agree far closer than that (to the bit, on the machines this was written
on); the margin is for other CPUs and thread counts. Each parity test also shows that it can fail:
two weights swapped, or the rotary layout mixed up, move the logits by far more.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from transformer_book.common.checks import assert_close, is_close
from transformer_book.gpt.generation import generate
from transformer_book.gpt.model import KVCache
from transformer_book.llama.model import (GroupedQueryAttention, Llama, LlamaConfig, RMSNorm, SwiGLU,
    kv_cache_bytes_per_token)
from transformer_book.llama.rotary import (apply_rotary, half_to_interleaved, interleaved_to_half,
    rotary_cos_sin, rotary_frequencies, rotate_pairs)
from transformer_book.llama.weights import (config_from_transformers, copy_weights, from_transformers,
    hf_name_map)

transformers = pytest.importorskip("transformers")

SMALL = dict(vocab_size=97, hidden_size=48, intermediate_size=80, num_hidden_layers=2, num_attention_heads=6,
             max_position_embeddings=64, rms_norm_eps=1e-5)
# (key-value heads, tied head, rope_theta): grouped-query ratios 1 (multi-head), 3, and 6 (multi-query)
CASES = [(6, True, 10000.0), (2, False, 500000.0), (1, True, 100000.0), (2, True, 10000.0)]


def hf_llama(kv_heads: int, tied: bool, theta: float, seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(**SMALL, num_key_value_heads=kv_heads, tie_word_embeddings=tied,
                                      rope_theta=theta)
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():                  # larger than the default init, and norms that are not all ones
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.15) if parameter.dim() > 1 else parameter.uniform_(0.5, 1.5)
    return model


def token_ids(batch: int = 2, length: int = 23, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, SMALL["vocab_size"], (batch, length), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------
# The pieces
# ---------------------------------------------------------------------------------------------
def test_rmsnorm_equals_torch_and_drops_what_layernorm_has():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 16) * 3 + 1
    ours = RMSNorm(16, eps=1e-6)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 1.5)
    theirs = torch.nn.RMSNorm(16, eps=1e-6)
    theirs.weight.data.copy_(ours.weight)
    assert_close(ours(x), theirs(x), what="RMSNorm")
    centred = x - x.mean(-1, keepdim=True)             # on centred inputs RMSNorm is LayerNorm without bias
    layer_norm = torch.nn.LayerNorm(16, eps=1e-6, bias=False)
    layer_norm.weight.data.copy_(ours.weight)
    assert_close(ours(centred), layer_norm(centred), what="RMSNorm of centred inputs")
    assert not is_close(ours(x), layer_norm(x))        # but not on inputs with a mean
    assert sum(p.numel() for p in ours.parameters()) == 16
    assert ours(x.double()).dtype == torch.float64


def test_swiglu_by_hand_and_its_parameter_count():
    torch.manual_seed(0)
    ffn = SwiGLU(8, 12)
    x = torch.randn(2, 3, 8)
    by_hand = (F.silu(x @ ffn.gate.weight.T) * (x @ ffn.up.weight.T)) @ ffn.down.weight.T
    assert_close(ffn(x), by_hand)
    assert sum(p.numel() for p in ffn.parameters()) == 3 * 8 * 12


def test_rotary_frequencies_and_angles():
    theta = rotary_frequencies(8, 10000.0)
    assert theta.dtype == torch.float32 and theta.shape == (4,)
    assert theta[0] == 1.0 and torch.allclose(theta, torch.tensor([10000.0 ** (-i / 4) for i in range(4)]))
    cos, sin = rotary_cos_sin(torch.arange(5), 8, layout="half")
    assert cos.shape == (5, 8) and torch.equal(cos[:, :4], cos[:, 4:])
    cos_i, _ = rotary_cos_sin(torch.arange(5), 8, layout="interleaved")
    assert torch.equal(cos_i[:, 0::2], cos_i[:, 1::2]) and torch.equal(cos_i[:, 0::2], cos[:, :4])


@pytest.mark.parametrize("layout", ["half", "interleaved"])
def test_rotation_keeps_lengths_and_scores_depend_on_the_offset_only(layout):
    torch.manual_seed(0)
    q, k = torch.randn(16), torch.randn(16)
    cos, sin = rotary_cos_sin(torch.arange(40), 16, 10000.0, layout)

    def at(x, m):
        return apply_rotary(x[None], cos[m : m + 1], sin[m : m + 1], layout)[0]

    assert torch.allclose(at(q, 7).norm(), q.norm())
    scores = {(m, n): float(at(q, m) @ at(k, n)) for m in range(40) for n in range(40)}
    for offset in (-5, 0, 3, 17):
        same = [value for (m, n), value in scores.items() if m - n == offset]
        assert max(same) - min(same) < 1e-4 * max(map(abs, same))
    assert abs(scores[(3, 0)] - scores[(0, 3)]) > 1e-2                 # the sign of the offset matters
    assert torch.equal(rotate_pairs(rotate_pairs(q[None], layout), layout), -q[None])   # 90 degrees twice


def test_the_two_layouts_differ_by_a_permutation_of_the_projection_rows():
    torch.manual_seed(0)
    heads, d, width = 3, 8, 10
    w_half = torch.randn(heads * d, width)
    x = torch.randn(5, width)
    positions = torch.arange(5)
    w_inter = half_to_interleaved(w_half, heads)
    assert torch.equal(interleaved_to_half(w_inter, heads), w_half)
    assert not torch.equal(w_inter, w_half)

    def rotated(w, layout):
        cos, sin = rotary_cos_sin(positions, d, 10000.0, layout)
        per_head = (x @ w.T).view(5, heads, d).transpose(0, 1)               # (H, T, d)
        return apply_rotary(per_head, cos, sin, layout)

    half, inter = rotated(w_half, "half"), rotated(w_inter, "interleaved")
    assert_close(half, interleaved_to_half(inter.transpose(0, 1).reshape(5, -1).T, heads).T.reshape(5, heads, d).transpose(0, 1))
    scores_half = half @ half.transpose(-1, -2)
    scores_inter = inter @ inter.transpose(-1, -2)
    assert_close(scores_inter, scores_half, what="scores in either layout")
    assert not is_close(rotated(w_half, "interleaved") @ rotated(w_half, "interleaved").transpose(-1, -2), scores_half)


def test_rotary_angles_equal_transformers_to_the_bit():
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    config = transformers.LlamaConfig(**SMALL, rope_theta=500000.0)
    positions = torch.arange(50)[None]
    x = torch.randn(1, 6, 50, 8)
    cos, sin = LlamaRotaryEmbedding(config)(x, positions)
    ours_cos, ours_sin = rotary_cos_sin(positions[0], 8, 500000.0, "half")
    assert torch.equal(ours_cos, cos[0]) and torch.equal(ours_sin, sin[0])
    q, k = torch.randn(2, 1, 6, 50, 8).unbind(0)
    q_theirs, _ = apply_rotary_pos_emb(q, k, cos, sin)
    assert torch.equal(apply_rotary(q, ours_cos, ours_sin, "half"), q_theirs)


def test_grouped_query_attention_shares_key_value_heads_and_equals_repeated_heads():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=11, block_size=16, n_layer=1, n_head=6, n_kv_head=2, n_embd=48, d_ff=32)
    gqa = GroupedQueryAttention(config)
    wide = GroupedQueryAttention(dataclasses.replace(config, n_kv_head=6))
    d = config.head_dim
    with torch.no_grad():       # the multi-head model with each key-value head copied to its 3 query heads
        wide.q_proj.weight.copy_(gqa.q_proj.weight)
        wide.o_proj.weight.copy_(gqa.o_proj.weight)
        for name in ("k_proj", "v_proj"):
            heads = getattr(gqa, name).weight.view(2, d, 48)
            getattr(wide, name).weight.copy_(heads.repeat_interleave(3, dim=0).reshape(6 * d, 48))
    x = torch.randn(2, 9, 48)
    cos, sin = rotary_cos_sin(torch.arange(9), d)
    for fused in (True, False):
        gqa.fused = wide.fused = fused
        assert_close(gqa(x, cos, sin), wide(x, cos, sin), what=f"GQA, fused={fused}")
    assert gqa.k_proj.weight.shape == (2 * d, 48) and wide.k_proj.weight.shape == (6 * d, 48)


def test_kv_cache_bytes_per_token():
    smol = LlamaConfig()
    assert kv_cache_bytes_per_token(smol) == 2 * 30 * 3 * 64 * 4
    assert kv_cache_bytes_per_token(dataclasses.replace(smol, n_kv_head=9)) == 3 * kv_cache_bytes_per_token(smol)
    cache = KVCache(smol, batch=1, max_len=10)
    held = sum(layer.keys.numel() + layer.values.numel() for layer in cache.layers) * 4
    assert held == 10 * kv_cache_bytes_per_token(smol)


# ---------------------------------------------------------------------------------------------
# The whole model against transformers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kv_heads,tied,theta", CASES)
def test_logits_equal_transformers(kv_heads, tied, theta):
    hf = hf_llama(kv_heads, tied, theta)
    ours = from_transformers(hf)
    assert ours.config.n_kv_head == kv_heads and ours.config.tie_embeddings == tied and ours.config.rope_theta == theta
    ids = token_ids()
    with torch.no_grad():
        expected = hf(ids).logits
        assert_close(ours(ids), expected, what="logits")
        assert_close(ours.set_fused_attention(False)(ids), expected, what="step-by-step attention")
    assert (ours.head.weight is ours.token_embedding.weight) == tied


@pytest.mark.parametrize("swap", [("attention.q_proj", "attention.k_proj"), ("feed_forward.gate", "feed_forward.up"),
                                  ("attention_norm", "feed_forward_norm")])
def test_parity_fails_when_two_weights_are_swapped(swap):
    hf = hf_llama(6, True, 10000.0)
    ours = from_transformers(hf)
    first, second = (ours.blocks[1].get_submodule(name).weight for name in swap)
    with torch.no_grad():
        saved = first.clone()
        first.copy_(second)
        second.copy_(saved)
        assert not is_close(ours(token_ids()), hf(token_ids()).logits)


def test_parity_fails_with_the_other_rotary_layout():
    hf = hf_llama(2, False, 10000.0)
    ours = from_transformers(hf)
    mixed = Llama(dataclasses.replace(ours.config, rope_layout="interleaved"))
    mixed.load_state_dict(ours.state_dict())
    with torch.no_grad():
        assert not is_close(mixed(token_ids()), hf(token_ids()).logits)
        for block in mixed.blocks:   # permuting the query and key rows makes the interleaved model agree
            attention = block.attention
            attention.q_proj.weight.copy_(half_to_interleaved(attention.q_proj.weight, attention.n_head))
            attention.k_proj.weight.copy_(half_to_interleaved(attention.k_proj.weight, attention.n_kv_head))
        assert_close(mixed(token_ids()), hf(token_ids()).logits, what="interleaved model, permuted weights")


def test_unsupported_transformers_options_are_refused():
    for change in (dict(attention_bias=True), dict(mlp_bias=True), dict(hidden_act="gelu"), dict(head_dim=16)):
        config = transformers.LlamaConfig(**SMALL, **change)
        with pytest.raises(ValueError, match="options"):
            config_from_transformers(config)
    with pytest.raises(TypeError, match="LlamaConfig"):
        config_from_transformers(transformers.GPT2Config())


def test_copy_weights_refuses_missing_unexpected_and_misshapen_tensors():
    hf = hf_llama(2, False, 10000.0)
    model = Llama(config_from_transformers(hf.config))
    tensors = dict(hf.state_dict())
    names = hf_name_map(2, tie_embeddings=False)
    with pytest.raises(ValueError, match="missing.*model.norm.weight"):
        copy_weights(model, {k: v for k, v in tensors.items() if k != "model.norm.weight"}, names, "hf")
    with pytest.raises(ValueError, match="unexpected.*extra"):
        copy_weights(model, {**tensors, "extra": torch.zeros(1)}, names, "hf")
    with pytest.raises(ValueError, match="wrong shape"):
        copy_weights(model, {**tensors, "model.norm.weight": torch.zeros(3)}, names, "hf")


# ---------------------------------------------------------------------------------------------
# The cache and generation
# ---------------------------------------------------------------------------------------------
def test_cached_forward_in_pieces_equals_one_forward():
    ours = from_transformers(hf_llama(2, True, 10000.0))
    ids = token_ids(2, 20)
    cache = KVCache(ours.config, batch=2, max_len=20)
    with torch.no_grad():
        pieces = torch.cat([ours(ids[:, :7], cache), ours(ids[:, 7:8], cache), ours(ids[:, 8:], cache)], dim=1)
        assert_close(pieces, ours(ids), what="cached logits")
    assert cache.length == 20 and cache.layers[0].keys.shape == (2, 2, 20, 8)


def test_cache_of_another_model_or_batch_is_refused():
    ours = from_transformers(hf_llama(2, True, 10000.0))
    with pytest.raises(ValueError, match="another model"):
        ours(token_ids(1, 3), KVCache(dataclasses.replace(ours.config, n_kv_head=6), batch=1))
    with pytest.raises(ValueError, match="batch"):
        ours(token_ids(2, 3), KVCache(ours.config, batch=1))
    with pytest.raises(ValueError, match="block_size"):
        ours(token_ids(1, SMALL["max_position_embeddings"] + 1))
    with pytest.raises(ValueError, match="vocabulary"):
        ours(torch.tensor([[SMALL["vocab_size"]]]))


def test_greedy_generation_equals_transformers_generate():
    hf = hf_llama(2, False, 10000.0)
    ours = from_transformers(hf)
    prompt = token_ids(1, 6)
    theirs = hf.generate(prompt, max_new_tokens=32, do_sample=False, attention_mask=torch.ones_like(prompt),
                         pad_token_id=0)
    mine = generate(ours, prompt, 32, greedy=True).tokens
    uncached = generate(ours, prompt, 32, greedy=True, use_cache=False).tokens
    assert torch.equal(mine, theirs) and torch.equal(uncached, theirs)


def test_config_is_checked():
    for change, message in ((dict(n_kv_head=4), "multiple"), (dict(n_embd=570), "head size"),
                            (dict(rope_layout="pairs"), "rope_layout"), (dict(rope_theta=1.0), "rope_theta"),
                            (dict(n_kv_head=0), "n_kv_head"), (dict(tie_embeddings=1), "tie_embeddings")):
        with pytest.raises((ValueError, TypeError), match=message):
            LlamaConfig(**change)
    with pytest.raises(ValueError, match="layout"):
        rotary_cos_sin(torch.arange(3), 8, layout="pairs")
    with pytest.raises(ValueError, match="even"):
        rotary_frequencies(7)
    with pytest.raises(ValueError, match="heads"):
        interleaved_to_half(torch.zeros(10, 4), 3)
