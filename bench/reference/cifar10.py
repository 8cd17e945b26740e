"""CIFAR-10 binary batches (3073-byte records: label, then 3072 bytes CHW) and
fleet's augmentation presets as torchvision transforms (src/augment/presets.ts)."""
import os

import numpy as np
import torch
from torchvision import transforms as T

RECORD_BYTES = 3073
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.247, 0.2435, 0.2616)


def batches_dir(data_dir: str) -> str:
    nested = os.path.join(data_dir, "cifar-10-batches-bin")
    return nested if os.path.isdir(nested) else data_dir


def load_train(data_dir: str, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, 3, 32, 32] and int64 labels [N] from whichever data_batch_N.bin exist."""
    folder = batches_dir(data_dir)
    files = [os.path.join(folder, f"data_batch_{i}.bin") for i in range(1, 6)]
    records = [np.fromfile(f, dtype=np.uint8).reshape(-1, RECORD_BYTES) for f in files if os.path.exists(f)]
    if not records:
        raise FileNotFoundError(f"no data_batch_N.bin under {folder}")
    data = np.concatenate(records)[:limit]
    labels = torch.from_numpy(data[:, 0].astype(np.int64))
    images = torch.from_numpy(np.ascontiguousarray(data[:, 1:]).reshape(-1, 3, 32, 32))
    return images, labels


def train_transform(preset: str) -> T.Compose:
    """none: normalise; basic: crop 32 padding 4 + flip; full: basic + ColorJitter(0.2, 0.2)."""
    steps: list[object] = []
    if preset in ("basic", "full"):
        steps += [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()]
    if preset == "full":
        steps.append(T.ColorJitter(brightness=0.2, contrast=0.2))
    elif preset not in ("none", "basic"):
        raise ValueError(f"unknown augment preset {preset!r}: none | basic | full")
    steps.append(T.Normalize(MEAN, STD))
    return T.Compose(steps)


def make_batch(images: torch.Tensor, indices: torch.Tensor, transform: T.Compose) -> torch.Tensor:
    """float32 [B, 3, 32, 32]: each image scaled to [0, 1], then augmented on its own."""
    return torch.stack([transform(images[i].float().div_(255)) for i in indices.tolist()])
