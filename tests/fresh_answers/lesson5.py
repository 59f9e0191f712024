"""Lesson 5 (sampling): answers written from the student notebook only."""
from __future__ import annotations

import tensorflow as tf
import torch

from course_utils import load_tokenizer

tokenizer = load_tokenizer()
period_id = tokenizer.encode(".")[0]

EXERCISES = {"q1": "sample_tf", "q2": "apply_temperature", "q3": "top_k_filter", "q4": "top_p_filter",
             "q5": "sample_loop_tf"}


# -- q1: sample_tf ---------------------------------------------------------------------------------
def sample_tf_global_seed(logits, num_samples, seed):
    """tf.random.set_seed, then categorical on a batch of one row."""
    tf.random.set_seed(seed)
    return tf.random.categorical(logits[None, :], num_samples)[0]


def sample_tf_stateless(logits, num_samples, seed):
    """stateless_categorical: the seed is an argument, the global seed untouched."""
    draws = tf.random.stateless_categorical(tf.reshape(logits, (1, -1)), num_samples, seed=[seed, 0])
    return tf.reshape(draws, (-1,))


def sample_tf_int32(logits, num_samples, seed):
    """Global and op seed both set; int32 ids; input checked."""
    if num_samples < 1:
        raise ValueError("num_samples must be positive")
    tf.random.set_seed(seed)
    draws = tf.random.categorical(tf.expand_dims(logits, 0), num_samples, dtype=tf.int32, seed=seed)
    return tf.squeeze(draws, axis=0)


def sample_tf_probabilities(logits, num_samples, seed):
    """WRONG: hands categorical the probabilities (softmaxed twice)."""
    tf.random.set_seed(seed)
    return tf.random.categorical(tf.nn.softmax(logits)[None, :], num_samples)[0]


def sample_tf_unseeded(logits, num_samples, seed):
    """WRONG: ignores the seed."""
    return tf.random.categorical(logits[None, :], num_samples)[0]


def sample_tf_greedy(logits, num_samples, seed):
    """WRONG: the argmax num_samples times."""
    return tf.fill([num_samples], tf.argmax(logits))


def sample_tf_scaled(logits, num_samples, seed):
    """WRONG: categorical on the log of the probabilities divided by 2 (a stray temperature of 2)."""
    tf.random.set_seed(seed)
    return tf.random.categorical(tf.nn.log_softmax(logits)[None, :] / 2.0, num_samples)[0]


# -- q2: apply_temperature -------------------------------------------------------------------------
def temperature_divide(logits, temperature):
    """Every gap between logits is divided by T: divide the logits by T."""
    return logits / temperature


def temperature_reciprocal(logits, temperature):
    """Multiply by 1/T, after checking T > 0."""
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    return logits * (1.0 / temperature)


def temperature_torch_div(logits, temperature):
    """torch.div on a float copy."""
    return torch.div(logits.float(), float(temperature))


def temperature_multiply(logits, temperature):
    """WRONG: multiplies by T (sharpens above 1)."""
    return logits * temperature


def temperature_probabilities(logits, temperature):
    """WRONG: returns the tempered probabilities, not logits."""
    return torch.softmax(logits / temperature, dim=-1)


def temperature_divide_probs(logits, temperature):
    """WRONG: divides the probabilities by T."""
    return torch.softmax(logits, dim=-1) / temperature


def temperature_power(logits, temperature):
    """WRONG: raises the logits to the power 1/T."""
    return logits ** (1.0 / temperature)


# -- q3: top_k_filter (TensorFlow) -----------------------------------------------------------------
def top_k_threshold(logits, k):
    """The k-th largest value (top_k is sorted) is the bar; >= keeps ties."""
    kth = tf.math.top_k(logits, k=k).values[-1]
    return tf.where(logits >= kth, logits, tf.fill(tf.shape(logits), float("-inf")))


def top_k_sorted(logits, k):
    """tf.sort descending, the value at k-1, a boolean mask."""
    bar = tf.sort(logits, direction="DESCENDING")[k - 1]
    keep = tf.greater_equal(logits, bar)
    return tf.where(keep, logits, -float("inf") * tf.ones_like(logits))


def top_k_count_above(logits, k):
    """A token stays when fewer than k logits are strictly above it (ties with the k-th stay)."""
    above = tf.reduce_sum(tf.cast(logits[None, :] > logits[:, None], tf.int32), axis=1)
    return tf.where(above < k, logits, tf.constant(float("-inf"), dtype=logits.dtype))


