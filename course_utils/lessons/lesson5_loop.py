"""Lesson 5's sampling loop (q5), bound by ``lesson5``: the exercise, judged by invariants, and the
figure of an Incorrect verdict: where the tokens the loop drew sit in the model's ranking (the
likeliest token, the 2nd, ... the long tail), next to where sampling from the model puts them.

Two slips pass every invariant of form and seeding, and are told apart by the draws themselves:

* re-seeding at every step (``tf.random.set_seed(seed)`` inside the loop): TensorFlow's CPU sampler
  turns one uniform number ``u`` into a token by walking the cumulative probabilities in id order,
  and a fresh seed gives the same ``u`` at every step, so every drawn token's cumulative interval
  ``[F(v-1), F(v))`` holds that one ``u``. Independent draws almost never line up like that.
* drawing from the first position's logits (``[:, 0, :]``) instead of the last one's.
"""
import functools

import numpy as np

from course_utils.checking import FunctionProblem, call_student
from course_utils.checking.figures import paired_bars, with_figure
from course_utils.checking.numeric import log_softmax, softmax
from course_utils.checking.reference_cache import forward_logits

LOOP_SEEDS = (1, 2, 3, 4)
UNLIKELY = -9.0     # mean log-probability per drawn token below which the draws ignore the model
SAME_U_TOLERANCE = 1e-4   # float32 sums in TF's sampler vs float64 here: intervals may miss by this
SAME_U_CHANCE = 1e-3      # below this chance for independent draws to line up, the loop re-seeded
FIRST_POSITION_MARGIN = 10.0   # log-likelihood ratio (first position vs last) that names the slip
# The figure's bins of ranks (1 = the model's likeliest token at that step; None: to the end).
RANKS = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 20), (21, 100), (101, None))
RANK_LABELS = ["1st", "2nd", "3rd", "4th-5th", "6th-20th", "21st-100th", "below 100th"]




@functools.lru_cache(maxsize=2 * len(LOOP_SEEDS) + 2)
def run_logits(model, ids: tuple) -> np.ndarray:
    """The model's logits along one of the student's runs: (len(ids), vocab). A run is no reference
    probe: a few are kept while one answer is judged, not 1,024 per worker (``forward_logits``)."""
    return forward_logits.__wrapped__(model, "tf", ids)


