"""Lesson 6 — log-probabilities and beam search: the exercises and their checks.

Expected values come from the references (``log_probs_from_logits``, ``sequence_logprob``,
``beam_search``, ``greedy_search``) on the model the notebook uses; the named mistakes are those
same computations with one classic slip. Declared elsewhere, bound here: the log-probability
exercises (q1, q2) in ``lesson6_logprobs``; the search space, the toy tree and the cost of beams
(q3, q4, q10, q11) in ``lesson6_search``; the n-gram ban and the length penalty (q7, q9) in
``lesson6_generate``. The beam-step helpers and the toy tree live in ``beam_steps``.
"""
import numpy as np

from course_utils.checking import FunctionProblem, ValueProblem, bind_exercises, call_student, mistake, ____  # noqa: F401
from course_utils.checking import compare
from course_utils.checking.student_code import StudentCodeError
from course_utils.checking.reference_cache import reference_result
from course_utils.lessons.beam_steps import beam_history, candidate_step, draw_beam_tree, reference_beam_step
from course_utils.lessons.lesson6_logprobs import LogProbsTensorFlow, SequenceLogprob
from course_utils.lessons.lesson6_generate import BannedTokens, RankingScore
from course_utils.lessons.lesson6_search import (COST_BEAMS, COST_SETTINGS, SEARCH_BEAMS, SEARCH_T, TIME_CHOICES,
                                                 TOY_TREE, CacheRatio, SearchSpaceDigits, TimeGrowth, ToyTree,
                                                 cache_bytes)

BEAM_PROMPT = "The function returns"
BEAM_SETTINGS = {"num_beams": 5, "max_new_tokens": 12, "no_repeat_ngram_size": 2}


