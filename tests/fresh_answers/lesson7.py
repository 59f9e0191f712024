"""Lesson 7 (choosing and judging a decoder): answers written from the student notebook only."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import tensorflow as tf
import torch

from course_utils.lessons.lesson7 import banned_ngram_tokens
from course_utils.reference import pt as ref_pt   # the notebook names its filters as building blocks

from fresh_answers.lesson7_generate import (generate_cached_blocks, generate_recompute_2d,
                                            generate_processor_list, generate_penalty_greedy_skipped,
                                            generate_penalty_without_prompt, generate_seed_every_step,
                                            generate_temperature_last)

EXERCISES = {"q1": "entropy_tf", "q2": "perplexity_pt", "q3": "min_p_filter", "q4": "repetition_penalty_tf",
             "q5": "my_generate", "q6": "distinct_n"}


# -- q1: entropy_tf --------------------------------------------------------------------------------
def entropy_log_softmax(logits):
    """-sum p log p with log_softmax for the logs."""
    log_p = tf.nn.log_softmax(logits)
    return float(-tf.reduce_sum(tf.exp(log_p) * log_p))


def entropy_xlogy(logits):
    """tf.math.xlogy (0 log 0 = 0), in float64."""
    p = tf.nn.softmax(tf.cast(logits, tf.float64))
    return -tf.reduce_sum(tf.math.xlogy(p, p))


def entropy_logsumexp(logits):
    """H = logsumexp(l) - sum p l: no log of a probability at all."""
    p = tf.nn.softmax(logits)
    return float(tf.reduce_logsumexp(logits) - tf.reduce_sum(p * logits))


def entropy_bits(logits):
    """WRONG: log base 2 (bits), not nats."""
    log_p = tf.nn.log_softmax(logits)
    return float(-tf.reduce_sum(tf.exp(log_p) * log_p) / math.log(2.0))


def entropy_no_minus(logits):
    """WRONG: forgets the minus sign."""
    log_p = tf.nn.log_softmax(logits)
    return float(tf.reduce_sum(tf.exp(log_p) * log_p))


def entropy_logits_as_logs(logits):
    """WRONG: -sum p * logit (the logits taken for log-probabilities)."""
    return float(-tf.reduce_sum(tf.nn.softmax(logits) * logits))


def entropy_unweighted(logits):
    """WRONG: the mean surprise -log p over the vocabulary, not weighted by p."""
    return float(-tf.reduce_mean(tf.nn.log_softmax(logits)))


# -- q2: perplexity_pt -----------------------------------------------------------------------------
def perplexity_sliced(model, ids, input_len):
    """exp of the mean negative log-probability of ids[input_len:], read from the rows before them."""
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1], dim=-1)
    picked = log_probs.gather(1, torch.tensor(ids[1:])[:, None])[input_len - 1:, 0]
    return math.exp(-picked.mean().item())


def perplexity_cross_entropy(model, ids, input_len):
    """torch.nn.functional.cross_entropy on the rows that predict the continuation."""
    ids_t = torch.tensor(ids)
    with torch.no_grad():
        rows = model(ids_t[None]).logits[0, input_len - 1:-1]
    nll = torch.nn.functional.cross_entropy(rows, ids_t[input_len:])
    return float(torch.exp(nll))


def perplexity_loop(model, ids, input_len):
    """A loop adding each new token's surprise, then exp(total / count) (input checked)."""
    if not 1 <= input_len < len(ids):
        raise ValueError("need a prompt and at least one new token")
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.tensor([ids])).logits[0], dim=-1)
    surprise = 0.0
    for t in range(input_len, len(ids)):
        surprise -= float(log_probs[t - 1, ids[t]])
    return math.exp(surprise / (len(ids) - input_len))


def perplexity_with_prompt(model, ids, input_len):
    """WRONG: averages over every token after the first, the prompt's too."""
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1], dim=-1)
    return math.exp(-log_probs.gather(1, torch.tensor(ids[1:])[:, None]).mean().item())


def perplexity_exp_of_sum(model, ids, input_len):
    """WRONG: exp of the total, not the mean."""
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1], dim=-1)
    picked = log_probs.gather(1, torch.tensor(ids[1:])[:, None])[input_len - 1:, 0]
    return math.exp(-picked.sum().item())


