"""Lesson 5 (sampling): the goodness-of-fit helpers, the checks, and the notebook.

References pass; every named mistake is named, each with its own message: q1 probabilities passed
as logits, greedy, unseeded, seed ignored, no batch axis, batch kept, floats; q2 multiplied, after
softmax, softmax of the result, powered probabilities, shifted (log-probabilities / T is accepted,
with a note); q3 k +- 1, the lowest, an ascending sort, the first k ids, a tie with the k-th
dropped; q4 the crossing token dropped, the least likely, the complement, the mask left in sorted
order, the result left sorted, no sort at all, any other right-size wrong set; q5 re-seeding at
every step, the first position's logits, probabilities, greedy, unseeded, too long; filters' 0 or
probabilities instead of -inf. Stubs are Not attempted; answers that lie about themselves fail;
grading mode raises on wrong answers (hidden probes included) and the trusted ``judge_answer``
agrees.
"""
from __future__ import annotations


import numpy as np

from course_utils.checking import CORRECT, INCORRECT, NOT_ATTEMPTED, judge_answer, stats, ____
from course_utils.lessons import lesson5


from lesson_check_helpers import assert_grading_agrees, EqualsEverythingFloat as EqualsEverything, LyingList, assert_named, bundled, check, grade  # noqa: F401 (bundled: autouse fixture)


def test_goodness_of_fit():
    rng = np.random.default_rng(0)
    probs = np.array([0.1, 0.2, 0.5, 0.2, 0.0])
    assert stats.fits(rng.choice(5, size=3000, p=probs), probs)
    assert not stats.fits(rng.choice(5, size=3000, p=[0.25, 0.25, 0.25, 0.25, 0]), probs)
    assert not stats.fits([4, 1, 2], probs)                        # outside the support
    assert not stats.fits([7], probs) and not stats.fits([], probs)
    # A long tail of tiny probabilities is pooled into one bin, and still judged.
    tail = np.full(5000, 0.5 / 5000)
    wide = np.concatenate([[0.3, 0.2], tail])
    assert stats.fits(rng.choice(wide.size, size=3000, p=wide), wide)
    assert not stats.fits(rng.choice(2, size=3000, p=[0.6, 0.4]), wide)
    # random.choices normalises its weights: draws with weights that sum to 1.1 fit the normalised ones.
    import random

    draws = random.Random(0).choices(range(4), weights=lesson5.TINY_WEIGHTS, k=3000)
    assert stats.fits(draws, lesson5.TINY_WEIGHTS)
    assert stats.goodness_of_fit(draws, lesson5.TINY_WEIGHTS) > stats.ALPHA


def test_false_failure_rate_is_tiny():
    # 200 honest samplers: at alpha = 1e-6 none should fail (a failure here is a one-in-5000 event).
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(300, 0.3))
    assert all(stats.fits(rng.choice(300, size=lesson5.NUM_SAMPLES, p=probs), probs) for _ in range(200))


# -- q1: tf.random.categorical --------------------------------------------------------------------
def sample_tf(logits, num_samples, seed):
    import tensorflow as tf

    tf.random.set_seed(seed)
    return tf.random.categorical(logits[None, :], num_samples)[0]


