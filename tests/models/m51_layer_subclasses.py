# Layers made by extending torch's: a masked conv with its own forward through F.conv2d, a conv
# subclass with its own signature and no forward, a Linear through F.linear with a Parameter weight,
# weight_norm / spectral_norm, and a norm layer chosen by functools.partial.
import functools

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm, weight_norm


class MaskedConv2d(nn.Conv2d):
    def __init__(self, *args, **kwargs):
        super(MaskedConv2d, self).__init__(*args, **kwargs)
        if self.bias is not None:
            self.mask_bias = nn.Parameter(torch.ones_like(self.bias))
        self.mask_weight = nn.Parameter(torch.ones_like(self.weight))

    def forward(self, input):
        bias = self.bias * self.mask_bias if self.bias is not None else None
        return F.conv2d(input, self.weight * self.mask_weight, bias, self.stride, self.padding, self.dilation,
                        self.groups)


class Conv3x3(nn.Conv2d):
    def __init__(self, cin, cout, stride=1):
        super().__init__(cin, cout, 3, stride=stride, padding=1, bias=False)
        nn.init.kaiming_normal_(self.weight)


class MaskedLinear(nn.Module):
    def __init__(self, fin, fout):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fout, fin) * 0.01)
        self.bias = nn.Parameter(torch.zeros(fout))
        self.register_buffer("mask", torch.ones(fout, fin))

    def forward(self, x):
        return F.linear(x, self.weight * self.mask, self.bias)


class Net(nn.Module):
    def __init__(self, in_ch=3, width=16, num_classes=10, norm_layer=nn.BatchNorm2d):
        super().__init__()
        if type(norm_layer) == functools.partial:
            use_bias = norm_layer.func == nn.InstanceNorm2d
        else:
            use_bias = norm_layer == nn.InstanceNorm2d
        self.stem = MaskedConv2d(in_ch, width, kernel_size=5, stride=2, padding=2, bias=use_bias)
        self.norm = norm_layer(width)
        self.down = Conv3x3(width, 2 * width, stride=2)
        self.masked = MaskedConv2d(2 * width, 2 * width, 3, 1, 1)
        self.temporal = weight_norm(nn.Conv1d(2 * width, width, 3, padding=1))
        self.spectral = spectral_norm(nn.Conv1d(width, width, 1))
        self.scale = nn.Parameter(torch.ones(1, width, 1))
        self.head = MaskedLinear(width * 64, num_classes)

    def forward(self, x):
        x = F.relu(self.norm(self.stem(x)))
        x = self.masked(self.down(x))
        x = x.flatten(2)
        x = self.spectral(self.temporal(x)) * self.scale
        return self.head(x.flatten(1))


norm = functools.partial(nn.InstanceNorm2d, affine=True)
model = Net(norm_layer=norm)
