"""Lesson 7's measurements: three tasks, six strategies, five samples each, three numbers per cell.

``strategy_table(model, tokenizer)`` draws, for every task and strategy, ``SAMPLES`` continuations
(sample i seeded i), all strategies of a task in one batched loop (``samples``), and measures them: ``repeats`` (the mean share of
repeated token 3-grams inside one text), ``distinct-2`` (distinct token bigrams over all bigrams of
the five texts pooled: variety across samples) and ``perplexity`` (the mean over the samples of
exp(mean NLL) of the continuation under the model at temperature 1). A human continuation of each
prompt gives the ``cap``: twice its perplexity. The checker of the choice exercise re-measures the
same table on the same model, once per process.
"""
from __future__ import annotations

import numpy as np

from course_utils.frameworks import LazyModule, lazy_no_grad

torch = LazyModule("torch")   # imported when a PyTorch exercise runs, not by `import *`

from course_utils.lessons.lesson7_generate import OFF, process, warp
from course_utils.lessons.lesson7_tools import repeated_ngram_share

SAMPLES = 5
TASKS = {   # task -> (prompt, max_new_tokens, a continuation a person wrote)
    "factual": ("A list is", 6, " a mutable sequence that stores items in order."),
    "summary": ("In short, the function returns", 16,
                " a new sorted list and leaves the original list unchanged, so it is safe to call twice."),
    "story": ("Once upon a time, the king", 16,
              " of a small country lost his crown in a river, and the fisherman who found it asked for "
              "nothing in return but a song at the next feast."),
}
STRATEGIES = {
    "greedy": {},
    "greedy, no repeats": {"repetition_penalty": 1.2, "no_repeat_ngram_size": 3},
    "sampling T=0.7": {"do_sample": True, "temperature": 0.7},
    "top-p 0.9": {"do_sample": True, "top_p": 0.9},
    "min-p 0.1, T=1.5": {"do_sample": True, "temperature": 1.5, "min_p": 0.1},
    "sampling T=1.5": {"do_sample": True, "temperature": 1.5},
}