def perplexity_divides_by_all(model, ids, input_len):
    """WRONG: divides the continuation's surprise by len(ids), not by its own length."""
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1], dim=-1)
    picked = log_probs.gather(1, torch.tensor(ids[1:])[:, None])[input_len - 1:, 0]
    return math.exp(-picked.sum().item() / len(ids))


def perplexity_nll_only(model, ids, input_len):
    """WRONG: returns the mean negative log-likelihood, the exp forgotten."""
    return math.log(perplexity_sliced(model, ids, input_len))


# -- q3: min_p_filter ------------------------------------------------------------------------------
def min_p_probabilities(logits, min_p):
    """The bar min_p * max p on the probabilities."""
    probs = torch.softmax(logits, dim=-1)
    keep = probs >= min_p * probs.max()
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))


def min_p_log_space(logits, min_p):
    """In logits: p_v >= min_p p_max  <=>  l_v >= l_max + log(min_p)."""
    bar = logits.max() + math.log(min_p)
    out = logits.clone()
    out[logits < bar] = float("-inf")
    return out


def min_p_masked_fill(logits, min_p):
    """masked_fill of the tokens below the bar, with the argument checked."""
    if not 0 < min_p <= 1:
        raise ValueError("min_p must be in (0, 1]")
    probs = logits.softmax(-1)
    return logits.masked_fill(probs < min_p * probs.amax(), float("-inf"))


def min_p_on_logits(logits, min_p):
    """WRONG: the bar min_p * max on the logits, not on the probabilities."""
    return torch.where(logits >= min_p * logits.max(), logits, torch.full_like(logits, float("-inf")))


def min_p_absolute(logits, min_p):
    """WRONG: min_p as an absolute probability bar (not scaled by the top probability)."""
    probs = torch.softmax(logits, dim=-1)
    return torch.where(probs >= min_p, logits, torch.full_like(logits, float("-inf")))


def min_p_strict(logits, min_p):
    """WRONG: > instead of >=: with min_p = 1 even the likeliest token goes."""
    probs = torch.softmax(logits, dim=-1)
    return torch.where(probs > min_p * probs.max(), logits, torch.full_like(logits, float("-inf")))


def min_p_reversed(logits, min_p):
    """WRONG: the mask the wrong way round: keeps the tokens below the bar."""
    probs = torch.softmax(logits, dim=-1)
    return torch.where(probs < min_p * probs.max(), logits, torch.full_like(logits, float("-inf")))


# -- q4: repetition_penalty_tf ---------------------------------------------------------------------
def penalty_scatter(logits, input_ids, penalty):
    """The seen tokens' logits gathered, penalised by sign, scattered back (duplicates agree)."""
    seen = tf.gather(logits, input_ids)
    penalised = tf.where(seen > 0, seen / penalty, seen * penalty)
    return tf.tensor_scatter_nd_update(logits, tf.reshape(input_ids, (-1, 1)), penalised)


def penalty_mask(logits, input_ids, penalty):
    """A 0/1 mask of the seen tokens from one_hot, then one tf.where over the vocabulary."""
    vocab = tf.shape(logits)[0]
    seen = tf.reduce_max(tf.one_hot(input_ids, vocab, dtype=tf.int32), axis=0) > 0
    penalised = tf.where(logits > 0, logits / penalty, logits * penalty)
    return tf.where(seen, penalised, logits)


def penalty_numpy(logits, input_ids, penalty):
    """numpy: each distinct seen id once."""
    values = logits.numpy().copy()
    for token in np.unique(input_ids.numpy()):
        z = values[token]
        values[token] = z / penalty if z > 0 else z * penalty
    return tf.constant(values, dtype=logits.dtype)


def penalty_always_divide(logits, input_ids, penalty):
    """WRONG: divides every seen logit, negative ones too (which raises them)."""
    seen = tf.gather(logits, input_ids)
    return tf.tensor_scatter_nd_update(logits, tf.reshape(input_ids, (-1, 1)), seen / penalty)


def penalty_per_occurrence(logits, input_ids, penalty):
    """WRONG: penalises a token once per occurrence (a loop over input_ids)."""
    values = logits.numpy().copy()
    for token in input_ids.numpy():
        z = values[token]
        values[token] = z / penalty if z > 0 else z * penalty
    return tf.constant(values)


