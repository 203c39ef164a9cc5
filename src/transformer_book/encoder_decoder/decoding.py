"""From a trained encoder-decoder to output sentences: greedy decoding, beam search, sampling.

All three run the same loop: encode the source once, then repeatedly run the decoder on the
prefix produced so far and choose the next token from the distribution over the vocabulary at
the last position. By default a key-value cache (``StepDecoder``) keeps what the decoder computed
for the earlier positions, so each step runs on the newest token only; ``use_cache=False`` reruns
the whole prefix, with the same results to float32 rounding. They differ only in how they choose:

- ``greedy_decode``: the single most probable token, every time;
- ``beam_search``: keep the ``beam_size`` best prefixes, batched over sentences AND beams, and
  rank finished hypotheses by their length-penalised log-probability (Wu et al., 2016);
- ``sample``: draw the token at random, after temperature, top-k and top-p (nucleus) filtering.

Conventions. ``src`` is ``(B, S)`` source ids padded with ``model.pad_id`` (each row ``tokens +
EOS``, as ``batching.encode_pairs`` makes them). ``max_len`` is the largest number of tokens
generated per sentence, the end-of-sentence token included. The decoder is never allowed to emit
padding or BOS: their logits are set to ``-inf`` before the softmax. A hypothesis that reaches
``max_len`` tokens without EOS is cut there (and scored without an EOS term).
The model is put in evaluation mode (no dropout) while decoding and restored afterwards.

Checked before any decoding (``ValueError``/``TypeError`` naming the argument): ``src`` must be a
non-empty 2-D tensor of any integer dtype (int8 to int64, uint8; floats and bools are refused),
on the model's device, with ids in the source vocabulary and no row of padding only; ``bos_id``
and ``eos_id`` must be ids of the target vocabulary, different from each other and from the
model's ``pad_id`` (an ``eos_id`` outside the vocabulary could never be produced, so decoding
would never stop early); counts such as ``max_len`` and ``beam_size`` are ``int`` >= 1, not bools.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from transformer_book.common.sampling import NEG_INF, check_sampling, evaluation_mode, sampling_probs
from transformer_book.encoder_decoder.batching import BOS_ID, EOS_ID
from transformer_book.pieces.embeddings import Embeddings
from transformer_book.common.validation import check_bool, check_int, check_number, check_token_ids



# ----------------------------------------------------------------------------------------------
# checks and shared pieces


def _vocab_size(module: nn.Module | None) -> int | None:
    """The vocabulary of the first embedding table in ``module`` (None if it has none)."""
    for sub in module.modules() if isinstance(module, nn.Module) else ():
        if isinstance(sub, Embeddings):
            return sub.vocab_size
        if isinstance(sub, nn.Embedding):
            return sub.num_embeddings
    return None


def _target_vocab(model: nn.Module) -> int | None:
    proj = getattr(getattr(model, "generator", None), "proj", None)
    return proj.out_features if isinstance(proj, nn.Linear) else _vocab_size(getattr(model, "tgt_embed", None))


def check_model(model: nn.Module) -> None:
    """Raise ``TypeError`` unless ``model`` is an ``nn.Module`` with an integer ``pad_id`` (an encoder-decoder)."""
    pad_id = getattr(model, "pad_id", None)
    if not isinstance(model, nn.Module) or isinstance(pad_id, bool) or not isinstance(pad_id, int):
        raise TypeError(
            f"model must be an encoder-decoder nn.Module with an integer pad_id (make_model builds one), "
            f"got {type(model).__name__}"
        )


def _check_src(model: nn.Module, src: torch.Tensor) -> torch.Tensor:
    """``src`` as a LongTensor, after the checks in the module's docstring."""
    check_model(model)
    if isinstance(src, torch.Tensor) and src.dim() != 2:
        raise ValueError(f"src must be a (batch, seq) tensor of token ids, got shape {tuple(src.shape)}")
    src = check_token_ids("src", src, _vocab_size(getattr(model, "src_embed", None))).long()
    if src.shape[0] == 0 or src.shape[1] == 0:
        raise ValueError(f"src is empty: shape {tuple(src.shape)}")
    parameter = next(model.parameters(), None)
    if parameter is not None and parameter.device != src.device:
        raise ValueError(f"src is on {src.device} but the model is on {parameter.device}: move one of them")
    empty = (src != model.pad_id).sum(dim=1) == 0
    if bool(empty.any()):
        rows = empty.nonzero().flatten().tolist()
        raise ValueError(
            f"rows {rows} of src are all padding (pad_id={model.pad_id}): "
            "every sentence needs at least one token (its EOS)"
        )
    return src


