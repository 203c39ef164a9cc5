"""The encoder-decoder against nn.TransformerDecoderLayer and nn.Transformer, given the same weights."""
import pytest
import torch
from torch import nn

from transformer_book.common.checks import assert_close
from transformer_book.encoder_decoder.decoder import DecoderLayer
from transformer_book.pieces.masks import causal_mask, padding_mask
from transformer_book.encoder_decoder.model import make_model
from transformer_book.encoder_decoder.parity import to_torch_decoder_layer, to_torch_transformer
from transformer_book.common.utils import count_parameters


SRC = torch.tensor([[5, 6, 7, 8, 9, 0], [4, 5, 6, 0, 0, 0]])
TGT = torch.tensor([[1, 7, 8, 9, 3], [1, 4, 3, 0, 0]])


def randomise_norms(module: nn.Module) -> None:
    """Random LayerNorm gains and biases, so that a swapped or missing norm is noticed."""
    for norm in module.modules():
        if isinstance(norm, nn.LayerNorm):
            nn.init.normal_(norm.weight)
            nn.init.normal_(norm.bias)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(norm_first):
    torch.manual_seed(0)
    book = DecoderLayer(16, 4, 32, dropout=0.0, norm_first=norm_first).eval()
    randomise_norms(book)
    ref = to_torch_decoder_layer(book).eval()
    x, memory = torch.randn(2, 5, 16), torch.randn(2, 6, 16)
    tgt_mask = padding_mask(TGT, 0) & causal_mask(5)
    out = book(x, memory, tgt_mask, padding_mask(SRC, 0))
    ref_out = ref(
        x, memory, tgt_mask=~causal_mask(5), tgt_key_padding_mask=TGT == 0,
        memory_key_padding_mask=SRC == 0,
    )
    assert_close(out, ref_out)


def test_cross_attention_queries_come_from_the_decoder():
    torch.manual_seed(0)
    layer = DecoderLayer(16, 4, 32, dropout=0.0).eval()
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 7, 16)
    _, weights = layer.cross_attention(x, memory, memory, return_weights=True)
    assert weights.shape == (2, 4, 3, 7)  # one row per decoder position, one column per source token
    assert layer(x, memory).shape == (2, 3, 16)


@pytest.mark.parametrize("norm_first", [False, True])
def test_full_model_matches_nn_transformer(norm_first):
    torch.manual_seed(0)
    book = make_model(11, N=2, d_model=16, d_ff=32, h=4, dropout=0.0, norm_first=norm_first, final_norm=True).eval()
    randomise_norms(book)
    ref = to_torch_transformer(book).eval()
    src_x, tgt_x = book.src_embed(SRC), book.tgt_embed(TGT)
    ref_states = ref(
        src_x, tgt_x, tgt_mask=~causal_mask(5), src_key_padding_mask=SRC == 0,
        tgt_key_padding_mask=TGT == 0, memory_key_padding_mask=SRC == 0,
    )
    src_mask = book.source_mask(SRC)
    states = book.decode(book.encode(SRC, src_mask), src_mask, TGT)
    assert_close(states, ref_states)
    assert_close(book(SRC, TGT), book.generator(ref_states))


def test_stacks_have_the_parameter_count_of_nn_transformer_at_base_size():
    book = make_model(100, final_norm=True)  # N=6, d_model=512, d_ff=2048, h=8
    ref = nn.Transformer(d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048, batch_first=True)
    assert count_parameters(book.encoder) + count_parameters(book.decoder) == count_parameters(ref)


def test_post_norm_without_final_norm_cannot_be_copied():
    with pytest.raises(ValueError, match="final_norm=True"):
        to_torch_transformer(make_model(11, N=1, d_model=16, d_ff=32, h=4))


def test_shared_vocabulary_ties_all_three_tables():
    model = make_model(50, N=1, d_model=16, d_ff=32, h=4, shared_vocab=True)
    weight = model.src_embed[0].lookup.weight
    assert model.tgt_embed[0].lookup.weight is weight and model.generator.proj.weight is weight
    assert torch.all(weight[0] == 0)
    with pytest.raises(ValueError, match="src_vocab=50, tgt_vocab=40"):
        make_model(50, 40, shared_vocab=True)


def test_untied_model_has_separate_generator():
    tied = make_model(30, 40, N=1, d_model=16, d_ff=32, h=4)
    untied = make_model(30, 40, N=1, d_model=16, d_ff=32, h=4, tie_embeddings=False)
    assert count_parameters(untied) - count_parameters(tied) == 40 * 16


def test_future_target_tokens_do_not_change_earlier_logits():
    torch.manual_seed(0)
    model = make_model(11, N=2, d_model=16, d_ff=32, h=4, dropout=0.0).eval()
    changed = TGT.clone()
    changed[0, 4] = 10
    assert_close(model(SRC, TGT)[0, :4], model(SRC, changed)[0, :4])


def test_source_padding_does_not_change_the_output():
    torch.manual_seed(0)
    model = make_model(11, N=2, d_model=16, d_ff=32, h=4, dropout=0.0).eval()
    short, padded = SRC[1:, :3], SRC[1:]
    tgt = TGT[1:, :3]
    assert_close(model(short, tgt), model(padded, tgt))


def test_make_model_puts_dropout_where_the_paper_does_unless_asked():
    paper = make_model(11, N=1, d_model=16, d_ff=32, h=4, dropout=0.1)
    rates = {name: module.p for name, module in paper.named_modules() if isinstance(module, nn.Dropout)}
    assert rates["encoder.layers.0.feed_forward.dropout"] == rates["decoder.layers.0.feed_forward.dropout"] == 0.0
    assert rates["encoder.layers.0.attention_block.dropout"] == rates["src_embed.1.dropout"] == 0.1
    assert paper.decoder.layers[0].cross_attention.dropout == 0.0
    torch_style = make_model(11, N=1, d_model=16, d_ff=32, h=4, dropout=0.1, attention_dropout=0.1,
                             activation_dropout=0.1)
    layer = torch_style.decoder.layers[0]
    assert layer.self_attention.dropout == layer.cross_attention.dropout == layer.feed_forward.dropout.p == 0.1


@pytest.mark.parametrize("kwargs, match", [
    (dict(pad_id=-1), "pad_id must be an integer >= 0"),          # it zeroed the last token's embedding
    (dict(pad_id=40), r"pad_id must be a token id of both vocabularies \(< 40\)"),
    (dict(d_ff=0), "d_ff must be an integer >= 1"),
    (dict(N=-2), "N must be an integer >= 1"),
    (dict(d_model=-16), "d_model must be an integer >= 1"),
    (dict(h=3), "d_model=16 must be divisible by h=3"),
    (dict(attention_dropout=1.5), r"attention_dropout must be in \[0, 1\)"),
    (dict(activation_dropout=-0.1), r"activation_dropout must be in \[0, 1\)"),
    (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
    (dict(tgt_vocab=0), "tgt_vocab must be an integer >= 1"),
    (dict(max_len=2.5), "max_len must be an integer >= 1"),
])
def test_make_model_refuses_bad_sizes_and_rates_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_model(**{"src_vocab": 40, "N": 1, "d_model": 16, "d_ff": 32, "h": 2, **kwargs})


def test_make_model_records_its_configuration():
    model = make_model(40, N=1, d_model=16, d_ff=32, h=2, norm_first=True)
    assert model.config["h"] == 2 and model.config["norm_first"] is True and model.config["final_norm"] is True
