"""Reference decoding against transformers' generate(), in both frameworks, in one process.

    python bench/bench_decoding.py [--frameworks pt tf] [--repeats 5] [--threads 1]

On the same model (the bundled course-gpt2) and prompt, times the reference greedy search and
beam search (5 beams) against ``model.generate()`` with the same settings, and the cache-free
greedy search against the cached one at 32 and 256 new tokens. Each pair is run interleaved and
the medians are compared, so the ratios hold on a busy machine even when absolute times do not.
Targets: greedy <= 1.2x generate, beam(5) <= 1.5x generate. The cache-free rows have no target:
they show what the key/value cache buys (a lesson times the same thing).

One intra-op thread by default: the model is tiny, and on 2 busy cores more threads make timings
swing by several times from run to run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from course_utils import load_model, load_tokenizer  # noqa: E402
from course_utils.reference import for_framework  # noqa: E402

PROMPT = "The history of the city begins with a small village by the river, where"
PAD = 50256


def generate_fn(framework, model, ids, **kwargs):
    """A no-argument call of ``model.generate`` on ``ids`` returning the sequence as a list."""
    kwargs = dict(do_sample=False, pad_token_id=PAD, eos_token_id=None, **kwargs)
    if framework == "pt":
        import torch

        x = torch.tensor([ids])
        return lambda: model.generate(x, attention_mask=torch.ones_like(x), **kwargs)[0].tolist()
    import tensorflow as tf

    x = tf.constant([ids], dtype=tf.int32)
    return lambda: np.asarray(model.generate(x, **kwargs)[0]).tolist()


def time_pair(reference, baseline, repeats):
    """Median seconds of ``reference`` and ``baseline``, run alternately after one warm-up each,
    and whether they returned the same ids."""
    same = reference() == baseline()
    ref_times, base_times = [], []
    for _ in range(repeats):
        for fn, times in ((reference, ref_times), (baseline, base_times)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(ref_times), statistics.median(base_times), same


def set_threads(framework, threads):
    if framework == "pt":
        import torch

        torch.set_num_threads(threads)
    else:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already started: keep its setting
            pass


def bench(framework, model, tokenizer, repeats):
    ref = for_framework(framework)
    ids = tokenizer.encode(PROMPT)
    rows, n = [], 32
    rows.append(("greedy / generate", n, 1.2, *time_pair(
        lambda: ref.greedy_search(model, ids, n),
        generate_fn(framework, model, ids, max_new_tokens=n), repeats)))
    rows.append(("beam(5) / generate", n, 1.5, *time_pair(
        lambda: ref.beam_search(model, ids, 5, n)[0],
        generate_fn(framework, model, ids, num_beams=5, max_new_tokens=n), repeats)))
    for n, reps in ((32, repeats), (256, 1)):
        rows.append(("no-cache / cached greedy", n, None, *time_pair(
            lambda: ref.greedy_search_no_cache(model, ids, n),
            lambda: ref.greedy_search(model, ids, n), reps)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", nargs="+", default=["pt", "tf"], choices=["pt", "tf"])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per 32-token case (median)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per framework")
    args = parser.parse_args(argv)

    tokenizer = load_tokenizer()
    models = {}
    for framework in args.frameworks:
        set_threads(framework, args.threads)
        models[framework] = load_model(framework, name="course")
    print(f"prompt: {len(tokenizer.encode(PROMPT))} tokens; {args.threads} thread(s); "
          f"median of {args.repeats} (1 at 256 tokens)\n")
    header = (f"{'fw':3s} {'ratio of':25s} {'new':>4s} {'ref s':>8s} {'base s':>8s} {'ratio':>6s} "
              f"{'target':>9s} {'same ids':>8s}")
    print(header)
    print("-" * len(header))
    for framework, model in models.items():
        for name, n, target, ref_s, base_s, same in bench(framework, model, tokenizer, args.repeats):
            ratio = ref_s / base_s
            verdict = "" if target is None else f"<={target}" + (" ok" if ratio <= target else " MISS")
            print(f"{framework:3s} {name:25s} {n:4d} {ref_s:8.3f} {base_s:8.3f} {ratio:6.2f} {verdict:>9s} "
                  f"{'yes' if same else 'NO':>8s}", flush=True)


if __name__ == "__main__":
    main()