def distinct_n_reference(sequences, n: int) -> float:
    """Distinct n-grams over all n-grams, pooled over ``sequences`` (no n-gram crosses two of them)."""
    grams = [tuple(seq[i:i + n]) for seq in sequences for i in range(len(seq) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


@lazy_no_grad
def samples(model, tokenizer, prompt: str, max_new_tokens: int, step=lambda: None) -> dict:
    """{strategy: ``SAMPLES`` continuations (lists of new ids, cut after <|endoftext|>)}: sample ``i``
    draws with its own ``torch.Generator`` seeded ``i``; a greedy strategy runs once (its samples
    are all the same). One batched loop with the key/value cache runs every strategy and sample of
    the prompt at once (no padding needed), in generate()'s order of processors; ``step()`` is
    called after each new token (a progress bar's update)."""
    settings = {name: {**OFF, **s} for name, s in STRATEGIES.items()}
    rows = [(name, i) for name in STRATEGIES for i in range(SAMPLES if settings[name]["do_sample"] else 1)]
    generators = [torch.Generator().manual_seed(i) for _, i in rows]
    ids = [tokenizer.encode(prompt) for _ in rows]
    start, eos = len(ids[0]), tokenizer.eos_token_id
    past_key_values, new_input = None, torch.tensor(ids)
    for _ in range(max_new_tokens):
        output = model(new_input, past_key_values=past_key_values, use_cache=True)
        past_key_values = output.past_key_values
        chosen = next_ids(output.logits[:, -1].float(), rows, ids, settings, generators)
        step()
        for r, next_id in enumerate(chosen):
            ids[r].append(eos if eos in ids[r][start:] else next_id)   # a finished row only pads
        if all(eos in row[start:] for row in ids):
            break
        new_input = torch.tensor([[row[-1]] for row in ids])
    found = {name: [] for name in STRATEGIES}
    for (name, _), row in zip(rows, ids):
        new = row[start:]
        found[name].append(new[:new.index(eos) + 1] if eos in new else new)
    return {name: texts * (SAMPLES // len(texts)) for name, texts in found.items()}


def next_ids(logits, rows, ids, settings: dict, generators) -> list[int]:
    """The next id of every row (``logits``: (rows, vocab_size)), each strategy's rows at once."""
    chosen = [0] * len(rows)
    for name, s in settings.items():
        where = [r for r, (n, _) in enumerate(rows) if n == name]
        if s["do_sample"]:                                       # no penalty here: warp all rows at once
            # An inverse-CDF draw: these samples need not equal generate()'s, and on 50,257
            # tokens it is far cheaper than torch.multinomial.
            cdf = torch.softmax(process_rows(logits[where], [ids[r] for r in where], s), -1).double().cumsum(-1)
            u = torch.cat([torch.rand(1, generator=generators[r], dtype=torch.float64) for r in where])
            drawn = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None])[:, 0]
            picked = [min(int(i), cdf.shape[-1] - 1) for i in drawn]
        else:
            picked = [int(torch.argmax(process(logits[r], ids[r], s, None))) for r in where]
        for r, next_id in zip(where, picked):
            chosen[r] = next_id
    return chosen


def process_rows(logits, ids: list[list[int]], s: dict):
    """``process`` on several rows: the sequence-dependent steps row by row, the warpers at once."""
    if s["repetition_penalty"] != 1.0 or s["no_repeat_ngram_size"] > 0:
        logits = torch.stack([process(row, i, {**s, "do_sample": False}, None) for row, i in zip(logits, ids)])
    return warp(logits, s)


def perplexities(model, prompt_ids: list[int], rows: list[list[int]]) -> list[float]:
    """exp(mean NLL) of each continuation in ``rows`` after ``prompt_ids``, at temperature 1."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([prompt_ids + r + [0] * (width - len(r)) for r in rows])  # padding after: never read
    with torch.no_grad():
        log_probs = torch.log_softmax(model(ids).logits[:, :-1].double(), -1)
    token_log_probs = log_probs.gather(-1, ids[:, 1:, None])[..., 0].numpy()
    start = len(prompt_ids) - 1                       # row t scores token t + 1
    return [float(np.exp(-token_log_probs[i, start:start + len(r)].mean())) for i, r in enumerate(rows)]


def strategy_table(model, tokenizer, progress: bool = False) -> dict:
    """{task: {"cap": float, "human perplexity": float, "strategies": {name: {"repeats", "distinct-2",
    "perplexity"}}}}: every number the choice exercise is judged on. ``progress``: a tqdm bar, one
    tick per decoding step of every task (the notebook's cell runs for tens of seconds)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=sum(n for _, n, _ in TASKS.values()), desc="decoding steps", disable=not progress)
    table = {}
    for task, (prompt, max_new_tokens, human) in TASKS.items():
        prompt_ids = tokenizer.encode(prompt)
        human_ppl = perplexities(model, prompt_ids, [tokenizer.encode(prompt + human)[len(prompt_ids):]])[0]
        rows = {}
        drawn = samples(model, tokenizer, prompt, max_new_tokens, step=lambda: bar.update(1))
        bar.n = sum(n for t, (_, n, _) in TASKS.items() if list(TASKS).index(t) <= list(TASKS).index(task))
        bar.refresh()   # a task whose every text ended early skips its last steps
        for name, texts in drawn.items():
            rows[name] = {"repeats": float(np.mean([repeated_ngram_share(t, 3) for t in texts])),
                          "distinct-2": distinct_n_reference(texts, 2),
                          "perplexity": float(np.mean(perplexities(model, prompt_ids, texts)))}
        table[task] = {"cap": 2 * human_ppl, "human perplexity": human_ppl, "strategies": rows}
    bar.close()
    return table


def as_frame(table: dict):
    """The table as a pandas DataFrame, one row per (task, strategy), for the notebook."""
    import pandas as pd

    records = [{"task": task, "strategy": name, **{k: round(v, 3) for k, v in numbers.items()},
                "under the cap": numbers["perplexity"] <= entry["cap"]}
               for task, entry in table.items() for name, numbers in entry["strategies"].items()]
    return pd.DataFrame(records).set_index(["task", "strategy"])


# -- the rules a student may give as the reason for a choice -------------------------------------------
RULES = ("lowest perplexity", "fewest repeats", "most distinct-2",
         "fewest repeats under the cap", "most distinct-2 under the cap")


def pick(entry: dict, rule: str) -> str:
    """The strategy ``rule`` picks in one task's ``entry`` of ``strategy_table`` (ties: lower perplexity,
    then the order of ``STRATEGIES``)."""
    rows = entry["strategies"]
    names = [n for n in rows if not rule.endswith("under the cap") or rows[n]["perplexity"] <= entry["cap"]]
    if not names:
        names = list(rows)
    if rule.startswith("lowest perplexity"):
        return min(names, key=lambda n: rows[n]["perplexity"])
    if rule.startswith("fewest repeats"):
        return min(names, key=lambda n: (round(rows[n]["repeats"], 6), rows[n]["perplexity"]))
    return min(names, key=lambda n: (-round(rows[n]["distinct-2"], 6), rows[n]["perplexity"]))
