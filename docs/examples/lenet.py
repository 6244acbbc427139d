"""LeNet-5 (LeCun et al., 1998) adapted to 32x32 RGB images such as CIFAR-10.

This file has a deliberate bug for `cnnshape check` to find: after two
5x5 convolutions and two 2x2 poolings a 32x32 image is 5x5, so the first
Linear layer needs 16 * 5 * 5 = 400 inputs, not 16 * 6 * 6 = 576. torch only
says so when the model runs ("mat1 and mat2 shapes cannot be multiplied");
`cnnshape check --fix` rewrites it.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


# in: (BS, 3, 32, 32)
class LeNet5(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, kernel_size=5)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 6 * 6, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)
