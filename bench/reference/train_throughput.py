"""Training images/s of fleet's recipe in PyTorch: the same model, augmentation,
soft-target cross-entropy and SGD (momentum 0.9, weight decay 5e-4), on the
CIFAR-10 training files, on T threads. A measured window is one step: making
the augmented batch, forward, backward and the SGD update.

  /usr/bin/python3 bench/reference/train_throughput.py --model cnn --threads 1 --batch 128 --steps 5

Prints one JSON line: model, parameters, threads, batch, images_per_s (one
per window), mean and std.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cifar10 import load_train, make_batch, train_transform  # noqa: E402
from models import build_model, count_parameters  # noqa: E402


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()


def main() -> None:
    default_data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "cifar10")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="cnn")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=5, help="measured steps")
    p.add_argument("--warmup", type=int, default=2, help="steps before measuring")
    p.add_argument("--augment", default="full", choices=["none", "basic", "full"])
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data-dir", default=os.environ.get("FLEET_BENCH_DATA", default_data))
    p.add_argument("--count-only", action="store_true", help="print the parameter count and exit")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = build_model(args.model)
    parameters = count_parameters(model)
    if args.count_only:
        print(json.dumps({"model": args.model, "parameters": parameters}))
        return

    steps_needed = args.warmup + args.steps
    images, labels = load_train(args.data_dir, limit=args.batch * steps_needed)
    order = torch.randperm(len(labels))
    transform = train_transform(args.augment)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    model.train()

    rates: list[float] = []
    for step in range(steps_needed):
        idx = order[(step * args.batch) % len(order) :][: args.batch]
        t0 = time.perf_counter()
        x = make_batch(images, idx, transform)
        targets = F.one_hot(labels[idx], 10).float()
        optimizer.zero_grad(set_to_none=True)
        loss = soft_cross_entropy(model(x), targets)
        loss.backward()
        optimizer.step()
        loss.item()
        seconds = time.perf_counter() - t0
        if step >= args.warmup:
            rates.append(len(idx) / seconds)

    print(
        json.dumps(
            {
                "model": args.model,
                "parameters": parameters,
                "threads": torch.get_num_threads(),
                "batch": args.batch,
                "warmup": args.warmup,
                "images_per_s": [round(r, 3) for r in rates],
                "mean": statistics.fmean(rates),
                "std": statistics.stdev(rates) if len(rates) > 1 else 0.0,
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