def test_q1_categorical(tf_model):
    import tensorflow as tf

    def stateless(logits, num_samples, seed):
        return tf.random.stateless_categorical(logits[None, :], num_samples, seed=[seed, 7])[0]

    def greedy(logits, num_samples, seed):
        return tf.fill([num_samples], tf.argmax(logits))

    def from_probs(logits, num_samples, seed):   # probabilities where logits belong
        return stateless(tf.nn.softmax(logits), num_samples, seed)

    def uniform(logits, num_samples, seed):
        return stateless(tf.zeros_like(logits), num_samples, seed)

    def unseeded(logits, num_samples, seed):
        return tf.random.categorical(logits[None, :], num_samples)[0]

    def seed_ignored(logits, num_samples, seed):
        return stateless(logits, num_samples, 0)

    def batch_kept(logits, num_samples, seed):
        return stateless(logits, num_samples, seed)[None]

    def floats(logits, num_samples, seed):
        return tf.cast(stateless(logits, num_samples, seed), tf.float32)

    def sharpened(logits, num_samples, seed):    # sampling at T = 0.5: the wrong distribution
        return stateless(logits * 2, num_samples, seed)

    assert check(lesson5.q1, sample_tf=sample_tf).status == CORRECT
    assert grade(lesson5.q1, sample_tf=stateless).status == CORRECT
    assert check(lesson5.q1, sample_tf=lambda l, n, s: sample_tf(l, n, s).numpy()).status == CORRECT
    assert_named(check(lesson5.q1, sample_tf=greedy), "greedy")
    assert_named(check(lesson5.q1, sample_tf=from_probs), "wants logits")
    assert_named(check(lesson5.q1, sample_tf=uniform), "uniform")
    assert_named(check(lesson5.q1, sample_tf=sharpened), "chi-square")
    assert_named(check(lesson5.q1, sample_tf=unseeded), "same seed")
    op_seed_only = check(lesson5.q1, sample_tf=lambda l, n, s: tf.random.categorical(l[None, :], n, seed=s)[0])
    assert_named(op_seed_only, "`seed=` argument alone")
    assert_named(check(lesson5.q1, sample_tf=seed_ignored), "two different seeds")
    assert_named(check(lesson5.q1, sample_tf=batch_kept), "take row 0")
    assert_named(check(lesson5.q1, sample_tf=floats), "integers")
    no_batch = check(lesson5.q1, sample_tf=lambda l, n, s: tf.random.categorical(l, n))
    assert_named(no_batch, "batch axis")
    lying = check(lesson5.q1, sample_tf=lambda l, n, s: LyingList([0] * n, sample_tf(l, n, s).numpy().tolist()))
    assert lying.status == INCORRECT
    assert check(lesson5.q1, sample_tf=lambda l, n, s: None).status == NOT_ATTEMPTED
    assert check(lesson5.q1, sample_tf=____).status == NOT_ATTEMPTED
    assert check(lesson5.q1).status == NOT_ATTEMPTED                        # not defined at all
    wrong = check(lesson5.q1, sample_tf=sharpened)
    assert wrong.figure_png is not None and wrong.figure_png.startswith(b"\x89PNG")


# -- q2: temperature --------------------------------------------------------------------------------
def test_q2_temperature(pt_model):
    import torch

    assert check(lesson5.q2, apply_temperature=lambda logits, t: logits / t).status == CORRECT
    assert grade(lesson5.q2, apply_temperature=lambda logits, t: logits / t).status == CORRECT
    assert check(lesson5.q2, apply_temperature=lambda logits, t: (logits / t).numpy()).status == CORRECT
    assert_named(check(lesson5.q2, apply_temperature=lambda logits, t: logits * t), "multiplied")
    after = check(lesson5.q2, apply_temperature=lambda logits, t: torch.softmax(logits, -1) / t)
    assert_named(after, "after softmax")
    assert after.figure_png is not None and after.figure_png.startswith(b"\x89PNG")
    # The figure does not cost the class report its mistake id (with_figure once dropped it).
    assert after.mistake == "lesson5.q2:after_softmax" and after.failed_tests
    assert_named(check(lesson5.q2, apply_temperature=lambda logits, t: torch.softmax(logits / t, -1)),
                 "softmax of the scaled logits")
    assert_named(check(lesson5.q2, apply_temperature=lambda logits, t: torch.softmax(logits, -1) ** (1 / t)),
                 "power 1/T")
    assert_named(check(lesson5.q2, apply_temperature=lambda logits, t: logits - t), "subtracted")
    assert_named(check(lesson5.q2, apply_temperature=lambda logits, t: logits + t), "added")
    # log-probabilities / T: the same distribution as logits / T, accepted with a note.
    shifted = check(lesson5.q2, apply_temperature=lambda logits, t: torch.log_softmax(logits, -1) / t)
    assert shifted.status == CORRECT and "one constant" in shifted.message
    assert "one constant" not in check(lesson5.q2, apply_temperature=lambda logits, t: logits / t).message
    assert check(lesson5.q2, apply_temperature=lambda logits, t: EqualsEverything(0.0)).status == INCORRECT
    lying = check(lesson5.q2, apply_temperature=lambda logits, t: LyingList([0.0] * len(logits),
                                                                             (logits / t).tolist()))
    assert lying.status == INCORRECT
    assert check(lesson5.q2, apply_temperature=lambda logits, t: None).status == NOT_ATTEMPTED
    assert check(lesson5.q2, apply_temperature=lambda logits, t: logits / t).figure_png is None

    def only_public(logits, t):    # right for the public temperatures only
        return logits / t if t in (0.5, 2.0) else logits
    assert check(lesson5.q2, apply_temperature=only_public).status == CORRECT
    assert_named(grade(lesson5.q2, apply_temperature=only_public), "hidden test")


