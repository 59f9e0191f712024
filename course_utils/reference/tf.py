"""Reference decoding in TensorFlow. Read it side by side with ``pt.py``: same names, same steps.

``model`` is the course's TensorFlow GPT-2 (``course_utils.tf_gpt2.GPT2``, called like transformers'
``TFGPT2LMHeadModel``) from ``course_utils.load_model("tf")``. ``input_ids`` may be
a list of ints, a 1-D numpy array, or a tensor of shape ``(seq_len,)`` or ``(1, seq_len)``.
Logits and probabilities come back as float32 tensors, generated ids as a list of ints
(prompt first), scores as Python floats. Every loop feeds the prompt once and then one new token
per step, reusing the model's key/value cache (``past_key_values``).
"""
from __future__ import annotations

import itertools

import tensorflow as tf

from course_utils.reference import framework_free

__all__ = ["next_token_logits", "next_token_probs", "top_choices",
           "apply_temperature", "top_k_filter", "top_p_filter", "sample_from_logits",
           "greedy_search", "greedy_search_no_cache", "sample",
           "log_probs_from_logits", "sequence_logprob", "beam_search"]

NEG_INF = float("-inf")


def _as_batch(input_ids) -> tf.Tensor:
    """``input_ids`` as a (1, seq_len) int32 tensor (TF's generate() uses int32 ids)."""
    return tf.constant([framework_free.to_id_list(input_ids)], dtype=tf.int32)


# --- One step: what does the model think comes next? ---------------------------------------------

def next_token_logits(model, input_ids):
    """Logits for the token after ``input_ids``: a float32 tensor of shape (vocab_size,)."""
    return model(_as_batch(input_ids)).logits[0, -1, :]


def next_token_probs(model, input_ids):
    """Probabilities for the token after ``input_ids``: a tensor of shape (vocab_size,), sum 1."""
    return tf.nn.softmax(next_token_logits(model, input_ids), axis=-1)


def top_choices(model, tokenizer, input_ids, k=5) -> list[tuple[int, str, float]]:
    """The ``k`` most likely next tokens as ``(token_id, token_string, probability)``, best first."""
    k = framework_free.check_positive_int("k", k)
    probs, token_ids = tf.math.top_k(next_token_probs(model, input_ids), k)
    return [(int(i), tokenizer.decode([int(i)]), float(p)) for p, i in zip(probs, token_ids)]


# --- Logit transforms: pure functions, (vocab_size,) or (batch_size, vocab_size) in and out ------

def apply_temperature(logits, temperature):
    """``logits / temperature``: below 1 sharpens the distribution, above 1 flattens it."""
    return tf.convert_to_tensor(logits) / framework_free.check_temperature(temperature)


def top_k_filter(logits, k):
    """Keep the ``k`` highest logits (and any tied with the k-th), set the rest to -inf."""
    k = framework_free.check_positive_int("k", k)
    logits = tf.convert_to_tensor(logits)
    kth_best = tf.math.top_k(logits, min(k, logits.shape[-1])).values[..., -1:]
    return tf.where(logits < kth_best, NEG_INF, logits)


def top_p_filter(logits, p):
    """Nucleus filter: keep the smallest set of most likely tokens whose probability adds up to at
    least ``p`` (the token that crosses ``p`` is kept; the most likely token always is), set the
    rest to -inf. ``p=1.0`` keeps everything, as in ``generate()``.

    Same steps as transformers' ``TFTopPLogitsWarper``: sort descending and keep a token while the
    probability before it is < p. (``pt.py`` sorts ascending, like PyTorch's warper; the two agree
    except on exact ties at the boundary, where each sort picks a different tied token.)
    """
    p = framework_free.check_top_p(p)
    logits = tf.convert_to_tensor(logits)
    if p == 1.0:   # TF's warper would drop a few tail tokens here: float cumsums reach 1.0 early
        return tf.identity(logits)
    sorted_logits, sorted_indices = tf.math.top_k(logits, logits.shape[-1])   # most likely first
    cumulative_probs = tf.math.cumsum(tf.nn.softmax(sorted_logits, axis=-1), axis=-1)
    sorted_keep = tf.concat([tf.ones_like(cumulative_probs[..., :1], dtype=tf.bool),  # the best token
                             cumulative_probs[..., :-1] < p], axis=-1)          # shift: keep the crosser
    keep = tf.gather(sorted_keep, tf.argsort(sorted_indices, axis=-1),       # undo the sort
                     batch_dims=len(logits.shape) - 1)
    return tf.where(keep, logits, NEG_INF)


