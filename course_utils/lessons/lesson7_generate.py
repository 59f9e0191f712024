"""Lesson 7's capstone: ``generate()`` itself, and a loop that rebuilds it with the classic slips.

``with_generate`` runs ``model.generate`` on one prompt with the capstone's settings (the answer a
student's ``my_generate`` must equal); ``rebuilt`` is the same decoding written as a plain loop, in
transformers' order (repetition penalty, no-repeat-ngram, then, when sampling, temperature, top-k,
top-p, min-p, then ``torch.multinomial`` or ``argmax``), and with ``slip`` one named mistake. Both
seed torch's global generator with ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng``, so
a check never moves the student's random state. Only what transformers 4.57 and 5.x share is used:
the warpers' order, ``torch.multinomial(probs, 1)`` on the global generator, a stop at
``<|endoftext|>``.
"""
from __future__ import annotations

from course_utils.frameworks import LazyModule, lazy_no_grad

torch = LazyModule("torch")   # imported when a PyTorch exercise runs, not by `import *`

from course_utils.reference import framework_free

# Every setting at the value that turns its step off: what my_generate's defaults must be too.
OFF = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": None, "repetition_penalty": 1.0,
       "no_repeat_ngram_size": 0, "do_sample": False, "seed": 0}

SLIPS = ("temperature_last", "reseed", "argmax", "top_k_plus_one", "top_p_drops_crossing",
         "penalty_divides", "no_ngram_ban", "no_penalty")
# The rules the lesson states that only some probes reach (the capstone's rule probes show them):
# <|endoftext|> kept and the loop stopped there, the prompt's n-grams banned too, one penalty per
# seen token (not one per occurrence, not two per step).
RULE_SLIPS = ("eos_dropped", "eos_ignored", "ngram_new_only", "penalty_per_occurrence", "penalty_twice")


def negative_logits(model, shift: float = -12.0):
    """A copy of ``model`` whose logits are all shifted by ``shift`` (a bias on the LM head): the same
    softmax, so the same greedy and sampled text, except where a step depends on a logit's sign (the
    repetition penalty). The real gpt2's logits are all negative (about -30 to -150); the course
    model's are not, so a check needs this copy to tell a penalty that divides negative logits."""
    import copy

    shifted = copy.deepcopy(model)
    head = torch.nn.Linear(model.lm_head.in_features, model.lm_head.out_features, bias=True)
    head.weight = shifted.lm_head.weight
    with torch.no_grad():
        head.bias.fill_(shift)
    shifted.lm_head = head
    return shifted.eval()


def settings_of(spec: dict) -> dict:
    """All the settings of a probe, the missing ones off."""
    return {**OFF, **spec.get("settings", {})}


def with_generate(model, prompt_ids, max_new_tokens: int, settings: dict, eos_token_id: int) -> list[int]:
    """``model.generate`` on one prompt: prompt + new ids, seeded by ``torch.manual_seed(seed)``."""
    s = {**OFF, **settings}
    input_ids = torch.tensor([list(prompt_ids)])
    kwargs = {"repetition_penalty": s["repetition_penalty"], "no_repeat_ngram_size": s["no_repeat_ngram_size"]}
    if s["do_sample"]:        # the warpers only run when sampling; greedy would warn about them
        kwargs.update(temperature=s["temperature"], top_k=s["top_k"], top_p=s["top_p"], min_p=s["min_p"])
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(s["seed"])
        out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), do_sample=s["do_sample"],
                             max_new_tokens=max_new_tokens, pad_token_id=eos_token_id,
                             eos_token_id=eos_token_id, **kwargs)
    return out[0].tolist()


def penalise(logits, ids, penalty: float, divides: bool = False):
    """Repetition penalty on (vocab_size,) logits: a seen token's logit / penalty if > 0, else x penalty."""
    seen = torch.tensor(sorted(set(ids)))
    scores = logits[seen]
    scores = scores / penalty if divides else torch.where(scores < 0, scores * penalty, scores / penalty)
    return logits.index_put((seen,), scores)


