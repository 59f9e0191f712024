"""Lesson 7, exercise 5: ``my_generate`` rebuilt from the notebook's description of generate().

Three right answers (a cached loop on the lesson's building blocks, a recomputing loop with every
step written out on [1, vocab] rows, a list of processors), and the wrong ones a student writes:
the temperature applied last, the seed restarted at every step, the repetition penalty without
the prompt, the penalty skipped when decoding greedily.
"""
from __future__ import annotations

import torch

from course_utils.lessons.lesson7 import banned_ngram_tokens
from course_utils.reference import pt as ref_pt

NEG_INF = float("-inf")


# -- the steps on [1, vocab] rows, as transformers writes them -------------------------------------
def _penalise(scores, seen, penalty):
    """Repetition penalty on the ids of ``seen`` ([1, n]): divide positive, multiply negative."""
    picked = scores.gather(1, seen)
    picked = torch.where(picked < 0, picked * penalty, picked / penalty)
    return scores.scatter(1, seen, picked)


def _ban_ngrams(scores, ids, n):
    """-inf on every token that would repeat an n-gram of ``ids`` (a list)."""
    banned = banned_ngram_tokens(ids, n)
    if banned:
        scores = scores.clone()
        scores[0, list(banned)] = NEG_INF
    return scores


def _top_k(scores, k):
    kth = torch.topk(scores, min(k, scores.shape[-1])).values[..., -1, None]
    return scores.masked_fill(scores < kth, NEG_INF)


def _top_p(scores, p):
    ascending, order = torch.sort(scores, descending=False)
    cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)
    remove = cumulative <= (1 - p)
    remove[..., -1] = False                               # the likeliest token always stays
    return scores.masked_fill(remove.scatter(1, order, remove), NEG_INF)


def _min_p(scores, min_p):
    probs = scores.softmax(dim=-1)
    return scores.masked_fill(probs < min_p * probs.amax(dim=-1, keepdim=True), NEG_INF)


def _warp(scores, temperature, top_k, top_p, min_p, temperature_last=False):
    """The sampling warpers in generate()'s order (or, wrongly, with the temperature last)."""
    if not temperature_last and temperature != 1.0:
        scores = scores / temperature
    if top_k:
        scores = _top_k(scores, top_k)
    if top_p < 1.0:
        scores = _top_p(scores, top_p)
    if min_p is not None:
        scores = _min_p(scores, min_p)
    if temperature_last and temperature != 1.0:
        scores = scores / temperature
    return scores


# -- right answers ---------------------------------------------------------------------------------
def generate_cached_blocks(model, input_ids, *, max_new_tokens, temperature=1.0, top_k=0, top_p=1.0,
                           min_p=None, repetition_penalty=1.0, no_repeat_ngram_size=0, do_sample=False,
                           seed=0):
    """Key/value cache; the lesson's blocks (ref_pt's temperature, top-k, top-p) on 1-D rows."""
    torch.manual_seed(seed)
    ids = input_ids[0].tolist()
    eos = model.config.eos_token_id
    step_input, past = input_ids, None
    for _ in range(max_new_tokens):
        with torch.no_grad():
            out = model(step_input, past_key_values=past, use_cache=True)
        past = out.past_key_values
        row = out.logits[0, -1].float()
        if repetition_penalty != 1.0:
            seen = torch.tensor(sorted(set(ids)))
            z = row[seen]
            row = row.clone()
            row[seen] = torch.where(z > 0, z / repetition_penalty, z * repetition_penalty)
        if no_repeat_ngram_size > 0:
            row = _ban_ngrams(row[None], ids, no_repeat_ngram_size)[0]
        if do_sample:
            if temperature != 1.0:
                row = ref_pt.apply_temperature(row, temperature)
            if top_k > 0:
                row = ref_pt.top_k_filter(row, top_k)
            if top_p < 1.0:
                row = ref_pt.top_p_filter(row, top_p)
            if min_p is not None:
                probs = torch.softmax(row, dim=-1)
                row = torch.where(probs >= min_p * probs.max(), row, torch.full_like(row, NEG_INF))
            next_id = int(torch.multinomial(torch.softmax(row, dim=-1)[None], num_samples=1)[0, 0])
        else:
            next_id = int(torch.argmax(row))
        ids.append(next_id)
        if next_id == eos:
            break
        step_input = torch.tensor([[next_id]])
    return ids


