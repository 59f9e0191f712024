"""Lesson 5 — log-probabilities and beam search: the exercises and their checks.

Expected values come from the references (``log_probs_from_logits``, ``sequence_logprob``,
``beam_search``, ``greedy_search``) on the model the notebook uses; the named mistakes are those
same computations with one classic slip. ``reference_beam_step`` (one step of the search, kept
here because the references expose only the whole search) also lets the notebook draw the tree.
"""
import numpy as np

from course_utils.checking import (FunctionProblem, ValueProblem, bind_exercises, call_student,
                                   compare, ____)  # noqa: F401
from course_utils.checking.numeric import log_softmax

LESSON = "lesson5"
BEAM_PROMPT = "The function returns"
BEAM_SETTINGS = {"num_beams": 5, "max_new_tokens": 12, "no_repeat_ngram_size": 2}


def _describe(spec) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in spec.items())


# -- q1: log-probs from logits (TensorFlow) -----------------------------------------------------
class LogProbsTensorFlow(FunctionProblem):
    """``log_probs_from_logits_tf(logits, labels)``: log softmax(logits) at the labels, in TensorFlow."""

    var = "log_probs_from_logits_tf"
    framework = "tf"
    public_probes = [{"text": "To be, or not to be"}]
    hidden_probes = [{"text": "The default value is a string."}]
    rtol, atol = 1e-4, 1e-4
    hints = ("`tf.nn.log_softmax(logits, axis=-1)` normalises every row; then pick each row's label.",
             "`tf.gather(log_probs, labels, batch_dims=1)` on [seq_len, vocab_size] and [seq_len] picks "
             "one entry per row.")
    solution_code = ("def log_probs_from_logits_tf(logits, labels):\n"
                     "    log_probs = tf.nn.log_softmax(logits, axis=-1)\n"
                     "    return tf.gather(log_probs, labels, batch_dims=1)")

    def _logits_labels(self, spec):
        import tensorflow as tf

        ids = self.ctx.tokenizer.encode(spec["text"])
        logits = self.ctx.model("tf")(tf.constant([ids])).logits[0, :-1]      # [seq_len - 1, vocab]
        return logits, tf.constant(ids[1:])

    def run_probe(self, function, spec):
        return call_student(function, *self._logits_labels(spec))

    def expected(self, spec):
        logits, labels = self._logits_labels(spec)
        return np.asarray(self.ctx.ref("tf").log_probs_from_logits(logits, labels), np.float64).tolist()

    def wrong_variants(self, spec):
        logits, labels = self._logits_labels(spec)
        logits, labels = np.asarray(logits, np.float64), np.asarray(labels)
        rows = np.arange(len(labels))
        log_probs = log_softmax(logits)
        return {"Those are probabilities; take their log (use log_softmax).": np.exp(log_probs[rows, labels]).tolist(),
                "Those are raw logits at the labels; normalise them with log_softmax first.":
                    logits[rows, labels].tolist(),
                "log_softmax ran over the sequence axis; normalise over the vocabulary (axis=-1).":
                    log_softmax(logits.T).T[rows, labels].tolist(),
                "Those are log-probabilities, but of the most likely token in each row, not of the labels.":
                    log_probs.max(axis=-1).tolist()}

    def describe_probe(self, spec):
        return f"the text {spec['text']!r}"