def _check_ids(model: nn.Module, bos_id: int, eos_id: int) -> None:
    vocab = _target_vocab(model)
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id), ("the model's pad_id", model.pad_id)):
        check_int(name, value, minimum=0)
        if vocab is not None and value >= vocab:
            raise ValueError(f"{name} must be a token id in [0, {vocab}) (the target vocabulary), got {value}")
    if len({bos_id, eos_id, model.pad_id}) != 3:
        raise ValueError(
            f"bos_id={bos_id}, eos_id={eos_id} and the model's pad_id={model.pad_id} must differ"
        )


def next_token_logits(
    model: nn.Module,
    memory: torch.Tensor,
    src_mask: torch.Tensor,
    prefix: torch.Tensor,
    bos_id: int = BOS_ID,
) -> torch.Tensor:
    """Logits ``(N, V)`` for the token after each prefix.

    ``memory`` is the encoder output ``(N, S, D)``, ``src_mask`` its ``(N, 1, 1, S)`` padding mask
    and ``prefix`` the ``(N, t)`` target ids so far (starting with BOS). The decoder runs on the
    whole prefix, but only the last position goes through the generator. Padding and BOS can never
    come next: their logits are ``-inf``. (Only shapes and ``bos_id`` are checked here: this runs
    at every step.)
    """
    if not isinstance(prefix, torch.Tensor) or prefix.dim() != 2 or prefix.shape[1] == 0:
        raise ValueError(f"prefix must be a non-empty (N, t) tensor of ids, got "
                         f"{tuple(prefix.shape) if isinstance(prefix, torch.Tensor) else type(prefix).__name__}")
    if memory.dim() != 3 or memory.shape[0] != prefix.shape[0]:
        raise ValueError(
            f"memory must be (N, S, D) with the N={prefix.shape[0]} rows of prefix, got {tuple(memory.shape)}"
        )
    check_int("bos_id", bos_id, minimum=0)
    vocab = _target_vocab(model)
    if vocab is not None and bos_id >= vocab:
        raise ValueError(f"bos_id must be a token id in [0, {vocab}) (the target vocabulary), got {bos_id}")
    states = model.decode(memory, src_mask, prefix)           # (N, t, D)
    return _forbid_pad_and_bos(model, model.generator(states[:, -1]).float(), bos_id)    # (N, V)


def _forbid_pad_and_bos(model: nn.Module, logits: torch.Tensor, bos_id: int) -> torch.Tensor:
    logits[:, [model.pad_id, bos_id]] = NEG_INF
    return logits


