"""Lesson 3 — the greedy loop: the exercises and their checks (one TensorFlow, one PyTorch).

Expected ids come from the reference ``greedy_search`` of the exercise's framework, on the model
the notebook uses; the known mistakes are the same search with one step done wrong.
"""
import numpy as np

from course_utils.checking import (FunctionProblem, PredictionProblem, ValueProblem, Verdict,
                                   bind_exercises, call_student, compare, ____)  # noqa: F401
from course_utils.checking.verdict import NOT_ATTEMPTED, incorrect

LESSON = "lesson3"
PROBES = [{"prompt": "The function returns", "max_new_tokens": 12},
          {"prompt": "My lord, the king", "max_new_tokens": 6}]
HIDDEN_PROBES = [{"prompt": "In the future", "max_new_tokens": 15},
                 {"prompt": "A list is", "max_new_tokens": 1}]


_CONTINUATIONS: dict = {}  # (framework, id(model), prompt ids, n) -> (model, greedy new ids)


class GreedyProblem(FunctionProblem):
    """Greedy decoding that stops after emitting '.' or after ``max_new_tokens`` new tokens."""

    public_probes = PROBES
    hidden_probes = HIDDEN_PROBES

    def period_id(self) -> int:
        return self.ctx.tokenizer.encode(".")[0]

    def reference(self, spec, max_new_tokens=None, stop=True) -> list[int]:
        """Prompt + the reference's greedy ids, for a budget up to ``max_new_tokens + 1``.

        One run of the reference ``greedy_search`` without a stop token, a token longer than the
        budget, gives the right answer and the off-by-one and no-stop variants alike: stopping at
        '.' only cuts a greedy continuation short, it never changes it.
        """
        ids = self.ctx.tokenizer.encode(spec["prompt"])
        budget = spec["max_new_tokens"] if max_new_tokens is None else max_new_tokens
        new = self._continuation(ids, spec["max_new_tokens"] + 1)[:budget]
        if stop and self.period_id() in new:
            new = new[:new.index(self.period_id()) + 1]
        return ids + new

    def _continuation(self, ids, max_new_tokens) -> list[int]:
        model = self.ctx.model(self.framework)
        key = (self.framework, id(model), tuple(ids), max_new_tokens)
        if key not in _CONTINUATIONS:  # the model is kept in the value, so its id stays its own
            if len(_CONTINUATIONS) > 256:
                _CONTINUATIONS.clear()
            result = self.ctx.ref(self.framework).greedy_search(model, ids, max_new_tokens)
            _CONTINUATIONS[key] = (model, result[len(ids):])
        return list(_CONTINUATIONS[key][1])

    def expected(self, spec):
        return self.reference(spec)

    def wrong_variants(self, spec):
        prompt = self.ctx.tokenizer.encode(spec["prompt"])
        right = self.reference(spec)
        first = right[len(prompt)]
        variants = {
            "The same token repeats: the loop never appends the new token to the input it feeds "
            "the model.": prompt + [first] * spec["max_new_tokens"],
            "The loop runs past '.': stop once the new token is the period.": self.reference(spec, stop=False),
            "One token too many: the budget counts new tokens, `max_new_tokens` of them.":
                self.reference(spec, spec["max_new_tokens"] + 1),
            "One token short: the budget counts new tokens, `max_new_tokens` of them.":
                self.reference(spec, spec["max_new_tokens"] - 1),
        }
        if right[-1] == self.period_id():
            variants["The '.' itself is missing: append it, then stop."] = right[:-1]
        # logits[0, 0] instead of logits[0, -1]: the first position only ever sees the first token.
        stuck = self.first_position_argmax(prompt)
        variants["Every step reads the logits of the first position; the next token is predicted "
                 "by the last one, `logits[0, -1]`."] = (
            prompt + [stuck] if stuck == self.period_id() else prompt + [stuck] * spec["max_new_tokens"])
        # A variant equal to the right answer would name a mistake the student did not make.
        return {message: ids for message, ids in variants.items() if ids != right}

    def first_position_argmax(self, prompt) -> int:
        logits = self.ctx.ref(self.framework).next_token_logits(self.ctx.model(self.framework), prompt[:1])
        return int(np.argmax(np.asarray(logits)))

    def judge_probe(self, spec, answer):
        message = super().judge_probe(spec, answer)
        if message is None or not message.startswith("your result"):
            return message  # right, or a mistake we could name
        prompt = self.ctx.tokenizer.encode(spec["prompt"])
        if isinstance(answer, list) and answer[:len(prompt)] != prompt:
            return "the list should start with the prompt's ids, then the new ones"
        new = answer[len(prompt):] if isinstance(answer, list) else []
        if new and all(isinstance(i, int) and 0 <= i < len(prompt) + spec["max_new_tokens"] for i in new):
            # Tiny ids that fit the positions: an argmax over the sequence axis, not the vocabulary.
            return ("those new 'ids' look like positions: take the argmax over the vocabulary "
                    "(the last axis) of the last position's logits")
        return message

    def describe_probe(self, spec):
        return f"prompt {spec['prompt']!r} with max_new_tokens={spec['max_new_tokens']}"


