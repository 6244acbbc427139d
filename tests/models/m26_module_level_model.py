# Constructor parameters with defaults, module-level instance, x.reshape(B, -1) after unpacking x.shape.
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_channels=3, num_classes=10, width=32, dropout=0.25):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width * 2, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(width * 2)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout2d(dropout)
        self.fc = nn.Linear(width * 2 * 8 * 8, num_classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))
        x = self.drop(x)
        B, C, H, W = x.shape
        x = x.reshape(B, -1)
        return self.fc(x)


model = Net(num_classes=5)
