"""Lesson 7's last two exercises: measure variety (``distinct_n``), then choose a strategy per task
with a rule that the measured table must bear out (``choices``).

The choice is judged on ``lesson7_measure.strategy_table``, re-measured on the checker's model
(the same numbers the student's notebook printed: the same model, prompts and seed), and on those
numbers only: a rule that picks the same row as the task's own rule stands, one that picks another
row is named with the numbers that make that row worse for the task.
"""
from __future__ import annotations

from course_utils.checking import FunctionProblem, ValueProblem, call_student, mistake
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
_TABLES: dict = {}   # id(model) -> (model, table); the model is kept, so its id stays its own


def measured(model, tokenizer, progress: bool = False) -> dict:
    """``strategy_table`` of ``model``, measured once per process and model, shared by the notebook's
    cell and q7's check; ``progress``: a progress bar while it is measured (the notebook's call)."""
    hit = _TABLES.get(id(model))
    if hit is None or hit[0] is not model:
        hit = _TABLES[id(model)] = (model, strategy_table(model, tokenizer, progress))
    return hit[1]


# The rule each task calls for, and what a good output of the task looks like (named in the verdict).
FITTING = {"factual": "lowest perplexity", "summary": "fewest repeats under the cap",
           "story": "most distinct-2 under the cap"}
WANTED = {"factual": "a factual answer has one right output: the likeliest, the same at every run",
          "summary": "a summary must not loop, and must stay readable (under the cap)",
          "story": "a story wants variety across samples, among readable texts (under the cap)"}


def why_not(entry: dict, task: str, rule: str) -> str | None:
    """Why ``rule`` fails ``task`` on this table, read from its numbers: where the strategy it picks
    is worse than the fitting rule's in what the task needs. None when both rules pick the same
    strategy: the numbers cannot tell the two reasons apart, so the choice stands."""
    theirs, fitting = pick(entry, rule), pick(entry, FITTING[task])
    if theirs == fitting:
        return None
    rows, cap = entry["strategies"], entry["cap"]
    a, b = rows[theirs], rows[fitting]
    facts = []
    if a["perplexity"] > cap:
        facts.append(f"its perplexity {a['perplexity']:.1f} is above the cap {cap:.1f}: junk")
    if task == "summary" and a["repeats"] > b["repeats"]:
        facts.append(f"it repeats {a['repeats']:.0%} of its 3-grams, against {b['repeats']:.0%} for {fitting!r}")
    if task == "story" and a["distinct-2"] < b["distinct-2"]:
        facts.append(f"its distinct-2 is {a['distinct-2']:.2f}, against {b['distinct-2']:.2f} for {fitting!r}")
    if task == "factual" and a["distinct-2"] > b["distinct-2"]:
        facts.append(f"it changes from seed to seed (distinct-2 {a['distinct-2']:.2f}, against "
                     f"{b['distinct-2']:.2f} for {fitting!r})")
    if not facts:   # as good on the task's own column: then the likelier text wins the tie
        facts.append(f"it is no better than {fitting!r} on what the task needs, at a perplexity of "
                     f"{a['perplexity']:.1f} against {b['perplexity']:.1f}")
    return (f"in your table {rule!r} picks {theirs!r}, and " + "; ".join(facts)
            + f". What the task needs: {WANTED[task]}")


class ChooseStrategies(ValueProblem):
    """``choices = {task: (strategy, rule)}`` for the three ``TASKS``; rule one of ``RULES``.

    Judged on the numbers only: a rule is right for a task when, in the table, it picks the strategy
    the task's own rule (``FITTING``) picks; one that picks another strategy is named with the numbers
    that show it worse (``why_not``)."""

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
        """One string per task, ``"task | strategy | rule"`` in the order of TASKS (compared exactly);
        a rule that picks the same strategy as the fitting one, in this table, reads as the fitting
        one: the numbers cannot tell them apart."""
        table, lines = self.table(), []
        for task in TASKS:
            strategy, rule = answer[task]
            if strategy == pick(table[task], rule) and why_not(table[task], task, rule) is None:
                rule = FITTING[task]
            lines.append(f"{task} | {strategy} | {rule}")
        return lines

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
            if strategy != pick(table[task], rule):
                return (f"For the {task} task, by your own numbers {rule!r} picks {pick(table[task], rule)!r}, "
                        f"not {strategy!r}: read the table again.")
            reason = why_not(table[task], task, rule)
            if reason is not None:
                return f"For the {task} task, {rule!r} is the wrong reason: {reason}."
        return None
