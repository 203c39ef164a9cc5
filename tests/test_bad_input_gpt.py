"""Bad and edge inputs for the GPT modules: gpt, generation, gpt_training and gpt_parity.

Every case of ``CASES`` must raise the given exception with a message that names the argument;
the ``test_edge_*`` tests pin the inputs that are accepted and what they give.
"""
import math

import pytest
import torch
from torch import nn

from transformer_book.gpt.generation import generate, next_token
from transformer_book.gpt.model import (GPT, CausalSelfAttention, GPTBlock, GPTConfig, KVCache, LayerCache,
    gpt2_small_config, width_scaled_init_std)
from transformer_book.gpt.weights import config_from_gpt2, gpt2_name_map, gpt_from_gpt2, load_gpt2_weights
from transformer_book.gpt.training import (CharTokenizer, GPTHistory, TrainConfig, batch_losses,
    estimate_loss, make_adamw, random_batch, split_ids, train_gpt, train_step)
from transformer_book.common.schedules import cosine_lr

V, BLOCK = 11, 8
SIZES = dict(vocab_size=V, block_size=BLOCK, n_layer=1, n_head=2, n_embd=8)


def config(**changes) -> GPTConfig:
    return GPTConfig(**{**SIZES, **changes})


def model(**changes) -> GPT:
    torch.manual_seed(0)
    return GPT(config(**changes)).eval()


def ids(*shape, dtype=torch.long) -> torch.Tensor:
    return (torch.arange(math.prod(shape)) % V).reshape(shape).to(dtype)


def data(n: int = 100, dtype=torch.long) -> torch.Tensor:
    return (torch.arange(n) % V).to(dtype)


def tokenizer() -> CharTokenizer:
    return CharTokenizer("abc")


def optimizer(m: nn.Module) -> torch.optim.Optimizer:
    return make_adamw(m, 1e-3)


def step(x=None, y=None, lr=1e-3, grad_clip=1.0, opt=None):
    m = model()
    x = ids(2, 4) if x is None else x
    y = ids(2, 4) if y is None else y
    return train_step(m, optimizer(m) if opt is None else opt, x, y, lr, grad_clip)


def mutated(**changes) -> TrainConfig:
    cfg = TrainConfig(max_iters=2, batch_size=2, eval_interval=1, eval_iters=1, final_eval_iters=1)
    for name, value in changes.items():
        setattr(cfg, name, value)              # a dataclass: fields can change after creation
    return cfg


def train(m=None, train_data=None, val_data=None, cfg=None, progress=False):
    return train_gpt(model() if m is None else m, data() if train_data is None else train_data,
                     data(40) if val_data is None else val_data, mutated() if cfg is None else cfg, progress)


def hf_config(**changes):
    transformers = pytest.importorskip("transformers", reason="the parity checks need transformers (the test extra)")
    return transformers.GPT2Config(vocab_size=V, n_positions=BLOCK, n_embd=8, n_layer=1, n_head=2, **changes)


def hf_model(**changes):
    transformers = pytest.importorskip("transformers", reason="the parity checks need transformers (the test extra)")
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(hf_config(**changes)).eval()


def gpt_matching_hf(**changes) -> GPT:
    return GPT(config(eps=1e-5, **changes))


class NotAGenerator:
    pass


