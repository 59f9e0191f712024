"""Lesson 7's last two exercises: measure variety (``distinct_n``), then choose a strategy per task
with a rule that the measured table must bear out (``choices``).

The choice is judged on ``lesson7_measure.strategy_table``, re-measured on the checker's model
(the same numbers the student's notebook printed: the same model, prompts and seed).
"""
from __future__ import annotations

from course_utils.checking import FunctionProblem, ValueProblem, call_student, mistake
from course_utils.checking.reference_cache import once_per_model
from course_utils.lessons.lesson7_measure import RULES, STRATEGIES, TASKS, distinct_n_reference, pick, strategy_table


# -- q6: distinct-n over several samples ------------------------------------------------------------------
class DistinctN(FunctionProblem):
    """``distinct_n(sequences, n)``: distinct n-grams / all n-grams, pooled over a list of id lists."""

    id = "lesson7.q6"
    var = "distinct_n"
    # What else answers it, watched and read like the references (``checking.borrowed``).
    answered_by = ("course_utils.lessons.lesson7_measure.distinct_n_reference",)
    public_probes = [{"sequences": [[1, 2, 3, 4], [1, 2]], "n": 2},
                     {"sequences": [[1, 2, 3], [3, 1, 2], [1, 2, 3]], "n": 2}]
    hidden_probes = [{"sequences": [[4, 4, 4, 4], [9, 4, 4]], "n": 3},
                     {"sequences": [[1, 2], [2, 1], [7]], "n": 1}]
    hints = ("An n-gram is n tokens in a row *inside one text*. Collect the n-grams of every sample, "
             "then ask: of all of them, what share is different from the others?",
             "Build one list of tuples, `tuple(seq[i:i + n])` for every sample and every start `i` "
             "that leaves n tokens; the answer is a ratio of two counts of that list.",
             "```python\ngrams = [tuple(seq[i:i + n]) for seq in sequences for i in range(...)]\n"
             "return ... if grams else 0.0\n```")

    def run_probe(self, function, spec):
        return call_student(function, [list(s) for s in spec["sequences"]], spec["n"])

    def expected(self, spec):
        return distinct_n_reference(spec["sequences"], spec["n"])

    def normalise(self, answer):
        return answer[0] if isinstance(answer, list) and len(answer) == 1 else answer

    @mistake("Your n-grams run across the end of one sample into the next: count n-grams inside each "
             "sample, then pool them.")
    def concatenated(self, spec):
        return distinct_n_reference([[t for s in spec["sequences"] for t in s]], spec["n"])

    @mistake("You averaged each sample's own distinct-n: that measures repeats *inside* a text. Pool the "
             "n-grams of all samples, so that two samples saying the same thing count as dull.")
    def per_sample(self, spec):
        values = [distinct_n_reference([s], spec["n"]) for s in spec["sequences"] if len(s) >= spec["n"]]
        return sum(values) / len(values) if values else 0.0

    @mistake("That is the number of distinct n-grams; distinct-n is a share: divide by the number of n-grams.")
    def count(self, spec):
        grams = {tuple(s[i:i + spec["n"]]) for s in spec["sequences"] for i in range(len(s) - spec["n"] + 1)}
        return len(grams)

    @mistake("You divided by the number of tokens; divide by the number of n-grams (n - 1 fewer per sample).")
    def over_tokens(self, spec):
        grams = {tuple(s[i:i + spec["n"]]) for s in spec["sequences"] for i in range(len(s) - spec["n"] + 1)}
        return len(grams) / sum(len(s) for s in spec["sequences"])

    @mistake("You counted single tokens whatever n is: an n-gram is n tokens in a row.")
    def unigrams(self, spec):
        return None if spec["n"] == 1 else distinct_n_reference(spec["sequences"], 1)

    def describe_probe(self, spec):
        return f"sequences={spec['sequences']}, n={spec['n']}"


# -- q7: choose a strategy per task, with a rule the numbers bear out ------------------------------------
@once_per_model
def measured(model, tokenizer) -> dict:
    return strategy_table(model, tokenizer)


# The rule each task calls for, and why the others fail it (named in the verdict).
FITTING = {"factual": "lowest perplexity", "summary": "fewest repeats under the cap",
           "story": "most distinct-2 under the cap"}
