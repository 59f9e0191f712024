"""Lesson 4 (the greedy loop): answers written from the student notebook only."""
from __future__ import annotations

import tensorflow as tf
import torch

from course_utils import load_tokenizer

tokenizer = load_tokenizer()
period_id = tokenizer.encode(".")[0]   # the token we stop at, as the notebook's setup cell defines it

EXERCISES = {"q1": "greedy_tf", "q2": "greedy_ids_generator", "q4": "max_length_for"}


# -- q1: greedy_tf ---------------------------------------------------------------------------------
def greedy_tf_for(model, input_ids, max_new_tokens):
    """A for loop over the budget; break right after appending the period."""
    ids = list(input_ids)
    for _ in range(max_new_tokens):
        logits = model(tf.constant([ids])).logits
        next_id = int(tf.argmax(logits[0, -1], axis=-1))
        ids.append(next_id)
        if next_id == period_id:
            break
    return ids


def greedy_tf_while(model, input_ids, max_new_tokens):
    """A while loop on the count of new tokens and the last token."""
    ids = [int(i) for i in input_ids]
    new = 0
    while new < max_new_tokens and (new == 0 or ids[-1] != period_id):
        next_id = tf.argmax(model(tf.constant([ids])).logits[:, -1, :], axis=-1)
        ids.append(int(next_id[0]))
        new += 1
    return ids


def greedy_tf_tensor(model, input_ids, max_new_tokens):
    """Keeps the ids as a [1, seq] tensor and concatenates each argmax onto it."""
    if max_new_tokens < 0:
        raise ValueError("max_new_tokens must be >= 0")
    ids = tf.constant([list(input_ids)], dtype=tf.int32)
    for _ in range(max_new_tokens):
        best = tf.cast(tf.argmax(model(ids).logits[:, -1], axis=-1), tf.int32)
        ids = tf.concat([ids, best[:, None]], axis=1)
        if int(best[0]) == period_id:
            break
    return ids[0].numpy().tolist()


def greedy_tf_drops_period(model, input_ids, max_new_tokens):
    """WRONG: checks for the period before appending, so the period is dropped."""
    ids = list(input_ids)
    for _ in range(max_new_tokens):
        next_id = int(tf.argmax(model(tf.constant([ids])).logits[0, -1]))
        if next_id == period_id:
            break
        ids.append(next_id)
    return ids


def greedy_tf_one_too_many(model, input_ids, max_new_tokens):
    """WRONG: counts, then breaks when count > budget: one token too many."""
    ids, count = list(input_ids), 0
    while True:
        next_id = int(tf.argmax(model(tf.constant([ids])).logits[0, -1]))
        ids.append(next_id)
        count += 1
        if next_id == period_id or count > max_new_tokens:
            break
    return ids


def greedy_tf_new_only(model, input_ids, max_new_tokens):
    """WRONG: returns only the new ids, the prompt left out."""
    return greedy_tf_for(model, input_ids, max_new_tokens)[len(input_ids):]


def greedy_tf_first_row(model, input_ids, max_new_tokens):
    """WRONG: reads the first position's logits instead of the last."""
    ids = list(input_ids)
    for _ in range(max_new_tokens):
        next_id = int(tf.argmax(model(tf.constant([ids])).logits[0, 0]))
        ids.append(next_id)
        if next_id == period_id:
            break
    return ids


# -- q2: greedy_ids_generator ----------------------------------------------------------------------
def greedy_generator_for(model, input_ids, max_new_tokens):
    """for loop; yield the id, then stop if it was the period."""
    ids = list(input_ids)
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits
        next_id = int(torch.argmax(logits[0, -1]))
        ids.append(next_id)
        yield next_id
        if next_id == period_id:
            return


def greedy_generator_while(model, input_ids, max_new_tokens):
    """while loop on a countdown, the ids kept as a tensor."""
    ids = torch.tensor([list(input_ids)])
    remaining = max_new_tokens
    while remaining > 0:
        with torch.no_grad():
            best = torch.argmax(model(ids).logits[:, -1, :], dim=-1)
        ids = torch.cat([ids, best[:, None]], dim=1)
        remaining -= 1
        yield best.item()
        if best.item() == period_id:
            break


