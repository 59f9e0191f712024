"""Lesson 6, log-probabilities: the exercises q1 (TensorFlow) and q2 (PyTorch), bound by ``lesson6``.

Expected values come from the references ``log_probs_from_logits`` and ``sequence_logprob`` on the
model the notebook uses; the named mistakes are the same computations with one classic slip.
"""
import numpy as np

from course_utils.checking import FunctionProblem, call_student, mistake
from course_utils.checking.numeric import log_softmax
from course_utils.checking.reference_cache import forward_logits, reference_result


# -- q1: log-probs from logits (TensorFlow) -----------------------------------------------------
class LogProbsTensorFlow(FunctionProblem):
    """``log_probs_from_logits_tf(logits, labels)``: log softmax(logits) at the labels, in TensorFlow."""

    id = "lesson6.q1"
    var = "log_probs_from_logits_tf"
    framework = "tf"
    public_probes = [{"text": "To be, or not to be"}]
    hidden_probes = [{"text": "The default value is a string."}]
    rtol, atol = 1e-4, 1e-4
    hints = ('Log-softmax normalises every row of the logits; then each row gives one number, its '
             "label's entry.",
             '`tf.nn.log_softmax(logits, axis=-1)` gives the [seq_len, vocab_size] '
             'log-probabilities; picking entry `labels[t]` of row `t` is a gather with one index '
             'per row (`batch_dims=1`).',
             '```\nlog_probs = ...   # [seq_len, vocab_size]: every row normalised over the vocabulary\n'
             'return ...        # [seq_len]: from row t, the entry at labels[t] (one gather, no loop)\n```')

    def logits_labels(self, spec):
        """``(logits[:-1], ids[1:])`` as numpy: shapes (seq_len - 1, vocab_size) and (seq_len - 1,)."""
        ids = self.ctx.tokenizer.encode(spec["text"])
        return forward_logits(self.ctx.model("tf"), "tf", tuple(ids))[:-1], np.asarray(ids[1:])

    def run_probe(self, function, spec):
        import tensorflow as tf

        logits, labels = self.logits_labels(spec)
        return call_student(function, tf.constant(logits), tf.constant(labels, dtype=tf.int32))

    def expected(self, spec):
        import tensorflow as tf

        logits, labels = self.logits_labels(spec)
        log_probs = self.ctx.ref("tf").log_probs_from_logits(tf.constant(logits), tf.constant(labels, dtype=tf.int32))
        return np.asarray(log_probs, np.float64).tolist()

    def log_probs(self, spec):
        logits, labels = self.logits_labels(spec)
        return log_softmax(logits.astype(np.float64)), np.arange(len(labels)), labels

    @mistake("Those are probabilities; take their log (use log_softmax).")
    def probabilities(self, spec):
        log_probs, rows, labels = self.log_probs(spec)
        return np.exp(log_probs[rows, labels]).tolist()

    @mistake("Those are raw logits at the labels; normalise them with log_softmax first.")
    def raw_logits(self, spec):
        logits, labels = self.logits_labels(spec)
        return logits.astype(np.float64)[np.arange(len(labels)), labels].tolist()

    @mistake("log_softmax ran over the sequence axis; normalise over the vocabulary (axis=-1).")
    def sequence_axis(self, spec):
        logits, labels = self.logits_labels(spec)
        return log_softmax(logits.astype(np.float64).T).T[np.arange(len(labels)), labels].tolist()

    @mistake("Those are log-probabilities, but of the most likely token in each row, not of the labels.")
    def most_likely(self, spec):
        return self.log_probs(spec)[0].max(axis=-1).tolist()

    def describe_probe(self, spec):
        return f"the text {spec['text']!r}"


# -- q2: the log-probability of a sequence (PyTorch) ----------------------------------------------
class SequenceLogprob(FunctionProblem):
    """``sequence_logprob_pt(model, ids, input_len)``: summed log-probs of the tokens after the prompt."""

    id = "lesson6.q2"
    var = "sequence_logprob_pt"
    framework = "pt"
    public_probes = [{"text": "The function returns the value of the object.", "input_len": 3}]
    hidden_probes = [{"text": "My lord, the king is dead.", "input_len": 4},
                     {"text": "Hello world, hello again", "input_len": 1}]
    rtol, atol = 1e-4, 1e-3
    hints = ('Position t of the logits predicts token t + 1: pair the logits without their last '
             'row with the ids without their first.',
             'Run the model (in `torch.no_grad()`), take `torch.log_softmax` over the vocabulary '
             "and `.gather` each row's next token; entry j scores token j + 1, so the first token "
             'after the prompt (position `input_len`) is entry `input_len - 1`. Sum from there and '
             'return a float.',
             '```\nwith torch.no_grad():\n    logits = '
             'model(torch.tensor([ids])).logits[0]     # [seq_len, vocab_size]\nlabels = '
             'torch.tensor(ids[1:])\ntoken_log_probs = ...   # entry j: log P(ids[j + 1] | ids[:j + 1])'
             '\nreturn float(...)        # summed from the first generated token on\n```')

    def run_probe(self, function, spec):
        ids = self.ctx.tokenizer.encode(spec["text"])
        return call_student(function, self.ctx.model("pt"), ids, spec["input_len"])

    def expected(self, spec):
        ids = tuple(self.ctx.tokenizer.encode(spec["text"]))
        return reference_result(self.ctx.model("pt"), "pt", "sequence_logprob", ids, spec["input_len"])

    def token_log_probs(self, spec):
        """(shifted, unshifted): entry j of shifted scores token j + 1; entry t of unshifted
        "scores" token t with the logits of position t (the classic slip)."""
        ids = self.ctx.tokenizer.encode(spec["text"])
        log_probs = log_softmax(forward_logits(self.ctx.model("pt"), "pt", tuple(ids)).astype(np.float64))
        return log_probs[np.arange(len(ids) - 1), ids[1:]], log_probs[np.arange(len(ids)), ids]

    @mistake("That is a probability (a product of probabilities), not a sum of log-probabilities; "
             "products underflow for long texts.")
    def product(self, spec):
        return float(np.exp(self.token_log_probs(spec)[0][max(spec["input_len"], 1) - 1:].sum()))

    @mistake("You added probabilities; a sequence's probability multiplies them, so its logarithm adds "
             "their log-probabilities.")
    def added_probabilities(self, spec):
        return float(np.exp(self.token_log_probs(spec)[0][max(spec["input_len"], 1) - 1:]).sum())

    @mistake("You multiplied log-probabilities; the logarithm of a product is the sum of the logarithms.")
    def multiplied_logs(self, spec):
        return float(np.prod(self.token_log_probs(spec)[0][max(spec["input_len"], 1) - 1:]))

    @mistake("Your sum includes the prompt's tokens: count only positions >= input_len.")
    def prompt_counted(self, spec):
        return float(self.token_log_probs(spec)[0].sum())

    @mistake("The log-probs are read at the wrong positions: the logits at position t score token t + 1, "
             "so pair logits[:-1] with ids[1:].")
    def unshifted(self, spec):
        return float(self.token_log_probs(spec)[1][spec["input_len"]:].sum())

    @mistake("Your sum leaves out the first generated token: shifted entry input_len - 1 scores token "
             "input_len.")
    def first_left_out(self, spec):
        return float(self.token_log_probs(spec)[0][spec["input_len"]:].sum())

    def describe_probe(self, spec):
        return f"{spec['text']!r} with input_len={spec['input_len']}"
