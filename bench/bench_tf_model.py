"""The course's own TensorFlow GPT-2 (course_utils.tf_gpt2) against transformers' TFGPT2LMHeadModel.

    python bench/bench_tf_model.py [--new-tokens 64] [--repeats 3] [--threads 1]

Greedy decoding with the key/value cache on the bundled course-gpt2, 3 prompts in turn, timed for:

* ours, eager:     ``reference.tf.greedy_search`` with ``tf.config.run_functions_eagerly(True)``
* ours, compiled:  the same, the model's step running as one ``tf.function`` graph (the default)
* transformers TF: ``TFGPT2LMHeadModel.generate(do_sample=False)`` of transformers 4.x, built from
  the same weights (skipped, with a message, when transformers no longer has TensorFlow models)
* PyTorch:         ``GPT2LMHeadModel.generate(do_sample=False)``

All four are run interleaved, after one warm-up each, and the medians are compared, so the ratios
hold on a busy machine even when absolute times do not. Ratios are time / transformers-TF time
(PyTorch's when transformers-TF is missing). Target: ours compiled <= 1.0x transformers TF
(ideally <= 0.33x). "same ids" says whether the ids equal PyTorch generate()'s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# course_utils first: it makes TensorFlow load after triton (see course_utils.frameworks).
from course_utils import load_model  # noqa: E402
from course_utils.loading import BUNDLED_DIR  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402

from course_utils.reference import tf as ref_tf  # noqa: E402

PROMPTS = [  # GPT-2 ids, so that the bench needs no tokenizer
    [464, 2106, 286, 262, 1748, 6140, 351, 257, 1402, 7404, 416, 262, 7850, 11],  # The history of...
    [15496, 995, 11, 314, 716],                                                  # Hello world, I am
    [818, 262, 2003],                                                            # In the future
]
PAD = 50256


def transformers_tf_model():
    """transformers 4.x's TFGPT2LMHeadModel with the bundled weights (how course_utils.loading
    built it before the course had its own model), or None with the reason."""
    try:
        from safetensors.numpy import load_file
        from transformers import GPT2Config, TFGPT2LMHeadModel
        from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model
    except ImportError as error:
        return None, f"transformers has no TensorFlow GPT-2 here ({error})"
    model = TFGPT2LMHeadModel(GPT2Config.from_pretrained(BUNDLED_DIR))
    state = {k: v.astype(np.float32) for k, v in
             load_file(os.path.join(BUNDLED_DIR, "model.safetensors")).items()}
    load_pytorch_state_dict_in_tf2_model(model, state, skip_logger_warnings=True)
    model.trainable = False
    return model, ""


def contenders(new_tokens):
    """{name: function(prompt) -> prompt + new ids}; and why transformers TF is missing, if it is."""
    ours = load_model("tf", name="course")
    pt = load_model("pt", name="course")

    def eager(ids):
        tf.config.run_functions_eagerly(True)
        try:
            return ref_tf.greedy_search(ours, ids, new_tokens)
        finally:
            tf.config.run_functions_eagerly(False)

    def pt_generate(ids):
        x = torch.tensor([ids])
        return pt.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=new_tokens,
                           pad_token_id=PAD, eos_token_id=None)[0].tolist()

    fns = {"ours, eager": eager,
           "ours, compiled": lambda ids: ref_tf.greedy_search(ours, ids, new_tokens)}
    baseline, missing = transformers_tf_model()
    if baseline is not None:
        fns["transformers TF generate"] = lambda ids: np.asarray(baseline.generate(
            tf.constant([ids], dtype=tf.int32), do_sample=False, max_new_tokens=new_tokens,
            pad_token_id=PAD, eos_token_id=None)[0]).tolist()
    fns["PyTorch generate"] = pt_generate
    return fns, missing


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (median)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per framework")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    fns, missing = contenders(args.new_tokens)
    expected = [fns["PyTorch generate"](ids) for ids in PROMPTS]
    same = {name: [fn(ids) for ids in PROMPTS] == expected for name, fn in fns.items()}  # + warm-up
    times = {name: [] for name in fns}
    for _ in range(args.repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for ids in PROMPTS:
                fn(ids)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    base = "transformers TF generate" if "transformers TF generate" in fns else "PyTorch generate"

    print(f"greedy, {len(PROMPTS)} prompts x {args.new_tokens} new tokens; {args.threads} thread(s); "
          f"median of {args.repeats}; tensorflow {tf.__version__}, torch {torch.__version__}")
    if missing:
        print(f"transformers TF: skipped: {missing}; ratios against PyTorch generate instead")
    header = f"{'':26s} {'seconds':>8s} {'ms/token':>9s} {'/ ' + base:>28s} {'same ids':>9s}"
    print(header)
    print("-" * len(header))
    for name, seconds in median.items():
        per_token = 1000 * seconds / (len(PROMPTS) * args.new_tokens)
        print(f"{name:26s} {seconds:8.3f} {per_token:9.2f} {seconds / median[base]:27.2f}x "
              f"{'yes' if same[name] else 'NO':>9s}", flush=True)


if __name__ == "__main__":
    main()