CASES = [
    # --- GPTConfig -----------------------------------------------------------------------------
    ("GPTConfig vocab_size=0", lambda: config(vocab_size=0), ValueError, "vocab_size"),
    ("GPTConfig vocab_size<0", lambda: config(vocab_size=-3), ValueError, "vocab_size"),
    ("GPTConfig vocab_size float", lambda: config(vocab_size=2.5), TypeError, "vocab_size"),
    ("GPTConfig block_size bool", lambda: config(block_size=True), TypeError, "block_size"),
    ("GPTConfig n_layer str", lambda: config(n_layer="2"), TypeError, "n_layer"),
    ("GPTConfig n_head<0", lambda: config(n_head=-1), ValueError, "n_head"),
    ("GPTConfig n_embd<0", lambda: config(n_embd=-8), ValueError, "n_embd"),
    ("GPTConfig indivisible", lambda: config(n_embd=10, n_head=3), ValueError, "n_embd=10.*n_head=3"),
    ("GPTConfig dropout=1", lambda: config(dropout=1.0), ValueError, "dropout"),
    ("GPTConfig dropout<0", lambda: config(dropout=-0.1), ValueError, "dropout"),
    ("GPTConfig dropout nan", lambda: config(dropout=float("nan")), ValueError, "dropout"),
    ("GPTConfig dropout str", lambda: config(dropout="0.1"), TypeError, "dropout"),
    ("GPTConfig eps=0", lambda: config(eps=0.0), ValueError, "eps"),
    ("GPTConfig eps<0", lambda: config(eps=-1e-5), ValueError, "eps"),
    ("GPTConfig init_std=0", lambda: config(init_std=0.0), ValueError, "init_std"),
    ("GPTConfig init_std inf", lambda: config(init_std=float("inf")), ValueError, "init_std"),
    ("GPTConfig activation unknown", lambda: config(activation="swish"), ValueError, "activation"),
    ("GPTConfig activation None", lambda: config(activation=None), ValueError, "activation"),
    ("GPTConfig bias str", lambda: config(bias="yes"), TypeError, "bias"),
    ("gpt2_small_config bad size", lambda: gpt2_small_config(n_layer=0), ValueError, "n_layer"),
    ("gpt2_small_config unknown field", lambda: gpt2_small_config(layers=2), TypeError, "layers"),
    # --- width_scaled_init_std ------------------------------------------------------------------
    ("width_scaled_init_std n_embd=0", lambda: width_scaled_init_std(0), ValueError, "n_embd"),
    ("width_scaled_init_std n_embd float", lambda: width_scaled_init_std(128.5), TypeError, "n_embd"),
    ("width_scaled_init_std n_embd bool", lambda: width_scaled_init_std(True), TypeError, "n_embd"),
    ("width_scaled_init_std reference_width=0", lambda: width_scaled_init_std(128, reference_width=0),
     ValueError, "reference_width"),
    ("width_scaled_init_std reference_std<0", lambda: width_scaled_init_std(128, -0.02), ValueError, "reference_std"),
    ("width_scaled_init_std reference_std nan", lambda: width_scaled_init_std(128, float("nan")),
     ValueError, "reference_std"),
    # --- LayerCache and KVCache -----------------------------------------------------------------
    ("LayerCache batch=0", lambda: LayerCache(0, 2, 4, 4, torch.float32), ValueError, "batch"),
    ("LayerCache heads<0", lambda: LayerCache(1, -1, 4, 4, torch.float32), ValueError, "heads"),
    ("LayerCache max_len float", lambda: LayerCache(1, 2, 4.0, 4, torch.float32), TypeError, "max_len"),
    ("LayerCache d_k=0", lambda: LayerCache(1, 2, 4, 0, torch.float32), ValueError, "d_k"),
    ("LayerCache dtype int", lambda: LayerCache(1, 2, 4, 4, torch.long), TypeError, "dtype"),
    ("LayerCache dtype str", lambda: LayerCache(1, 2, 4, 4, "float32"), TypeError, "dtype"),
    ("LayerCache.update k, v differ",
     lambda: LayerCache(1, 2, 4, 4, torch.float32).update(torch.zeros(1, 2, 1, 4), torch.zeros(1, 2, 2, 4)),
     ValueError, "k and v"),
    ("LayerCache.update wrong heads",
     lambda: LayerCache(1, 2, 4, 4, torch.float32).update(torch.zeros(1, 3, 1, 4), torch.zeros(1, 3, 1, 4)),
     ValueError, "heads=2"),
    ("LayerCache.update 3-D",
     lambda: LayerCache(1, 2, 4, 4, torch.float32).update(torch.zeros(2, 1, 4), torch.zeros(2, 1, 4)),
     ValueError, "k and v"),
    ("LayerCache.update too long",
     lambda: LayerCache(1, 2, 4, 4, torch.float32).update(torch.zeros(1, 2, 5, 4), torch.zeros(1, 2, 5, 4)),
     ValueError, "cannot add"),
    ("LayerCache.update wrong batch",
     lambda: LayerCache(1, 2, 4, 4, torch.float32).update(torch.zeros(2, 2, 1, 4), torch.zeros(2, 2, 1, 4)),
     ValueError, "batch 1"),
    ("KVCache config dict", lambda: KVCache(SIZES, 1), TypeError, "config"),
    ("KVCache batch=0", lambda: KVCache(config(), 0), ValueError, "batch"),
    ("KVCache batch bool", lambda: KVCache(config(), True), TypeError, "batch"),
    ("KVCache max_len=0", lambda: KVCache(config(), 1, max_len=0), ValueError, "max_len"),
    ("KVCache max_len>block", lambda: KVCache(config(), 1, max_len=BLOCK + 1), ValueError, "max_len"),
    ("KVCache max_len float", lambda: KVCache(config(), 1, max_len=4.0), TypeError, "max_len"),
    ("KVCache dtype int", lambda: KVCache(config(), 1, dtype=torch.int64), TypeError, "dtype"),
    # --- CausalSelfAttention and GPTBlock -------------------------------------------------------
    ("CausalSelfAttention d_model=0", lambda: CausalSelfAttention(0, 2), ValueError, "d_model"),
    ("CausalSelfAttention num_heads=0", lambda: CausalSelfAttention(8, 0), ValueError, "num_heads"),
    ("CausalSelfAttention indivisible", lambda: CausalSelfAttention(8, 3), ValueError, "d_model=8.*num_heads=3"),
    ("CausalSelfAttention dropout>1", lambda: CausalSelfAttention(8, 2, dropout=1.5), ValueError, "dropout"),
    ("CausalSelfAttention bias str", lambda: CausalSelfAttention(8, 2, bias="no"), TypeError, "bias"),
    ("CausalSelfAttention x int", lambda: CausalSelfAttention(8, 2)(torch.zeros(1, 3, 8, dtype=torch.long)),
     TypeError, "x must be a floating"),
    ("CausalSelfAttention x list", lambda: CausalSelfAttention(8, 2)([[0.0] * 8]), TypeError, "x must be"),
    ("CausalSelfAttention x 2-D", lambda: CausalSelfAttention(8, 2)(torch.zeros(3, 8)), ValueError, "x must have"),
    ("CausalSelfAttention x width", lambda: CausalSelfAttention(8, 2)(torch.zeros(1, 3, 4)), ValueError, "d_model=8"),
    ("CausalSelfAttention cache str", lambda: CausalSelfAttention(8, 2)(torch.zeros(1, 3, 8), "c"),
     TypeError, "cache"),
    ("GPTBlock config dict", lambda: GPTBlock(SIZES), TypeError, "config"),
    # --- GPT --------------------------------------------------------------------------------------
    ("GPT config dict", lambda: GPT(SIZES), TypeError, "config"),
    ("GPT idx list", lambda: model()([[1, 2]]), TypeError, "idx"),
    ("GPT idx float", lambda: model()(torch.zeros(1, 3)), TypeError, "idx must hold integer"),
    ("GPT idx bool", lambda: model()(torch.zeros(1, 3, dtype=torch.bool)), TypeError, "idx must hold integer"),
    ("GPT idx 1-D", lambda: model()(ids(3)), ValueError, r"idx must have shape \(batch, seq\)"),
    ("GPT idx 3-D", lambda: model()(ids(1, 2, 3)), ValueError, r"idx must have shape \(batch, seq\)"),
    ("GPT idx >= vocab", lambda: model()(torch.tensor([[1, V]])), ValueError, r"idx .*\[0, 11\)"),
    ("GPT idx < 0", lambda: model()(torch.tensor([[-1, 2]])), ValueError, r"idx .*\[0, 11\)"),
    ("GPT int16 idx >= vocab", lambda: model()(torch.tensor([[1, V]], dtype=torch.int16)), ValueError, "idx"),
    ("GPT uint8 idx >= vocab", lambda: model()(torch.tensor([[200]], dtype=torch.uint8)), ValueError, "idx"),
    ("GPT idx > block_size", lambda: model()(ids(1, BLOCK + 1)), ValueError, "block_size=8"),
    ("GPT cache str", lambda: model()(ids(1, 2), "cache"), TypeError, "cache"),
    ("GPT cache of another model", lambda: model(n_layer=2)(ids(1, 2), KVCache(config(), 1)), ValueError, "cache"),
    ("GPT cache of another batch", lambda: model()(ids(2, 2), KVCache(config(), 1)), ValueError, "cache"),
    ("GPT cache full", lambda: (lambda m, c: (m(ids(1, BLOCK), c), m(ids(1, 1), c)))(model(), KVCache(config(), 1)),
     ValueError, "exceed block_size"),
    ("GPT.set_fused_attention str", lambda: model().set_fused_attention("yes"), TypeError, "fused"),
    ("GPT.set_fused_attention int", lambda: model().set_fused_attention(0), TypeError, "fused"),
    ("generate max_new_tokens bool", lambda: generate(model(), ids(1, 2), True), TypeError, "max_new_tokens"),
    # --- next_token ---------------------------------------------------------------------------------
    ("next_token logits list", lambda: next_token([[0.0, 1.0]]), TypeError, "logits"),
    ("next_token logits int", lambda: next_token(torch.zeros(2, 3, dtype=torch.long)), TypeError, "logits"),
    ("next_token logits 1-D", lambda: next_token(torch.zeros(3)), ValueError, "logits"),
    ("next_token logits 1-D greedy", lambda: next_token(torch.zeros(3), greedy=True), ValueError, "logits"),
    ("next_token empty vocab", lambda: next_token(torch.zeros(2, 0)), ValueError, "logits"),
    ("next_token temperature=0", lambda: next_token(torch.zeros(2, 3), temperature=0.0), ValueError, "greedy=True"),
    ("next_token temperature<0", lambda: next_token(torch.zeros(2, 3), temperature=-1.0), ValueError, "temperature"),
    ("next_token temperature inf", lambda: next_token(torch.zeros(2, 3), temperature=float("inf")),
     ValueError, "temperature"),
    ("next_token temperature nan", lambda: next_token(torch.zeros(2, 3), temperature=float("nan")),
     ValueError, "temperature"),
    ("next_token temperature str", lambda: next_token(torch.zeros(2, 3), temperature="1"), TypeError, "temperature"),
    ("next_token top_k=0", lambda: next_token(torch.zeros(2, 3), top_k=0), ValueError, "top_k"),
    ("next_token top_k>V", lambda: next_token(torch.zeros(2, 3), top_k=4), ValueError, "top_k"),
    ("next_token top_k float", lambda: next_token(torch.zeros(2, 3), top_k=2.0), (TypeError, ValueError), "top_k"),
    ("next_token top_p=0", lambda: next_token(torch.zeros(2, 3), top_p=0.0), ValueError, "top_p"),
    ("next_token top_p>1", lambda: next_token(torch.zeros(2, 3), top_p=1.5), ValueError, "top_p"),
    ("next_token greedy with top_k", lambda: next_token(torch.zeros(2, 3), greedy=True, top_k=2),
     ValueError, "greedy=True"),
    ("next_token greedy str", lambda: next_token(torch.zeros(2, 3), greedy="yes"), TypeError, "greedy"),
    ("next_token generator wrong type", lambda: next_token(torch.zeros(2, 3), generator=NotAGenerator()),
     TypeError, "generator"),
    # --- generate -------------------------------------------------------------------------------------
    ("generate model str", lambda: generate("gpt", ids(1, 2), 3), TypeError, "model"),
    ("generate idx list", lambda: generate(model(), [[1, 2]], 3), TypeError, "idx"),
    ("generate idx float", lambda: generate(model(), torch.zeros(1, 2), 3), TypeError, "idx must hold integer"),
    ("generate idx 1-D", lambda: generate(model(), ids(2), 3), ValueError, "idx must have shape"),
    ("generate empty prompt", lambda: generate(model(), ids(1, 0), 3), ValueError, "idx must hold at least one"),
    ("generate empty batch", lambda: generate(model(), ids(0, 2), 3), ValueError, "idx must hold at least one"),
    ("generate prompt > block_size", lambda: generate(model(), ids(1, BLOCK + 1), 3), ValueError, "block_size=8"),
    ("generate idx >= vocab", lambda: generate(model(), torch.tensor([[1, V]]), 3), ValueError, r"idx .*\[0, 11\)"),
    ("generate idx < 0", lambda: generate(model(), torch.tensor([[-1]]), 3), ValueError, r"idx .*\[0, 11\)"),
    ("generate max_new_tokens<0", lambda: generate(model(), ids(1, 2), -1), ValueError, "max_new_tokens"),
    ("generate max_new_tokens bool", lambda: generate(model(), ids(1, 2), True), TypeError, "max_new_tokens"),
    ("generate max_new_tokens float", lambda: generate(model(), ids(1, 2), 2.0), TypeError, "max_new_tokens"),
    ("generate temperature=0", lambda: generate(model(), ids(1, 2), 3, temperature=0.0), ValueError, "greedy=True"),
    ("generate temperature<0", lambda: generate(model(), ids(1, 2), 3, temperature=-0.5), ValueError, "temperature"),
    ("generate temperature inf", lambda: generate(model(), ids(1, 2), 3, temperature=float("inf")),
     ValueError, "temperature"),
    ("generate top_k=0", lambda: generate(model(), ids(1, 2), 3, top_k=0), ValueError, "top_k"),
    ("generate top_k>V", lambda: generate(model(), ids(1, 2), 3, top_k=V + 1), ValueError, "top_k"),
    ("generate top_p=0", lambda: generate(model(), ids(1, 2), 3, top_p=0.0), ValueError, "top_p"),
    ("generate top_p>1", lambda: generate(model(), ids(1, 2), 3, top_p=1.01), ValueError, "top_p"),
    ("generate greedy with temperature", lambda: generate(model(), ids(1, 2), 3, greedy=True, temperature=0.5),
     ValueError, "greedy=True"),
    ("generate greedy int", lambda: generate(model(), ids(1, 2), 3, greedy=1), TypeError, "greedy"),
    ("generate stop_token=V", lambda: generate(model(), ids(1, 2), 3, stop_token=V), ValueError, "stop_token"),
    ("generate stop_token<0", lambda: generate(model(), ids(1, 2), 3, stop_token=-1), ValueError, "stop_token"),
    ("generate stop_token float", lambda: generate(model(), ids(1, 2), 3, stop_token=2.0), TypeError, "stop_token"),
    ("generate stop_token bool", lambda: generate(model(), ids(1, 2), 3, stop_token=True), TypeError, "stop_token"),
    ("generate generator wrong type", lambda: generate(model(), ids(1, 2), 3, generator=7), TypeError, "generator"),
    ("generate use_cache str", lambda: generate(model(), ids(1, 2), 3, use_cache="no"), TypeError, "use_cache"),
    ("generate return_logits int", lambda: generate(model(), ids(1, 2), 3, return_logits=1),
     TypeError, "return_logits"),
    # --- CharTokenizer ----------------------------------------------------------------------------------
    ("CharTokenizer empty", lambda: CharTokenizer(""), ValueError, "non-empty text"),
    ("CharTokenizer list", lambda: CharTokenizer(["ab", "c"]), TypeError, "text"),
    ("CharTokenizer None", lambda: CharTokenizer(None), TypeError, "text"),
    ("CharTokenizer.encode unknown", lambda: tokenizer().encode("abz"), ValueError, "text .*'z'"),
    ("CharTokenizer.encode None", lambda: tokenizer().encode(None), TypeError, "text"),
    ("CharTokenizer.encode list", lambda: tokenizer().encode(["a"]), TypeError, "text"),
    ("CharTokenizer.decode negative", lambda: tokenizer().decode([0, -1]), ValueError, r"ids .*\[0, 3\)"),
    ("CharTokenizer.decode too large", lambda: tokenizer().decode([0, 3]), ValueError, r"ids .*\[0, 3\)"),
    ("CharTokenizer.decode tensor negative", lambda: tokenizer().decode(torch.tensor([0, -1])), ValueError, "ids"),
    ("CharTokenizer.decode tensor too large", lambda: tokenizer().decode(torch.tensor([5])), ValueError, "ids"),
    ("CharTokenizer.decode 2-D tensor", lambda: tokenizer().decode(torch.tensor([[0, 1]])), ValueError, "ids"),
    ("CharTokenizer.decode float tensor", lambda: tokenizer().decode(torch.tensor([0.0])), TypeError, "ids"),
    ("CharTokenizer.decode float", lambda: tokenizer().decode([1.0]), TypeError, "ids"),
    ("CharTokenizer.decode bool", lambda: tokenizer().decode([True]), TypeError, "ids"),
    ("CharTokenizer.decode str", lambda: tokenizer().decode("ab"), TypeError, "ids"),
    ("CharTokenizer.decode int", lambda: tokenizer().decode(5), TypeError, "ids"),
    # --- split_ids ------------------------------------------------------------------------------------------
    ("split_ids train_fraction=1", lambda: split_ids([1, 2, 3], 1.0), ValueError, "train_fraction"),
    ("split_ids train_fraction=0", lambda: split_ids([1, 2, 3], 0.0), ValueError, "train_fraction"),
    ("split_ids train_fraction nan", lambda: split_ids([1, 2, 3], float("nan")), ValueError, "train_fraction"),
    ("split_ids train_fraction str", lambda: split_ids([1, 2, 3], "0.9"), TypeError, "train_fraction"),
    ("split_ids train_fraction bool", lambda: split_ids([1, 2, 3], True), TypeError, "train_fraction"),
    ("split_ids float tensor", lambda: split_ids(torch.tensor([0.5, 1.7, 2.2]), 0.5), TypeError, "ids"),
    ("split_ids float list", lambda: split_ids([1.5, 2.5, 3.5], 0.5), TypeError, "ids"),
    ("split_ids bool tensor", lambda: split_ids(torch.tensor([True, False]), 0.5), TypeError, "ids"),
    ("split_ids 2-D", lambda: split_ids(torch.zeros(2, 2, dtype=torch.long), 0.5), ValueError, "ids"),
    ("split_ids str", lambda: split_ids("abc", 0.5), TypeError, "ids"),
    ("split_ids None", lambda: split_ids(None, 0.5), TypeError, "ids"),
    # --- random_batch ---------------------------------------------------------------------------------------
    ("random_batch too short", lambda: random_batch(data(8), 2, 8), ValueError, "too short"),
    ("random_batch float data", lambda: random_batch(data(50).float(), 2, 8), TypeError, "data"),
    ("random_batch 2-D data", lambda: random_batch(data(50).reshape(25, 2), 2, 8), ValueError, "data"),
    ("random_batch list data", lambda: random_batch(list(range(50)), 2, 8), TypeError, "data"),
    ("random_batch batch_size=0", lambda: random_batch(data(50), 0, 8), ValueError, "batch_size"),
    ("random_batch batch_size<0", lambda: random_batch(data(50), -1, 8), ValueError, "batch_size"),
    ("random_batch batch_size float", lambda: random_batch(data(50), 2.0, 8), TypeError, "batch_size"),
    ("random_batch block_size=0", lambda: random_batch(data(50), 2, 0), ValueError, "block_size"),
    ("random_batch block_size bool", lambda: random_batch(data(50), 2, True), TypeError, "block_size"),
    ("random_batch generator int", lambda: random_batch(data(50), 2, 8, 1), TypeError, "generator"),
    # --- cosine_lr ------------------------------------------------------------------------------------------
    ("cosine_lr step<0", lambda: cosine_lr(-1, 1e-3, 10, 100, 1e-4), ValueError, "step"),
    ("cosine_lr step float", lambda: cosine_lr(1.5, 1e-3, 10, 100, 1e-4), TypeError, "step"),
    ("cosine_lr warmup<0", lambda: cosine_lr(0, 1e-3, -1, 100, 1e-4), ValueError, "warmup"),
    ("cosine_lr decay_steps<0", lambda: cosine_lr(0, 1e-3, 10, -5, 1e-4), ValueError, "decay_steps"),
    ("cosine_lr lr=0", lambda: cosine_lr(0, 0.0, 10, 100, 0.0), ValueError, "lr"),
    ("cosine_lr lr nan", lambda: cosine_lr(0, float("nan"), 10, 100, 1e-4), ValueError, "lr"),
    ("cosine_lr min_lr<0", lambda: cosine_lr(0, 1e-3, 10, 100, -1e-4), ValueError, "min_lr"),
    ("cosine_lr min_lr>lr", lambda: cosine_lr(0, 1e-3, 10, 100, 1e-2), ValueError, "min_lr"),
    # --- make_adamw -----------------------------------------------------------------------------------------
    ("make_adamw model str", lambda: make_adamw("model", 1e-3), TypeError, "model"),
    ("make_adamw no parameters", lambda: make_adamw(nn.ReLU(), 1e-3), ValueError, "parameters"),
    ("make_adamw lr<0", lambda: make_adamw(model(), -1e-3), ValueError, "lr"),
    ("make_adamw lr str", lambda: make_adamw(model(), "1e-3"), TypeError, "lr"),
    ("make_adamw weight_decay<0", lambda: make_adamw(model(), 1e-3, -0.1), ValueError, "weight_decay"),
    ("make_adamw betas short", lambda: make_adamw(model(), 1e-3, betas=(0.9,)), TypeError, "betas"),
    ("make_adamw betas=1", lambda: make_adamw(model(), 1e-3, betas=(0.9, 1.0)), ValueError, "betas"),
    ("make_adamw fused str", lambda: make_adamw(model(), 1e-3, fused="yes"), TypeError, "fused"),
    # --- estimate_loss and batch_losses -----------------------------------------------------------------------
    ("batch_losses eval_iters=0", lambda: batch_losses(model(), data(), 0, 2, BLOCK), ValueError, "eval_iters"),
    ("batch_losses eval_iters float", lambda: batch_losses(model(), data(), 2.0, 2, BLOCK), TypeError, "eval_iters"),
    ("batch_losses eval_iters bool", lambda: batch_losses(model(), data(), True, 2, BLOCK), TypeError, "eval_iters"),
    ("batch_losses model str", lambda: batch_losses("model", data(), 1, 2, BLOCK), TypeError, "model"),
    ("batch_losses float data", lambda: batch_losses(model(), data().float(), 1, 2, BLOCK), TypeError, "data"),
    ("batch_losses batch_size=0", lambda: batch_losses(model(), data(), 1, 0, BLOCK), ValueError, "batch_size"),
    ("estimate_loss batch_size=0", lambda: estimate_loss(model(), data(), 1, 0, BLOCK), ValueError, "batch_size"),
    ("estimate_loss eval_iters=0", lambda: estimate_loss(model(), data(), 0, 2, BLOCK), ValueError, "eval_iters"),
    ("estimate_loss block_size>model's", lambda: estimate_loss(model(), data(), 1, 2, BLOCK + 1),
     ValueError, "block_size=8"),
    # --- TrainConfig ------------------------------------------------------------------------------------------
    ("TrainConfig eval_interval=0", lambda: TrainConfig(eval_interval=0), ValueError, "eval_interval"),
    ("TrainConfig final_eval_iters=0", lambda: TrainConfig(final_eval_iters=0), ValueError, "final_eval_iters"),
    ("TrainConfig batch_size=0", lambda: TrainConfig(batch_size=0), ValueError, "batch_size"),
    ("TrainConfig batch_size float", lambda: TrainConfig(batch_size=2.5), TypeError, "batch_size"),
    ("TrainConfig max_iters=0", lambda: TrainConfig(max_iters=0), ValueError, "max_iters"),
    ("TrainConfig max_iters<0", lambda: TrainConfig(max_iters=-1), ValueError, "max_iters"),
    ("TrainConfig eval_iters bool", lambda: TrainConfig(eval_iters=True), TypeError, "eval_iters"),
    ("TrainConfig lr<0", lambda: TrainConfig(lr=-1e-3), ValueError, "lr"),
    ("TrainConfig min_lr>lr", lambda: TrainConfig(lr=1e-3, min_lr=1e-2), ValueError, "min_lr"),
    ("TrainConfig warmup<0", lambda: TrainConfig(warmup=-1), ValueError, "warmup"),
    ("TrainConfig weight_decay<0", lambda: TrainConfig(weight_decay=-0.1), ValueError, "weight_decay"),
    ("TrainConfig betas>1", lambda: TrainConfig(betas=(0.9, 1.5)), ValueError, "betas"),
    ("TrainConfig betas number", lambda: TrainConfig(betas=0.9), TypeError, "betas"),
    ("TrainConfig grad_clip=0", lambda: TrainConfig(grad_clip=0.0), ValueError, "grad_clip"),
    ("TrainConfig grad_clip<0", lambda: TrainConfig(grad_clip=-1.0), ValueError, "grad_clip"),
    ("TrainConfig seed str", lambda: TrainConfig(seed="1337"), TypeError, "seed"),
    ("GPTHistory.median_step_ms empty", lambda: GPTHistory().median_step_ms, ValueError, "step_ms"),
    # --- train_step -------------------------------------------------------------------------------------------
    ("train_step optimizer str", lambda: step(opt="adamw"), TypeError, "optimizer"),
    ("train_step x float", lambda: step(x=torch.zeros(2, 4)), TypeError, "x must hold integer"),
    ("train_step y float", lambda: step(y=torch.zeros(2, 4)), TypeError, "y must hold integer"),
    ("train_step x, y shapes", lambda: step(y=ids(2, 3)), ValueError, "x and y"),
    ("train_step y >= vocab", lambda: step(y=torch.full((2, 4), V)), ValueError, r"y .*\[0, 11\)"),
    ("train_step y < 0", lambda: step(y=torch.full((2, 4), -1)), ValueError, r"y .*\[0, 11\)"),
    ("train_step lr<0", lambda: step(lr=-1e-3), ValueError, "lr"),
    ("train_step lr nan", lambda: step(lr=float("nan")), ValueError, "lr"),
    ("train_step grad_clip=0", lambda: step(grad_clip=0.0), ValueError, "grad_clip"),
    ("train_step grad_clip<0", lambda: step(grad_clip=-1.0), ValueError, "grad_clip"),
    # --- train_gpt --------------------------------------------------------------------------------------------
    ("train_gpt model without config", lambda: train(m=nn.Linear(2, 2)), TypeError, "model"),
    ("train_gpt config dict", lambda: train(cfg={"max_iters": 2}), TypeError, "config"),
    ("train_gpt config changed: eval_interval=0", lambda: train(cfg=mutated(eval_interval=0)),
     ValueError, "eval_interval"),
    ("train_gpt config changed: final_eval_iters=0", lambda: train(cfg=mutated(final_eval_iters=0)),
     ValueError, "final_eval_iters"),
    ("train_gpt config changed: batch_size=0", lambda: train(cfg=mutated(batch_size=0)), ValueError, "batch_size"),
    ("train_gpt train_data float", lambda: train(train_data=data().float()), TypeError, "train_data"),
    ("train_gpt train_data 2-D", lambda: train(train_data=data().reshape(10, 10)), ValueError, "train_data"),
    ("train_gpt val_data too short", lambda: train(val_data=data(BLOCK)), ValueError, "val_data"),
    ("train_gpt train_data >= vocab", lambda: train(train_data=data() + 1), ValueError, r"train_data .*\[0, 11\)"),
    ("train_gpt progress str", lambda: train(progress="no"), TypeError, "progress"),
    # --- gpt_parity -------------------------------------------------------------------------------------------
    ("gpt2_name_map n_layer=0", lambda: gpt2_name_map(0), ValueError, "n_layer"),
    ("gpt2_name_map n_layer<0", lambda: gpt2_name_map(-1), ValueError, "n_layer"),
    ("gpt2_name_map n_layer float", lambda: gpt2_name_map(2.0), TypeError, "n_layer"),
    ("config_from_gpt2 object", lambda: config_from_gpt2(object()), TypeError, "hf_config"),
    ("config_from_gpt2 dict", lambda: config_from_gpt2(dict(vocab_size=V)), TypeError, "hf_config"),
    ("config_from_gpt2 activation relu", lambda: config_from_gpt2(hf_config(activation_function="relu")),
     ValueError, "activation"),
    ("config_from_gpt2 n_inner", lambda: config_from_gpt2(hf_config(n_inner=16)), ValueError, "n_inner"),
    ("config_from_gpt2 scale_attn_weights", lambda: config_from_gpt2(hf_config(scale_attn_weights=False)),
     ValueError, "scale_attn_weights"),
    ("config_from_gpt2 scale_attn_by_inverse_layer_idx",
     lambda: config_from_gpt2(hf_config(scale_attn_by_inverse_layer_idx=True)),
     ValueError, "scale_attn_by_inverse_layer_idx"),
    ("config_from_gpt2 add_cross_attention", lambda: config_from_gpt2(hf_config(add_cross_attention=True)),
     ValueError, "add_cross_attention"),
    ("config_from_gpt2 tie_word_embeddings", lambda: config_from_gpt2(hf_config(tie_word_embeddings=False)),
     ValueError, "tie_word_embeddings"),
    ("load_gpt2_weights model str", lambda: load_gpt2_weights("gpt", hf_model()), TypeError, "model"),
    ("load_gpt2_weights hf_model str", lambda: load_gpt2_weights(gpt_matching_hf(), "gpt2"), TypeError, "hf_model"),
    ("load_gpt2_weights other eps", lambda: load_gpt2_weights(GPT(config(eps=1e-6)), hf_model()), ValueError, "eps"),
    ("load_gpt2_weights other activation", lambda: load_gpt2_weights(gpt_matching_hf(activation="gelu"), hf_model()),
     ValueError, "activation"),
    ("load_gpt2_weights other sizes", lambda: load_gpt2_weights(GPT(config(n_layer=2)), hf_model()),
     ValueError, "same parameters"),
    ("gpt_from_gpt2 str", lambda: gpt_from_gpt2("gpt2"), TypeError, "hf_model"),
]


