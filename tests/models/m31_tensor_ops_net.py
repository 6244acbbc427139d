# Assorted tensor manipulations between layers: unsqueeze, squeeze, permute, flatten, chunk-free split, mean.
import torch
import torch.nn as nn
import torch.nn.functional as F


class PatchMixer(nn.Module):
    """Input: [B, 3, 32, 32]"""

    def __init__(self, patch=4, dim=48, num_classes=10):
        super().__init__()
        self.patch = patch
        self.embed = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        self.norm1 = nn.LayerNorm(dim)
        num_tokens = (32 // patch) ** 2
        self.token_mix = nn.Linear(num_tokens, num_tokens)
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mix = nn.Sequential(nn.Linear(dim, dim * 2), nn.GELU(), nn.Linear(dim * 2, dim))
        self.score = nn.Conv1d(1, 1, kernel_size=3, padding=1)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.embed(x)                      # B, dim, 8, 8
        x = x.flatten(2).permute(0, 2, 1)      # B, 64, dim
        y = self.norm1(x).transpose(1, 2)      # B, dim, 64
        x = x + self.token_mix(y).transpose(1, 2)
        x = x + self.channel_mix(self.norm2(x))
        pooled = x.mean(dim=1)                 # B, dim
        s = self.score(pooled.unsqueeze(1)).squeeze(1)
        x = pooled * torch.sigmoid(s)
        return F.log_softmax(self.head(x), dim=-1)
