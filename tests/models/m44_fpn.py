# Feature Pyramid Network top-down path: F.interpolate(size=lateral.shape[-2:]) plus lateral 1x1 convs.
import torch
import torch.nn as nn
import torch.nn.functional as F


class FPN(nn.Module):
    def __init__(self, in_channels_list=(16, 32, 64, 128), out_channels=32):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, in_channels_list[0], 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList()
        for cin, cout in zip(in_channels_list[:-1], in_channels_list[1:]):
            self.stages.append(nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU(inplace=True)))
        self.inner_blocks = nn.ModuleList([nn.Conv2d(c, out_channels, 1) for c in in_channels_list])
        self.layer_blocks = nn.ModuleList([nn.Conv2d(out_channels, out_channels, 3, padding=1)
                                           for _ in in_channels_list])

    def forward(self, x):
        feats = [self.stem(x)]
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        last_inner = self.inner_blocks[-1](feats[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for idx in range(len(feats) - 2, -1, -1):
            inner_lateral = self.inner_blocks[idx](feats[idx])
            feat_shape = inner_lateral.shape[-2:]
            inner_top_down = F.interpolate(last_inner, size=feat_shape, mode="nearest")
            last_inner = inner_lateral + inner_top_down
            results.insert(0, self.layer_blocks[idx](last_inner))
        return results[0]