# -- q3: top-k (TensorFlow) ---------------------------------------------------------------------------
def top_k_tf(logits, k, keep=None):
    import tensorflow as tf

    threshold = tf.math.top_k(logits, keep or k).values[-1]
    return tf.where(logits < threshold, float("-inf"), logits)


def test_q3_top_k(tf_model):
    import tensorflow as tf

    assert check(lesson5.q3, top_k_filter=top_k_tf).status == CORRECT
    assert grade(lesson5.q3, top_k_filter=top_k_tf).status == CORRECT
    assert check(lesson5.q3, top_k_filter=lambda l, k: tf.where(l < tf.sort(l)[-k], float("-inf"), l)).status == CORRECT

    def exactly_k(logits, k):      # k positions scattered: drops a token tied with the k-th
        kept = tf.scatter_nd(tf.math.top_k(logits, k).indices[:, None], tf.ones([k], tf.bool), tf.shape(logits))
        return tf.where(kept, logits, float("-inf"))

    tie = check(lesson5.q3, top_k_filter=exactly_k)
    assert_named(tie, "tie")
    assert "tie" in lesson5.q3.describe_probe(lesson5.q3.public_probes[-1])
    assert_named(check(lesson5.q3, top_k_filter=lambda l, k: tf.where(l < tf.sort(l)[k], float("-inf"), l)),
                 "sorts from the smallest")
    first_k = check(lesson5.q3, top_k_filter=lambda l, k: tf.where(tf.range(tf.size(l)) < k, l, float("-inf")))
    assert_named(first_k, "id order")
    assert_named(check(lesson5.q3, top_k_filter=lambda l, k: top_k_tf(l, k, k + 1)), f"kept {5 + 1} tokens")
    assert_named(check(lesson5.q3, top_k_filter=lambda l, k: top_k_tf(l, k, k - 1)), f"kept {5 - 1} tokens")

    def zeros(logits, k):
        return tf.where(top_k_tf(logits, k) == float("-inf"), 0.0, logits)

    def probabilities(logits, k):
        return tf.where(top_k_tf(logits, k) == float("-inf"), 0.0, tf.nn.softmax(logits))

    def large_negative(logits, k):
        return tf.where(top_k_tf(logits, k) == float("-inf"), -1e9, logits)

    assert_named(check(lesson5.q3, top_k_filter=zeros), "not 0")
    assert_named(check(lesson5.q3, top_k_filter=probabilities), "probabilities with the filtered tokens")
    assert_named(check(lesson5.q3, top_k_filter=large_negative), "large negative")
    lowest = lambda l, k: tf.where(tf.math.is_inf(top_k_tf(-l, k)), float("-inf"), l)  # noqa: E731
    assert_named(check(lesson5.q3, top_k_filter=lowest), "lowest")
    assert check(lesson5.q3, top_k_filter=lambda l, k: None).status == NOT_ATTEMPTED
    assert check(lesson5.q3, top_k_filter=____).status == NOT_ATTEMPTED