def top_k_strict(logits, k):
    """WRONG: > instead of >=, which drops the k-th token itself."""
    kth = tf.math.top_k(logits, k=k).values[-1]
    return tf.where(logits > kth, logits, float("-inf"))


def top_k_scatter(logits, k):
    """WRONG: keeps exactly the k indices top_k returns (a token tied with the k-th is dropped)."""
    top = tf.math.top_k(logits, k=k)
    base = tf.fill(tf.shape(logits), float("-inf"))
    return tf.tensor_scatter_nd_update(base, top.indices[:, None], top.values)


def top_k_ascending(logits, k):
    """WRONG: tf.sort is ascending by default: the bar is the k-th smallest logit."""
    bar = tf.sort(logits)[k - 1]
    return tf.where(logits >= bar, logits, float("-inf"))


def top_k_off_by_one(logits, k):
    """WRONG: the bar at index k (keeps k + 1 tokens)."""
    bar = tf.sort(logits, direction="DESCENDING")[k]
    return tf.where(logits >= bar, logits, float("-inf"))


# -- q4: top_p_filter (PyTorch) --------------------------------------------------------------------
def top_p_exclusive_cumsum(logits, p):
    """Sorted descending; a token stays when the probability before it is still below p."""
    sorted_logits, order = torch.sort(logits, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs
    keep_sorted = before < p
    keep = torch.zeros_like(keep_sorted).scatter(0, order, keep_sorted)
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))


def top_p_searchsorted(logits, p):
    """The nucleus size m from searchsorted on the cumulative sum, then the m-th logit as a bar."""
    sorted_logits, _ = torch.sort(logits, descending=True)
    cumulative = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
    m = int(torch.searchsorted(cumulative, torch.tensor(float(p)))) + 1
    m = min(m, len(logits))
    filtered = logits.clone()
    filtered[logits < sorted_logits[m - 1]] = float("-inf")
    return filtered


def top_p_loop(logits, p):
    """Plain Python: add probabilities in order until they reach p."""
    probs = torch.softmax(logits, dim=-1).tolist()
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    kept, total = [], 0.0
    for i in order:
        kept.append(i)
        total += probs[i]
        if total >= p:
            break
    out = torch.full_like(logits, float("-inf"))
    out[kept] = logits[kept]
    return out


def top_p_drops_crossing(logits, p):
    """WRONG: keeps cumsum <= p, which drops the token that crosses p."""
    sorted_logits, order = torch.sort(logits, descending=True)
    keep_sorted = torch.cumsum(torch.softmax(sorted_logits, -1), -1) <= p
    keep = torch.zeros_like(keep_sorted).scatter(0, order, keep_sorted)
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))


def top_p_mask_in_sorted_order(logits, p):
    """WRONG: the mask computed in sorted order applied to the unsorted logits (no scatter back)."""
    sorted_logits, _ = torch.sort(logits, descending=True)
    probs = torch.softmax(sorted_logits, -1)
    keep_sorted = torch.cumsum(probs, -1) - probs < p
    return torch.where(keep_sorted, logits, torch.full_like(logits, float("-inf")))


def top_p_cumsum_of_logits(logits, p):
    """WRONG: adds up softmax-free logits rescaled to [0, 1] instead of probabilities."""
    sorted_logits, order = torch.sort(logits, descending=True)
    shares = sorted_logits - sorted_logits.min()
    shares = shares / shares.sum()
    keep_sorted = torch.cumsum(shares, -1) - shares < p
    keep = torch.zeros_like(keep_sorted).scatter(0, order, keep_sorted)
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))


def top_p_ascending(logits, p):
    """WRONG: torch.sort without descending=True: the nucleus built from the least likely tokens."""
    sorted_logits, order = torch.sort(logits)
    probs = torch.softmax(sorted_logits, -1)
    keep_sorted = torch.cumsum(probs, -1) - probs < p
    keep = torch.zeros_like(keep_sorted).scatter(0, order, keep_sorted)
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))


