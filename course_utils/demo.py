"""The course's end-to-end smoke run: tokenizer, both models, a greedy continuation in each.

    python -m course_utils.demo [--prompt TEXT] [--max-new-tokens N] [--model NAME]

Loads the model in PyTorch and TensorFlow (the course's own GPT-2), continues the prompt greedily
with the reference implementation of each framework and with PyTorch's ``generate(do_sample=False)``,
and says whether they all agree. Exit status 1 if they do not.
"""
from __future__ import annotations

import argparse
import sys

from course_utils import load_model, load_tokenizer
from course_utils.reference import for_framework


def continuation(framework: str, model_name: str | None, input_ids: list[int], max_new_tokens: int):
    """(reference ids, generate() ids) for one framework: prompt + new tokens, as lists.

    ``generate()`` is PyTorch's in both cases: transformers 5 has no TensorFlow generate(), and the
    course's TensorFlow GPT-2 holds the same weights, so its greedy ids must match it too."""
    import torch

    reference = for_framework(framework).greedy_search(load_model(framework, model_name), input_ids,
                                                       max_new_tokens)
    generated = load_model("pt", model_name).generate(
        torch.tensor([input_ids]), do_sample=False, attention_mask=torch.ones(1, len(input_ids), dtype=torch.int64),
        max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens)
    return reference, generated[0].tolist()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompt", default="The future of artificial intelligence is")
    parser.add_argument("--max-new-tokens", type=int, default=20)
    parser.add_argument("--model", default=None, help="course, gpt2, ... (default: automatic)")
    args = parser.parse_args(argv)

    tokenizer = load_tokenizer()
    input_ids = tokenizer.encode(args.prompt)
    print(f"Prompt: {args.prompt!r} -> {len(input_ids)} tokens {input_ids}")
    results = {}
    for framework in ("pt", "tf"):
        results[framework] = continuation(framework, args.model, input_ids, args.max_new_tokens)
        reference, generated = results[framework]
        print(f"[{framework}] greedy: {tokenizer.decode(reference[len(input_ids):])!r}")
        print(f"[{framework}] reference == PyTorch generate(do_sample=False): {reference == generated}")
    all_ids = [ids for pair in results.values() for ids in pair]
    agree = all(ids == all_ids[0] for ids in all_ids)
    print("PyTorch and TensorFlow agree token for token." if agree else "MISMATCH between frameworks.")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
