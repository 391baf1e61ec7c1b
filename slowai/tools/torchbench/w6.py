"""W6 of shared/bench/WORKLOADS.md in PyTorch: Stable Diffusion v1's VAE decoder at full size with
random weights (post-quant 1x1 conv, conv_in 4->512, a mid block of ResNet, single-head attention
over 4096 positions and ResNet, four up blocks of three ResNets each over channels 512, 512, 256,
128 with nearest 2x upsampling and a conv after the first three, GroupNorm, SiLU, conv_out 128->3),
one forward of a 1x4x64x64 latent to a 1x3x512x512 image. The architecture is diffusers'
AutoencoderKL decoder written out in plain PyTorch (diffusers is not installable here); the
reference for slowai/sd/vae's BenchmarkSD1Decode. Prints seconds per forward.

    /usr/bin/python3 slowai/tools/torchbench/w6.py [--threads 2] [--runs 3]

Needs Debian's python3-torch (and libopenblas0-pthread); see slowai/backend/PERFORMANCE.md.
"""
import argparse
import time

import torch
from torch import nn
import torch.nn.functional as F


def norm(c):
    return nn.GroupNorm(32, c, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, ci, co):
        super().__init__()
        self.norm1, self.conv1 = norm(ci), nn.Conv2d(ci, co, 3, padding=1)
        self.norm2, self.conv2 = norm(co), nn.Conv2d(co, co, 3, padding=1)
        self.shortcut = nn.Conv2d(ci, co, 1) if ci != co else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.shortcut(x) + h


class Attention(nn.Module):
    """Single-head self-attention over the pixels, as diffusers computes it without SDPA
    (torch 1.13 has none): baddbmm of q and k, softmax, bmm with v."""

    def __init__(self, c):
        super().__init__()
        self.norm = norm(c)
        self.q, self.k, self.v, self.out = (nn.Linear(c, c) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        s = self.norm(x).reshape(b, c, h * w).transpose(1, 2)
        q, k, v = self.q(s), self.k(s), self.v(s)
        scores = torch.baddbmm(torch.empty(b, h * w, h * w), q, k.transpose(1, 2), beta=0, alpha=c ** -0.5)
        o = self.out(torch.bmm(scores.softmax(-1), v))
        return x + o.transpose(1, 2).reshape(b, c, h, w)


class Decoder(nn.Module):
    def __init__(self, chans=(128, 256, 512, 512), layers=2):
        super().__init__()
        self.post_quant_conv = nn.Conv2d(4, 4, 1)
        top = chans[-1]
        self.conv_in = nn.Conv2d(4, top, 3, padding=1)
        self.mid = nn.ModuleList([ResnetBlock(top, top), Attention(top), ResnetBlock(top, top)])
        self.up = nn.ModuleList()
        ch = top
        rev = list(reversed(chans))
        for i, co in enumerate(rev):
            blocks = nn.ModuleList([ResnetBlock(ch if j == 0 else co, co) for j in range(layers + 1)])
            ch = co
            upsample = nn.Conv2d(co, co, 3, padding=1) if i < len(rev) - 1 else None
            self.up.append(nn.ModuleDict({"resnets": blocks, **({"upsample": upsample} if upsample else {})}))
        self.norm_out, self.conv_out = norm(ch), nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, z):
        h = self.conv_in(self.post_quant_conv(z))
        for m in self.mid:
            h = m(h)
        for blk in self.up:
            for r in blk["resnets"]:
                h = r(h)
            if "upsample" in blk:
                h = blk["upsample"](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dec = Decoder().eval()
    n = sum(q.numel() for q in dec.parameters())
    assert n == 49_490_199, n  # slowai/sd/vae: decoder.* and post_quant_conv.*
    # The same latent as the Go benchmark: (i mod 13)/6 - 1.
    z = ((torch.arange(4 * 64 * 64) % 13).float() / 6 - 1).reshape(1, 4, 64, 64)
    with torch.no_grad():
        dec(z)  # warm-up
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {n} parameters")
        for r in range(a.runs):
            t = time.perf_counter()
            img = dec(z)
            print(f"run {r + 1}: {time.perf_counter() - t:.2f} s per decode {tuple(img.shape)}")


if __name__ == "__main__":
    main()
