"""Lesson 4 — the greedy loop: the exercises and their checks (one TensorFlow, one PyTorch).

Expected ids come from the reference ``greedy_search`` of the exercise's framework, on the model
the notebook uses; the known mistakes are the same search with one step done wrong.
"""
import inspect

import numpy as np

from course_utils.checking import (FunctionProblem, PredictionProblem, bind_exercises, call_student,
                                   mistake, ____)  # noqa: F401
from course_utils.checking.context import default_framework
from course_utils.checking.value import ValueProblem
from course_utils.checking.verdict import NOT_ATTEMPTED, Verdict
from course_utils.checking.reference_cache import (next_token_logits, once_per_model, reference_module,
                                                   reference_result)

PROBES = [{"prompt": "The function returns", "max_new_tokens": 12},
          {"prompt": "My lord, the king", "max_new_tokens": 6}]
HIDDEN_PROBES = [{"prompt": "In the future", "max_new_tokens": 15},
                 {"prompt": "A list is", "max_new_tokens": 1}]


class GreedyProblem(FunctionProblem):
    """Greedy decoding that stops after emitting '.' or after ``max_new_tokens`` new tokens."""

    public_probes = PROBES
    hidden_probes = HIDDEN_PROBES

    def period_id(self) -> int:
        return self.ctx.tokenizer.encode(".")[0]

    def prompt(self, spec) -> list[int]:
        return self.ctx.tokenizer.encode(spec["prompt"])

    def reference(self, spec, max_new_tokens=None, stop=True) -> list[int]:
        """Prompt + the reference's greedy ids, for a budget up to ``max_new_tokens + 1``.

        One run of the reference ``greedy_search`` without a stop token, a token longer than the
        budget, gives the right answer and the off-by-one and no-stop variants alike: stopping at
        '.' only cuts a greedy continuation short, it never changes it.
        """
        ids = self.prompt(spec)
        budget = spec["max_new_tokens"] if max_new_tokens is None else max_new_tokens
        model = self.ctx.model(self.framework)
        new = list(reference_result(model, self.framework, "greedy_search", tuple(ids),
                                    spec["max_new_tokens"] + 1)[len(ids):budget + len(ids)])
        if stop and self.period_id() in new:
            new = new[:new.index(self.period_id()) + 1]
        return ids + new

    def expected(self, spec):
        return self.reference(spec)

    @mistake("The same token repeats: the loop never appends the new token to the input it feeds "
             "the model.")
    def never_appends(self, spec):
        prompt = self.prompt(spec)
        return prompt + [self.reference(spec)[len(prompt)]] * spec["max_new_tokens"]

    @mistake("The loop runs past '.': stop once the new token is the period.")
    def runs_past_period(self, spec):
        return self.reference(spec, stop=False)

    @mistake("One token too many: the budget counts new tokens, `max_new_tokens` of them.")
    def one_too_many(self, spec):
        return self.reference(spec, spec["max_new_tokens"] + 1)

    @mistake("One token short: the budget counts new tokens, `max_new_tokens` of them.")
    def one_short(self, spec):
        return self.reference(spec, spec["max_new_tokens"] - 1)

    @mistake("The '.' itself is missing: append it, then stop.")
    def period_missing(self, spec):
        right = self.reference(spec)
        return right[:-1] if right[-1] == self.period_id() else None

    @mistake("Every step reads the logits of the first position; the next token is predicted by the "
             "last one, `logits[0, -1]`.")
    def first_position(self, spec):
        # logits[0, 0] instead of logits[0, -1]: the first position only ever sees the first token.
        prompt = self.prompt(spec)
        stuck = int(np.argmax(next_token_logits(self.ctx.model(self.framework), self.framework, tuple(prompt[:1]))))
        return prompt + [stuck] if stuck == self.period_id() else prompt + [stuck] * spec["max_new_tokens"]

    def diagnose(self, answer, expected, spec):
        prompt = self.prompt(spec)
        if isinstance(answer, list) and answer[:len(prompt)] != prompt:
            return "the list should start with the prompt's ids, then the new ones"
        new = answer[len(prompt):] if isinstance(answer, list) else []
        if new and all(isinstance(i, int) and 0 <= i < len(prompt) + spec["max_new_tokens"] for i in new):
            # Tiny ids that fit the positions: an argmax over the sequence axis, not the vocabulary.
            return ("those new 'ids' look like positions: take the argmax over the vocabulary "
                    "(the last axis) of the last position's logits")
        return None

    def describe_probe(self, spec):
        return f"prompt {spec['prompt']!r} with max_new_tokens={spec['max_new_tokens']}"


