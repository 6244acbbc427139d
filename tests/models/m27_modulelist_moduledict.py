# Blocks in an nn.ModuleList iterated in forward, multi-task heads in an nn.ModuleDict.
import torch
import torch.nn as nn


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.norm = nn.GroupNorm(4, cout)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class MultiHeadNet(nn.Module):
    def __init__(self, channels=(16, 32, 64, 128), tasks=None):
        super().__init__()
        if tasks is None:
            tasks = {"digit": 10, "parity": 2, "size": 3}
        self.stem = nn.Conv2d(3, channels[0], 3, padding=1)
        self.blocks = nn.ModuleList(
            [ConvBlock(channels[i], channels[i + 1], stride=2) for i in range(len(channels) - 1)]
        )
        self.heads = nn.ModuleDict({name: nn.Linear(channels[-1], n) for name, n in tasks.items()})

    def forward(self, x):
        x = self.stem(x)
        for blk in self.blocks:
            x = blk(x)
        feat = x.mean(dim=(2, 3))
        outs = {name: head(feat) for name, head in self.heads.items()}
        return outs["digit"]