def _recompute(model, input_ids, max_new_tokens, temperature, top_k, top_p, min_p, repetition_penalty,
               no_repeat_ngram_size, do_sample, seed, *, temperature_last=False, seed_every_step=False,
               penalty_on_prompt=True, penalty_when_greedy=True):
    """No cache: the whole sequence each step, every processor on a [1, vocab] row (flags: slips)."""
    torch.manual_seed(seed)
    prompt_len = input_ids.shape[1]
    ids = input_ids.clone()
    for _ in range(max_new_tokens):
        with torch.no_grad():
            scores = model(ids).logits[:, -1, :].float()
        seen = ids if penalty_on_prompt else ids[:, prompt_len:]
        if repetition_penalty != 1.0 and seen.shape[1] and (do_sample or penalty_when_greedy):
            scores = _penalise(scores, seen, repetition_penalty)
        if no_repeat_ngram_size > 0:
            scores = _ban_ngrams(scores, ids[0].tolist(), no_repeat_ngram_size)
        if do_sample:
            if seed_every_step:
                torch.manual_seed(seed)
            scores = _warp(scores, temperature, top_k, top_p, min_p, temperature_last)
            next_token = torch.multinomial(scores.softmax(dim=-1), num_samples=1)
        else:
            next_token = scores.argmax(dim=-1, keepdim=True)
        ids = torch.cat([ids, next_token], dim=1)
        if int(next_token) == model.config.eos_token_id:
            break
    return ids[0].tolist()


def generate_recompute_2d(model, input_ids, *, max_new_tokens, temperature=1.0, top_k=0, top_p=1.0,
                          min_p=None, repetition_penalty=1.0, no_repeat_ngram_size=0, do_sample=False,
                          seed=0):
    """No cache; every step written out on [1, vocab] rows, as transformers' processors do."""
    return _recompute(model, input_ids, max_new_tokens, temperature, top_k, top_p, min_p,
                      repetition_penalty, no_repeat_ngram_size, do_sample, seed)


def generate_processor_list(model, input_ids, *, max_new_tokens, temperature=1.0, top_k=0, top_p=1.0,
                            min_p=None, repetition_penalty=1.0, no_repeat_ngram_size=0, do_sample=False,
                            seed=0):
    """A list of (ids, scores) -> scores processors built once from the settings; cached forward."""
    processors = []
    if repetition_penalty != 1.0:
        processors.append(lambda ids, s: _penalise(s, torch.tensor([ids]), repetition_penalty))
    if no_repeat_ngram_size > 0:
        processors.append(lambda ids, s: _ban_ngrams(s, ids, no_repeat_ngram_size))
    if do_sample:
        processors.append(lambda ids, s: _warp(s, temperature, top_k, top_p, min_p))
    torch.manual_seed(seed)
    ids, past, feed = input_ids[0].tolist(), None, input_ids
    for _ in range(max_new_tokens):
        with torch.no_grad():
            out = model(input_ids=feed, past_key_values=past, use_cache=True)
        past, scores = out.past_key_values, out.logits[:, -1, :].to(torch.float32)
        for process in processors:
            scores = process(ids, scores)
        chosen = (torch.multinomial(scores.softmax(-1), 1) if do_sample else scores.argmax(-1, keepdim=True))
        ids.append(chosen.item())
        if chosen.item() == model.config.eos_token_id:
            break
        feed = chosen
    return ids


# -- wrong answers ---------------------------------------------------------------------------------
def generate_temperature_last(model, input_ids, *, max_new_tokens, temperature=1.0, top_k=0, top_p=1.0,
                              min_p=None, repetition_penalty=1.0, no_repeat_ngram_size=0, do_sample=False,
                              seed=0):
    """WRONG: the temperature applied after top-k, top-p and min-p."""
    return _recompute(model, input_ids, max_new_tokens, temperature, top_k, top_p, min_p,
                      repetition_penalty, no_repeat_ngram_size, do_sample, seed, temperature_last=True)


def generate_seed_every_step(model, input_ids, *, max_new_tokens, temperature=1.0, top_k=0, top_p=1.0,
                             min_p=None, repetition_penalty=1.0, no_repeat_ngram_size=0, do_sample=False,
                             seed=0):
    """WRONG: torch.manual_seed(seed) before every draw, not once."""
    return _recompute(model, input_ids, max_new_tokens, temperature, top_k, top_p, min_p,
                      repetition_penalty, no_repeat_ngram_size, do_sample, seed, seed_every_step=True)


def generate_penalty_without_prompt(model, input_ids, *, max_new_tokens, temperature=1.0, top_k=0,
                                    top_p=1.0, min_p=None, repetition_penalty=1.0, no_repeat_ngram_size=0,
                                    do_sample=False, seed=0):
    """WRONG: the repetition penalty on the generated tokens only, the prompt forgotten."""
    return _recompute(model, input_ids, max_new_tokens, temperature, top_k, top_p, min_p,
                      repetition_penalty, no_repeat_ngram_size, do_sample, seed, penalty_on_prompt=False)


def generate_penalty_greedy_skipped(model, input_ids, *, max_new_tokens, temperature=1.0, top_k=0,
                                    top_p=1.0, min_p=None, repetition_penalty=1.0, no_repeat_ngram_size=0,
                                    do_sample=False, seed=0):
    """WRONG: treats the repetition penalty as a sampling warper, skipped when decoding greedily."""
    return _recompute(model, input_ids, max_new_tokens, temperature, top_k, top_p, min_p,
                      repetition_penalty, no_repeat_ngram_size, do_sample, seed, penalty_when_greedy=False)