# -- q2: the log-probability of a sequence (PyTorch) ----------------------------------------------
class SequenceLogprob(FunctionProblem):
    """``sequence_logprob_pt(model, ids, input_len)``: summed log-probs of the tokens after the prompt."""

    var = "sequence_logprob_pt"
    framework = "pt"
    public_probes = [{"text": "The function returns the value of the object.", "input_len": 3}]
    hidden_probes = [{"text": "My lord, the king is dead.", "input_len": 4},
                     {"text": "Hello world, hello again", "input_len": 1}]
    rtol, atol = 1e-4, 1e-3
    hints = ("Position t of the logits predicts token t + 1: pair `logits[0, :-1]` with `ids[1:]`.",
             "Entry j of those shifted log-probs scores token j + 1, so the first generated token "
             "(position `input_len`) is entry `input_len - 1`: sum `token_log_probs[input_len - 1:]`.")
    solution_code = ("def sequence_logprob_pt(model, ids, input_len):\n"
                     "    with torch.no_grad():\n"
                     "        logits = model(torch.tensor([ids])).logits[0]\n"
                     "    labels = torch.tensor(ids[1:])\n"
                     "    token_log_probs = torch.log_softmax(logits[:-1], -1).gather(-1, labels[:, None])[:, 0]\n"
                     "    return float(token_log_probs[input_len - 1:].sum())")

    def run_probe(self, function, spec):
        ids = self.ctx.tokenizer.encode(spec["text"])
        return call_student(function, self.ctx.model("pt"), ids, spec["input_len"])

    def expected(self, spec):
        ids = self.ctx.tokenizer.encode(spec["text"])
        return self.ctx.ref("pt").sequence_logprob(self.ctx.model("pt"), ids, spec["input_len"])

    def wrong_variants(self, spec):
        import torch

        ids = self.ctx.tokenizer.encode(spec["text"])
        with torch.no_grad():
            logits = self.ctx.model("pt")(torch.tensor([ids])).logits[0].double().numpy()
        log_probs = log_softmax(logits)                                   # [seq_len, vocab]
        shifted = log_probs[np.arange(len(ids) - 1), ids[1:]]             # entry j scores token j + 1
        unshifted = log_probs[np.arange(len(ids)), ids]                   # position t "scores" token t
        n = spec["input_len"]
        start = max(n, 1) - 1
        variants = {
            "That is a probability (a product of probabilities), not a sum of log-probabilities; "
            "products underflow for long texts.": float(np.exp(shifted[start:].sum())),
            "Your sum includes the prompt's tokens: count only positions >= input_len.": float(shifted.sum()),
            "The log-probs are read at the wrong positions: the logits at position t score token t + 1, "
            "so pair logits[:-1] with ids[1:].": float(unshifted[n:].sum()),
            "Your sum leaves out the first generated token: shifted entry input_len - 1 scores token "
            "input_len.": float(shifted[n:].sum())}
        right = self.expected(spec)
        return {m: v for m, v in variants.items() if compare.mismatch(v, right, self.rtol, self.atol)}

    def describe_probe(self, spec):
        return f"{spec['text']!r} with input_len={spec['input_len']}"


# -- q3: one step of beam search (PyTorch) --------------------------------------------------------
def reference_beam_step(model, beams, scores, num_beams):
    """One step of beam search: every extension of every beam by one token, scored by
    ``score + log P(token | beam)``; the ``num_beams`` best, best first.

    beams: list of id lists (equal lengths); scores: list of floats (summed log-probs so far).
    Returns ``(new_beams, new_scores)`` as plain lists. Uses the PyTorch reference.
    """
    from course_utils.reference import pt as ref

    rows = np.stack([np.asarray(ref.next_token_logits(model, beam), np.float64) for beam in beams])
    totals = np.asarray(scores, np.float64)[:, None] + log_softmax(rows)    # [len(beams), vocab]
    best = np.argsort(-totals, axis=None, kind="stable")[:num_beams]
    parents, tokens = np.unravel_index(best, totals.shape)
    return ([list(beams[b]) + [int(t)] for b, t in zip(parents, tokens)],
            [float(totals[b, t]) for b, t in zip(parents, tokens)])


