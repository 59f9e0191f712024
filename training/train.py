"""Train the course's small GPT-2 (GPT-2 architecture and vocabulary, tiny width) on CPU.

Reproducible: fixed seed, fixed step count, data order drawn from a seeded generator.

    python training/build_corpus.py --out CORPUS
    # stage 1: the first 400 steps of a 2400-step schedule (the shipped model's recipe)
    python training/train.py --corpus CORPUS --out STAGE1 --steps 2400 --stop-after 400 \
        --batch-size 16 --save-every 200
    # stage 2: a short schedule of its own, annealed to the end, from stage 1's weights
    python training/train.py --corpus CORPUS --out STAGE2 --init-from STAGE1 --steps 900 \
        --warmup 20 --lr 1.5e-3 --batch-size 16 --save-every 100 --seed 4321
    # stage 3: once more, at a lower peak learning rate
    python training/train.py --corpus CORPUS --out course_utils/models/course-gpt2 \
        --init-from STAGE2 --steps 900 --warmup 20 --lr 1e-3 --batch-size 16 \
        --save-every 100 --seed 777

Checkpoints are written every ``--save-every`` steps in the format the course loads (fp16
safetensors, so that the shipped weights stay under 25 MB), so a long run can be stopped early.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import torch

from course_utils.tokenizer import load_tokenizer

CONFIG = dict(n_positions=512, n_embd=128, n_layer=4, n_head=4)


def tokenize_file(path: str, tokenizer) -> np.ndarray:
    """Token ids of a corpus file; '<|endoftext|>' separators become the real special token."""
    with open(path, encoding="utf-8") as f:
        docs = f.read().split("\n<|endoftext|>\n")
    ids: list[int] = []
    for doc in docs:
        ids.extend(tokenizer(doc)["input_ids"])
        ids.append(tokenizer.eos_token_id)
    return np.array(ids, dtype=np.uint16)  # 50257 < 2**16


def cached_tokens(corpus: str, split: str, tokenizer) -> np.ndarray:
    cache = os.path.join(corpus, f"{split}.u16.npy")
    if not os.path.exists(cache):
        np.save(cache, tokenize_file(os.path.join(corpus, f"{split}.txt"), tokenizer))
    return np.load(cache)


def batches(tokens: np.ndarray, batch_size: int, block_size: int, generator: np.random.Generator):
    while True:
        starts = generator.integers(0, len(tokens) - block_size, size=batch_size)
        yield torch.from_numpy(np.stack([tokens[s:s + block_size] for s in starts]).astype(np.int64))


@torch.no_grad()
def heldout_loss(model, tokens: np.ndarray, block_size: int, max_blocks: int = 200) -> float:
    """Mean next-token cross-entropy (nats) over consecutive held-out blocks."""
    model.eval()
    n = min(max_blocks, (len(tokens) - 1) // block_size)
    total = 0.0
    for i in range(n):
        chunk = torch.from_numpy(tokens[i * block_size:(i + 1) * block_size + 1].astype(np.int64))
        logits = model(chunk[None, :-1]).logits[0]
        total += torch.nn.functional.cross_entropy(logits, chunk[1:]).item()
    model.train()
    return total / n


def save(model, out: str, log: dict):
    os.makedirs(out, exist_ok=True)
    # pad = eos, as for the real gpt2, so generate() needs no pad_token_id argument.
    model.generation_config.pad_token_id = model.config.eos_token_id
    model.to(torch.float16).save_pretrained(out, safe_serialization=True)
    model.to(torch.float32)
    with open(os.path.join(out, "training_log.json"), "w") as f:
        json.dump(log, f, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop (and save) after this many steps of the --steps schedule")
    parser.add_argument("--init-from", default=None,
                        help="start from the weights of an earlier checkpoint (a later stage)")
    parser.add_argument("--eval-blocks", type=int, default=50,
                        help="held-out blocks scored at each save (evaluate.py scores them all)")
    args = parser.parse_args()

    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(args.seed)
    tokenizer = load_tokenizer()
    train_tokens = cached_tokens(args.corpus, "train", tokenizer)
    heldout_tokens = cached_tokens(args.corpus, "heldout", tokenizer)
    print(f"train tokens {len(train_tokens):,}  held-out tokens {len(heldout_tokens):,}", flush=True)

    config = GPT2Config(vocab_size=len(tokenizer), bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, **CONFIG)
    if args.init_from:
        model = GPT2LMHeadModel.from_pretrained(args.init_from, dtype=torch.float32)
        earlier = json.load(open(os.path.join(args.init_from, "training_log.json")))
    else:
        model = GPT2LMHeadModel(config)
        earlier = None
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95),
                                  weight_decay=0.1)

    def lr_at(step):  # linear warmup, cosine decay to 10%
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    log = {"args": vars(args), "config": CONFIG, "train_tokens": int(len(train_tokens)),
           "heldout_tokens": int(len(heldout_tokens)), "history": [],
           "earlier_stages": ([*earlier.get("earlier_stages", []),
                               {"args": earlier["args"], "history": earlier["history"]}] if earlier else [])}
    data = batches(train_tokens, args.batch_size, args.block_size, np.random.default_rng(args.seed))
    start, running = time.time(), None
    model.train()
    for step in range(args.stop_after or args.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        input_ids = next(data)
        loss = model(input_ids, labels=input_ids).loss  # transformers shifts labels itself
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if (step + 1) % 50 == 0:
            rate = (step + 1) * args.batch_size * args.block_size / (time.time() - start)
            print(f"step {step + 1} loss {running:.3f} lr {lr_at(step):.2e} {rate:.0f} tok/s",
                  flush=True)
        if (step + 1) % args.save_every == 0 or step + 1 in (args.steps, args.stop_after):
            val = heldout_loss(model, heldout_tokens, args.block_size, args.eval_blocks)
            log["history"].append({"step": step + 1, "train_loss": running, "heldout_loss": val,
                                   "seconds": time.time() - start})
            print(f"  held-out loss {val:.3f} (ppl {math.exp(val):.1f}); saved", flush=True)
            save(model, args.out, log)


if __name__ == "__main__":
    main()