@pytest.mark.parametrize("call, error, match", [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- edge inputs that are accepted ----------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8])
def test_edge_every_integer_dtype_is_accepted(dtype):
    m = model()
    x = ids(2, 5)
    expected = m(x)
    assert torch.equal(m(x.to(dtype)), expected)
    out = generate(m, x.to(dtype), 3, greedy=True)
    assert out.tokens.dtype == torch.long and torch.equal(out.tokens, generate(m, x, 3, greedy=True).tokens)
    assert tokenizer().decode(torch.tensor([0, 2, 1], dtype=dtype)) == "acb"
    train, val = split_ids(data(50, dtype), 0.8)
    assert train.dtype == val.dtype == torch.long and torch.equal(torch.cat([train, val]), data(50))
    xb, yb = random_batch(data(50, dtype), 2, BLOCK, torch.Generator().manual_seed(0))
    assert xb.dtype == yb.dtype == torch.long
    assert step(x=xb.to(dtype), y=yb.to(dtype)).isfinite()


def test_edge_empty_inputs():
    m = model()
    assert m(ids(1, 0)).shape == (1, 0, V)                      # empty: empty logits, no error
    assert m(ids(0, 3)).shape == (0, 3, V)
    chars = tokenizer()
    assert chars.encode("") == [] and chars.decode([]) == "" and chars.decode(torch.zeros(0, dtype=torch.long)) == ""
    train, val = split_ids([], 0.9)
    assert train.shape == val.shape == (0,) and train.dtype == torch.long
    out = generate(m, ids(2, 3), 0, return_logits=True)        # zero new tokens: the prompt itself
    assert torch.equal(out.tokens, ids(2, 3)) and out.logits.shape == (2, 0, V)


