# A user-defined BaseModel(nn.Module) subclassed by an encoder-decoder using Upsample and padding layers.
import torch
import torch.nn as nn


class BaseModel(nn.Module):
    """Common helpers shared by the project's models."""

    def __init__(self):
        super().__init__()

    def count_parameters(self):
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class SegNetLite(BaseModel):
    norm_layer = nn.BatchNorm2d

    def __init__(self, in_ch=3, n_classes=4, base=16):
        super().__init__()
        self.enc = nn.Sequential(
            nn.ZeroPad2d(1),
            nn.Conv2d(in_ch, base, 3),
            self.norm_layer(base),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(base, base * 2, 3, padding=1),
            self.norm_layer(base * 2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.dec = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(base * 2, base, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.ReplicationPad2d((1, 1, 1, 1)),
            nn.Conv2d(base, base, 3),
            nn.ReLU(inplace=True),
            nn.Dropout2d(0.1),
        )
        self.classifier = nn.Conv2d(base, n_classes, kernel_size=1)

    def forward(self, x):
        x = self.enc(x)
        x = self.dec(x)
        return self.classifier(x)
