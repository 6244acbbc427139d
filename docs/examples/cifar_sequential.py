"""A small CIFAR-10 classifier written as one nn.Sequential: correct, every layer's shape written beside it.

The `# out:` comments were written by `cnnshape annotate`; `cnnshape annotate --check` keeps them honest.
"""

import torch.nn as nn

# in: (BS, 3, 32, 32)
model = nn.Sequential(
    nn.Conv2d(3, 32, kernel_size=3, padding=1),  # out: (BS, 32, 32, 32)
    nn.BatchNorm2d(32),  # out: (BS, 32, 32, 32)
    nn.ReLU(inplace=True),  # out: (BS, 32, 32, 32)
    nn.MaxPool2d(2),  # out: (BS, 32, 16, 16)
    nn.Conv2d(32, 64, kernel_size=3, padding=1),  # out: (BS, 64, 16, 16)
    nn.BatchNorm2d(64),  # out: (BS, 64, 16, 16)
    nn.ReLU(inplace=True),  # out: (BS, 64, 16, 16)
    nn.MaxPool2d(2),  # out: (BS, 64, 8, 8)
    nn.Conv2d(64, 128, kernel_size=3, padding=1),  # out: (BS, 128, 8, 8)
    nn.BatchNorm2d(128),  # out: (BS, 128, 8, 8)
    nn.ReLU(inplace=True),  # out: (BS, 128, 8, 8)
    nn.MaxPool2d(2),  # out: (BS, 128, 4, 4)
    nn.Flatten(),  # out: (BS, 2048)
    nn.Linear(128 * 4 * 4, 256),  # out: (BS, 256)
    nn.ReLU(inplace=True),  # out: (BS, 256)
    nn.Dropout(0.5),  # out: (BS, 256)
    nn.Linear(256, 10),  # out: (BS, 10)
)
