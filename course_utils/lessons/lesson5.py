"""Lesson 5 — log-probabilities and beam search: the exercises and their checks.

Expected values come from the references (``sequence_logprob``, ``log_probs_from_logits``,
``beam_search``) on the model the notebook uses; the named mistakes are those same computations
with one classic slip.
"""
import numpy as np

from course_utils.checking import (FunctionProblem, ValueProblem, bind_exercises, call_student,
                                   ____)  # noqa: F401

LESSON = "lesson5"
BEAM_PROMPT = "The function returns"
BEAM_SETTINGS = {"num_beams": 5, "max_new_tokens": 12, "no_repeat_ngram_size": 2}


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class SequenceLogprob(FunctionProblem):
    """``sequence_logprob_pt(model, ids, input_len)``: summed log-probs of the tokens after the prompt."""

    var = "sequence_logprob_pt"
    framework = "pt"
    public_probes = [{"text": "The function returns the value of the object.", "input_len": 3}]
    hidden_probes = [{"text": "My lord, the king is dead.", "input_len": 4},
                     {"text": "Hello world", "input_len": 1}]
    rtol, atol = 1e-4, 1e-4
    hints = ("Position t of the logits predicts token t + 1: pair `logits[0, :-1]` with `ids[1:]`.",
             "Take `log_softmax`, gather each next token's log-prob, and sum those of the tokens at "
             "positions >= input_len (that is, entries input_len - 1 onwards of the shifted array).")
    solution_code = ("def sequence_logprob_pt(model, ids, input_len):\n"
                     "    with torch.no_grad():\n"
                     "        logits = model(torch.tensor([ids])).logits[0]\n"
                     "    log_probs = torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]\n"
                     "    return float(log_probs[input_len - 1:].sum())")

    def run_probe(self, function, spec):
        ids = self.ctx.tokenizer.encode(spec["text"])
        return call_student(function, self.ctx.model("pt"), ids, spec["input_len"])

    def _token_log_probs(self, spec):
        ids = self.ctx.tokenizer.encode(spec["text"])
        ref = self.ctx.ref("pt")
        rows = np.stack([np.asarray(ref.next_token_logits(self.ctx.model("pt"), ids[:n + 1]), np.float64)
                         for n in range(len(ids))])
        return ids, _log_softmax(rows)

    def expected(self, spec):
        ids = self.ctx.tokenizer.encode(spec["text"])
        return self.ctx.ref("pt").sequence_logprob(self.ctx.model("pt"), ids, spec["input_len"])

    def wrong_variants(self, spec):
        ids, log_probs = self._token_log_probs(spec)
        shifted = log_probs[np.arange(len(ids) - 1), ids[1:]]
        unshifted = log_probs[np.arange(len(ids)), ids]
        start = max(spec["input_len"], 1) - 1
        return {"That is a probability (a product of probabilities), not a sum of log-probabilities; "
                "products underflow for long texts.": float(np.exp(shifted[start:].sum())),
                "Your sum includes the prompt's tokens: count only positions >= input_len.":
                    float(shifted.sum()),
                "The log-probs are read at the wrong positions: logits at t score token t + 1.":
                    float(unshifted[spec["input_len"]:].sum())}

    def describe_probe(self, spec):
        return f"{spec['text']!r} with input_len={spec['input_len']}"


class LogProbsTensorFlow(FunctionProblem):
    """``log_probs_from_logits_tf(logits, labels)``: log softmax(logits) at the labels, in TensorFlow."""

    var = "log_probs_from_logits_tf"
    framework = "tf"
    public_probes = [{"text": "To be, or not to be"}]
    hidden_probes = [{"text": "The default value is a string."}]
    rtol, atol = 1e-4, 1e-4
    hints = ("`tf.nn.log_softmax(logits, axis=-1)`, then pick each label's entry.",
             "`tf.gather(log_probs, labels, batch_dims=1)` on [seq, vocab] and [seq] picks one entry per row.")
    solution_code = ("def log_probs_from_logits_tf(logits, labels):\n"
                     "    log_probs = tf.nn.log_softmax(logits, axis=-1)\n"
                     "    return tf.gather(log_probs, labels, batch_dims=1)")

    def _logits_labels(self, spec):
        import tensorflow as tf

        ids = self.ctx.tokenizer.encode(spec["text"])
        logits = self.ctx.model("tf")(tf.constant([ids])).logits[0, :-1]      # [seq - 1, vocab]
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
        log_probs = _log_softmax(logits)
        return {"Those are probabilities; take the log (log_softmax) of them.":
                    np.exp(log_probs[rows, labels]).tolist(),
                "Those are raw logits at the labels; normalise with log_softmax first.":
                    logits[rows, labels].tolist()}


class BeamIds(ValueProblem):
    var = "beam_ids"
    hints = (f"`model.generate(input_ids, num_beams={BEAM_SETTINGS['num_beams']}, do_sample=False, "
             f"max_new_tokens={BEAM_SETTINGS['max_new_tokens']}, no_repeat_ngram_size="
             f"{BEAM_SETTINGS['no_repeat_ngram_size']})` for the prompt {BEAM_PROMPT!r}.",
             "Keep the whole sequence (prompt included) as a list of ids: `output[0].tolist()`.")
    solution_code = ("beam_ids = model.generate(tokenizer(prompt, return_tensors='pt').input_ids, num_beams=5,\n"
                     "                          do_sample=False, max_new_tokens=12, no_repeat_ngram_size=2)[0].tolist()")

    def _beam(self, **overrides):
        settings = {**BEAM_SETTINGS, **overrides}
        ids = self.ctx.tokenizer.encode(BEAM_PROMPT)
        best, _ = self.ctx.ref().beam_search(self.ctx.model(), ids, eos_token_id=self.ctx.tokenizer.eos_token_id,
                                             **settings)
        return best

    def expected(self):
        return self._beam()

    def wrong_variants(self):
        right = self.expected()
        ids = self.ctx.tokenizer.encode(BEAM_PROMPT)
        greedy = self.ctx.ref().greedy_search(self.ctx.model(), ids, BEAM_SETTINGS["max_new_tokens"],
                                              stop_token_ids=[self.ctx.tokenizer.eos_token_id])
        variants = {"That is the greedy continuation: ask for num_beams=5.": greedy,
                    "Repeated bigrams are allowed in your run: set no_repeat_ngram_size=2.":
                        self._beam(no_repeat_ngram_size=0),
                    "no_repeat_ngram_size is off by one: it should be 2 (no bigram twice).":
                        self._beam(no_repeat_ngram_size=3),
                    "Those are only the new tokens: keep the prompt's ids at the front.": right[len(ids):]}
        return {message: value for message, value in variants.items() if value != right}


qvars = bind_exercises(globals(), LESSON, [SequenceLogprob, LogProbsTensorFlow, BeamIds])
__all__ = qvars + ["____"]
