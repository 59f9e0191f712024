"""Lesson 7's capstone exercise: ``my_generate`` must equal ``generate()``, greedy and seeded sampling.

The expected ids come from ``model.generate`` itself (``lesson7_generate.with_generate``), once per
model and probe; each named mistake is ``lesson7_generate.rebuilt`` with one slip, computed only
when an answer is wrong.
"""
from __future__ import annotations

from course_utils.checking import FunctionProblem, call_student, mistake
from course_utils.checking.reference_cache import once_per_model
from course_utils.lessons import lesson7_generate as gen


@once_per_model
def shifted_model(model):
    return gen.negative_logits(model)


@once_per_model
def eos_likely_model(model, bias: float):
    """A copy of ``model`` whose <|endoftext|> logit is raised by ``bias`` (a bias on the LM head's
    eos row): the bundled model never ends a text by itself, so the rule "<|endoftext|> is kept and
    the loop stops there" needs this copy to be seen. The probe's bias is chosen so that greedy
    search picks <|endoftext|> a few tokens in, not at the first step."""
    import copy

    import torch

    likely = copy.deepcopy(model)
    head = torch.nn.Linear(model.lm_head.in_features, model.lm_head.out_features, bias=True)
    head.weight = likely.lm_head.weight
    with torch.no_grad():
        head.bias.zero_()
        head.bias[model.config.eos_token_id] = bias
    likely.lm_head = head
    return likely.eval()


@once_per_model
def generated(model, prompt_ids: tuple, max_new_tokens: int, settings: tuple, eos_token_id: int) -> list:
    return gen.with_generate(model, prompt_ids, max_new_tokens, dict(settings), eos_token_id)


@once_per_model
def slipped(model, prompt_ids: tuple, max_new_tokens: int, settings: tuple, eos_token_id: int, slip: str) -> list:
    return gen.rebuilt(model, prompt_ids, max_new_tokens, dict(settings), eos_token_id, slip)


