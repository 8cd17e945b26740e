#!/usr/bin/env python3
"""PyTorch reference logits for fleet's pretrained-weight import.

Builds torchvision's resnet18 and resnet34 (weights=None), sets every
parameter and buffer by a formula test/unit/model/pretrained-import.test.ts
regenerates (so no weight file is committed), runs a small input batch also
made by formula in eval mode, and writes
test/fixtures/torch-reference/resnet{18,34}-logits.json.

Run with Debian's PyTorch: /usr/bin/python3 scripts/torch-reference/resnet_logits.py

Formula (float64, then rounded to float32), for the t-th entry of
state_dict() (t counts every entry, num_batches_tracked included) and its
k-th element in PyTorch's row-major layout, s = sin(0.37 * k + 1.3 * t):
  conv weight [O, I, kh, kw]: s * sqrt(2 / (I * kh * kw))
  bn weight: 1 + 0.1 s;  bn bias: 0.1 s;  running_mean: 0.1 s
  running_var: 0.75 + 0.25 s (positive);  num_batches_tracked: 0
  fc.weight [O, I]: s / sqrt(I);  fc.bias: 0.01 s
Input x[n, c, h, w] (NCHW) = sin(0.7 n + 1.1 c + 0.13 h + 0.29 w).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torchvision

BATCH, SIZE = 2, 64
OUT_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'torch-reference')


def formula(name, shape, t):
    n = int(np.prod(shape)) if len(shape) else 1
    s = np.sin(0.37 * np.arange(n, dtype=np.float64) + 1.3 * t)
    leaf = name.rsplit('.', 1)[-1]
    is_bn = '.bn' in '.' + name or 'downsample.1' in name
    if name.startswith('fc.'):
        v = s / math.sqrt(shape[1]) if leaf == 'weight' else 0.01 * s
    elif leaf == 'weight' and len(shape) == 4:
        v = s * math.sqrt(2.0 / (shape[1] * shape[2] * shape[3]))
    elif is_bn and leaf == 'weight':
        v = 1 + 0.1 * s
    elif leaf in ('bias', 'running_mean'):
        v = 0.1 * s
    elif leaf == 'running_var':
        v = 0.75 + 0.25 * s
    else:
        raise ValueError(f'no formula for {name} {shape}')
    return v.astype(np.float32).reshape(shape)


def main():
    torch.set_grad_enabled(False)
    n, c, h, w = np.meshgrid(np.arange(BATCH), np.arange(3), np.arange(SIZE), np.arange(SIZE), indexing='ij')
    x = np.sin(0.7 * n + 1.1 * c + 0.13 * h + 0.29 * w).astype(np.float32)
    for arch in ('resnet18', 'resnet34'):
        model = getattr(torchvision.models, arch)(weights=None)
        state = model.state_dict()
        tensors = []
        new_state = {}
        for t, (name, value) in enumerate(state.items()):
            shape = list(value.shape)
            tensors.append({'name': name, 'shape': shape})
            if name.endswith('num_batches_tracked'):
                new_state[name] = torch.zeros_like(value)
            else:
                new_state[name] = torch.from_numpy(formula(name, shape, t))
        model.load_state_dict(new_state)
        model.eval()
        logits = model(torch.from_numpy(x)).numpy()
        out = {
            'arch': arch,
            'torch': torch.__version__,
            'torchvision': torchvision.__version__,
            'weights': 'see scripts/torch-reference/resnet_logits.py',
            'input': {'batch': BATCH, 'channels': 3, 'height': SIZE, 'width': SIZE, 'formula': 'sin(0.7 n + 1.1 c + 0.13 h + 0.29 w), NCHW'},
            'tensors': tensors,
            'logits': [[float(v) for v in row] for row in logits],
        }
        path = os.path.join(OUT_DIR, f'{arch}-logits.json')
        with open(path, 'w') as f:
            json.dump(out, f, separators=(',', ':'))
            f.write('\n')
        print(f'{path}: {len(tensors)} tensors, logits {logits.shape}, max |logit| {np.abs(logits).max():.4f}', file=sys.stderr)


if __name__ == '__main__':
    main()