class GreedyTensorFlow(GreedyProblem):
    """``greedy_tf(model, input_ids, max_new_tokens)`` with ``tf.argmax``: returns prompt + new ids."""

    id = "lesson4.q1"
    var = "greedy_tf"
    framework = "tf"
    hints = ('Predict, append, repeat: each step runs the model on all ids so far and appends the '
             "single most likely next id; stop after appending '.' or after `max_new_tokens` steps. "
             "Which row of the logits predicts the *next* token (lesson 3, section 2)?",
             'Copy `input_ids` into a new list; in a `for` loop of `max_new_tokens` steps call the '
             "model on `tf.constant([ids])`, take the argmax over the vocabulary of the row that has "
             "seen the whole text, convert it with `int`, append it, and stop if it is `period_id`.",
             '```\nids = list(input_ids)\nfor _ in range(max_new_tokens):\n    logits = '
             'model(tf.constant([ids])).logits   # [1, len(ids), vocab_size]\n    next_id = ...'
             "                     # one int: which row, which axis?\n    ids.append(next_id)\n"
             "    ...                               # the stopping rule\nreturn ids\n```")

    def run_probe(self, function, spec):
        return call_student(function, self.ctx.model("tf"), self.prompt(spec), spec["max_new_tokens"])


class GreedyGeneratorPyTorch(GreedyProblem):
    """``greedy_ids_generator(model, input_ids, max_new_tokens)``: yields each new id (torch.argmax)."""

    id = "lesson4.q2"
    var = "greedy_ids_generator"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = ("transformers.generation.utils.GenerationMixin.generate",)
    framework = "pt"
    hints = ('Write the same loop as exercise 1, but as a generator: `yield` each new id as soon '
             'as it is chosen instead of collecting them.',
             'In each step run the model inside `torch.no_grad()` on `torch.tensor([ids])`, take '
             "`torch.argmax` of the last position's logits, append it to `ids`, yield it, and "
             "`return` once it is '.'.",
             '```\nids = list(input_ids)\nfor _ in range(max_new_tokens):\n    with '
             'torch.no_grad():\n        logits = model(torch.tensor([ids])).logits\n    next_id = '
             'int(torch.argmax(...))\n    ids.append(next_id)\n    ...                  # hand the '
             'id to the caller\n    if next_id == period_id:\n        return\n```')

    def run_probe(self, function, spec):
        result = call_student(function, self.ctx.model("pt"), self.prompt(spec), spec["max_new_tokens"])
        if result is None:  # the starter stub
            return None
        if not inspect.isgenerator(result):
            # A function that returns a list gives the right ids but streams nothing: record what
            # it returned, so that check() and the grader both name the mistake.
            return {"not_a_generator": type(result).__name__}
        # The student's generator runs while we consume it: wrap so its errors are theirs.
        return self.prompt(spec) + call_student(list, result)

    def wrong_form(self, answer, spec):
        if isinstance(answer, dict) and "not_a_generator" in answer:
            return (f"`{self.var}` must be a generator: use `yield` to hand each id to the caller as soon "
                    f"as it is chosen; it returned a {answer['not_a_generator']} instead, so nothing is "
                    "shown until the whole text is done.")
        if isinstance(answer, list) and any(isinstance(i, list) for i in answer):
            return (f"`{self.var}` yielded a list; yield one id (an `int`) at a time, as soon as it is "
                    "chosen.")
        return None

    @mistake("Your generator yields the prompt's ids too; yield only the new ones (the caller already "
             "has the prompt).")
    def yields_prompt(self, spec):
        prompt = self.prompt(spec)
        return prompt + self.reference(spec)

@once_per_model
def greedy_model_calls(model, framework: str, ids: tuple, max_new_tokens: int) -> int:
    """How many forward passes the reference's cached greedy search makes."""
    counting = CountingModel(model)
    reference_module(framework).greedy_search(counting, list(ids), max_new_tokens)
    return counting.calls


