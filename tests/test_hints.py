"""Hints come in three steps and never give the solution away; demos never print the next answer.

For every exercise of lessons 1-7: at least three hints (the idea, the approach, a near-complete
skeleton), none containing the exercise's key expression (below: the part of its solution that *is*
the answer); the key expression really is in the source notebook's solution cell; and no code cell
before the exercise (in the source notebook) contains it either.
"""
from __future__ import annotations

import importlib
import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSONS = range(1, 8)

# The expressions that give each exercise's answer away: any one of them in a hint, or in a code
# cell before the exercise, hands the student the solution.
KEY_EXPRESSIONS = {
    "lesson1.q1": ["len(tokenizer)"],
    "lesson1.q2": ['token.startswith("Ġ")'],
    "lesson1.q3": ["return ids, tokenizer.decode(ids)"],
    "lesson1.q4": ["if token_id == eos:"],
    "lesson1.q5": ['len(tokenizer.encode(" " + word))'],
    "lesson1.q6": ['piece.replace(" ", "Ġ")'],
    "lesson1.q7": ["tokenizer.decode([token_id]) for token_id in tokenizer.encode(EMOJI)"],
    "lesson2.q1": ["model.transformer.wte(ids) + model.transformer.wpe(positions)"],
    "lesson2.q2": ['scores.masked_fill(future, float("-inf"))', "torch.softmax(scores, dim=-1) @ v"],
    "lesson2.q3": ["tf.where(future, -np.inf, scores)", "tf.transpose(heads, [1, 0, 2])"],
    "lesson2.q4": ["list(range(CHANGED_POSITION, len(tokenizer.encode(CHANGE_TEXT))))"],
    "lesson2.q5": ["ln_f(final_hidden)[-1] @ model.transformer.wte.weight.T"],
    "lesson3.q1": ["prompt_logits[0].argmax(dim=-1)"],
    "lesson3.q2": ["ratio_probs[be_id] / ratio_probs[do_id]", "torch.exp(row[be] - row[do])"],
    "lesson3.q3": ["attention_mask.sum(dim=-1) - 1"],
    "lesson3.q4": ["tf.nn.log_softmax(logits[len(prefix_ids) - 1:-1])"],
    "lesson4.q1": ["tf.argmax(logits[0, -1])", "tf.argmax(model(tf.constant([ids])).logits[0, -1])"],
    "lesson4.q2": ["torch.argmax(logits[0, -1])", "yield next_id"],
    "lesson4.q3": ["predicted_calls = 10"],
    "lesson4.q4": ["len(tokenizer.encode(prompt)) + max_new_tokens"],
    "lesson5.q1": ["tf.random.categorical(logits[None, :], num_samples)", "tf.random.categorical(last_logits"],
    "lesson5.q2": ["logits / temperature"],
    "lesson5.q3": ["tf.math.top_k(logits, k).values[-1]"],
    "lesson5.q4": ["torch.cumsum(sorted_probs, dim=-1) - sorted_probs", "cumsum(sorted_probs, -1) - sorted_probs"],
    "lesson5.q5": ["int(tf.random.categorical(logits, num_samples=1)[0, 0])"],
    "lesson6.q1": ["tf.gather(log_probs, labels, batch_dims=1)"],
    "lesson6.q2": ["torch.log_softmax(logits[:-1], -1).gather(-1, labels[:, None])"],
    "lesson6.q3": ["len(str(vocab_size ** SEARCH_T))"],
    "lesson6.q4": ['["dog", "was", "happy"]'],
    "lesson6.q5": ["torch.topk(table.flatten(), num_beams)"],
    "lesson6.q6": ["beams, scores = beam_step(model, beams, scores, num_beams)"],
    "lesson6.q7": ["ids[i:i + n - 1] == prefix"],
    "lesson6.q8": ["num_beams=5, do_sample=False, max_new_tokens=12", "**BEAM_SETTINGS)"],
    "lesson6.q9": ["sum_logprob / new_tokens ** length_penalty"],
    "lesson6.q10": ["predicted_cache_ratio = 8"],
    "lesson6.q11": ["beam_times[8] / beam_times[1]"],
    "lesson7.q1": ["tf.exp(log_probs) * log_probs"],
    "lesson7.q2": ["token_log_probs[input_len - 1:]", "torch.exp(-scored.mean())"],
    "lesson7.q3": ["min_p * probs.max()"],
    "lesson7.q4": ["tf.where(logits > 0, logits / penalty, logits * penalty)"],
    "lesson7.q5": ["torch.manual_seed(seed)", "torch.multinomial(probs, 1)"],
    "lesson7.q6": ["len(set(grams)) / len(grams)"],
    "lesson7.q7": ['"fewest repeats under the cap"), "fewest repeats under the cap"'],
}


def flat(text: str) -> str:
    """Compared without whitespace, and with one kind of quote."""
    return re.sub(r"\s+", "", text).replace("'", '"')


def exercises(n):
    module = importlib.import_module(f"course_utils.lessons.lesson{n}")
    found = []
    for name in module.qvars:
        problem = getattr(module, name)
        parts = getattr(problem, "parts", None)
        found.extend(parts.values() if parts else [problem])
    return found


def source_cells(n):
    notebook = json.loads((ROOT / f"grader/course/source/lesson{n}/lesson{n}.ipynb").read_text())
    return notebook["cells"]


ALL = [problem for n in LESSONS for problem in exercises(n)]


def test_every_exercise_has_key_expressions():
    assert sorted(p.id for p in ALL) == sorted(KEY_EXPRESSIONS)


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.id)
def test_three_step_hints_without_the_solution(problem):
    assert len(problem.hints) >= 3, f"{problem.id}: {len(problem.hints)} hints, want idea, approach, skeleton"
    for number, hint in enumerate(problem.hints, 1):
        for key in KEY_EXPRESSIONS[problem.id]:
            assert flat(key) not in flat(hint), f"{problem.id} hint {number} gives away {key!r}"


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.id)
def test_demos_before_an_exercise_do_not_hold_its_answer(problem):
    n = int(problem.id.split(".")[0].removeprefix("lesson"))
    answer_id = problem.id.replace(".", "_") + "_answer"
    cells = source_cells(n)
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in cells]
    assert answer_id in ids, f"no solution cell {answer_id}"
    position = ids.index(answer_id)
    solution = flat("".join(cells[position]["source"]))
    keys = KEY_EXPRESSIONS[problem.id]
    assert any(flat(key) in solution for key in keys), f"{problem.id}: no key expression in its solution"
    for index, cell in enumerate(cells[:position]):
        if cell["cell_type"] != "code":
            continue
        code = flat("".join(cell["source"]))
        for key in keys:
            assert flat(key) not in code, f"{problem.id}: cell {index}, before the exercise, holds {key!r}"