class StepDecoder:
    """Next-token logits for ``N`` target prefixes that grow by one token per step.

    ``logits(prefix)``: ``prefix`` ``(N, t)`` (BOS first) to the logits ``(N, V)`` of the token after
    each, with padding and BOS impossible (as ``next_token_logits``). Between two calls,
    ``select(rows)`` keeps the rows ``rows`` ``(M,)`` of the last call's prefixes, in that order (to
    drop sentences that have ended, or to follow the beams that survive: a row may repeat); each
    prefix of the next call must then extend its row by one token (checked).

    ``use_cache=True``: the decoder's key-value cache (``model.start_decoding``) holds the keys and
    values of the earlier positions and of the encoder output, so each step runs the decoder on the
    newest token only. ``use_cache=False``: ``next_token_logits`` reruns the whole prefix, and the
    encoder output's keys and values, at every step. The two agree to float32 rounding.
    ``memory`` ``(B, S, D)`` and ``src_mask`` ``(B, 1, 1, S)`` are the encoder's output and mask;
    the first call has ``N = B * repeats`` rows, row ``b * repeats + k`` for prefix ``k`` of sentence
    ``b`` (``repeats``: the beams).
    """

    def __init__(self, model: nn.Module, memory: torch.Tensor, src_mask: torch.Tensor,
                 bos_id: int = BOS_ID, use_cache: bool = True, repeats: int = 1) -> None:
        check_bool("use_cache", use_cache)
        check_int("repeats", repeats)
        self.model, self.bos_id = model, bos_id
        if use_cache:
            self.cache = model.start_decoding(memory, src_mask, repeats)
        else:
            self.cache = None
            self.memory = memory.repeat_interleave(repeats, dim=0)                   # (N, S, D)
            self.src_mask = src_mask.repeat_interleave(repeats, dim=0)               # (N, 1, 1, S)
        self.seen: torch.Tensor | None = None          # the prefixes of the last call (N, t)

    def select(self, rows: torch.Tensor) -> None:
        """Keep the rows ``rows`` ``(M,)`` of the last call's prefixes, in that order."""
        if self.seen is None:
            raise RuntimeError("select comes after a call of logits: there are no prefixes yet")
        if self.cache is not None:
            self.cache.select(rows)
        else:
            self.memory, self.src_mask = self.memory[rows], self.src_mask[rows]
        self.seen = self.seen[rows]

    def logits(self, prefix: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, V)`` of the token after each prefix ``(N, t)``."""
        if self.seen is not None and (prefix.shape != (self.seen.shape[0], self.seen.shape[1] + 1)
                                      or not torch.equal(prefix[:, :-1], self.seen)):
            raise ValueError(
                f"prefix {tuple(prefix.shape)} must extend each of the last step's {tuple(self.seen.shape)} "
                "prefixes (after select) by one token"
            )
        self.seen = prefix
        if self.cache is None:
            return next_token_logits(self.model, self.memory, self.src_mask, prefix, self.bos_id)
        states = self.model.decode_step(self.cache, prefix[:, self.cache.length:])    # (N, new, D)
        return _forbid_pad_and_bos(self.model, self.model.generator(states[:, -1]).float(), self.bos_id)


def gnmt_length_penalty(length: int | torch.Tensor, alpha: float) -> float | torch.Tensor:
    """The length penalty of Wu et al. (2016), ``((5 + length) / 6) ** alpha``.

    A hypothesis is ranked by ``log P(y | x) / gnmt_length_penalty(len(y), alpha)``: ``alpha = 0``
    ranks by log-probability alone (which favours short outputs, since every token lowers it);
    larger ``alpha`` divides long hypotheses' (negative) scores by more, i.e. favours them.
    ``length`` counts the generated tokens, EOS included: an ``int`` >= 0 or a tensor of them
    (negative lengths and a negative or non-finite ``alpha`` are refused).
    """
    check_length_penalty(alpha)
    if isinstance(length, torch.Tensor):
        if length.numel() and bool((length < 0).any()):
            raise ValueError(f"length must be >= 0, got a tensor with minimum {length.min().item()}")
    else:
        check_int("length", length, minimum=0)
    return ((5 + length) / 6) ** alpha


def check_length_penalty(alpha: float) -> None:
    """Raise unless the length penalty's ``alpha`` is a number >= 0."""
    check_number("length_penalty (alpha)", alpha, low=0.0)


# ----------------------------------------------------------------------------------------------
# greedy decoding and sampling: one token per sentence per step