# -- q5: sample_loop_tf ----------------------------------------------------------------------------
def sample_loop_global_seed(model, input_ids, max_new_tokens, seed):
    """Seed once, before the loop; categorical on the last row each step."""
    tf.random.set_seed(seed)
    ids = list(input_ids)
    for _ in range(max_new_tokens):
        logits = model(tf.constant([ids])).logits[:, -1, :]
        next_id = int(tf.random.categorical(logits, 1)[0, 0])
        ids.append(next_id)
        if next_id == period_id:
            break
    return ids


def sample_loop_stateless(model, input_ids, max_new_tokens, seed):
    """stateless_categorical with the seed pair (seed, step): a new stream at every step."""
    ids = list(input_ids)
    step = 0
    while step < max_new_tokens:
        logits = model(tf.constant([ids])).logits[:, -1, :]
        next_id = int(tf.random.stateless_categorical(logits, 1, seed=[seed, step])[0, 0])
        ids.append(next_id)
        step += 1
        if next_id == period_id:
            break
    return ids


def sample_loop_gumbel(model, input_ids, max_new_tokens, seed):
    """A tf.random.Generator seeded once; the Gumbel-max trick (argmax of logits + Gumbel noise)."""
    rng = tf.random.Generator.from_seed(seed)
    ids = list(input_ids)
    for _ in range(max_new_tokens):
        logits = model(tf.constant([ids])).logits[0, -1]
        uniform = rng.uniform(tf.shape(logits), minval=1e-12, maxval=1.0)
        next_id = int(tf.argmax(logits - tf.math.log(-tf.math.log(uniform))))
        ids.append(next_id)
        if next_id == period_id:
            break
    return ids


def sample_loop_seed_every_step(model, input_ids, max_new_tokens, seed):
    """WRONG: tf.random.set_seed(seed) inside the loop: every step restarts the stream."""
    ids = list(input_ids)
    for _ in range(max_new_tokens):
        tf.random.set_seed(seed)
        next_id = int(tf.random.categorical(model(tf.constant([ids])).logits[:, -1, :], 1)[0, 0])
        ids.append(next_id)
        if next_id == period_id:
            break
    return ids


def sample_loop_probabilities(model, input_ids, max_new_tokens, seed):
    """WRONG: hands categorical the probabilities (close to uniform over the vocabulary)."""
    tf.random.set_seed(seed)
    ids = list(input_ids)
    for _ in range(max_new_tokens):
        probs = tf.nn.softmax(model(tf.constant([ids])).logits[:, -1, :])
        next_id = int(tf.random.categorical(probs, 1)[0, 0])
        ids.append(next_id)
        if next_id == period_id:
            break
    return ids


def sample_loop_argmax(model, input_ids, max_new_tokens, seed):
    """WRONG: lesson 4's greedy loop left in place (no draw at all)."""
    ids = list(input_ids)
    for _ in range(max_new_tokens):
        next_id = int(tf.argmax(model(tf.constant([ids])).logits[0, -1]))
        ids.append(next_id)
        if next_id == period_id:
            break
    return ids


def sample_loop_no_stop(model, input_ids, max_new_tokens, seed):
    """WRONG: never stops at the period."""
    tf.random.set_seed(seed)
    ids = list(input_ids)
    for _ in range(max_new_tokens):
        ids.append(int(tf.random.categorical(model(tf.constant([ids])).logits[:, -1, :], 1)[0, 0]))
    return ids


RIGHT = {
    "q1": [sample_tf_global_seed, sample_tf_stateless, sample_tf_int32],
    "q2": [temperature_divide, temperature_reciprocal, temperature_torch_div],
    "q3": [top_k_threshold, top_k_sorted, top_k_count_above],
    "q4": [top_p_exclusive_cumsum, top_p_searchsorted, top_p_loop],
    "q5": [sample_loop_global_seed, sample_loop_stateless, sample_loop_gumbel],
}
WRONG = {
    "q1": [sample_tf_probabilities, sample_tf_unseeded, sample_tf_greedy, sample_tf_scaled],
    "q2": [temperature_multiply, temperature_probabilities, temperature_divide_probs, temperature_power],
    "q3": [top_k_strict, top_k_scatter, top_k_ascending, top_k_off_by_one],
    "q4": [top_p_drops_crossing, top_p_mask_in_sorted_order, top_p_cumsum_of_logits, top_p_ascending],
    "q5": [sample_loop_seed_every_step, sample_loop_probabilities, sample_loop_argmax, sample_loop_no_stop],
}
EXTRA: dict = {}