def penalty_everywhere(logits, input_ids, penalty):
    """WRONG: penalises every token of the vocabulary, seen or not."""
    return tf.where(logits > 0, logits / penalty, logits * penalty)


def penalty_signs_swapped(logits, input_ids, penalty):
    """WRONG: multiplies positive logits and divides negative ones (raises repeats)."""
    seen = tf.gather(logits, input_ids)
    penalised = tf.where(seen > 0, seen * penalty, seen / penalty)
    return tf.tensor_scatter_nd_update(logits, tf.reshape(input_ids, (-1, 1)), penalised)


# -- q6: distinct_n --------------------------------------------------------------------------------
def distinct_set(sequences, n):
    """A set of n-gram tuples over all samples, divided by their count."""
    grams = [tuple(s[i:i + n]) for s in sequences for i in range(len(s) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def distinct_counter(sequences, n):
    """A Counter of the n-grams (zip of shifted copies), distinct keys over the total."""
    counts = Counter()
    for sample in sequences:
        counts.update(zip(*(sample[k:] for k in range(n))))
    total = sum(counts.values())
    if total == 0:
        return 0.0
    return float(len(counts)) / total


def distinct_loop(sequences, n):
    """Explicit loops, an early return when no sample is long enough."""
    if all(len(sample) < n for sample in sequences):
        return 0.0
    seen, total = set(), 0
    for sample in sequences:
        for start in range(len(sample) - n + 1):
            seen.add(tuple(sample[start:start + n]))
            total += 1
    return len(seen) / total


def distinct_joined(sequences, n):
    """WRONG: joins the samples into one list, so n-grams run across two samples."""
    joined = [token for s in sequences for token in s]
    grams = [tuple(joined[i:i + n]) for i in range(len(joined) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def distinct_per_sample(sequences, n):
    """WRONG: distinct n-grams counted within each sample and added up (repeats across samples missed)."""
    distinct = total = 0
    for s in sequences:
        grams = [tuple(s[i:i + n]) for i in range(len(s) - n + 1)]
        distinct += len(set(grams))
        total += len(grams)
    return distinct / total if total else 0.0


def distinct_off_by_one(sequences, n):
    """WRONG: range(len(s) - n) misses each sample's last n-gram."""
    grams = [tuple(s[i:i + n]) for s in sequences for i in range(len(s) - n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def distinct_no_empty_case(sequences, n):
    """WRONG: divides without checking: no n-gram at all raises ZeroDivisionError."""
    grams = [tuple(s[i:i + n]) for s in sequences for i in range(len(s) - n + 1)]
    return len(set(grams)) / len(grams)


RIGHT = {
    "q1": [entropy_log_softmax, entropy_xlogy, entropy_logsumexp],
    "q2": [perplexity_sliced, perplexity_cross_entropy, perplexity_loop],
    "q3": [min_p_probabilities, min_p_log_space, min_p_masked_fill],
    "q4": [penalty_scatter, penalty_mask, penalty_numpy],
    "q5": [generate_cached_blocks, generate_recompute_2d, generate_processor_list],
    "q6": [distinct_set, distinct_counter, distinct_loop],
}
WRONG = {
    "q1": [entropy_bits, entropy_no_minus, entropy_logits_as_logs, entropy_unweighted],
    "q2": [perplexity_with_prompt, perplexity_exp_of_sum, perplexity_divides_by_all, perplexity_nll_only],
    "q3": [min_p_on_logits, min_p_absolute, min_p_strict, min_p_reversed],
    "q4": [penalty_always_divide, penalty_per_occurrence, penalty_everywhere, penalty_signs_swapped],
    "q5": [generate_temperature_last, generate_seed_every_step, generate_penalty_without_prompt,
           generate_penalty_greedy_skipped],
    "q6": [distinct_joined, distinct_per_sample, distinct_off_by_one, distinct_no_empty_case],
}
# my_generate may call the student's min_p_filter (exercise 3) from the notebook's namespace.
EXTRA = {"q5": {"min_p_filter": min_p_probabilities, "banned_ngram_tokens": banned_ngram_tokens,
                "ref_pt": ref_pt}}