class MyGenerate(FunctionProblem):
    """``my_generate(model, input_ids, *, max_new_tokens, temperature, top_k, top_p, min_p,
    repetition_penalty, no_repeat_ngram_size, do_sample, seed)``: input_ids shape (1, seq_len);
    returns prompt + new ids (a list, or a tensor of shape (1, n) or (n,))."""

    id = "lesson7.q5"
    var = "my_generate"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = (
        "transformers.generation.utils.GenerationMixin.generate",
        "course_utils.lessons.lesson7_generate.with_generate",
        "course_utils.lessons.lesson7_generate.rebuilt",
        "course_utils.lessons.lesson7_capstone.generated",
        "course_utils.lessons.lesson7_capstone.slipped",
    )
    framework = "pt"
    points = 2
    # Each slip shows on at least one public probe (tests/test_checks_lesson7.py). "negative_logits":
    # the model with every logit shifted below 0, as the real gpt2's are (``gen.negative_logits``).
    public_probes = [
        {"prompt": "The function returns", "max_new_tokens": 16, "settings": {"no_repeat_ngram_size": 2}},
        {"prompt": "My lord, the king, the king is", "max_new_tokens": 10, "negative_logits": True,
         "settings": {"repetition_penalty": 1.3, "no_repeat_ngram_size": 2}},
        {"prompt": "In the future", "max_new_tokens": 10,
         "settings": {"do_sample": True, "temperature": 1.5, "min_p": 0.1, "seed": 2}},
        {"prompt": "The function returns", "max_new_tokens": 10,
         "settings": {"do_sample": True, "top_k": 5, "seed": 11}},
        {"prompt": "My lord, the king, the king is", "max_new_tokens": 10, "negative_logits": True,
         "settings": {"do_sample": True, "temperature": 0.8, "top_p": 0.5, "repetition_penalty": 1.5,
                      "no_repeat_ngram_size": 2, "seed": 2}},
        # The rules the text states (lesson7_generate.RULE_SLIPS): <|endoftext|> at new token 7 of 10
        # (kept, and the loop stops); bigrams only the prompt holds, and one the new
        # tokens repeat (so a ban on the new tokens alone is told from no ban); tokens repeated often enough that a penalty per occurrence, or twice per step,
        # picks other tokens than one penalty per seen token.
        {"prompt": "The function returns", "max_new_tokens": 10, "eos_bias": 6.1, "settings": {}},
        {"prompt": "The class is a class. The class is", "max_new_tokens": 8,
         "settings": {"no_repeat_ngram_size": 2}},
        {"prompt": "The function returns the value of the function returns", "max_new_tokens": 8,
         "settings": {"repetition_penalty": 1.2}},
    ]
    hidden_probes = [
        {"prompt": "A list is a list of", "max_new_tokens": 8, "negative_logits": True,
         "settings": {"repetition_penalty": 1.2, "no_repeat_ngram_size": 3}},
        {"prompt": "My lord, the king", "max_new_tokens": 8,
         "settings": {"do_sample": True, "temperature": 0.7, "top_k": 40, "seed": 1}},
        {"prompt": "In the future", "max_new_tokens": 8,
         "settings": {"do_sample": True, "temperature": 1.3, "top_k": 100, "top_p": 0.8, "min_p": 0.05,
                      "seed": 7}},
        # min-p at its bounds (0 keeps every token, 1 only the most likely), top_k=0 written out
        # (off, not "keep none"), and <|endoftext|> reached with the penalty and the n-gram ban on.
        {"prompt": "My lord, the king", "max_new_tokens": 6,
         "settings": {"do_sample": True, "min_p": 0.0, "top_k": 0, "seed": 3}},
        {"prompt": "A list is a list of", "max_new_tokens": 6,
         "settings": {"do_sample": True, "temperature": 1.5, "min_p": 1.0, "seed": 4}},
        {"prompt": "It was a good day.", "max_new_tokens": 8, "eos_bias": 6.0,
         "settings": {"repetition_penalty": 1.3, "no_repeat_ngram_size": 3}},
    ]
    hints = ("`generate()` is a loop you have written before (lessons 4 and 5): one forward pass, the "
             "logits of the last position, a chain of processors, one token chosen, appended. To get *equal* "
             "ids you need its order of processors and the same random numbers: one seed for the whole "
             "run, and the same draw from torch's global generator.",
             "Seed torch's global generator once, before the loop. At each step, on the float32 logits of "
             "the last position: the repetition penalty (every token in the sequence, prompt included), "
             "then -inf on `banned_ngram_tokens(ids, n)`; then, only when sampling, temperature, top-k, "
             "top-p, min-p, each skipped at its off value (1.0, 0, 1.0, None). Sampling draws one id from "
             "the softmax with `torch.multinomial`, greedy takes the argmax. Stop after max_new_tokens, or "
             "after <|endoftext|> (it is kept).",
             "```python\nids = input_ids[0].tolist()\n...                                  # seed: where, and how often?\n"
             "for _ in range(max_new_tokens):\n    with torch.no_grad():\n"
             "        logits = model(torch.tensor([ids])).logits[0, -1]\n"
             "    if repetition_penalty != 1.0:\n        logits = ...\n"
             "    if no_repeat_ngram_size > 0:\n        ...\n    if do_sample:\n"
             "        ...                              # which warpers, in which order?\n"
             "        next_id = ...\n    else:\n        next_id = int(torch.argmax(logits))\n"
             "    ids.append(next_id)\n    if next_id == model.config.eos_token_id:\n        break\nreturn ids\n```")

    def model(self, spec):
        model = self.ctx.model("pt")
        if spec.get("eos_bias"):
            return eos_likely_model(model, spec["eos_bias"])
        return shifted_model(model) if spec.get("negative_logits") else model

    def run_probe(self, function, spec):
        import torch

        input_ids = torch.tensor([self.ctx.tokenizer.encode(spec["prompt"])])
        return call_student(function, self.model(spec), input_ids,
                            max_new_tokens=spec["max_new_tokens"], **gen.settings_of(spec))

    def key(self, spec):
        settings = tuple(sorted(gen.settings_of(spec).items()))
        return (self.model(spec), tuple(self.ctx.tokenizer.encode(spec["prompt"])), spec["max_new_tokens"],
                settings, self.ctx.tokenizer.eos_token_id)

    def expected(self, spec):
        return list(generated(*self.key(spec)))

    def slip(self, spec, name, needs_sampling=True):
        if needs_sampling and not gen.settings_of(spec)["do_sample"]:
            return None
        return list(slipped(*self.key(spec), name))

    def normalise(self, answer):
        if isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list):
            return answer[0]       # a batch of one, as generate() returns it
        return answer

    def wrong_form(self, answer, spec):
        answer = self.normalise(answer)
        if not (isinstance(answer, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in answer)):
            return "`my_generate` should return token ids: a list of ints, or a tensor of shape (1, n)"
        return None

    @mistake("You returned only the new tokens; return the prompt followed by them, as `generate()` does.")
    def only_new(self, spec):
        return self.expected(spec)[len(self.ctx.tokenizer.encode(spec["prompt"])):]

    @mistake("You took the argmax although `do_sample=True`: sampling draws with "
             "`torch.multinomial` from the softmax of the processed logits.")
    def argmax(self, spec):
        return self.slip(spec, "argmax")

    @mistake("You seed at every step: `torch.manual_seed(seed)` before each draw makes every draw use "
             "the same random number. Seed once, before the loop, as `generate()` is seeded once.")
    def reseed(self, spec):
        return self.slip(spec, "reseed")

    @mistake("Your temperature comes after the filters. `generate()` divides by the temperature first, "
             "then applies top-k, top-p and min-p to the scaled logits, so the kept set depends on T.")
    def temperature_last(self, spec):
        return self.slip(spec, "temperature_last")

    @mistake("Your top-k keeps one token too many: keep the k highest logits (`torch.topk(logits, k)`).")
    def top_k_plus_one(self, spec):
        return self.slip(spec, "top_k_plus_one")

    @mistake("Your top-p drops the token whose cumulative probability crosses top_p; the nucleus keeps it "
             "(the smallest set whose total reaches top_p).")
    def top_p_drops_crossing(self, spec):
        return self.slip(spec, "top_p_drops_crossing")

    @mistake("Your repetition penalty divides every seen logit; a *negative* logit divided by a penalty > 1 "
             "rises. Multiply negative logits, divide positive ones (exercise 4).")
    def penalty_divides(self, spec):
        return self.slip(spec, "penalty_divides", needs_sampling=False)

    @mistake("Your loop ignores `no_repeat_ngram_size`: ban the tokens that would repeat an n-gram "
             "(`banned_ngram_tokens(ids, n)`), prompt included, before the other steps.")
    def no_ngram_ban(self, spec):
        return self.slip(spec, "no_ngram_ban", needs_sampling=False)

    @mistake("Your loop ignores `repetition_penalty`: it comes first, on the logits of every token "
             "already in the sequence (the prompt too).")
    def no_penalty(self, spec):
        return self.slip(spec, "no_penalty", needs_sampling=False)

    @mistake("Your loop drops <|endoftext|>: `generate()` appends it and then stops; the text "
             "ends *with* it.")
    def eos_dropped(self, spec):
        return self.slip(spec, "eos_dropped", needs_sampling=False)

    @mistake("Your loop goes on after <|endoftext|>: `generate()` stops as soon as it appends it "
             "(`if next_id == model.config.eos_token_id: break`).")
    def eos_ignored(self, spec):
        return self.slip(spec, "eos_ignored", needs_sampling=False)

    @mistake("Your n-gram ban looks at the new tokens only; the prompt's n-grams are banned too "
             "(`banned_ngram_tokens(ids, n)` on prompt + new tokens).")
    def ngram_new_only(self, spec):
        return self.slip(spec, "ngram_new_only", needs_sampling=False)

    @mistake("Your penalty compounds: you penalise a token once per occurrence (penalty ** count). "
             "It is applied once to every token seen, however often it was seen (`set(ids)`).")
    def penalty_per_occurrence(self, spec):
        return self.slip(spec, "penalty_per_occurrence", needs_sampling=False)

    @mistake("Your repetition penalty is applied twice per step (penalty squared): apply it once, "
             "first in the chain.")
    def penalty_twice(self, spec):
        return self.slip(spec, "penalty_twice", needs_sampling=False)

    def diagnose(self, answer, expected, spec):
        start = len(self.ctx.tokenizer.encode(spec["prompt"]))
        if answer[:start] != expected[:start]:
            return "your ids do not start with the prompt's ids"
        same = next((i for i, (a, b) in enumerate(zip(answer[start:], expected[start:])) if a != b), None)
        if same is None:
            return (f"you return {len(answer) - start} new tokens where `generate()` returns "
                    f"{len(expected) - start} (it stops after max_new_tokens, or after <|endoftext|>)")
        return (f"your first {same} new tokens equal `generate()`'s, new token {same + 1} differs "
                f"(yours {answer[start + same]}, generate's {expected[start + same]})")

    def describe_probe(self, spec):
        on = {k: v for k, v in gen.settings_of(spec).items() if gen.OFF[k] != v or k == "do_sample"}
        model = ("the model with negative logits (`negative_logits(model)`), " if spec.get("negative_logits") else
                 "the model with <|endoftext|> made likely (its logit raised by "
                 f"{spec['eos_bias']}), " if spec.get("eos_bias") else "")
        return f"{model}{spec['prompt']!r}, max_new_tokens={spec['max_new_tokens']}, " + \
            ", ".join(f"{k}={v}" for k, v in on.items())