# -- q4: top-p (PyTorch) ------------------------------------------------------------------------------
def top_p_pt(logits, p, keep_crosser=True):
    import torch

    probs, order = torch.sort(torch.softmax(logits, -1), descending=True)
    cumulative = torch.cumsum(probs, -1)
    drop = order[(cumulative - probs >= p) if keep_crosser else (cumulative > p)]
    filtered = logits.clone()
    filtered[drop] = float("-inf")
    return filtered


def test_q4_top_p(pt_model):
    import torch

    assert check(lesson5.q4, top_p_filter=top_p_pt).status == CORRECT
    assert grade(lesson5.q4, top_p_filter=top_p_pt).status == CORRECT
    assert_named(check(lesson5.q4, top_p_filter=lambda l, p: top_p_pt(l, p, keep_crosser=False)), "crosses p")

    def zeros(logits, p):
        return torch.where(torch.isinf(top_p_pt(logits, p)), 0.0, logits)

    def probabilities(logits, p):
        kept = torch.where(torch.isinf(top_p_pt(logits, p)), 0.0, torch.softmax(logits, -1))
        return kept / kept.sum()

    assert_named(check(lesson5.q4, top_p_filter=zeros), "not 0")

    def not_scattered_back(logits, p):   # the mask of the sorted tokens applied to the unsorted logits
        sorted_probs, order = torch.sort(torch.softmax(logits, -1), descending=True)
        filtered = logits.clone()
        filtered[torch.cumsum(sorted_probs, -1) - sorted_probs >= p] = float("-inf")
        return filtered

    def left_sorted(logits, p):
        sorted_logits, order = torch.sort(logits, descending=True)
        return torch.where(torch.isinf(top_p_pt(sorted_logits, p)), float("-inf"), sorted_logits)

    def not_sorted(logits, p):
        probs = torch.softmax(logits, -1)
        return torch.where(torch.cumsum(probs, -1) - probs < p, logits, float("-inf"))

    def complement(logits, p):
        return torch.where(torch.isinf(top_p_pt(logits, p)), logits, float("-inf"))

    def shuffled(logits, p):   # the right number of tokens, a scrambled set
        kept = torch.isfinite(top_p_pt(logits, p))
        return torch.where(kept[torch.randperm(len(kept), generator=torch.Generator().manual_seed(0))],
                           logits, float("-inf"))

    scrambled = check(lesson5.q4, top_p_filter=not_scattered_back)
    assert_named(scrambled, "in id order")
    assert "where the reference keeps" not in scrambled.message
    assert_named(check(lesson5.q4, top_p_filter=left_sorted), "in sorted order")
    assert_named(check(lesson5.q4, top_p_filter=not_sorted), "without sorting")
    assert_named(check(lesson5.q4, top_p_filter=complement), "removed the nucleus")
    assert_named(check(lesson5.q4, top_p_filter=shuffled), "right number of tokens")
    def least_likely(logits, p):   # sorted ascending: the running total starts in the tail
        probs, order = torch.sort(torch.softmax(logits, -1))
        keep = order[torch.cumsum(probs, -1) <= p]
        return torch.full_like(logits, float("-inf")).index_put((keep,), logits[keep])

    assert_named(check(lesson5.q4, top_p_filter=least_likely), "least likely")
    assert_named(check(lesson5.q4, top_p_filter=probabilities), "renormalised probabilities")
    lying = check(lesson5.q4, top_p_filter=lambda l, p: LyingList([0.0] * len(l), top_p_pt(l, p).tolist()))
    assert lying.status == INCORRECT
    assert check(lesson5.q4, top_p_filter=lambda l, p: None).status == NOT_ATTEMPTED

    def only_public(logits, p):
        return top_p_pt(logits, p) if p in (0.5, 0.9) else logits
    assert check(lesson5.q4, top_p_filter=only_public).status == CORRECT
    assert_named(grade(lesson5.q4, top_p_filter=only_public), "hidden test")