class BeamStep(FunctionProblem):
    """``beam_step(model, beams, scores, num_beams)`` -> ``(new_beams, new_scores)``, best first."""

    var = "beam_step"
    framework = "pt"
    public_probes = [{"prompt": "The function returns", "width": 1, "num_beams": 3},
                     {"prompt": "In the future", "width": 3, "num_beams": 3}]
    hidden_probes = [{"prompt": "My lord, the king", "width": 2, "num_beams": 4},
                     {"prompt": "A list is", "width": 4, "num_beams": 2}]
    rtol, atol = 1e-4, 1e-3
    hints = ("For each beam, get the next-token log-probs (log_softmax of the last logits) and add the "
             "beam's score: that is a [num_beams_in, vocab_size] table of candidate scores. Pick the "
             "best `num_beams` entries of the *whole table*, not the best of each row.",
             "`top = torch.topk(table.flatten(), num_beams)`; `divmod(index, vocab_size)` gives the beam "
             "and the token of each pick.")
    solution_code = ("def beam_step(model, beams, scores, num_beams):\n"
                     "    with torch.no_grad():\n"
                     "        logits = model(torch.tensor(beams)).logits[:, -1]            # [len(beams), vocab]\n"
                     "    table = torch.tensor(scores)[:, None] + torch.log_softmax(logits, -1)\n"
                     "    top = torch.topk(table.flatten(), num_beams)\n"
                     "    vocab_size = table.shape[-1]\n"
                     "    new_beams = [beams[i // vocab_size] + [i % vocab_size] for i in top.indices.tolist()]\n"
                     "    return new_beams, top.values.tolist()")

    def inputs(self, spec):
        """The beams going into the step: the prompt alone, or the prompt + each of its top tokens."""
        model, ids = self.ctx.model("pt"), self.ctx.tokenizer.encode(spec["prompt"])
        if spec["width"] == 1:
            return [ids], [0.0]
        return reference_beam_step(model, [ids], [0.0], spec["width"])

    def run_probe(self, function, spec):
        beams, scores = self.inputs(spec)
        result = call_student(function, self.ctx.model("pt"), [list(b) for b in beams], list(scores),
                              spec["num_beams"])
        if result is None:
            return None
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return {"not_a_pair": True}
        return list(result)

    def expected(self, spec):
        beams, scores = self.inputs(spec)
        return list(reference_beam_step(self.ctx.model("pt"), beams, scores, spec["num_beams"]))

    def judge_probe(self, spec, answer):
        if not isinstance(answer, list) or len(answer) != 2:
            return "`beam_step` should return a pair `(new_beams, new_scores)`"
        beams, scores = answer
        right_beams, right_scores = self.expected(spec)
        if beams == right_beams and compare.mismatch(scores, right_scores, self.rtol, self.atol) is None:
            return None
        for message, (wrong_beams, wrong_scores) in self.wrong_variants(spec).items():
            if beams == wrong_beams and compare.mismatch(scores, wrong_scores, self.rtol, self.atol) is None:
                return message
        if not isinstance(beams, list) or len(beams) != len(right_beams):
            return f"expected {len(right_beams)} new beams (num_beams), got {_count(beams)}"
        if beams != right_beams:
            if _sorted_ids(beams) == _sorted_ids(right_beams):
                return "the right beams, in the wrong order: return them best first (highest score first)"
            return "the new beams are not the best extensions: " + (
                compare.mismatch(beams, right_beams) or "check the ids")
        if compare.mismatch(scores, np.exp(right_scores).tolist(), self.rtol, 1e-9) is None:
            return ("the right beams, but the scores are probabilities: keep summed log-probabilities "
                    "(products of probabilities underflow)")
        return "the right beams, but `new_scores` " + compare.mismatch(scores, right_scores, self.rtol, self.atol)

    def wrong_variants(self, spec):
        beams, scores = self.inputs(spec)
        model, k = self.ctx.model("pt"), spec["num_beams"]
        # Best token of each beam only, then the best k of those.
        per_beam = [reference_beam_step(model, [b], [s], 1) for b, s in zip(beams, scores)]
        pairs = sorted(((s[0], b[0]) for b, s in per_beam), key=lambda pair: -pair[0])[:k]
        variants = {"You kept only the best token of each beam; the best extensions may all come "
                    "from one beam: rank every (beam, token) pair together.":
                        ([b for _, b in pairs], [s for s, _ in pairs])}
        # The new token's log-prob alone, without the beam's score so far.
        zero_beams, zero_scores = reference_beam_step(model, beams, [0.0] * len(beams), k)
        variants["The beams' scores so far were not added: a candidate's score is its beam's score "
                 "plus the new token's log-prob."] = (zero_beams, zero_scores)
        right_beams, right_scores = self.expected(spec)
        return {m: v for m, v in variants.items()
                if v[0] != right_beams or compare.mismatch(v[1], right_scores, self.rtol, self.atol)}

    def describe_probe(self, spec):
        start = "the prompt alone" if spec["width"] == 1 else f"its {spec['width']} best one-token extensions"
        return f"the prompt {spec['prompt']!r} ({start}) and num_beams={spec['num_beams']}"