def top_k(logits, k: int):
    kth_best = torch.topk(logits, min(k, logits.shape[-1])).values[..., -1:]
    return logits.masked_fill(logits < kth_best, float("-inf"))


def top_p(logits, p: float, drops_crossing: bool = False):
    """transformers' nucleus (ascending sort, drop while the dropped total <= 1 - p); the slip keeps
    only the tokens *before* the one whose cumulative probability crosses p."""
    if drops_crossing:
        sorted_logits, order = torch.sort(logits, descending=True)
        keep = sorted_logits.softmax(-1).cumsum(-1) < p
        keep[..., 0] = True
        return logits.masked_fill(~keep.scatter(-1, order, keep), float("-inf"))
    sorted_logits, order = torch.sort(logits)
    remove = sorted_logits.softmax(-1).cumsum(-1) <= 1 - p
    remove[..., -1] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def min_p(logits, m: float):
    probs = torch.softmax(logits, -1)
    return logits.masked_fill(probs < m * probs.max(-1, keepdim=True).values, float("-inf"))


def process(logits, ids: list[int], s: dict, slip: str | None, prompt_len: int = 0):
    """One step's logits, shape (vocab_size,), through the processors in transformers' order."""
    if s["repetition_penalty"] != 1.0 and slip != "no_penalty":
        for _ in range(2 if slip == "penalty_twice" else 1):
            logits = penalise(logits, ids, s["repetition_penalty"], divides=slip == "penalty_divides")
        if slip == "penalty_per_occurrence":          # once more for every repeat: penalty ** count
            repeats = [t for i, t in enumerate(ids) if t in ids[:i]]
            for token in repeats:
                logits = penalise(logits, [token], s["repetition_penalty"])
    if s["no_repeat_ngram_size"] > 0 and slip != "no_ngram_ban":
        seen = ids[prompt_len:] if slip == "ngram_new_only" else ids
        banned = framework_free.banned_ngram_tokens(seen, s["no_repeat_ngram_size"])
        logits = logits.index_fill(0, torch.tensor(banned, dtype=torch.long), float("-inf")) if banned else logits
    return warp(logits, s, slip) if s["do_sample"] else logits


def warp(logits, s: dict, slip: str | None = None):
    """The sampling warpers in generate()'s order: temperature, top-k, top-p, min-p; logits of shape
    (vocab_size,) or (rows, vocab_size)."""
    temperature_first = slip != "temperature_last"
    if temperature_first and s["temperature"] != 1.0:
        logits = logits / s["temperature"]
    if s["top_k"]:
        logits = top_k(logits, s["top_k"] + (slip == "top_k_plus_one"))
    if s["top_p"] < 1.0:
        logits = top_p(logits, s["top_p"], drops_crossing=slip == "top_p_drops_crossing")
    if s["min_p"] is not None:
        logits = min_p(logits, s["min_p"])
    if not temperature_first and s["temperature"] != 1.0:
        logits = logits / s["temperature"]
    return logits


@lazy_no_grad
def rebuilt(model, prompt_ids, max_new_tokens: int, settings: dict, eos_token_id: int,
            slip: str | None = None) -> list[int]:
    """``with_generate`` as a loop with the key/value cache; ``slip`` is one of ``SLIPS`` or None."""
    s = {**OFF, **settings}
    ids = list(prompt_ids)
    past_key_values, new_input = None, torch.tensor([ids])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s["seed"])
        for _ in range(max_new_tokens):
            output = model(new_input, past_key_values=past_key_values, use_cache=True)
            past_key_values = output.past_key_values
            logits = process(output.logits[0, -1].float(), ids, s, slip, len(prompt_ids))
            if s["do_sample"] and slip != "argmax":
                if slip == "reseed":
                    torch.manual_seed(s["seed"])
                next_id = int(torch.multinomial(torch.softmax(logits, -1), 1))
            else:
                next_id = int(torch.argmax(logits))
            if next_id == eos_token_id and slip == "eos_dropped":
                break
            ids.append(next_id)
            if next_id == eos_token_id and slip != "eos_ignored":
                break
            new_input = torch.tensor([[next_id]])
    return ids
