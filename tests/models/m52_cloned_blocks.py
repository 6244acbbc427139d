# Blocks cloned with copy.deepcopy (the Annotated Transformer's clones), stochastic-depth rates from
# torch.linspace(...).item(), a class token and position embedding as Parameters.
import copy

import torch
import torch.nn as nn


def clones(module, n):
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class DropPath(nn.Module):
    def __init__(self, p=0.0):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = torch.rand(x.shape[0], 1, 1) > self.p
        return x * keep / (1 - self.p)


class EncoderLayer(nn.Module):
    def __init__(self, dim, heads, drop_path=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.drop_path(self.attn(y, y, y)[0])
        return x + self.drop_path(self.mlp(self.norm2(x)))


class TinyViT(nn.Module):
    def __init__(self, image=32, patch=8, dim=48, depth=3, heads=4, classes=10, drop_path_rate=0.1):
        super().__init__()
        n = (image // patch) ** 2
        self.embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, n + 1, dim))
        rates = [r.item() for r in torch.linspace(0, drop_path_rate, depth)]
        self.blocks = nn.Sequential(*[EncoderLayer(dim, heads, rates[i]) for i in range(depth)])
        self.extra = clones(EncoderLayer(dim, heads), 2)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.blocks(x)
        for layer in self.extra:
            x = layer(x)
        return self.head(x[:, 0])


model = TinyViT()
