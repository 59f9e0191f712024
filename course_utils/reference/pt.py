"""Reference decoding in PyTorch. Read it side by side with ``tf.py``: same names, same steps.

``model`` is a ``GPT2LMHeadModel`` from ``course_utils.load_model("pt")``. ``input_ids`` may be a
list of ints, a 1-D numpy array, or a tensor of shape ``(seq_len,)`` or ``(1, seq_len)``.
Logits and probabilities come back as float32 tensors, generated ids as a list of ints
(prompt first), scores as Python floats. Every loop feeds the prompt once and then one new token
per step, reusing the model's key/value cache (``past_key_values``).
"""
from __future__ import annotations

import itertools

import torch

from course_utils.reference import framework_free

__all__ = ["next_token_logits", "next_token_probs", "top_choices",
           "apply_temperature", "top_k_filter", "top_p_filter", "sample_from_logits",
           "greedy_search", "greedy_search_no_cache", "sample",
           "log_probs_from_logits", "sequence_logprob", "beam_search"]

NEG_INF = float("-inf")


def _as_batch(input_ids) -> torch.Tensor:
    """``input_ids`` as a (1, seq_len) int64 tensor."""
    return torch.tensor([framework_free.to_id_list(input_ids)])


# --- One step: what does the model think comes next? ---------------------------------------------

@torch.no_grad()
def next_token_logits(model, input_ids):
    """Logits for the token after ``input_ids``: a float32 tensor of shape (vocab_size,)."""
    return model(_as_batch(input_ids)).logits[0, -1, :]


def next_token_probs(model, input_ids):
    """Probabilities for the token after ``input_ids``: a tensor of shape (vocab_size,), sum 1."""
    return torch.softmax(next_token_logits(model, input_ids), dim=-1)


def top_choices(model, tokenizer, input_ids, k=5) -> list[tuple[int, str, float]]:
    """The ``k`` most likely next tokens as ``(token_id, token_string, probability)``, best first."""
    k = framework_free.check_positive_int("k", k)
    probs, token_ids = torch.topk(next_token_probs(model, input_ids), k)
    return [(int(i), tokenizer.decode([int(i)]), float(p)) for p, i in zip(probs, token_ids)]


# --- Logit transforms: pure functions, (vocab_size,) or (batch_size, vocab_size) in and out ------

def apply_temperature(logits, temperature):
    """``logits / temperature``: below 1 sharpens the distribution, above 1 flattens it."""
    return torch.as_tensor(logits) / framework_free.check_temperature(temperature)


def top_k_filter(logits, k):
    """Keep the ``k`` highest logits (and any tied with the k-th), set the rest to -inf."""
    k = framework_free.check_positive_int("k", k)
    logits = torch.as_tensor(logits)
    kth_best = torch.topk(logits, min(k, logits.shape[-1]), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_best, NEG_INF)


def top_p_filter(logits, p):
    """Nucleus filter: keep the smallest set of most likely tokens whose probability adds up to at
    least ``p`` (the token that crosses ``p`` is kept; the most likely token always is), set the
    rest to -inf. ``p=1.0`` keeps everything, as in ``generate()``.

    Same steps as transformers' ``TopPLogitsWarper``: sort ascending and drop the least likely
    tokens while their total stays <= 1 - p. (``tf.py`` sorts descending, like TF's warper; the
    two agree except on exact ties at the boundary, where each sort picks a different tied token.)
    """
    p = framework_free.check_top_p(p)
    logits = torch.as_tensor(logits)
    if p == 1.0:
        return logits.clone()
    sorted_logits, sorted_indices = torch.sort(logits, dim=-1)            # least likely first
    cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    sorted_remove = cumulative_probs <= 1 - p
    sorted_remove[..., -1] = False                                       # keep the best token
    remove = sorted_remove.scatter(-1, sorted_indices, sorted_remove)    # undo the sort
    return logits.masked_fill(remove, NEG_INF)


def sample_from_logits(logits, num_samples=1, temperature=1.0, top_k=None, top_p=None,
                       seed=None):
    """Draw ``num_samples`` token ids (with replacement) from softmax of the filtered logits.

    The filters run in ``generate()``'s order: temperature, then top-k, then top-p.
    logits (vocab_size,) -> (num_samples,); (batch_size, vocab_size) -> (batch_size, num_samples).
    A ``seed`` uses a private ``torch.Generator``; ``None`` uses torch's global RNG.
    """
    num_samples = framework_free.check_positive_int("num_samples", num_samples)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1)
    generator = None if seed is None else torch.Generator().manual_seed(int(seed))
    return torch.multinomial(probs, num_samples, replacement=True, generator=generator)


