"""W2 of shared/bench/WORKLOADS.md in PyTorch: a 3x3 convolution, stride 1, same padding, of a
64x32x28x28 batch to 64 channels, no bias; forward alone, and forward plus the gradients of sum(y^2)
with respect to input and kernel. The reference for slowai/backend's BenchmarkW2ConvForward and
BenchmarkW2ConvForwardBackward. Prints GFLOP/s (median iteration) per run, in PyTorch's default
layout (NCHW) and in channels-last (NHWC, the layout the Go benchmark's input has).

    /usr/bin/python3 slowai/tools/torchbench/w2.py [--threads 2] [--iters 20] [--runs 3]

Needs Debian's python3-torch (and libopenblas0-pthread); see slowai/backend/PERFORMANCE.md.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

FLOP = 2 * 64 * 28 * 28 * 64 * 32 * 9


def median_seconds(fn, iters):
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=20, help="timed iterations per run")
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(3)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for layout in (torch.contiguous_format, torch.channels_last):
        x = (torch.rand(64, 32, 28, 28) * 2 - 1).contiguous(memory_format=layout)
        k = (torch.rand(64, 32, 3, 3) * 2 - 1).contiguous(memory_format=layout)

        def forward():
            with torch.no_grad():
                F.conv2d(x, k, padding=1)

        xg, kg = x.clone().requires_grad_(), k.clone().requires_grad_()

        def forward_backward():
            xg.grad = kg.grad = None
            F.conv2d(xg, kg, padding=1).square().sum().backward()

        name = "NCHW" if layout is torch.contiguous_format else "channels-last"
        for fn in (forward, forward_backward):
            fn()
            fn()
        for r in range(a.runs):
            fwd = FLOP / median_seconds(forward, a.iters) / 1e9
            both = 3 * FLOP / median_seconds(forward_backward, a.iters) / 1e9
            print(f"{name} run {r + 1}: forward {fwd:.1f} GFLOP/s, forward+backward {both:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
