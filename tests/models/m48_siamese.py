# Siamese network applying one shared tower twice (forward_once), distance head on |a - b|.
import torch
import torch.nn as nn


class SiameseNetwork(nn.Module):
    def __init__(self):
        super(SiameseNetwork, self).__init__()
        self.cnn1 = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(1, 8, kernel_size=3),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(8),

            nn.ReflectionPad2d(1),
            nn.Conv2d(8, 16, kernel_size=3),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(16),
            nn.MaxPool2d(2),
        )
        self.fc1 = nn.Sequential(
            nn.Linear(16 * 50 * 50, 128),
            nn.ReLU(inplace=True),
            nn.Linear(128, 32))
        self.out = nn.Linear(32, 1)

    def forward_once(self, x):
        output = self.cnn1(x)
        output = output.view(output.size()[0], -1)
        output = self.fc1(output)
        return output

    def forward(self, input1):
        input2 = torch.flip(input1, dims=[3])
        output1 = self.forward_once(input1)
        output2 = self.forward_once(input2)
        return self.out(torch.abs(output1 - output2))