def _count(value) -> str:
    return str(len(value)) if isinstance(value, list) else type(value).__name__


def _sorted_ids(beams):
    try:
        return sorted(tuple(b) for b in beams)
    except TypeError:
        return None


# -- q4: the whole search (PyTorch) -----------------------------------------------------------------
def beam_history(model, input_ids, num_beams, steps, step=None):
    """The beams kept after each step: ``[(beams, scores), ...]``, starting from the prompt alone.

    ``step`` is a beam-step function like ``reference_beam_step`` (the default).
    """
    step = step or reference_beam_step
    beams, scores = [list(input_ids)], [0.0]
    history = [(beams, scores)]
    for _ in range(steps):
        beams, scores = step(model, [list(b) for b in beams], list(scores), num_beams)
        beams, scores = [list(map(int, b)) for b in beams], [float(s) for s in scores]
        history.append((beams, scores))
    return history


class BeamSearch(FunctionProblem):
    """``beam_search_pt(model, input_ids, num_beams, max_new_tokens)`` -> the best beam's ids."""

    var = "beam_search_pt"
    framework = "pt"
    public_probes = [{"prompt": "The function returns", "num_beams": 3, "max_new_tokens": 5}]
    hidden_probes = [{"prompt": "My lord, the king", "num_beams": 4, "max_new_tokens": 6},
                     {"prompt": "In the future", "num_beams": 2, "max_new_tokens": 3}]
    hints = ("Start from one beam, the prompt, with score 0.0; call your `beam_step` `max_new_tokens` "
             "times; the answer is the best beam at the end.",
             "`beams, scores = [list(input_ids)], [0.0]`, then `beams, scores = beam_step(model, beams, "
             "scores, num_beams)` in a loop; return `beams[0]`.")
    solution_code = ("def beam_search_pt(model, input_ids, num_beams, max_new_tokens):\n"
                     "    beams, scores = [list(input_ids)], [0.0]\n"
                     "    for _ in range(max_new_tokens):\n"
                     "        beams, scores = beam_step(model, beams, scores, num_beams)\n"
                     "    return beams[0]")

    def _ids(self, spec):
        return self.ctx.tokenizer.encode(spec["prompt"])

    def run_probe(self, function, spec):
        result = call_student(function, self.ctx.model("pt"), self._ids(spec), spec["num_beams"],
                              spec["max_new_tokens"])
        if isinstance(result, tuple) and len(result) == 2 and not isinstance(result[1], (list, tuple)):
            result = result[0]             # (ids, score), as the reference returns: take the ids
        return result

    def expected(self, spec):
        ids, _ = self.ctx.ref("pt").beam_search(self.ctx.model("pt"), self._ids(spec), spec["num_beams"],
                                                spec["max_new_tokens"])
        return ids

    def judge_probe(self, spec, answer):
        if isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list):
            answer = answer[0]             # a [1, seq_len] tensor is fine
        return super().judge_probe(spec, answer)

    def wrong_variants(self, spec):
        model, ids, k, n = self.ctx.model("pt"), self._ids(spec), spec["num_beams"], spec["max_new_tokens"]
        ref = self.ctx.ref("pt")
        right = self.expected(spec)
        history = beam_history(model, ids, k, n)
        variants = {"That is the greedy continuation: keep num_beams candidates at every step.":
                        ref.greedy_search(model, ids, n),
                    "That is the *last* beam; the beams come best first, return the first.":
                        history[-1][0][-1],
                    "Those are only the new tokens: return the prompt's ids followed by them.": right[len(ids):],
                    "One step too few: run max_new_tokens steps.": history[-2][0][0]}
        return {m: v for m, v in variants.items() if v != right}

    def describe_probe(self, spec):
        return _describe(spec)