# --- Decoding loops ------------------------------------------------------------------------------

@torch.no_grad()
def greedy_search(model, input_ids, max_new_tokens, stop_token_ids=None) -> list[int]:
    """Append the most likely token, ``max_new_tokens`` times or until a stop token is emitted
    (it is kept). Returns prompt + generated ids. ``generate()`` stops at
    ``model.generation_config.eos_token_id`` by default; here, only at ``stop_token_ids``.
    """
    ids = framework_free.to_id_list(input_ids)
    max_new_tokens = framework_free.check_positive_int("max_new_tokens", max_new_tokens, minimum=0)
    stop = framework_free.stop_set(stop_token_ids)
    past_key_values, new_input = None, _as_batch(ids)                    # (1, seq_len), then (1, 1)
    for _ in range(max_new_tokens):
        output = model(new_input, past_key_values=past_key_values, use_cache=True)
        past_key_values = output.past_key_values   # keys/values of every position seen so far
        next_id = int(torch.argmax(output.logits[0, -1, :]))
        ids.append(next_id)
        if next_id in stop:
            break
        new_input = _as_batch([next_id])           # the cache remembers the rest
    return ids


@torch.no_grad()
def greedy_search_no_cache(model, input_ids, max_new_tokens, stop_token_ids=None) -> list[int]:
    """``greedy_search`` without the cache: every step runs the model on the whole sequence."""
    ids = framework_free.to_id_list(input_ids)
    max_new_tokens = framework_free.check_positive_int("max_new_tokens", max_new_tokens, minimum=0)
    stop = framework_free.stop_set(stop_token_ids)
    for _ in range(max_new_tokens):
        logits = model(_as_batch(ids), use_cache=False).logits          # (1, seq_len, vocab_size)
        next_id = int(torch.argmax(logits[0, -1, :]))
        ids.append(next_id)
        if next_id in stop:
            break
    return ids


@torch.no_grad()
def sample(model, input_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None,
           stop_token_ids=None) -> list[int]:
    """Like ``greedy_search``, but each token is drawn by ``sample_from_logits``.

    With a ``seed`` every step gets its own seed from a private ``random.Random(seed)``, so the same
    seed gives the same ids and no global RNG moves; with ``seed=None`` torch's global RNG is used.
    """
    ids = framework_free.to_id_list(input_ids)
    max_new_tokens = framework_free.check_positive_int("max_new_tokens", max_new_tokens, minimum=0)
    stop = framework_free.stop_set(stop_token_ids)
    seeds = itertools.repeat(None) if seed is None else framework_free.step_seeds(seed)
    past_key_values, new_input = None, _as_batch(ids)
    for _ in range(max_new_tokens):
        output = model(new_input, past_key_values=past_key_values, use_cache=True)
        past_key_values = output.past_key_values
        next_id = int(sample_from_logits(output.logits[0, -1, :], 1, temperature, top_k, top_p,
                                         seed=next(seeds))[0])
        ids.append(next_id)
        if next_id in stop:
            break
        new_input = _as_batch([next_id])
    return ids


# --- Scoring sequences ---------------------------------------------------------------------------

