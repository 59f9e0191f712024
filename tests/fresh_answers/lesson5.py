"""Lesson 5 (sampling): answers written from the student notebook only."""
from __future__ import annotations

import tensorflow as tf
import torch

from course_utils import load_tokenizer
from fresh_answers.lesson5_filters import (  # exercises 3, 4
    top_k_threshold, top_k_sorted, top_k_count_above,
    top_k_strict, top_k_scatter, top_k_ascending,
    top_k_off_by_one, top_p_exclusive_cumsum, top_p_searchsorted,
    top_p_loop, top_p_drops_crossing, top_p_mask_in_sorted_order,
    top_p_cumsum_of_logits, top_p_ascending)


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