class GreedyTensorFlow(GreedyProblem):
    """``greedy_tf(model, input_ids, max_new_tokens)`` with ``tf.argmax``: returns prompt + new ids."""

    var = "greedy_tf"
    framework = "tf"
    hints = ("Loop `max_new_tokens` times: run the model on the ids so far, take `tf.argmax` of the "
             "last position's logits, append it, and stop after appending the id of '.'.",
             "`next_id = int(tf.argmax(model(tf.constant([ids])).logits[0, -1]))`")
    solution_code = ("def greedy_tf(model, input_ids, max_new_tokens):\n"
                     "    ids = list(input_ids)\n"
                     "    period = tokenizer.encode('.')[0]\n"
                     "    for _ in range(max_new_tokens):\n"
                     "        logits = model(tf.constant([ids])).logits      # [1, seq, vocab]\n"
                     "        next_id = int(tf.argmax(logits[0, -1]))\n"
                     "        ids.append(next_id)\n"
                     "        if next_id == period:\n"
                     "            break\n"
                     "    return ids")

    def run_probe(self, function, spec):
        ids = self.ctx.tokenizer.encode(spec["prompt"])
        return call_student(function, self.ctx.model("tf"), ids, spec["max_new_tokens"])


class GreedyGeneratorPyTorch(GreedyProblem):
    """``greedy_ids_generator(model, input_ids, max_new_tokens)``: yields each new id (torch.argmax)."""

    var = "greedy_ids_generator"
    framework = "pt"
    hints = ("Write a generator: inside the loop, `yield next_id` instead of collecting a list.",
             "`next_id = int(torch.argmax(model(torch.tensor([ids])).logits[0, -1]))`, then "
             "`ids.append(next_id)`, `yield next_id`, and `return` after the '.'.")
    solution_code = ("def greedy_ids_generator(model, input_ids, max_new_tokens):\n"
                     "    ids = list(input_ids)\n"
                     "    period = tokenizer.encode('.')[0]\n"
                     "    for _ in range(max_new_tokens):\n"
                     "        with torch.no_grad():\n"
                     "            logits = model(torch.tensor([ids])).logits\n"
                     "        next_id = int(torch.argmax(logits[0, -1]))\n"
                     "        ids.append(next_id)\n"
                     "        yield next_id\n"
                     "        if next_id == period:\n"
                     "            return")

    def run_probe(self, function, spec):
        ids = self.ctx.tokenizer.encode(spec["prompt"])
        generator = call_student(function, self.ctx.model("pt"), ids, spec["max_new_tokens"])
        if generator is None:  # the starter stub
            return None
        # The student's generator runs while we consume it: wrap so its errors are theirs.
        return self.ctx.tokenizer.encode(spec["prompt"]) + call_student(list, generator)


class CachedModelCalls(PredictionProblem):
    """Predict: how many forward passes does cached greedy search make for N new tokens?"""

    var = "predicted_calls"
    new_tokens = 10
    explanation = ("With the key/value cache the prompt is fed once, then one new token per step: "
                   "one model call per generated token.")
    hints = ("Each step produces one token, and each step needs the model once.",)
    solution_code = "predicted_calls = 10"

    def __init__(self):
        super().__init__()
        self._first_collected = None  # kernel side: the first prediction this kernel checked

    def collect(self, namespace, grading=False):
        payload = ValueProblem.collect(self, namespace, grading)
        if "value" in payload:
            if self._first_collected is None:
                self._first_collected = payload["value"]
            payload["first"] = self._first_collected
        return payload

    def judge(self, payload):
        """Pure: the first prediction travels in the payload, so a grader process that judges many
        students' answers remembers nothing from one to the next."""
        verdict = ValueProblem.judge(self, payload)
        if verdict.status == NOT_ATTEMPTED:
            return verdict
        answer, expected = payload["value"], self.expected()
        first = payload.get("first", answer)
        if (compare.mismatch(answer, first, self.rtol, self.atol) is not None
                and compare.mismatch(first, expected, self.rtol, self.atol) is not None):
            return incorrect(f"you changed your prediction after seeing the answer; your first "
                             f"prediction was {first!r}. {self.explanation}")
        return Verdict(verdict.status, (verdict.message + " " + self.explanation).strip(),
                       verdict.score, verdict.max_score)

    def expected(self):
        # Count the calls the reference really makes, rather than trusting the explanation.
        model = _CountingModel(self.ctx.model())
        self.ctx.ref().greedy_search(model, self.ctx.tokenizer.encode("Hello"), self.new_tokens)
        return model.calls


class _CountingModel:
    """Stands in for a model and counts its forward passes."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.model(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


qvars = bind_exercises(globals(), LESSON, [GreedyTensorFlow, GreedyGeneratorPyTorch, CachedModelCalls])
__all__ = qvars + ["____"]