def sample_from_logits(logits, num_samples=1, temperature=1.0, top_k=None, top_p=None,
                       seed=None):
    """Draw ``num_samples`` token ids (with replacement) from softmax of the filtered logits.

    The filters run in ``generate()``'s order: temperature, then top-k, then top-p.
    logits (vocab_size,) -> (num_samples,); (batch_size, vocab_size) -> (batch_size, num_samples).
    A ``seed`` uses ``tf.random.stateless_categorical`` (the seeded twin of
    ``tf.random.categorical``, which needs no global state); ``None`` uses TF's global RNG.
    """
    num_samples = framework_free.check_positive_int("num_samples", num_samples)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    batch = logits if len(logits.shape) == 2 else logits[None]           # categorical wants 2-D
    if seed is None:
        draws = tf.random.categorical(batch, num_samples, dtype=tf.int64)
    else:
        draws = tf.random.stateless_categorical(batch, num_samples, seed=[int(seed), 0], dtype=tf.int64)
    return draws if len(logits.shape) == 2 else draws[0]


# --- Decoding loops ------------------------------------------------------------------------------

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
        next_id = int(tf.argmax(output.logits[0, -1, :]))
        ids.append(next_id)
        if next_id in stop:
            break
        new_input = _as_batch([next_id])           # the cache remembers the rest
    return ids


def greedy_search_no_cache(model, input_ids, max_new_tokens, stop_token_ids=None) -> list[int]:
    """``greedy_search`` without the cache: every step runs the model on the whole sequence."""
    ids = framework_free.to_id_list(input_ids)
    max_new_tokens = framework_free.check_positive_int("max_new_tokens", max_new_tokens, minimum=0)
    stop = framework_free.stop_set(stop_token_ids)
    for _ in range(max_new_tokens):
        logits = model(_as_batch(ids), use_cache=False).logits          # (1, seq_len, vocab_size)
        next_id = int(tf.argmax(logits[0, -1, :]))
        ids.append(next_id)
        if next_id in stop:
            break
    return ids