# -- q5: the n-gram ban -------------------------------------------------------------------------------
class BannedTokens(FunctionProblem):
    """``banned_tokens(ids, n)``: the tokens that, appended to ``ids``, would repeat an n-gram."""

    var = "banned_tokens"
    public_probes = [{"ids": [10, 20, 30, 10, 20], "n": 3}, {"ids": [5, 6, 5, 7, 5], "n": 2}]
    hidden_probes = [{"ids": [1, 2, 3, 4], "n": 2}, {"ids": [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], "n": 1},
                     {"ids": [7, 8, 9, 7, 8, 9, 7, 8], "n": 3}, {"ids": [1, 2, 1, 2, 1, 2, 1], "n": 4},
                     {"ids": [4, 4], "n": 3}]
    hints = ("An n-gram is n tokens in a row. The next token would complete an n-gram whose first "
             "n - 1 tokens are the last n - 1 tokens of `ids`.",
             "Let `prefix = ids[len(ids) - (n - 1):]`; for every i where `ids[i:i + n - 1] == prefix` "
             "(and i + n - 1 < len(ids)), ban `ids[i + n - 1]`.")
    solution_code = ("def banned_tokens(ids, n):\n"
                     "    prefix = ids[len(ids) - (n - 1):]\n"
                     "    return [ids[i + n - 1] for i in range(len(ids) - n + 1) if ids[i:i + n - 1] == prefix]")

    def run_probe(self, function, spec):
        return call_student(function, list(spec["ids"]), spec["n"])

    def _reference(self, ids, n):
        from course_utils.reference._common import banned_ngram_tokens

        return sorted(set(banned_ngram_tokens(list(ids), n))) if n >= 1 else []

    def expected(self, spec):
        return self._reference(spec["ids"], spec["n"])

    def judge_probe(self, spec, answer):
        if not isinstance(answer, list) or not all(type(t) is int for t in answer):
            return "`banned_tokens` should return a list of token ids (ints)"
        answer = sorted(set(answer))
        right = self.expected(spec)
        if answer == right:
            return None
        for message, wrong in self.wrong_variants(spec).items():
            if answer == wrong:
                return message
        return f"the banned tokens should be {right}, not {answer}"

    def wrong_variants(self, spec):
        ids, n = spec["ids"], spec["n"]
        right = self.expected(spec)
        variants = {"Off by one: you banned tokens for (n - 1)-grams. An n-gram is the last n - 1 "
                    "tokens plus the candidate.": self._reference(ids, n - 1),
                    "Off by one: you banned tokens for (n + 1)-grams. An n-gram is the last n - 1 "
                    "tokens plus the candidate.": self._reference(ids, n + 1)}
        return {m: v for m, v in variants.items() if v != right}

    def describe_probe(self, spec):
        return f"ids={spec['ids']}, n={spec['n']}"


