"""W3 of shared/bench/WORKLOADS.md in PyTorch: one training step of the 1,433,377-parameter DDPM
U-Net on a batch of 128 1x32x32 images (noising at random timesteps of a cosine schedule, eps-MSE,
AdamW, an EMA of the weights), the reference for slowai/ddpm's BenchmarkW3, which takes the same
step through the Learner. Prints images/s at the median step per run.

    /usr/bin/python3 slowai/tools/torchbench/w3.py [--threads 2] [--steps 8] [--runs 3]

Needs Debian's python3-torch (and libopenblas0-pthread); see slowai/backend/PERFORMANCE.md.
"""
import argparse
import copy
import math
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    def __init__(self, ci, co, emb):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, ci)
        self.conv1 = nn.Conv2d(ci, co, 3, padding=1)
        self.time_proj = nn.Linear(emb, co)
        self.norm2 = nn.GroupNorm(8, co)
        self.conv2 = nn.Conv2d(co, co, 3, padding=1)
        self.skip = nn.Conv2d(ci, co, 1) if ci != co else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_proj(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    def __init__(self, chans=(32, 64, 128), emb=128):
        super().__init__()
        self.emb = emb
        self.time_mlp = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.conv_in = nn.Conv2d(1, chans[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        ch = chans[0]
        for i, co in enumerate(chans):
            self.down.append(ResBlock(ch, co, emb))
            ch = co
            if i < len(chans) - 1:
                self.downsample.append(nn.Conv2d(co, co, 3, stride=2, padding=1))
        self.mid = ResBlock(ch, ch, emb)
        self.up = nn.ModuleList()
        for lvl in reversed(chans):
            self.up.append(ResBlock(ch + lvl, lvl, emb))
            ch = lvl
        self.norm_out = nn.GroupNorm(8, ch)
        self.conv_out = nn.Conv2d(ch, 1, 3, padding=1)

    def forward(self, x, t):
        half = self.emb // 2
        freqs = torch.exp(-torch.arange(half) * math.log(10000) / half)
        arg = t.float()[:, None] * freqs[None]
        emb = self.time_mlp(torch.cat([arg.sin(), arg.cos()], -1))
        h = self.conv_in(x)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.mid(h, emb)
        for block in self.up:
            skip = skips.pop()
            if h.shape[-1] != skip.shape[-1]:
                h = F.interpolate(h, scale_factor=skip.shape[-1] // h.shape[-1], mode="nearest")
            h = block(torch.cat([h, skip], 1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=8, help="timed steps per run")
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = UNet()
    n = sum(q.numel() for q in net.parameters())
    assert n == 1_433_377, n
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-5)
    steps = torch.arange(1001) / 1000
    abar = torch.cos((steps + 0.008) / 1.008 * math.pi / 2) ** 2
    abar = (abar / abar[0])[1:]
    b = 128
    images = torch.rand(512, 1, 32, 32) * 2 - 1

    def step():
        x0 = images[torch.randint(0, len(images), (b,))]
        t = torch.randint(0, 1000, (b,))
        eps = torch.randn_like(x0)
        ab = abar[t][:, None, None, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        opt.zero_grad()
        loss = F.mse_loss(net(xt, t), eps)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.lerp_(p, 1 - 0.999)
        loss.item()

    step()
    step()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {n} parameters")
    for r in range(a.runs):
        times = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        print(f"run {r + 1}: {b / med:.1f} images/s at the median step ({1000 * med:.0f} ms/step)")


if __name__ == "__main__":
    main()
