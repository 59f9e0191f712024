"""Lesson 5's sampling loop (q5), bound by ``lesson5``: the exercise, judged by invariants, and the
figure of an Incorrect verdict: where the tokens the loop drew sit in the model's ranking (the
likeliest token, the 2nd, ... the long tail), next to where sampling from the model puts them.
"""
import numpy as np

from course_utils.checking import FunctionProblem, call_student
from course_utils.checking.figures import paired_bars, with_figure
from course_utils.checking.numeric import log_softmax, softmax
from course_utils.checking.reference_cache import forward_logits

LOOP_SEEDS = (1, 2, 3, 4)
UNLIKELY = -9.0     # mean log-probability per drawn token below which the draws ignore the model
# The figure's bins of ranks (1 = the model's likeliest token at that step; None: to the end).
RANKS = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 20), (21, 100), (101, None))
RANK_LABELS = ["1st", "2nd", "3rd", "4th-5th", "6th-20th", "21st-100th", "below 100th"]


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
    hints = ("Take lesson 4's greedy loop and change one line: instead of the argmax of the last "
             "position's logits, *draw* the next token from them.",
             "Seed once, with `tf.random.set_seed(seed)`, before the loop. In each step run the model on "
             "`tf.constant([ids])`, keep the last position's logits with their batch axis, shape "
             "[1, vocab_size], draw one id with `tf.random.categorical` (it wants logits), append it, and "
             "stop after a '.'.",
             "```\ntf.random.set_seed(seed)\nids = list(input_ids)\nfor _ in range(max_new_tokens):\n"
             "    logits = model(tf.constant([ids])).logits[:, -1, :]\n"
             "    next_id = int(tf.random.categorical(..., num_samples=...)[0, 0])\n"
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
        logits = np.asarray(forward_logits(self.ctx.model("tf"), "tf", tuple(ids)), np.float64)
        return softmax(logits[prompt_len - 1:-1])

    def log_probs(self, ids, prompt_len) -> np.ndarray:
        """Log-probability of each new token of ``ids`` under the model, given the tokens before it."""
        logits = np.asarray(forward_logits(self.ctx.model("tf"), "tf", tuple(ids)), np.float64)
        return log_softmax(logits[:-1])[np.arange(len(ids) - 1), ids[1:]][prompt_len - 1:]

    def judge_probe(self, spec, answer):
        prompt, n = self.prompt(spec), spec["max_new_tokens"]
        period = self.ctx.tokenizer.encode(".")[0]
        vocab_size = len(self.ctx.tokenizer)
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
        if answer.get("again") != answer["runs"][0]:
            return ("the same seed gave two different texts: call `tf.random.set_seed(seed)` once, "
                    "before the loop")
        if all(run == answer["runs"][0] for run in answer["runs"]):
            return (f"{len(LOOP_SEEDS)} different seeds wrote the same text: that is greedy decoding (or "
                    "the seed is ignored); draw each token with `tf.random.categorical`")
        drawn = np.concatenate([self.log_probs(run, len(prompt)) for run in answer["runs"]])
        if drawn.size and drawn.mean() < UNLIKELY:
            return (f"the tokens your loop drew are very unlikely under the model (average log-probability "
                    f"{drawn.mean():.1f}, about 1 chance in {np.exp(-drawn.mean()):,.0f}): draw from the "
                    "logits of the last position as they are; given probabilities, "
                    "`tf.random.categorical` draws almost uniformly")
        return None

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