def decode_loop(
    model: nn.Module,
    src: torch.Tensor,
    max_len: int,
    choose: Callable[[torch.Tensor], torch.Tensor],
    bos_id: int,
    eos_id: int,
    use_cache: bool = True,
) -> torch.Tensor:
    """Generate up to ``max_len`` tokens per sentence, choosing each with ``choose(logits (A, V)) ->
    (A,)`` for the ``A`` rows that have not ended yet (rows that have produced EOS leave the
    decoder's batch). Returns ``(B, L)``, ``L <= max_len``: the generated ids (no BOS), padding
    after EOS. ``choose`` must return integer ids of shape ``(A,)``. ``use_cache``: see ``StepDecoder``."""
    src = _check_src(model, src)
    check_int("max_len", max_len)
    _check_ids(model, bos_id, eos_id)
    check_bool("use_cache", use_cache)
    if not callable(choose):
        raise TypeError(f"choose must be a callable from logits (A, V) to ids (A,), got {type(choose).__name__}")
    with evaluation_mode(model):
        src_mask = model.source_mask(src)                      # (B, 1, 1, S)
        memory = model.encode(src, src_mask)                   # (B, S, D)
        decoder = StepDecoder(model, memory, src_mask, bos_id, use_cache)
        batch = src.shape[0]
        ys = torch.full((batch, 1), bos_id, dtype=torch.long, device=src.device)   # (B, 1)
        alive = torch.arange(batch, device=src.device)         # (A,) rows still generating
        for _ in range(max_len):
            logits = decoder.logits(ys[alive])                                    # (A, V)
            token = torch.full((batch,), model.pad_id, dtype=torch.long, device=src.device)
            chosen = choose(logits)                                               # (A,)
            if (not isinstance(chosen, torch.Tensor) or chosen.shape != alive.shape
                    or chosen.is_floating_point() or chosen.is_complex() or chosen.dtype == torch.bool):
                got = (chosen.dtype, tuple(chosen.shape)) if isinstance(chosen, torch.Tensor) else type(chosen).__name__
                raise ValueError(f"choose must return integer ids of shape {tuple(alive.shape)}, got {got}")
            token[alive] = chosen                                                 # (B,): pad if ended
            ys = torch.cat([ys, token[:, None]], dim=1)                           # (B, t + 1)
            going_on = (chosen != eos_id).nonzero().squeeze(1)                    # (A',) of the A
            alive = alive[going_on]
            if alive.numel() == 0:
                break
            decoder.select(going_on)
    return ys[:, 1:]


def greedy_decode(
    model: nn.Module, src: torch.Tensor, max_len: int, bos_id: int = BOS_ID, eos_id: int = EOS_ID,
    *, use_cache: bool = True,
) -> torch.Tensor:
    """The most probable next token at every step, for a batch of sentences at once.

    ``src``: ``(B, S)`` padded source ids. Returns a LongTensor ``(B, L)`` with ``L <= max_len``:
    the generated ids without BOS; a row that produced EOS has it, followed by padding. It stops
    as soon as every row has produced EOS. ``hypotheses(ids)`` turns it into lists of tokens.
    """
    return decode_loop(model, src, max_len, lambda logits: logits.argmax(dim=-1), bos_id, eos_id, use_cache)


def hypotheses(ids: torch.Tensor, eos_id: int = EOS_ID) -> list[list[int]]:
    """Rows of ``greedy_decode``/``sample`` output ``(B, L)`` as lists, cut before the first EOS
    (the same format ``beam_search`` returns). ``ids`` may have any integer dtype; floats and
    bools are refused."""
    if not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"ids must be an integer tensor of token ids, got "
                        f"{ids.dtype if isinstance(ids, torch.Tensor) else type(ids).__name__}")
    check_int("eos_id", eos_id, minimum=0)
    if ids.dim() != 2:
        raise ValueError(f"expected a (batch, length) tensor of ids, got shape {tuple(ids.shape)}")
    out = []
    for row in ids.tolist():
        out.append(row[: row.index(eos_id)] if eos_id in row else row)
    return out


def sample(
    model: nn.Module,
    src: torch.Tensor,
    max_len: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
    *,
    use_cache: bool = True,
) -> torch.Tensor:
    """Draw each next token at random from ``sampling_probs(logits, temperature, top_k, top_p)``.

    ``temperature`` > 0 divides the logits (below 1 sharpens, above 1 flattens); ``top_k`` keeps
    the k most probable tokens; ``top_p`` in (0, 1] keeps the nucleus. Pass a seeded
    ``torch.Generator`` (on ``src``'s device) for reproducible draws. Returns ``(B, L)`` like
    ``greedy_decode``.
    """
    check_sampling(temperature, top_k, top_p)

    def choose(logits: torch.Tensor) -> torch.Tensor:
        probs = sampling_probs(logits, temperature, top_k, top_p)                # (B, V)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)      # (B,)

    return decode_loop(model, src, max_len, choose, bos_id, eos_id, use_cache)


# ----------------------------------------------------------------------------------------------
# beam search