# -- q5: one step of beam search (PyTorch) --------------------------------------------------------
class BeamStep(FunctionProblem):
    """``beam_step(model, beams, scores, num_beams)`` -> ``(new_beams, new_scores)``, best first."""

    id = "lesson6.q5"
    var = "beam_step"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = (
        "course_utils.lessons.beam_steps.reference_beam_step",
        "course_utils.lessons.beam_steps.candidate_step",
    )
    framework = "pt"
    # The probe that starts from several beams comes first: it is the one that tells most slips apart
    # (from the prompt alone, with a score of 0, several of them give the right answer).
    public_probes = [{"prompt": "In the future", "width": 3, "num_beams": 3},
                     {"prompt": "The function returns", "width": 1, "num_beams": 3}]
    hidden_probes = [{"prompt": "My lord, the king", "width": 2, "num_beams": 4},
                     {"prompt": "A list is", "width": 4, "num_beams": 2}]
    rtol, atol = 1e-4, 1e-3
    hints = ("Every (beam, token) pair is a candidate whose score is the beam's score plus the "
             "token's log-probability; keep the best `num_beams` candidates of *all* of them, not "
             "the best of each beam.",
             "Run the model on all beams at once and log-softmax the last position: a [len(beams), "
             "vocab_size] table of log P(token | beam). Add each beam's score to its row. Then rank "
             "the table as one long list (flatten it): a flat index says both which row (beam) and "
             "which column (token) the candidate came from; integer division and remainder by the "
             "row length undo the flattening.",
             "```\nwith torch.no_grad():\n    logits = model(torch.tensor(beams)).logits[:, -1]   "
             "# [len(beams), vocab_size]\ntable = ...      # every candidate's score, same shape\nbest "
             "= ...       # the num_beams best entries of the WHOLE table, best first\nfor score, "
             "index in best:\n    beam, token = ...   # the row and column of a flat index\n    ...  "
             "            # new beam: beams[beam] + [token]\n```")

    def run_probe(self, function, spec):
        beams, scores = self.inputs(spec)
        try:
            result = call_student(function, self.ctx.model("pt"), [list(b) for b in beams], list(scores),
                                  spec["num_beams"])
        except StudentCodeError as error:
            if isinstance(error.error, IndexError):
                return {"index_error": error.describe()}
            raise
        if result is None:
            return None
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return {"not_a_pair": True}
        return list(result)

    def inputs(self, spec):
        """The beams going into the step: the prompt alone, or the prompt + each of its top tokens."""
        model, ids = self.ctx.model("pt"), self.ctx.tokenizer.encode(spec["prompt"])
        if spec["width"] == 1:
            return [ids], [0.0]
        return reference_beam_step(model, [ids], [0.0], spec["width"])

    def expected(self, spec):
        beams, scores = self.inputs(spec)
        return tuple(reference_beam_step(self.ctx.model("pt"), beams, scores, spec["num_beams"]))

    def wrong_form(self, answer, spec):
        if isinstance(answer, dict) and "index_error" in answer:
            return (f"your function raised {answer['index_error']}. A flat index of the [len(beams), "
                    "vocab_size] table is `row * vocab_size + column`: the beam is `index // vocab_size` "
                    "and the token `index % vocab_size` (swapped, the beam number runs past the beams).")
        if not isinstance(answer, list) or len(answer) != 2:
            return "`beam_step` should return a pair `(new_beams, new_scores)`"
        return None

    def slip(self, spec, combine, start=None):
        """The step with a slip: ``combine(scores, log_probs)`` builds the table (default: the beams'
        scores plus the log-probs); ``start`` limits the candidates to the first beam."""
        model, (beams, scores) = self.ctx.model("pt"), self.inputs(spec)
        return candidate_step(model, beams[:start], scores[:start], spec["num_beams"], combine)

    @mistake("You added probabilities to the beams' scores; the scores are sums of log-probabilities: add "
             "log-softmax, not softmax.")
    def added_probabilities(self, spec):
        return self.slip(spec, lambda scores, log_probs: scores[:, None] + np.exp(log_probs))

    @mistake("You multiplied the beam's score by the log-probability; log-probabilities of a product add up.")
    def multiplied_logs(self, spec):
        if not any(self.inputs(spec)[1]):
            return None                  # from the prompt (score 0) every product is 0: no order
        return self.slip(spec, lambda scores, log_probs: scores[:, None] * log_probs)

    @mistake("All your new beams extend the first beam: `topk` on the 2-D table works row by row. Rank "
             "the flattened table, every (beam, token) pair together.")
    def first_row_only(self, spec):
        return self.slip(spec, None, start=1)

    @mistake("You kept only the best token of each beam; the best extensions may all come from one "
             "beam: rank every (beam, token) pair together.")
    def best_per_beam(self, spec):
        model, (beams, scores) = self.ctx.model("pt"), self.inputs(spec)
        per_beam = [reference_beam_step(model, [b], [s], 1) for b, s in zip(beams, scores)]
        pairs = sorted(((s[0], b[0]) for b, s in per_beam), key=lambda pair: -pair[0])[:spec["num_beams"]]
        return [b for _, b in pairs], [s for s, _ in pairs]

    @mistake("The beams' scores so far were not added: a candidate's score is its beam's score plus "
             "the new token's log-prob.")
    def scores_not_added(self, spec):
        beams, _ = self.inputs(spec)
        return tuple(reference_beam_step(self.ctx.model("pt"), beams, [0.0] * len(beams), spec["num_beams"]))

    def diagnose(self, answer, expected, spec):
        (beams, scores), (right_beams, right_scores) = answer, expected
        if not isinstance(beams, list) or len(beams) != len(right_beams):
            count = str(len(beams)) if isinstance(beams, list) else type(beams).__name__
            return f"expected {len(right_beams)} new beams (num_beams), got {count}"
        if beams != right_beams:
            if sorted_beams(beams) == sorted_beams(right_beams):
                return "the right beams, in the wrong order: return them best first (highest score first)"
            return "the new beams are not the best extensions: " + (
                compare.mismatch(beams, right_beams) or "check the ids")
        if compare.same(scores, np.exp(right_scores).tolist(), self.rtol, 1e-9):
            return ("the right beams, but the scores are probabilities: keep summed log-probabilities "
                    "(products of probabilities underflow)")
        return "the right beams, but `new_scores` " + compare.mismatch(scores, right_scores, self.rtol, self.atol)

    def describe_probe(self, spec):
        start = "the prompt alone" if spec["width"] == 1 else f"its {spec['width']} best one-token extensions"
        return f"the prompt {spec['prompt']!r} ({start}) and num_beams={spec['num_beams']}"


def sorted_beams(beams):
    try:
        return sorted(tuple(b) for b in beams)
    except TypeError:
        return None