def test_edge_limits_that_are_accepted():
    m = model()
    assert generate(m, ids(1, BLOCK), 3, greedy=True).tokens.shape == (1, BLOCK + 3)   # a full block, then crop
    assert generate(m, ids(1, 2), 2, top_k=V, top_p=1.0).tokens.shape == (1, 4)
    assert generate(m, ids(1, 2), 2, stop_token=V - 1).tokens.shape[1] <= 4
    assert next_token(torch.zeros(2, 3), top_k=3).shape == (2,)
    import numpy as np
    assert tokenizer().decode([np.int64(1)]) == "b"
    assert TrainConfig(grad_clip=None).grad_clip is None
    assert cosine_lr(0, 1e-3, 0, 0, 1e-3) == 1e-3                  # no warm-up, constant schedule


def test_edge_the_mode_is_restored_after_an_error():
    m = model().train()
    with pytest.raises(ValueError, match="block_size=8"):
        batch_losses(m, data(), 1, 2, BLOCK + 1)                   # fails inside the model
    assert m.training


def test_edge_a_changed_config_fails_before_any_step():
    m = model()
    before = [p.clone() for p in m.parameters()]
    with pytest.raises(ValueError, match="final_eval_iters"):
        train(m=m, cfg=mutated(final_eval_iters=0))
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters()))   # not a single step was taken