WHY_NOT = {
    ("factual", "most distinct-2"): "a short factual answer has one right output: variety across seeds is "
                                    "what it must avoid",
    ("factual", "most distinct-2 under the cap"): "a short factual answer has one right output: variety "
                                                  "across seeds is what it must avoid",
    ("factual", "fewest repeats"): "an answer of a few tokens has no room to repeat itself: every strategy "
                                   "ties on repeats, and the most likely answer is what is asked",
    ("factual", "fewest repeats under the cap"): "an answer of a few tokens has no room to repeat itself; the "
                                                 "most likely answer is what is asked",
    ("summary", "lowest perplexity"): "the likeliest continuation is the one that loops (look at its repeats): "
                                      "a summary must not repeat itself",
    ("summary", "fewest repeats"): "without the perplexity cap, junk text that never repeats can win",
    ("summary", "most distinct-2"): "variety across samples is not what a summary needs: it should stay "
                                    "close to the input and not repeat itself",
    ("summary", "most distinct-2 under the cap"): "variety across samples is not what a summary needs: it "
                                                  "should stay close to the input and not repeat itself",
    ("story", "lowest perplexity"): "the likeliest text is the dullest one (section 1): a story wants variety",
    ("story", "fewest repeats"): "a story wants variety across samples, which repeats inside one text do "
                                 "not measure",
    ("story", "fewest repeats under the cap"): "a story wants variety across samples, which repeats inside "
                                               "one text do not measure",
    ("story", "most distinct-2"): "without the perplexity cap the most varied text is the junk of a high "
                                  "temperature: its perplexity is far above the human text's",
}


class ChooseStrategies(ValueProblem):
    """``choices = {task: (strategy, rule)}`` for the three ``TASKS``; rule one of ``RULES``."""

    id = "lesson7.q7"
    var = "choices"
    points = 2
    hints = ("For each task ask what a good output looks like: one right answer? faithful and without "
             "loops? varied but still readable? Then find the column of the table that measures it.",
             "Pick, per task, one rule from `RULES`; a rule ending in 'under the cap' only looks at the "
             "strategies whose perplexity is at most twice the human text's. Then read which strategy the "
             "rule picks in *your* table (`pick(table[task], rule)` does it for you).",
             "```python\nchoices = {\n    \"factual\": (pick(table[\"factual\"], ...), ...),\n"
             "    \"summary\": (..., ...),\n    \"story\": (..., ...),\n}\n```")

    def table(self):
        return measured(self.ctx.model("pt"), self.ctx.tokenizer)

    def expected(self):
        table = self.table()
        return [f"{task} | {pick(table[task], rule)} | {rule}" for task, rule in FITTING.items()]

    def normalise(self, answer):
        """One string per task, ``"task | strategy | rule"`` in the order of TASKS (compared exactly)."""
        return [f"{task} | {answer[task][0]} | {answer[task][1]}" for task in TASKS]

    def wrong_form(self, answer):
        if not isinstance(answer, dict) or sorted(answer) != sorted(TASKS):
            return f"`choices` should be a dict with the keys {sorted(TASKS)}"
        for task, choice in answer.items():
            if not (isinstance(choice, list) and len(choice) == 2 and all(isinstance(c, str) for c in choice)):
                return f"`choices[{task!r}]` should be a pair (strategy, rule) of strings"
            if choice[0] not in STRATEGIES:
                return f"`choices[{task!r}]`: {choice[0]!r} is not one of the strategies {list(STRATEGIES)}"
            if choice[1] not in RULES:
                return f"`choices[{task!r}]`: {choice[1]!r} is not one of the rules {list(RULES)}"
        return None

    def diagnose(self, answer, expected):
        table = self.table()
        for line in answer:
            task, strategy, rule = line.split(" | ")
            if rule != FITTING[task]:
                return f"For the {task} task, {rule!r} is the wrong reason: {WHY_NOT[(task, rule)]}."
            if strategy != pick(table[task], rule):
                return (f"For the {task} task, by your own numbers {rule!r} picks {pick(table[task], rule)!r}, "
                        f"not {strategy!r}: read the table again.")
        return None