# -- grading mode and the trusted judge ---------------------------------------------------------------
def test_grading_mode_raises_and_trusted_judge_agrees(monkeypatch, pt_model, tf_model):
    import torch

    monkeypatch.setenv("COURSE_GRADING", "1")
    cases = {"q1": ({"sample_tf": sample_tf},
                    {"sample_tf": lambda l, n, s: sample_tf(l * 2, n, s)}),
             "q2": ({"apply_temperature": lambda l, t: l / t}, {"apply_temperature": lambda l, t: l * t}),
             "q3": ({"top_k_filter": top_k_tf}, {"top_k_filter": lambda l, k: top_k_tf(l, k, k + 1)}),
             "q4": ({"top_p_filter": top_p_pt},
                    {"top_p_filter": lambda l, p: top_p_pt(l, p, keep_crosser=False)})}
    for name, (right, wrong) in cases.items():
        assert_grading_agrees(getattr(lesson5, name), right, wrong)
    del torch
    forged = {"probes": [{"spec": lesson5.q1.public_probes[0], "hidden": False,
                          "answer": {"samples": [0] * lesson5.NUM_SAMPLES, "again": [0] * lesson5.NUM_SAMPLES,
                                     "other": [1] * lesson5.NUM_SAMPLES}}]}
    assert judge_answer("lesson5.q1", forged).status == INCORRECT


def test_q4_a_scrambled_nucleus_is_named_under_the_grader_too(monkeypatch, pt_model):
    """The mask of the sorted tokens applied to the unsorted logits keeps as many tokens as the
    nucleus: the recorded path names the real problem, not "keeps 12 where the reference keeps 12"."""
    import torch

    def not_scattered_back(logits, p):
        sorted_probs, order = torch.sort(torch.softmax(logits, -1), descending=True)
        filtered = logits.clone()
        filtered[torch.cumsum(sorted_probs, -1) - sorted_probs >= p] = float("-inf")
        return filtered

    monkeypatch.setenv("COURSE_GRADING", "1")
    assert_grading_agrees(lesson5.q4, {"top_p_filter": top_p_pt}, {"top_p_filter": not_scattered_back})
    payload = lesson5.q4.collect({"top_p_filter": not_scattered_back}, grading=True)
    verdict = judge_answer("lesson5.q4", payload)
    assert verdict.status == INCORRECT and "in id order" in verdict.message


# -- the notebook -------------------------------------------------------------------------------------


# -- q5: the sampling loop -------------------------------------------------------------------------
def sampling_loop(tokenizer, draw, position=-1, batch=True, reseed=False):
    import tensorflow as tf

    period_id = tokenizer.encode(".")[0]

    def sample_loop_tf(model, input_ids, max_new_tokens, seed):
        tf.random.set_seed(seed)
        ids = list(input_ids)
        for _ in range(max_new_tokens):
            if reseed:
                tf.random.set_seed(seed)      # the slip: the same random number at every step
            logits = model(tf.constant([ids])).logits[:, position, :]
            next_id = int(draw(logits if batch else logits[0])[0, 0])
            ids.append(next_id)
            if next_id == period_id:
                break
        return ids

    return sample_loop_tf


def reseeding_loop(tokenizer):
    import tensorflow as tf

    return sampling_loop(tokenizer, lambda logits: tf.random.categorical(logits, 1), reseed=True)


def test_q5_reseeding_at_every_step_is_incorrect_under_the_grader_too(monkeypatch, tokenizer):
    import tensorflow as tf

    right = sampling_loop(tokenizer, lambda logits: tf.random.categorical(logits, 1))
    assert_named(grade(lesson5.q5, sample_loop_tf=reseeding_loop(tokenizer)), "at every step")
    monkeypatch.setenv("COURSE_GRADING", "1")
    assert_grading_agrees(lesson5.q5, {"sample_loop_tf": right}, {"sample_loop_tf": reseeding_loop(tokenizer)})