def sample(model, input_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None,
           stop_token_ids=None) -> list[int]:
    """Like ``greedy_search``, but each token is drawn by ``sample_from_logits``.

    With a ``seed`` every step gets its own seed from a private ``random.Random(seed)``, so the same
    seed gives the same ids and no global RNG moves; with ``seed=None`` TF's global RNG is used.
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
    log_probs = tf.nn.log_softmax(tf.convert_to_tensor(logits), axis=-1)
    labels = tf.convert_to_tensor(labels)                                # int32 or int64
    return tf.gather(log_probs, labels, batch_dims=len(labels.shape))


def sequence_logprob(model, ids, input_len=0) -> float:
    """Sum of log P(token | tokens before it) over the tokens at positions >= ``input_len``.

    Pass the prompt length as ``input_len`` to score only what was generated. Token 0 has no
    context, so it is never scored (``input_len=0`` sums positions 1 onwards).
    """
    ids = tf.constant(framework_free.to_id_list(ids), dtype=tf.int32)
    input_len = framework_free.check_positive_int("input_len", input_len, minimum=0)
    if input_len > len(ids):
        raise ValueError(f"input_len must be at most len(ids) = {len(ids)}, not {input_len}")
    logits = model(ids[None]).logits[0]                                   # (seq_len, vocab_size)
    token_log_probs = log_probs_from_logits(logits[:-1], ids[1:])        # position t predicts t + 1
    return float(tf.reduce_sum(token_log_probs[max(input_len, 1) - 1:]))


# transformers 4.x's TensorFlow generate(), now gone, returned a live beam only when no beam had
# emitted eos; the course follows PyTorch, so both frameworks give the same beams.
def beam_search(model, input_ids, num_beams, max_new_tokens, no_repeat_ngram_size=0,
                length_penalty=1.0, eos_token_id=None) -> tuple[list[int], float]:
    """Keep the ``num_beams`` best partial sequences at every step; return ``(ids, score)`` for the
    best finished one: prompt + generated ids, and its score as a Python float.

    Reproduces PyTorch's ``model.generate(num_beams=..., do_sample=False, max_new_tokens=...,
    no_repeat_ngram_size=..., length_penalty=..., eos_token_id=...)`` (transformers 4.57 and 5.x,
    default ``early_stopping=False``), and its ``sequences_scores``; generate() pads a sequence
    that ended early with ``pad_token_id`` up to the longest, these ids stop at their eos:

    * score = (sum of the generated tokens' log-probs) / (number of generated tokens) ** length_penalty.
      The prompt is not counted, in PyTorch and TensorFlow alike.
    * A beam finishes when it emits ``eos_token_id`` (only a candidate ranked in the top
      ``num_beams`` may finish) and when ``max_new_tokens`` is reached: then the live beams join
      the finished ones and the best score wins, exactly as in ``pt.py`` and PyTorch's generate().
    * The search stops early once ``num_beams`` beams have finished and the best live beam, scored
      at its current length, is no better than the worst finished one.
    """
    prompt, num_beams, max_new_tokens, no_repeat_ngram_size, eos_token_id = framework_free.check_beam_arguments(
        input_ids, num_beams, max_new_tokens, no_repeat_ngram_size, eos_token_id)

    beams = [list(prompt) for _ in range(num_beams)]                     # live sequences
    # Only beam 0 is live at first; -1e9 on the copies keeps step 1 from picking one token b times.
    beam_scores = tf.constant([0.0] + [-1e9] * (num_beams - 1))          # (num_beams,) sums of log-probs
    finished = []                                                        # (score, ids), best first
    past_key_values, new_input = None, tf.constant(beams, dtype=tf.int32)  # (num_beams, seq_len)
    for step in range(max_new_tokens):
        output = model(new_input, past_key_values=past_key_values, use_cache=True)
        past_key_values = output.past_key_values
        log_probs = tf.nn.log_softmax(output.logits[:, -1, :], axis=-1)  # (num_beams, vocab_size)
        log_probs = _ban(log_probs, [framework_free.banned_ngram_tokens(beam, no_repeat_ngram_size) for beam in beams])
        vocab_size = log_probs.shape[-1]

        # Score every (beam, token) extension; keep the 2 * num_beams best, so that num_beams can
        # stay live even if num_beams of them end with eos.
        top_scores, top_indices = tf.math.top_k(tf.reshape(log_probs + beam_scores[:, None], [-1]),
                                                2 * num_beams)
        generated_len = step + 1
        normalized = (top_scores / tf.cast(generated_len, tf.float32) ** length_penalty).numpy().tolist()
        # Endings (eos, and the budget too) join `finished`; the best num_beams others stay live.
        live = framework_free.split_candidates(top_indices.numpy().tolist(), normalized, beams, vocab_size,
                                               eos_token_id, generated_len == max_new_tokens, finished)
        live = tf.constant(live, dtype=tf.int32)                         # may be empty at the budget
        chosen = tf.gather(top_indices, live)
        origin = chosen // vocab_size                                    # which beam each came from
        beams = [beams[beam] + [token] for beam, token in
                 zip(origin.numpy().tolist(), (chosen % vocab_size).numpy().tolist())]
        beam_scores = tf.gather(top_scores, live)
        if generated_len == max_new_tokens:                              # budget spent
            break
        past_key_values = _reorder_cache(past_key_values, origin)  # each live beam continues from its parent's cache
        new_input = tf.constant([[beam[-1]] for beam in beams], dtype=tf.int32)  # (num_beams, 1)

        best_possible = float(beam_scores[0] / tf.cast(generated_len, tf.float32) ** length_penalty)
        if len(finished) == num_beams and best_possible <= finished[-1][0]:
            break                                # no live beam can beat the finished ones
    score, ids = finished[0]
    return ids, score


def _ban(log_probs, banned: list[list[int]]):
    """``log_probs`` (num_beams, vocab_size) with ``banned[b]``'s tokens set to -inf in row b."""
    where = [[b, token] for b, tokens in enumerate(banned) for token in tokens]
    return tf.tensor_scatter_nd_update(log_probs, where, [NEG_INF] * len(where)) if where else log_probs


def _reorder_cache(past_key_values, origin):
    """The cache with its rows taken from beams ``origin`` (shape ``(num_beams,)``); the course's
    model keeps GPT-2's cache per layer as one tensor of shape (2, batch, heads, seq, head_dim)."""
    return [tf.gather(layer, origin, axis=1) for layer in past_key_values]
