#!/usr/bin/env python3
"""Convert a torchvision ResNet checkpoint (.pth state_dict) to safetensors for fleet's --pretrained.

    python3 scripts/pth-to-safetensors.py resnet18-f37072fd.pth resnet18.safetensors

Runs with your own PyTorch (no safetensors package needed: the format, an
8-byte little-endian header length, a JSON header and the raw little-endian
tensor bytes, is written here). Names and layouts are kept as torchvision has
them (conv weights OIHW, fc [out, in]); fleet converts on import. Accepts a
bare state_dict or a dict holding one under 'state_dict' or 'model'; a
'module.' prefix (DataParallel) is removed. Nothing is downloaded.
"""
import json
import struct
import sys

import torch

DTYPES = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.int64: 'I64'}


def state_dict_of(obj):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    for key in ('state_dict', 'model'):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            return obj[key]
    return obj


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    source, target = argv[1], argv[2]
    state = state_dict_of(torch.load(source, map_location='cpu'))
    header, chunks, offset = {'__metadata__': {'format': 'pt', 'source': source.rsplit('/', 1)[-1]}}, [], 0
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            continue
        if name.startswith('module.'):
            name = name[len('module.'):]
        tensor = tensor.detach().cpu().contiguous()
        if tensor.dtype not in DTYPES:
            tensor = tensor.float()
        # Little-endian bytes: view as uint8 (bfloat16 has no numpy type).
        data = tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b''
        if sys.byteorder != 'little' and tensor.element_size() > 1:
            raise SystemExit('big-endian machine: not supported by this script')
        header[name] = {'dtype': DTYPES[tensor.dtype], 'shape': list(tensor.shape), 'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(target, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for data in chunks:
            f.write(data)
    print(f'{target}: {len(header) - 1} tensors, {offset} bytes of data', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