def greedy_generator_recursive(model, input_ids, max_new_tokens):
    """Recursive: one step, then ``yield from`` the same generator on the longer text."""
    if max_new_tokens <= 0:
        return
    with torch.no_grad():
        next_id = int(model(torch.tensor([list(input_ids)])).logits[0, -1].argmax())
    yield next_id
    if next_id != period_id:
        yield from greedy_generator_recursive(model, list(input_ids) + [next_id], max_new_tokens - 1)


def greedy_generator_with_prompt(model, input_ids, max_new_tokens):
    """WRONG: yields the prompt's ids first, then the new ones."""
    yield from input_ids
    yield from greedy_generator_for(model, input_ids, max_new_tokens)


def greedy_generator_no_period(model, input_ids, max_new_tokens):
    """WRONG: stops at the period without yielding it."""
    for token in greedy_generator_for(model, input_ids, max_new_tokens):
        if token == period_id:
            return
        yield token


def greedy_generator_short_budget(model, input_ids, max_new_tokens):
    """WRONG: range(max_new_tokens - 1): one token short of the budget."""
    ids = list(input_ids)
    for _ in range(max_new_tokens - 1):
        with torch.no_grad():
            next_id = int(torch.argmax(model(torch.tensor([ids])).logits[0, -1]))
        ids.append(next_id)
        yield next_id
        if next_id == period_id:
            return


def greedy_generator_returns_list(model, input_ids, max_new_tokens):
    """WRONG: a plain function returning the list of new ids, not a generator."""
    return list(greedy_generator_for(model, input_ids, max_new_tokens))


# -- q4: max_length_for ----------------------------------------------------------------------------
def max_length_encode(prompt, max_new_tokens):
    """The prompt's token count plus the new tokens."""
    return len(tokenizer.encode(prompt)) + max_new_tokens


def max_length_call(prompt, max_new_tokens):
    """The prompt's length from the tokenizer's input_ids, with the arguments checked."""
    if max_new_tokens < 0:
        raise ValueError("max_new_tokens must be >= 0")
    prompt_len = len(tokenizer(prompt)["input_ids"])
    return prompt_len + int(max_new_tokens)


def max_length_tensor(prompt, max_new_tokens):
    """The prompt's length from the shape of the tensor generate() would get."""
    return tokenizer(prompt, return_tensors="pt")["input_ids"].shape[1] + max_new_tokens


def max_length_characters(prompt, max_new_tokens):
    """WRONG: counts the prompt's characters, not its tokens."""
    return len(prompt) + max_new_tokens


def max_length_words(prompt, max_new_tokens):
    """WRONG: counts the prompt's words, not its tokens."""
    return len(prompt.split()) + max_new_tokens


def max_length_budget_only(prompt, max_new_tokens):
    """WRONG: forgets that max_length counts the prompt."""
    return max_new_tokens


def max_length_minus_one(prompt, max_new_tokens):
    """WRONG: one short (thinks the last prompt token is counted twice)."""
    return len(tokenizer.encode(prompt)) + max_new_tokens - 1


RIGHT = {
    "q1": [greedy_tf_for, greedy_tf_while, greedy_tf_tensor],
    "q2": [greedy_generator_for, greedy_generator_while, greedy_generator_recursive],
    "q4": [max_length_encode, max_length_call, max_length_tensor],
}
WRONG = {
    "q1": [greedy_tf_drops_period, greedy_tf_one_too_many, greedy_tf_new_only, greedy_tf_first_row],
    "q2": [greedy_generator_with_prompt, greedy_generator_no_period, greedy_generator_short_budget,
           greedy_generator_returns_list],
    "q4": [max_length_characters, max_length_words, max_length_budget_only, max_length_minus_one],
}
EXTRA: dict = {}