class CachedModelCalls(PredictionProblem):
    """Predict: how many forward passes does cached greedy search make for N new tokens?

    The first prediction this kernel checked travels in the payload (``"first"``), as for every
    prediction. Here it is *recorded, not a trap*: a student whose first guess was wrong reads the
    explanation, fixes the value and re-runs; the verdict is then judged on the new value (Correct
    if it is right now) and keeps the first guess beside the measurement ("your first prediction
    was 11; measured: 10"), so that the honest record stays in the grade's feedback. A wrong value
    is named by the reasoning that gives it (the mistakes below).
    """

    id = "lesson4.q3"
    var = "predicted_calls"
    new_tokens = 10
    explanation = ("With the key/value cache the call that reads the prompt already gives the scores of "
                   "the first new token; every later call reads the one token just chosen and gives the "
                   "scores of the next: one model call per generated token.")
    hints = ('Think about what one call of the model gives you: scores for one next token.',
             'With the cache, the first call reads the prompt and the following calls read one '
             'token each. Which call gives the scores of the first new token? Of the last one?',
             '`predicted_calls = <calls that read the prompt> + <calls that read one chosen token>`: '
             'how many of each does a text of 10 new tokens need?')

    def expected(self):
        # Count the calls the reference really makes, rather than trusting the explanation.
        framework = default_framework()
        return greedy_model_calls(self.ctx.model(framework), framework,
                                  tuple(self.ctx.tokenizer.encode("Hello")), self.new_tokens)

    @mistake("One call too many: the call that reads the prompt is not extra, its last position "
             "already scores the first new token.")
    def prompt_call_extra(self):
        return self.expected() + 1

    @mistake("One call short: the call that reads the prompt counts too, and it gives the first new "
             "token; the other calls each feed one chosen token.")
    def fed_tokens_only(self):
        return self.expected() - 1

    @mistake("The cache does not make one call write the whole text: each new token needs its own "
             "forward pass, because the next one depends on it.")
    def one_call(self):
        return 1

    def judge(self, payload):
        verdict = ValueProblem.judge(self, payload)        # judged on the value given now
        if verdict.status == NOT_ATTEMPTED or "value" not in payload:
            return verdict
        first, value = payload.get("first", payload["value"]), payload["value"]
        record = (f"Your first prediction was {first!r}; measured: {self.expected()}. "
                  if not self.same(first, value) else "")
        return Verdict(verdict.status, " ".join(filter(None, [verdict.message, record, self.explanation])),
                       verdict.score, verdict.max_score, mistake=verdict.mistake)


class CountingModel:
    """Stands in for a model and counts its forward passes."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.model(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


class MaxLength(FunctionProblem):
    """``max_length_for(prompt, max_new_tokens)``: the ``max_length`` that gives that many new tokens."""

    id = "lesson4.q4"
    var = "max_length_for"
    public_probes = [{"prompt": "In the future", "max_new_tokens": 30},
                     {"prompt": "Machine learning with TensorFlow can", "max_new_tokens": 5}]
    hidden_probes = [{"prompt": "Hello", "max_new_tokens": 1},
                     {"prompt": "antidisestablishmentarianism is", "max_new_tokens": 12}]
    hints = ("`max_length` counts every token of the output, and the output begins with the prompt.",
             "Count the prompt in *tokens* (encode it), not in words or characters, and add the new tokens "
             "you want.",
             "`return len(<the prompt's ids>) + <the new tokens>`")

    def run_probe(self, function, spec):
        return call_student(function, spec["prompt"], spec["max_new_tokens"])

    def prompt_tokens(self, spec):
        return len(self.ctx.tokenizer.encode(spec["prompt"]))

    def expected(self, spec):
        return self.prompt_tokens(spec) + spec["max_new_tokens"]

    @mistake("That is `max_new_tokens` itself; `max_length` counts the prompt's tokens too.")
    def new_only(self, spec):
        return spec["max_new_tokens"]

    @mistake("You counted the prompt's words; `max_length` counts tokens, and a word can be several.")
    def words(self, spec):
        return len(spec["prompt"].split()) + spec["max_new_tokens"]

    @mistake("You counted the prompt's characters; `max_length` counts tokens.")
    def characters(self, spec):
        return len(spec["prompt"]) + spec["max_new_tokens"]

    @mistake("`len(tokenizer(prompt))` counts the keys of the dictionary the tokenizer returns "
             "(`input_ids` and `attention_mask`), not the prompt's tokens.")
    def dictionary_keys(self, spec):
        return len(self.ctx.tokenizer(spec["prompt"])) + spec["max_new_tokens"]

    @mistake("That is the default `max_length` plus the new tokens; the prompt's own length is what "
             "`max_length` must cover, besides the new tokens.")
    def default_plus_new(self, spec):
        return 20 + spec["max_new_tokens"]

    @mistake("One too many: the prompt's tokens plus the new ones is already the whole length.")
    def one_more(self, spec):
        return self.expected(spec) + 1

    def describe_probe(self, spec):
        return f"prompt {spec['prompt']!r} with max_new_tokens={spec['max_new_tokens']}"


qvars = bind_exercises(globals(), [GreedyTensorFlow, GreedyGeneratorPyTorch, CachedModelCalls, MaxLength])
__all__ = qvars + ["____"]