@dataclass
class Finished:
    """A hypothesis that has ended (with EOS, or cut at ``max_len``)."""

    tokens: list[int]      # without BOS and EOS
    log_prob: float        # sum of the log-probabilities of its tokens (EOS included if it ended)
    score: float           # log_prob / gnmt_length_penalty(length, alpha)
    length: int            # generated tokens, EOS included


@dataclass
class BeamStep:
    """What ``beam_search`` kept after one step (recorded when a ``trace`` list is passed).

    ``tokens`` ``(B, K, t + 1)`` are the alive prefixes (BOS first), ``log_probs`` ``(B, K)`` their
    summed log-probabilities (``-inf`` for empty slots), ``finished[b]`` the hypotheses of sentence
    ``b`` finished so far, and ``done[b]`` whether sentence ``b`` has stopped searching.
    """

    step: int
    tokens: torch.Tensor
    log_probs: torch.Tensor
    finished: list[list[Finished]]
    done: list[bool]


def _check_beam_arguments(model: nn.Module, src: torch.Tensor, beam_size: int, max_len: int,
                          length_penalty: float, bos_id: int, eos_id: int) -> torch.Tensor:
    """The checks both beam searches make before any work; returns ``src`` as ``_check_src`` does."""
    check_int("beam_size", beam_size)
    src = _check_src(model, src)
    check_int("max_len", max_len)
    check_length_penalty(length_penalty)
    _check_ids(model, bos_id, eos_id)
    return src


