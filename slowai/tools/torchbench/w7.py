"""W7 of shared/bench/WORKLOADS.md in PyTorch: one training step of the Fashion-MNIST ResNet with
global average pooling (batch 256 of 1x28x28, train-mode BatchNorm, cross-entropy, AdamW), the
reference for slowai/resnet's BenchmarkW7ResNetStep. Prints images/s at the median step per run.

    python3 slowai/tools/torchbench/w7.py [--threads 2] [--steps 10] [--runs 3]

Needs Debian's python3-torch (and libopenblas0-pthread); see slowai/backend/PERFORMANCE.md.
"""
import argparse
import math
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    def __init__(self, ci, co, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(ci, co, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(co)
        self.conv2 = nn.Conv2d(co, co, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(co)
        self.stride = stride
        self.idconv = nn.Conv2d(ci, co, 1, bias=False) if ci != co else None

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        idn = x
        if self.stride == 2:
            idn = F.avg_pool2d(idn, 2, ceil_mode=True)
        if self.idconv is not None:
            idn = self.idconv(idn)
        return F.relu(h + idn)


def w7_net():
    chans = [1, 16, 32, 64, 128, 256]
    blocks = [ResBlock(chans[i], chans[i + 1], 1 if i == 0 else 2) for i in range(5)]
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(256, 10, bias=False), nn.BatchNorm1d(10))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10, help="timed steps per run")
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = w7_net()
    n = sum(q.numel() for q in net.parameters())
    assert n == 1_225_588, n
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-5)
    b = 256
    # The same synthetic batch as the Go benchmark: pixels 0.5+0.5 sin(0.013 i), labels i mod 10.
    x = torch.tensor([0.5 + 0.5 * math.sin(i * 0.013) for i in range(b * 28 * 28)]).reshape(b, 1, 28, 28)
    y = torch.arange(b) % 10

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        loss.item()

    step()
    step()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {n} parameters")
    for r in range(a.runs):
        times = []
        for _ in range(a.steps):
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        print(f"run {r + 1}: {b / med:.1f} images/s at the median step ({1000 * med:.1f} ms/step)")


if __name__ == "__main__":
    main()