# -- q5: the sampling loop ------------------------------------------------------------------------
class SampleLoopTensorFlow(FunctionProblem):
    """``sample_loop_tf(model, input_ids, max_new_tokens, seed)``: lesson 4's loop, with draws.

    Judged by invariants: the form of the ids, the stopping rule, the seed deciding the text, and the
    drawn tokens being likely under the model (a loop that samples from probabilities, or ignores the
    model, draws tokens of almost no probability).
    """

    id = "lesson5.q5"
    var = "sample_loop_tf"
    framework = "tf"
    public_probes = [{"prompt": "In the future", "max_new_tokens": 8}]
    hidden_probes = [{"prompt": "The function returns", "max_new_tokens": 6}]
    hints = ("Lesson 4's greedy loop picks the argmax of the last position's logits. Keep the loop; "
             "only the pick changes: a *draw* from those logits. And the seed must decide the whole "
             "text, not each token on its own.",
             "Seed TensorFlow once, before the loop (seeding inside it restarts the random sequence at "
             "every step: every token is then drawn with the same random number). In each step: the "
             "model on a batch of one, the logits of the last position with their batch axis, one draw "
             "with `tf.random.categorical` (it wants logits, not probabilities), append, stop after a '.'.",
             "```\n<seed TensorFlow with `seed`>\nids = list(input_ids)\nfor _ in range(max_new_tokens):\n"
             "    logits = ...                 # [1, vocab_size]: the last position\n"
             "    next_id = ...                # one draw, as a Python int\n"
             "    ids.append(next_id)\n    if next_id == period_id:\n        break\nreturn ids\n```")

    def prompt(self, spec) -> list[int]:
        return self.ctx.tokenizer.encode(spec["prompt"])

    def run_probe(self, function, spec):
        model, n = self.ctx.model("tf"), spec["max_new_tokens"]
        first = call_student(function, model, self.prompt(spec), n, LOOP_SEEDS[0])
        if first is None:
            return None
        runs = [first] + [call_student(function, model, self.prompt(spec), n, seed) for seed in LOOP_SEEDS[1:]]
        return {"runs": runs, "again": call_student(function, model, self.prompt(spec), n, LOOP_SEEDS[0])}

    def step_probs(self, ids, prompt_len) -> np.ndarray:
        """The model's next-token distribution before each new token of ``ids``: (new tokens, vocab)."""
        logits = np.asarray(run_logits(self.ctx.model("tf"), tuple(ids)), np.float64)
        return softmax(logits[prompt_len - 1:-1])

    def log_probs(self, ids, prompt_len) -> np.ndarray:
        """Log-probability of each new token of ``ids`` under the model, given the tokens before it."""
        logits = np.asarray(run_logits(self.ctx.model("tf"), tuple(ids)), np.float64)
        return log_softmax(logits[:-1])[np.arange(len(ids) - 1), ids[1:]][prompt_len - 1:]

    def recorded_gap(self, payload):
        """Before any forward pass (the grader calls this first): each answer holds the runs the probe
        makes, ``len(LOOP_SEEDS)`` and a repeat, no more (a forged record's thousand runs cost nothing)."""
        gap = super().recorded_gap(payload)
        for probe in (payload.get("probes") or []) if gap is None else []:
            answer = probe.get("answer")
            if isinstance(answer, dict) and (set(answer) != {"runs", "again"} or not isinstance(answer["runs"], list)
                                             or len(answer["runs"]) != len(LOOP_SEEDS)):
                return (f"holds {len(answer.get('runs') or [])} runs and the keys {sorted(answer)[:5]}, where "
                        f"the test records {len(LOOP_SEEDS)} runs and a repeat")
        return gap

    def judge_probe(self, spec, answer):
        prompt = self.prompt(spec)
        return self.form_problem(spec, answer, prompt) or self.drawing_problem(answer, prompt)

    def form_problem(self, spec, answer, prompt) -> str | None:
        """What is wrong with the runs' form (ids, prompt, budget, stop at '.'), or None."""
        n, period, vocab_size = spec["max_new_tokens"], self.ctx.tokenizer.encode(".")[0], len(self.ctx.tokenizer)
        if not isinstance(answer, dict) or not all(isinstance(run, list) for run in answer.get("runs", [None])):
            return "`sample_loop_tf` should return a list of ids: the prompt's, then the new ones"
        for run in answer["runs"]:
            if not all(type(i) is int and 0 <= i < vocab_size for i in run):
                return "`sample_loop_tf` should return a list of token ids (ints in the vocabulary)"
            if run[:len(prompt)] != prompt:
                return "the list should start with the prompt's ids, then the new ones"
            new = run[len(prompt):]
            if len(new) > n:
                return f"it wrote {len(new)} new tokens; the budget is `max_new_tokens` = {n}"
            if period in new[:-1]:
                return "the loop runs past '.': stop once the new token is the period"
            if len(new) < n and (not new or new[-1] != period):
                return "the loop stopped before the budget ran out without a '.' to stop at"
        return None

    def drawing_problem(self, answer, prompt) -> str | None:
        """What is wrong with how the tokens were drawn (seeding, position, logits), or None."""
        if answer.get("again") != answer["runs"][0]:
            return ("the same seed gave two different texts: call `tf.random.set_seed(seed)` once, "
                    "before the loop")
        if all(run == answer["runs"][0] for run in answer["runs"]):
            return (f"{len(LOOP_SEEDS)} different seeds wrote the same text: that is greedy decoding (or "
                    "the seed is ignored); draw each token with `tf.random.categorical`")
        if self.same_random_number(answer["runs"], prompt):
            return ("every token of each text was drawn with the same random number: the loop calls "
                    "`tf.random.set_seed(seed)` at every step, which restarts TensorFlow's random sequence, "
                    "so the draws are not independent (a likely token at one step drags the next draws "
                    "to the same spot of the distribution). Seed once, before the loop")
        if self.from_first_position(answer["runs"], prompt):
            return ("the tokens follow the distribution after the prompt's *first* token, not after the "
                    "whole text: take the logits of the last position, `[:, -1, :]`")
        drawn = np.concatenate([self.log_probs(run, len(prompt)) for run in answer["runs"]])
        if drawn.size and drawn.mean() < UNLIKELY:
            return (f"the tokens your loop drew are very unlikely under the model (average log-probability "
                    f"{drawn.mean():.1f}, about 1 chance in {np.exp(-drawn.mean()):,.0f}): draw from the "
                    "logits of the last position as they are; given probabilities, "
                    "`tf.random.categorical` draws almost uniformly")
        return None

    def same_random_number(self, runs, prompt) -> bool:
        """Whether, in every run, one number ``u`` lies in the cumulative interval of every drawn
        token (what re-seeding at each step gives), when independent draws would line up so only
        with a chance below ``SAME_U_CHANCE``. The chance is the product, step by step, of the
        probability that the next token's interval still meets the intervals so far."""
        chance, runs_checked = 1.0, 0
        for run in runs:
            probs = self.step_probs(run, len(prompt))
            low, high = 0.0, 1.0
            for step, (row, token) in enumerate(zip(probs, run[len(prompt):])):
                ends = np.cumsum(row)
                starts = ends - row
                if step:   # the mass of the tokens whose interval meets [low, high]
                    meets = (ends > low - SAME_U_TOLERANCE) & (starts < high + SAME_U_TOLERANCE)
                    chance *= row[meets].sum()
                low, high = max(low, starts[token]), min(high, ends[token])
                if low > high + SAME_U_TOLERANCE:
                    return False
            runs_checked += len(run) - len(prompt) > 1
        return runs_checked > 0 and chance < SAME_U_CHANCE

    def from_first_position(self, runs, prompt) -> bool:
        """Whether the drawn tokens are far likelier under the distribution after the prompt's first
        token (the same at every step) than under the model's distribution at each step."""
        first = np.log(np.maximum(self.step_probs(prompt[:1] + [0], 1)[0], 1e-300))
        ratio = 0.0
        for run in runs:
            new = run[len(prompt):]
            ratio += first[new].sum() - self.log_probs(run, len(prompt)).sum()
        return ratio > FIRST_POSITION_MARGIN

    def judge(self, payload):
        return with_figure(super().judge(payload), lambda: self.figure(payload))

    def rank_shares(self, runs, prompt) -> tuple[np.ndarray, np.ndarray] | None:
        """(reference, yours) over ``RANKS``: the share of the drawn tokens that were the model's
        likeliest, 2nd likeliest, ... at their step, for the draws of ``runs`` (yours) and for draws
        from the model's distributions at the same steps (the reference, exact). None without a
        readable run."""
        vocab_size = len(self.ctx.tokenizer)
        reference, yours, steps = np.zeros(len(RANKS)), np.zeros(len(RANKS)), 0
        for run in runs:
            if (not isinstance(run, list) or run[:len(prompt)] != prompt or len(run) == len(prompt)
                    or not all(type(i) is int and 0 <= i < vocab_size for i in run)):
                continue
            probs = self.step_probs(run, len(prompt))
            ordered = -np.sort(-probs, axis=-1)
            for row, sorted_row, token in zip(probs, ordered, run[len(prompt):]):
                rank = int(np.sum(row > row[token])) + 1
                for b, (low, high) in enumerate(RANKS):
                    reference[b] += sorted_row[low - 1:high].sum()
                    yours[b] += low <= rank <= (high or vocab_size)
                steps += 1
        return (reference / steps, yours / steps) if steps else None

    def figure(self, payload):
        """Where the tokens the student's loop drew sit in the model's ranking, next to where
        sampling from the model's distributions puts them."""
        for probe in payload.get("probes") or []:
            answer, spec = probe.get("answer"), probe["spec"]
            if probe.get("hidden") or not isinstance(answer, dict) or not isinstance(answer.get("runs"), list):
                continue
            # At most the budget of new tokens per run: a run far too long costs no long forward pass.
            end = len(self.prompt(spec)) + spec["max_new_tokens"]
            runs = [run[:end] if isinstance(run, list) else run for run in answer["runs"]]
            shares = self.rank_shares(runs, self.prompt(spec))
            if shares is None:
                continue
            title = f"After {spec['prompt']!r}: ranks of the drawn tokens, yours vs sampling from the model"
            return paired_bars(RANK_LABELS, *shares, title, ylabel="share of the drawn tokens",
                               xlabel="the drawn token's rank under the model at its step")
        return None

    def describe_probe(self, spec):
        return f"prompt {spec['prompt']!r} with max_new_tokens={spec['max_new_tokens']}"