def beam_search(
    model: nn.Module,
    src: torch.Tensor,
    beam_size: int,
    max_len: int,
    length_penalty: float = 0.6,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
    *,
    return_scores: bool = False,
    trace: list[BeamStep] | None = None,
    use_cache: bool = True,
) -> list[list[int]] | tuple[list[list[int]], list[float]]:
    """Beam search for a batch of sentences; the best hypothesis of each, without BOS and EOS.

    All ``B * K`` alive prefixes (``K = beam_size``) run through the decoder as one batch of
    ``(B * K, t)``: the encoder output is computed once per sentence and repeated ``K`` times.
    At every step each sentence's ``K * V`` one-token extensions are ranked by summed
    log-probability and the best ``2K`` looked at, in order:

    - an extension that is EOS and ranks among the best ``K`` is *finished*: it moves to the
      sentence's finished list with score ``log_prob / gnmt_length_penalty(length, alpha)`` and is
      never extended again;
    - the best ``K`` extensions that are not EOS become the new alive prefixes (there are always
      ``K``, since each prefix has only one EOS extension), so ``K`` prefixes stay alive;
    - at step ``max_len`` the best ``K`` extensions are all finished, EOS or not (cut there).

    A sentence stops when it has ``K`` finished hypotheses (so ``beam_size=1`` is exactly greedy
    decoding), or earlier when no alive prefix could still beat its best finished hypothesis: log
    probabilities only fall as a prefix grows and the penalty is largest at ``max_len``, so
    ``alive_log_prob / gnmt_length_penalty(max_len, alpha)`` bounds every score it can reach.
    The result is the finished hypothesis with the highest score (``return_scores=True`` also
    returns those scores). Pass a list as ``trace`` to receive a ``BeamStep`` per step.
    With ``use_cache`` (see ``StepDecoder``) the cached keys and values follow the beams that
    survive: a new prefix continues the cache row of the beam it extends.
    """
    src = _check_beam_arguments(model, src, beam_size, max_len, length_penalty, bos_id, eos_id)
    check_bool("use_cache", use_cache)
    if trace is not None and not isinstance(trace, list):
        raise TypeError(f"trace must be None or a list to append BeamSteps to, got {type(trace).__name__}")
    device, batch, K = src.device, src.shape[0], beam_size
    finished: list[list[Finished]] = [[] for _ in range(batch)]
    done = [False] * batch
    best_finished = [NEG_INF] * batch                 # the best score among finished[b]
    best_reachable_penalty = gnmt_length_penalty(max_len, length_penalty)

    with evaluation_mode(model):
        src_mask = model.source_mask(src)                               # (B, 1, 1, S)
        memory = model.encode(src, src_mask)                            # (B, S, D)
        decoder = StepDecoder(model, memory, src_mask, bos_id, use_cache, repeats=K)   # rows b*K + k
        tokens = torch.full((batch, K, 1), bos_id, dtype=torch.long, device=device)    # (B, K, 1)
        # Only beam 0 is alive at first; the others start at -inf so that the first step does not
        # fill the beam with K copies of the same prefix.
        log_probs = torch.full((batch, K), NEG_INF, device=device)      # (B, K)
        log_probs[:, 0] = 0.0

        active = torch.arange(batch, device=device)                     # (A,) sentences still searching
        for step in range(1, max_len + 1):
            A = active.numel()
            prefix = tokens[active].reshape(A * K, step)                # (A*K, t): row a*K + k
            next_lp = decoder.logits(prefix).log_softmax(dim=-1)        # (A*K, V)
            vocab = next_lp.shape[-1]
            candidates = log_probs[active][:, :, None] + next_lp.view(A, K, vocab)   # (A, K, V)
            width = min(2 * K, K * vocab)
            top_lp, top_index = candidates.view(A, K * vocab).topk(width, dim=1)     # (A, 2K) sorted
            top_beam, top_token = top_index // vocab, top_index % vocab              # (A, 2K)
            is_eos = top_token == eos_id

            # 1. finish: EOS among the best K (every one of the best K at the last step).
            penalty = gnmt_length_penalty(step, length_penalty)
            ends = torch.ones_like(is_eos[:, :K]) if step == max_len else is_eos[:, :K]
            ends = ends & torch.isfinite(top_lp[:, :K])                             # (A, K)
            where = ends.nonzero()                                                  # (F, 2): (a, rank)
            if where.numel():
                a_idx, r_idx = where[:, 0], where[:, 1]
                ended_tokens = tokens[active[a_idx], top_beam[a_idx, r_idx], 1:].tolist()   # (F, t - 1)
                for b, token, value, hyp in zip(
                    active[a_idx].tolist(), top_token[a_idx, r_idx].tolist(),
                    top_lp[a_idx, r_idx].tolist(), ended_tokens,
                ):
                    hyp = hyp + ([] if token == eos_id else [token])
                    finished[b].append(Finished(hyp, value, value / penalty, step))
                    best_finished[b] = max(best_finished[b], value / penalty)

            # 2. continue: the best K extensions that are not EOS (a stable sort keeps their order).
            keep = is_eos.to(torch.int8).argsort(dim=1, stable=True)[:, :K]          # (A, K)
            new_beam, new_token = top_beam.gather(1, keep), top_token.gather(1, keep)
            grown = torch.cat(
                [tokens[active].gather(1, new_beam[:, :, None].expand(-1, -1, step)), new_token[:, :, None]],
                dim=2,
            )                                                                         # (A, K, t + 1)
            tokens = torch.cat([tokens, tokens.new_full((batch, K, 1), model.pad_id)], dim=2)
            tokens[active] = grown
            log_probs[active] = top_lp.gather(1, keep)

            # 3. stop a sentence with K finished, or when nothing alive can beat its best.
            reachable = (log_probs[:, 0] / best_reachable_penalty).tolist()          # (B,)
            for b in active.tolist():
                if finished[b] and (
                    len(finished[b]) >= K or step == max_len or best_finished[b] >= reachable[b]
                ):
                    done[b] = True
            if trace is not None:
                trace.append(BeamStep(step, tokens.clone(), log_probs.clone(), [list(f) for f in finished], list(done)))
            if all(done):
                break
            # The next step's rows: for each sentence still searching, the beams its prefixes extend.
            going_on = torch.tensor([a for a, b in enumerate(active.tolist()) if not done[b]], device=device)
            decoder.select((going_on[:, None] * K + new_beam[going_on]).reshape(-1))   # (A'*K,)
            active = active[going_on]

    best_hyps = [max(f, key=lambda h: h.score) for f in finished]
    hyps = [h.tokens for h in best_hyps]
    if return_scores:
        return hyps, [h.score for h in best_hyps]
    return hyps


