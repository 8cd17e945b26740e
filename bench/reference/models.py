"""fleet's architectures in PyTorch, layer for layer (src/model/architectures).

cnn: the classic CIFAR10CNN, 3,249,994 parameters.
resnet18: kuangliu/pytorch-cifar's ResNet-18 for 32x32 inputs, 11,173,962.
BatchNorm keeps PyTorch's defaults (momentum 0.1, eps 1e-5), which fleet's
BatchNorm layer copies.
"""
from torch import nn


class Cifar10Cnn(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for ch in (64, 128, 256):
            for _ in range(2):
                layers += [nn.Conv2d(in_ch, ch, 3, padding=1, bias=True), nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]
                in_ch = ch
            layers += [nn.MaxPool2d(2), nn.Dropout2d(0.25)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * 4 * 4, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(512, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, ch, 1, stride=stride, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    """3x3 stride-1 stem, stages of basic blocks, global average pool, linear."""

    def __init__(self, stem: int, stages: list[tuple[int, int, int]], num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        in_ch = stem
        for ch, count, stride in stages:
            for b in range(count):
                blocks.append(BasicBlock(in_ch, ch, stride if b == 0 else 1))
                in_ch = ch
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_ch, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


RESNET18_STAGES = [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)]
RESNET20_STAGES = [(16, 3, 1), (32, 3, 2), (64, 3, 2)]


def build_model(name: str, num_classes: int = 10) -> nn.Module:
    if name == "cnn":
        return Cifar10Cnn(num_classes)
    if name == "resnet18":
        return ResNet(64, RESNET18_STAGES, num_classes)
    if name == "resnet":
        return ResNet(16, RESNET20_STAGES, num_classes)
    raise ValueError(f"unknown model {name!r}: cnn | resnet | resnet18")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
