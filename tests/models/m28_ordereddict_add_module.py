# Sequential from an OrderedDict, then add_module in a loop with f-string names.
from collections import OrderedDict

import torch
import torch.nn as nn


class StackedNet(nn.Module):
    def __init__(self, num_layers=3, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(1, 16, kernel_size=3, padding=1)),
            ("norm0", nn.BatchNorm2d(16)),
            ("relu0", nn.ReLU(inplace=True)),
        ]))
        self.body = nn.Sequential()
        ch = 16
        for i in range(num_layers):
            self.body.add_module(f"conv{i + 1}", nn.Conv2d(ch, ch * 2, kernel_size=3, padding=1))
            self.body.add_module(f"relu{i + 1}", nn.ReLU(inplace=True))
            self.body.add_module(f"pool{i + 1}", nn.MaxPool2d(2))
            ch *= 2
        self.classifier = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(ch * 3 * 3, num_classes)),
        ]))

    def forward(self, x):
        x = self.stem(x)
        x = self.body(x)
        return self.classifier(x)