def beam_search_one(
    model: nn.Module,
    src: torch.Tensor,
    beam_size: int,
    max_len: int,
    length_penalty: float = 0.6,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
) -> tuple[list[int], float]:
    """Beam search for one sentence ``src`` ``(1, S)``, written to be read: the best hypothesis
    (without BOS and EOS) and its score. It follows the same rules as ``beam_search``, one
    hypothesis at a time in plain Python lists, and returns the same result (the tests check it)."""
    src = _check_beam_arguments(model, src, beam_size, max_len, length_penalty, bos_id, eos_id)
    if src.shape[0] != 1:
        raise ValueError(f"beam_search_one decodes one sentence: src must be (1, S), got {tuple(src.shape)}")
    K = beam_size
    alive = [(0.0, [])]                   # (log-probability, tokens so far), best first
    finished = []                         # (score, tokens)
    with evaluation_mode(model):
        src_mask = model.source_mask(src)                                       # (1, 1, 1, S)
        memory = model.encode(src, src_mask)                                    # (1, S, D)
        for step in range(1, max_len + 1):
            candidates = []               # every one-token extension of every alive hypothesis
            for log_prob, tokens in alive:
                prefix = torch.tensor([[bos_id] + tokens], device=src.device)   # (1, t)
                next_lp = next_token_logits(model, memory, src_mask, prefix, bos_id).log_softmax(-1)[0]
                candidates += [(log_prob + lp, tokens, token) for token, lp in enumerate(next_lp.tolist())]
            candidates.sort(key=lambda c: c[0], reverse=True)
            best = [c for c in candidates[: 2 * K] if c[0] > NEG_INF]
            penalty = gnmt_length_penalty(step, length_penalty)
            for log_prob, tokens, token in best[:K]:        # EOS among the best K finishes
                if token == eos_id or step == max_len:      # ... and at max_len, all of them do
                    finished.append((log_prob / penalty, tokens + ([] if token == eos_id else [token])))
            alive = [(lp, tokens + [token]) for lp, tokens, token in best if token != eos_id][:K]
            best_reachable = alive[0][0] / gnmt_length_penalty(max_len, length_penalty) if alive else NEG_INF
            if finished and (len(finished) >= K or step == max_len
                             or max(score for score, _ in finished) >= best_reachable):
                break
    score, tokens = max(finished, key=lambda f: f[0])
    return tokens, score


# ----------------------------------------------------------------------------------------------
# scoring given outputs (teacher forcing)