def log_probs_from_logits(logits, labels):
    """log softmax(logits) at the ``labels``: logits (..., seq_len, vocab_size), labels
    (..., seq_len) -> (..., seq_len)."""
    log_probs = torch.log_softmax(torch.as_tensor(logits), dim=-1)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    return torch.gather(log_probs, -1, labels.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def sequence_logprob(model, ids, input_len=0) -> float:
    """Sum of log P(token | tokens before it) over the tokens at positions >= ``input_len``.

    Pass the prompt length as ``input_len`` to score only what was generated. Token 0 has no
    context, so it is never scored (``input_len=0`` sums positions 1 onwards).
    """
    ids = torch.tensor(framework_free.to_id_list(ids))
    input_len = framework_free.check_positive_int("input_len", input_len, minimum=0)
    if input_len > len(ids):
        raise ValueError(f"input_len must be at most len(ids) = {len(ids)}, not {input_len}")
    logits = model(ids[None]).logits[0]                                   # (seq_len, vocab_size)
    token_log_probs = log_probs_from_logits(logits[:-1], ids[1:])        # position t predicts t + 1
    return float(token_log_probs[max(input_len, 1) - 1:].sum())


@torch.no_grad()
def beam_search(model, input_ids, num_beams, max_new_tokens, no_repeat_ngram_size=0,
                length_penalty=1.0, eos_token_id=None) -> tuple[list[int], float]:
    """Keep the ``num_beams`` best partial sequences at every step; return ``(ids, score)`` for the
    best finished one: prompt + generated ids, and its score as a Python float.

    Reproduces ``model.generate(num_beams=..., do_sample=False, max_new_tokens=...,
    no_repeat_ngram_size=..., length_penalty=..., eos_token_id=...)`` of transformers 4.57
    (default ``early_stopping=False``), and its ``sequences_scores``:

    * score = (sum of the generated tokens' log-probs) / (number of generated tokens) ** length_penalty.
      The prompt is not counted, in PyTorch and TensorFlow alike.
    * A beam finishes when it emits ``eos_token_id`` (only a candidate ranked in the top
      ``num_beams`` may finish) and, **in PyTorch**, when ``max_new_tokens`` is reached: then the
      live beams join the finished ones and the best score wins (``tf.py`` does the same).
    * The search stops early once ``num_beams`` beams have finished and the best live beam, scored
      at its current length, is no better than the worst finished one.
    """
    prompt, num_beams, max_new_tokens, no_repeat_ngram_size, eos_token_id = framework_free.check_beam_arguments(
        input_ids, num_beams, max_new_tokens, no_repeat_ngram_size, eos_token_id)

    beams = [list(prompt) for _ in range(num_beams)]                     # live sequences
    # Only beam 0 is live at first; -1e9 on the copies keeps step 1 from picking one token b times.
    beam_scores = torch.tensor([0.0] + [-1e9] * (num_beams - 1))          # (num_beams,) sums of log-probs
    finished = []                                                        # (score, ids), best first
    past_key_values, new_input = None, torch.tensor(beams)               # (num_beams, seq_len)
    for step in range(max_new_tokens):
        output = model(new_input, past_key_values=past_key_values, use_cache=True)
        past_key_values = output.past_key_values
        log_probs = torch.log_softmax(output.logits[:, -1, :], dim=-1)   # (num_beams, vocab_size)
        for b, beam in enumerate(beams):
            log_probs[b, framework_free.banned_ngram_tokens(beam, no_repeat_ngram_size)] = NEG_INF
        vocab_size = log_probs.shape[-1]

        # Score every (beam, token) extension; keep the 2 * num_beams best, so that num_beams can
        # stay live even if num_beams of them end with eos.
        top_scores, top_indices = torch.topk((log_probs + beam_scores[:, None]).view(-1), 2 * num_beams)
        generated_len = step + 1
        normalized = (top_scores / (generated_len ** length_penalty)).tolist()
        # Endings (eos; in PT the budget too) join `finished`; the best num_beams others stay live.
        live = framework_free.split_candidates(top_indices.tolist(), normalized, beams, vocab_size, eos_token_id,
                                               generated_len == max_new_tokens, finished)

        chosen = top_indices[live]
        origin = chosen // vocab_size                                    # which beam each came from
        beams = [beams[beam] + [token] for beam, token in
                 zip(origin.tolist(), (chosen % vocab_size).tolist())]
        beam_scores = top_scores[live]
        if generated_len == max_new_tokens:                              # budget spent
            break
        past_key_values = _reorder_cache(past_key_values, origin)  # each live beam continues from its parent's cache
        new_input = torch.tensor([[beam[-1]] for beam in beams])        # (num_beams, 1)

        best_possible = float(beam_scores[0] / (generated_len ** length_penalty))
        if len(finished) == num_beams and best_possible <= finished[-1][0]:
            break                                # no live beam can beat the finished ones
    score, ids = finished[0]
    return ids, score


def _reorder_cache(past_key_values, origin):
    """The cache with its rows taken from beams ``origin`` (shape ``(num_beams,)``): a ``Cache``
    object reorders itself; transformers before 4.48 hand GPT-2's cache back as a tuple per layer
    of ``(key, value)`` tensors of shape ``(num_beams, heads, seq, head_dim)``."""
    if hasattr(past_key_values, "reorder_cache"):
        past_key_values.reorder_cache(origin)
        return past_key_values
    return tuple(tuple(t.index_select(0, origin) for t in layer) for layer in past_key_values)