# -- q6: generate() with beams -------------------------------------------------------------------------
class BeamIds(ValueProblem):
    var = "beam_ids"
    framework = "pt"
    hints = (f"`model.generate(input_ids, num_beams={BEAM_SETTINGS['num_beams']}, do_sample=False, "
             f"max_new_tokens={BEAM_SETTINGS['max_new_tokens']}, no_repeat_ngram_size="
             f"{BEAM_SETTINGS['no_repeat_ngram_size']})` for the prompt {BEAM_PROMPT!r}.",
             "Keep the whole sequence (prompt included) as a list of ids: `output[0].tolist()`.")
    solution_code = ("beam_ids = model.generate(tokenizer(BEAM_PROMPT, return_tensors='pt').input_ids, num_beams=5,\n"
                     "                          do_sample=False, max_new_tokens=12, no_repeat_ngram_size=2)[0].tolist()")

    def _beam(self, **overrides):
        settings = {**BEAM_SETTINGS, **overrides}
        ids = self.ctx.tokenizer.encode(BEAM_PROMPT)
        best, _ = self.ctx.ref("pt").beam_search(self.ctx.model("pt"), ids,
                                                 eos_token_id=self.ctx.tokenizer.eos_token_id, **settings)
        return best

    def expected(self):
        return self._beam()

    def compare_with_expected(self, answer, expected, variants):
        if isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list):
            answer = answer[0]             # the [1, seq_len] output of generate() is fine
        return super().compare_with_expected(answer, expected, variants)

    def wrong_variants(self):
        right = self.expected()
        ids = self.ctx.tokenizer.encode(BEAM_PROMPT)
        greedy = self.ctx.ref("pt").greedy_search(self.ctx.model("pt"), ids, BEAM_SETTINGS["max_new_tokens"],
                                                  stop_token_ids=[self.ctx.tokenizer.eos_token_id])
        variants = {"That is the greedy continuation: ask for num_beams=5.": greedy,
                    "Repeated bigrams are allowed in your run: set no_repeat_ngram_size=2.":
                        self._beam(no_repeat_ngram_size=0),
                    "no_repeat_ngram_size is off by one: it should be 2 (no bigram twice).":
                        self._beam(no_repeat_ngram_size=3),
                    "Those are only the new tokens: keep the prompt's ids at the front.": right[len(ids):]}
        return {message: value for message, value in variants.items() if value != right}


# -- the notebook's picture ---------------------------------------------------------------------------
def draw_beam_tree(history, tokenizer, title="Beam search, step by step"):
    """Draw the beams kept at every step as a tree: one column per step, one node per beam (its new
    token and summed log-prob), an edge from each beam to the beam it extends. The final best beam's
    path is drawn in bold. ``history`` comes from ``beam_history``. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    prompt_len = len(history[0][0][0])
    steps = len(history) - 1
    width = max(len(beams) for beams, _ in history)
    figure, axes = plt.subplots(figsize=(2.0 + 1.9 * steps, 0.9 + 0.75 * width))
    position = {}
    for t, (beams, scores) in enumerate(history):
        for rank, (beam, score) in enumerate(zip(beams, scores)):
            key = tuple(beam)
            y = -(rank - (len(beams) - 1) / 2)
            position.setdefault(key, (t, y))
            label = (tokenizer.decode(beam[:prompt_len]) if t == 0
                     else f"{tokenizer.decode([beam[-1]])!r}\n{score:.2f}")
            axes.text(t, y, label, ha="center", va="center", fontsize=8,
                      bbox=dict(boxstyle="round", fc="#e3f2fd" if t else "#fff3e0", ec="#90a4ae"))
    best = tuple(history[-1][0][0])
    best_path = {best[:n] for n in range(prompt_len, len(best) + 1)}
    for key, (t, y) in position.items():
        parent = key[:-1]
        if t > 0 and parent in position:
            px, py = position[parent]
            bold = key in best_path
            axes.plot([px + 0.25, t - 0.25], [py, y], color="#c62828" if bold else "#90a4ae",
                      linewidth=2.2 if bold else 0.9, zorder=0)
    axes.set_xlim(-0.6, steps + 0.6)
    axes.set_ylim(-(width / 2) - 0.2, width / 2 + 0.2)
    axes.set_xticks(range(steps + 1), ["prompt"] + [f"step {t}" for t in range(1, steps + 1)])
    axes.set_yticks([])
    for side in ("left", "right", "top"):
        axes.spines[side].set_visible(False)
    axes.set_title(title + " (red: the best final beam's path; numbers: summed log-probs)", fontsize=10)
    figure.tight_layout()
    return figure


qvars = bind_exercises(globals(), LESSON, [LogProbsTensorFlow, SequenceLogprob, BeamStep, BeamSearch,
                                           BannedTokens, BeamIds])
__all__ = qvars + ["____", "BEAM_PROMPT", "BEAM_SETTINGS", "beam_history", "draw_beam_tree",
                   "reference_beam_step"]