def score_hypotheses(
    model: nn.Module,
    src: torch.Tensor,
    hyps: Sequence[Sequence[int]],
    max_len: int | None = None,
    length_penalty: float = 0.6,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's log-probability of given outputs, and their length-penalised scores, ``(B,)`` each.

    ``hyps[b]`` are the tokens for source row ``b`` without BOS and EOS, as ``beam_search`` returns
    them. EOS is appended, except to a hypothesis of exactly ``max_len`` tokens (one that was cut
    there). This runs the model once on the whole output (teacher forcing), with the same rule
    as decoding (padding and BOS impossible), so it checks the decoders' bookkeeping.
    Each hypothesis must hold integer ids of the target vocabulary (floats, bools and strings are
    refused, not rounded); an empty hypothesis is EOS alone.
    """
    src = _check_src(model, src)
    check_length_penalty(length_penalty)
    _check_ids(model, bos_id, eos_id)
    if max_len is not None:
        check_int("max_len", max_len)
    if isinstance(hyps, (str, torch.Tensor)) or not hasattr(hyps, "__len__"):
        raise TypeError(f"hyps must be a list of token-id lists, got {type(hyps).__name__}")
    if len(hyps) != src.shape[0]:
        raise ValueError(f"got {len(hyps)} hypotheses for {src.shape[0]} source sentences")
    vocab = _target_vocab(model)
    full = []
    for row, hyp in enumerate(hyps):
        if isinstance(hyp, torch.Tensor):
            hyp = check_token_ids(f"hyps[{row}]", hyp).flatten().tolist()
        if not isinstance(hyp, (list, tuple, range)) or not all(
            isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in hyp
        ):
            raise TypeError(f"hyps[{row}] must be a list of integer token ids, got {hyp!r}")
        hyp = [int(t) for t in hyp]
        if any(t < 0 or (vocab is not None and t >= vocab) for t in hyp):
            raise ValueError(f"hyps[{row}] ids must lie in [0, {vocab}) (the target vocabulary), got {hyp}")
        if eos_id in hyp or bos_id in hyp or model.pad_id in hyp:
            raise ValueError(f"hypothesis {hyp} must not contain BOS, EOS or padding")
        if max_len is not None and len(hyp) > max_len:
            raise ValueError(f"hypothesis of {len(hyp)} tokens is longer than max_len={max_len}")
        cut = max_len is not None and len(hyp) == max_len
        full.append(hyp + ([] if cut else [eos_id]))
    width = max(len(seq) for seq in full)
    target = torch.full((len(full), width), model.pad_id, dtype=torch.long, device=src.device)  # (B, L)
    for row, seq in enumerate(full):
        target[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    tgt_in = torch.cat([torch.full_like(target[:, :1], bos_id), target[:, :-1]], dim=1)       # (B, L)
    with evaluation_mode(model):
        logits = model(src, tgt_in).float()                                  # (B, L, V)
        logits[..., [model.pad_id, bos_id]] = NEG_INF
        token_lp = logits.log_softmax(dim=-1).gather(2, target[:, :, None]).squeeze(2)   # (B, L)
        token_lp = token_lp.masked_fill(target == model.pad_id, 0.0)
    log_prob = token_lp.sum(dim=1)                                           # (B,)
    lengths = torch.tensor([len(seq) for seq in full], dtype=torch.float32, device=src.device)
    return log_prob, log_prob / gnmt_length_penalty(lengths, length_penalty)


# ----------------------------------------------------------------------------------------------
# attention maps


@dataclass
class AttentionMaps:
    """Attention weights of every layer, each ``(B, h, T_query, T_key)``.

    ``encoder_self[l]``: ``(B, h, S, S)``; ``decoder_self[l]``: ``(B, h, T, T)``;
    ``cross[l]``: ``(B, h, T, S)`` (queries from the decoder, keys from the source).
    """

    encoder_self: list[torch.Tensor]
    decoder_self: list[torch.Tensor]
    cross: list[torch.Tensor]


def attention_maps(model: nn.Module, src: torch.Tensor, tgt_in: torch.Tensor) -> AttentionMaps:
    """Run ``model(src, tgt_in)`` once and collect the attention weights of every head and layer.

    A forward hook on each ``MultiHeadAttention`` module re-runs that module on the inputs it just
    received with ``return_weights=True`` (calling ``.forward`` directly, so the hook does not fire
    again). The model's classes are not changed, and the hooks are removed afterwards.
    ``src`` ``(B, S)``, ``tgt_in`` ``(B, T)`` (BOS first), both of any integer dtype, ``T >= 1``.
    """
    src = _check_src(model, src)
    tgt_in = check_token_ids("tgt_in", tgt_in, _target_vocab(model)).long()
    if tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0] or tgt_in.shape[1] == 0:
        raise ValueError(
            f"tgt_in must be a non-empty (batch, seq) tensor with the batch of src {tuple(src.shape)}, "
            f"got {tuple(tgt_in.shape)}"
        )
    if tgt_in.device != src.device:
        raise ValueError(f"tgt_in is on {tgt_in.device} but src is on {src.device}")
    collected: dict[str, list[torch.Tensor]] = {"encoder_self": [], "decoder_self": [], "cross": []}

    def make_hook(name: str):
        def hook(module, args, kwargs, output):
            query, key, value, *rest = list(args) + [None]
            mask = kwargs.get("mask", rest[0])
            _, weights = module.forward(query, key, value, mask, return_weights=True)
            collected[name].append(weights.detach())
        return hook

    handles = []
    for layer in model.encoder.layers:
        handles.append(layer.self_attention.register_forward_hook(make_hook("encoder_self"), with_kwargs=True))
    for layer in model.decoder.layers:
        handles.append(layer.self_attention.register_forward_hook(make_hook("decoder_self"), with_kwargs=True))
        handles.append(layer.cross_attention.register_forward_hook(make_hook("cross"), with_kwargs=True))
    try:
        with evaluation_mode(model):
            model(src, tgt_in)
    finally:
        for handle in handles:
            handle.remove()
    return AttentionMaps(**collected)
