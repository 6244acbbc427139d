# A model defined directly as a module-level nn.Sequential, Fashion-MNIST sized.
import torch.nn as nn

model = nn.Sequential(
    nn.Conv2d(1, 32, kernel_size=3, padding=1),
    nn.BatchNorm2d(32),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(32, 64, kernel_size=3),
    nn.BatchNorm2d(64),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(64 * 6 * 6, 600),
    nn.Dropout(0.25),
    nn.Linear(600, 120),
    nn.Linear(120, 10),
)