def test_q5_sampling_loop(tokenizer):
    import tensorflow as tf

    right = sampling_loop(tokenizer, lambda logits: tf.random.categorical(logits, 1))
    correct = check(lesson5.q5, sample_loop_tf=right)
    assert correct.status == CORRECT and correct.figure_png is None
    assert grade(lesson5.q5, sample_loop_tf=right).status == CORRECT
    from_probs = check(lesson5.q5, sample_loop_tf=sampling_loop(
        tokenizer, lambda logits: tf.random.categorical(tf.nn.softmax(logits), 1)))
    assert from_probs.status == INCORRECT and "very unlikely" in from_probs.message
    assert from_probs.figure_png is not None and from_probs.figure_png.startswith(b"\x89PNG")
    greedy = check(lesson5.q5, sample_loop_tf=sampling_loop(tokenizer, lambda logits: tf.argmax(logits, -1)[:, None]))
    assert greedy.status == INCORRECT and "greedy" in greedy.message
    assert greedy.figure_png is not None and greedy.figure_png.startswith(b"\x89PNG")

    calls = iter(range(100, 10_000))

    def unseeded(model, input_ids, max_new_tokens, seed):   # every call its own seed, whatever `seed` is
        return right(model, input_ids, max_new_tokens, next(calls))

    assert "same seed" in check(lesson5.q5, sample_loop_tf=unseeded).message

    def too_long(model, input_ids, max_new_tokens, seed):
        return right(model, input_ids, max_new_tokens + 3, seed)

    assert check(lesson5.q5, sample_loop_tf=too_long).status == INCORRECT
    assert_named(check(lesson5.q5, sample_loop_tf=reseeding_loop(tokenizer)), "set_seed(seed)` at every step")

    def no_stop(model, input_ids, max_new_tokens, seed):   # a run of the public probe draws a '.'
        tf.random.set_seed(seed)
        ids = list(input_ids)
        for _ in range(max_new_tokens):
            ids.append(int(tf.random.categorical(model(tf.constant([ids])).logits[:, -1, :], 1)[0, 0]))
        return ids

    assert_named(check(lesson5.q5, sample_loop_tf=no_stop), "runs past '.'")

    def new_only(model, input_ids, max_new_tokens, seed):
        return right(model, input_ids, max_new_tokens, seed)[len(input_ids):]

    assert_named(check(lesson5.q5, sample_loop_tf=new_only), "start with the prompt's ids")
    first = check(lesson5.q5, sample_loop_tf=sampling_loop(tokenizer, lambda logits: tf.random.categorical(logits, 1),
                                                           position=0))
    assert_named(first, "*first* token")
    no_batch = sampling_loop(tokenizer, lambda logits: tf.random.categorical(logits[None, :], 1), batch=False)
    assert check(lesson5.q5, sample_loop_tf=no_batch).status == CORRECT      # [vocab] + a batch axis: the same

    def stub(model, input_ids, max_new_tokens, seed):
        pass

    assert check(lesson5.q5, sample_loop_tf=stub).status == NOT_ATTEMPTED


def test_q5_figure_shows_the_students_draws_next_to_the_models(tokenizer):
    # The figure's bars: which rank (under the model, at each step) the drawn tokens had, for the
    # student's runs and, exactly, for sampling from the model at the same steps.
    import tensorflow as tf

    def shares(draw):
        payload = lesson5.q5.collect({"sample_loop_tf": sampling_loop(tokenizer, draw)})
        probe = payload["probes"][0]
        return lesson5.q5.rank_shares(probe["answer"]["runs"], tokenizer.encode(probe["spec"]["prompt"]))

    reference, yours = shares(lambda logits: tf.argmax(logits, -1)[:, None])
    assert np.isclose(reference.sum(), 1.0) and np.isclose(yours.sum(), 1.0)
    assert yours[0] == 1.0 > reference[0]                # greedy: always the likeliest token
    reference, yours = shares(lambda logits: tf.random.categorical(tf.nn.softmax(logits), 1))
    assert yours[-1] > 0.9 and yours[-1] > reference[-1] + 0.3   # near-uniform draws: the long tail
    assert lesson5.q5.rank_shares([[1, 2]], [5]) is None  # nothing readable: no figure