# -- q6: the whole search (PyTorch) -----------------------------------------------------------------
class BeamSearch(FunctionProblem):
    """``beam_search_pt(model, input_ids, num_beams, max_new_tokens)`` -> the best beam's ids."""

    id = "lesson6.q6"
    var = "beam_search_pt"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = (
        "course_utils.lessons.beam_steps.beam_history",
        "course_utils.lessons.beam_steps.reference_beam_step",
        "course_utils.lessons.beam_steps.candidate_step",
        "transformers.generation.utils.GenerationMixin.generate",
    )
    framework = "pt"
    public_probes = [{"prompt": "The function returns", "num_beams": 3, "max_new_tokens": 5}]
    hidden_probes = [{"prompt": "My lord, the king", "num_beams": 4, "max_new_tokens": 6},
                     {"prompt": "In the future", "num_beams": 2, "max_new_tokens": 3}]
    hints = ('Beam search is your `beam_step` applied again and again, starting from a single '
             'beam: the prompt.',
             'Start with one beam, `list(input_ids)`, scored 0.0 (log-probability of nothing yet); '
             'call `beam_step` `max_new_tokens` times, each time on the beams and scores it '
             'returned; the beams come best first.',
             '```\nbeams, scores = [list(input_ids)], [0.0]\nfor _ in range(max_new_tokens):\n    '
             'beams, scores = ...\nreturn beams[...]\n```')

    def ids(self, spec):
        return self.ctx.tokenizer.encode(spec["prompt"])

    def run_probe(self, function, spec):
        result = call_student(function, self.ctx.model("pt"), self.ids(spec), spec["num_beams"],
                              spec["max_new_tokens"])
        if isinstance(result, tuple) and len(result) == 2 and not isinstance(result[1], (list, tuple)):
            result = result[0]             # (ids, score), as the reference returns: take the ids
        return result

    def expected(self, spec):
        best, _ = reference_result(self.ctx.model("pt"), "pt", "beam_search", tuple(self.ids(spec)),
                                   spec["num_beams"], spec["max_new_tokens"])
        return list(best)

    def normalise(self, answer):
        if isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list):
            return answer[0]               # a [1, seq_len] tensor is fine
        return answer

    def history(self, spec):
        return beam_history(self.ctx.model("pt"), self.ids(spec), spec["num_beams"], spec["max_new_tokens"])

    @mistake("That is the greedy continuation: keep num_beams candidates at every step.")
    def greedy(self, spec):
        return list(reference_result(self.ctx.model("pt"), "pt", "greedy_search", tuple(self.ids(spec)),
                                 spec["max_new_tokens"]))

    @mistake("That is the *last* beam; the beams come best first, return the first.")
    def last_beam(self, spec):
        return self.history(spec)[-1][0][-1]

    @mistake("Those are only the new tokens: return the prompt's ids followed by them.")
    def only_new(self, spec):
        return self.expected(spec)[len(self.ids(spec)):]

    @mistake("One step too few: run max_new_tokens steps.")
    def one_step_short(self, spec):
        return self.history(spec)[-2][0][0]

    def describe_probe(self, spec):
        return ", ".join(f"{k}={v!r}" for k, v in spec.items())


# -- q8: generate() with beams -------------------------------------------------------------------------
class BeamIds(ValueProblem):
    id = "lesson6.q8"
    var = "beam_ids"
    framework = "pt"
    hints = ('`model.generate` runs beam search when `num_beams > 1` and `do_sample=False`; the '
             'settings are printed above (`BEAM_SETTINGS`).',
             'Tokenize `BEAM_PROMPT` with `return_tensors="pt"` (the attention mask comes with '
             'it), pass the ids and the settings one by one, and keep the whole first sequence, '
             'prompt included, as a list of ints.',
             '```\nbeam_input = tokenizer(BEAM_PROMPT, return_tensors="pt")\noutput = '
             'model.generate(**beam_input, ...,   # the four settings, one by one\n'
             '                        pad_token_id=tokenizer.eos_token_id)\nbeam_ids = ...       '
             '# the first sequence, prompt included, as a list of ints\n```')

    def prompt(self):
        return tuple(self.ctx.tokenizer.encode(BEAM_PROMPT))

    def beam(self, **overrides):
        best, _ = reference_result(self.ctx.model("pt"), "pt", "beam_search", self.prompt(),
                                   eos_token_id=self.ctx.tokenizer.eos_token_id, **{**BEAM_SETTINGS, **overrides})
        return list(best)

    def expected(self):
        return self.beam()

    def normalise(self, answer):
        if isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list):
            return answer[0]               # the [1, seq_len] output of generate() is fine
        return answer

    @mistake("That is the greedy continuation: ask for num_beams=5.")
    def greedy(self):
        return list(reference_result(self.ctx.model("pt"), "pt", "greedy_search", self.prompt(), BEAM_SETTINGS["max_new_tokens"],
                                 stop_token_ids=(self.ctx.tokenizer.eos_token_id,)))

    @mistake("Repeated bigrams are allowed in your run: set no_repeat_ngram_size=2.")
    def repeats_allowed(self):
        return self.beam(no_repeat_ngram_size=0)

    @mistake("no_repeat_ngram_size is off by one: it should be 2 (no bigram twice).")
    def trigrams(self):
        return self.beam(no_repeat_ngram_size=3)

    @mistake("Those are only the new tokens: keep the prompt's ids at the front.")
    def only_new(self):
        return self.expected()[len(self.prompt()):]


qvars = bind_exercises(globals(), [LogProbsTensorFlow, SequenceLogprob, SearchSpaceDigits, ToyTree, BeamStep,
                                   BeamSearch, BannedTokens, BeamIds, RankingScore, CacheRatio, TimeGrowth])
__all__ = qvars + ["____", "BEAM_PROMPT", "BEAM_SETTINGS", "beam_history", "draw_beam_tree",
                   "reference_beam_step", "SEARCH_T", "SEARCH_BEAMS", "TOY_TREE", "COST_BEAMS", "COST_SETTINGS",
                   "TIME_CHOICES", "cache_bytes"]
