"""Python constructs that build and run models, each compared with torch itself."""

from __future__ import annotations

import pytest

from support import compare_with_torch

pytestmark = pytest.mark.torch

CASES = {
    'import styles': ('Net()', [2, 3, 32, 32], '''
import torch
from torch import nn
import torch.nn as tnn
from torch.nn import Conv2d, Linear
import torch.nn.functional as F
class Net(torch.nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.a = Conv2d(3, 8, 3)
        self.b = tnn.MaxPool2d(2)
        self.c = torch.nn.Conv2d(8, 16, 3, stride=2)
        self.d = nn.AdaptiveAvgPool2d((1, 1))
        self.e = Linear(16, 10)
    def forward(self, x):
        x = self.b(F.relu(self.a(x)))
        x = self.d(self.c(x))
        x = torch.flatten(x, 1)
        return self.e(x)
'''),
    'vgg cfg': ("VGG('A')", [2, 3, 32, 32], '''
import torch.nn as nn
cfg = {'A': [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M']}
class VGG(nn.Module):
    def __init__(self, vgg_name='A', num_classes=10):
        super().__init__()
        self.features = self._make_layers(cfg[vgg_name])
        self.classifier = nn.Linear(512, num_classes)
    def forward(self, x):
        out = self.features(x)
        out = out.view(out.size(0), -1)
        return self.classifier(out)
    def _make_layers(self, cfg):
        layers = []
        in_channels = 3
        for x in cfg:
            if x == 'M':
                layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                layers += [nn.Conv2d(in_channels, x, kernel_size=3, padding=1), nn.BatchNorm2d(x), nn.ReLU(inplace=True)]
                in_channels = x
        layers += [nn.AvgPool2d(kernel_size=1, stride=1)]
        return nn.Sequential(*layers)
'''),
    'resnet': ('ResNet18()', [2, 3, 32, 32], '''
import torch
import torch.nn as nn
import torch.nn.functional as F
class BasicBlock(nn.Module):
    expansion = 1
    def __init__(self, in_planes, planes, stride=1):
        super(BasicBlock, self).__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion*planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion*planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion*planes))
    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out
class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10):
        super(ResNet, self).__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(block, 64, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 128, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 256, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(block, 512, num_blocks[3], stride=2)
        self.linear = nn.Linear(512*block.expansion, num_classes)
    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1]*(num_blocks-1)
        layers = []
        for stride in strides:
            layers.append(block(self.in_planes, planes, stride))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)
    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.avg_pool2d(out, 4)
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out
def ResNet18():
    return ResNet(BasicBlock, [2, 2, 2, 2])
'''),
    'lenet num_flat': ('Net()', [2, 1, 32, 32], '''
import torch
import torch.nn as nn
import torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 16, 3)
        self.fc1 = nn.Linear(16 * 6 * 6, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, self.num_flat_features(x))
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x
    def num_flat_features(self, x):
        size = x.size()[1:]
        num_features = 1
        for s in size:
            num_features *= s
        return num_features
'''),
    'modulelist dict': ('Blocks()', [2, 3, 32, 32], '''
import torch
import torch.nn as nn
class Blocks(nn.Module):
    def __init__(self, chans=(3, 8, 16, 32)):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)) for a, b in zip(chans[:-1], chans[1:])])
        self.heads = nn.ModuleDict({'cls': nn.Linear(32 * 4 * 4, 10), 'box': nn.Linear(32 * 4 * 4, 4)})
        self.seq = nn.Sequential()
        for i in range(2):
            self.seq.add_module(f"fc{i}", nn.Linear(10, 10))
    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        x = x.flatten(1)
        y = self.heads['cls'](x)
        z = self.heads['box'](x)
        return self.seq(y)
'''),
    'lightning + example': ('LitModel()', [2, 1, 28, 28], '''
import torch
import pytorch_lightning as pl
from torch import nn
class LitModel(pl.LightningModule):
    def __init__(self, hidden=64):
        super().__init__()
        self.example_input_array = torch.rand(1, 1, 28, 28)
        self.l1 = nn.Linear(28 * 28, hidden)
        self.l2 = nn.Linear(hidden, 10)
    def forward(self, x):
        x = x.view(x.size(0), -1)
        return self.l2(torch.relu(self.l1(x)))
'''),
    'unet-ish cat': ('UNet()', [2, 3, 64, 64], '''
import torch
import torch.nn as nn
def double_conv(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(o, o, 3, padding=1), nn.ReLU(inplace=True))
class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down1 = double_conv(3, 16)
        self.down2 = double_conv(16, 32)
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.conv = double_conv(32, 16)
        self.out = nn.Conv2d(16, 1, 1)
    def forward(self, x):
        c1 = self.down1(x)
        c2 = self.down2(self.pool(c1))
        u = self.up(c2)
        u = torch.cat([u, c1], dim=1)
        return self.out(self.conv(u))
'''),
    'base class + attrs + getattr': ('Net()', [2, 3, 32, 32], '''
import torch
import torch.nn as nn
import torch.nn.functional as F
class BaseModel(nn.Module):
    channels = [3, 16, 32]
    def __init__(self, num_classes):
        super().__init__()
        for i, (a, b) in enumerate(zip(self.channels[:-1], self.channels[1:])):
            setattr(self, f"conv{i}", nn.Conv2d(a, b, kernel_size=3, padding=1))
        self.num_classes = num_classes
class Net(BaseModel):
    def __init__(self, num_classes=10, drop=0.5):
        super(Net, self).__init__(num_classes)
        self.pool = nn.MaxPool2d(2, 2)
        self.dropout = nn.Dropout(drop) if drop > 0 else nn.Identity()
        self.fc = nn.Linear(self.channels[-1] * 8 * 8, self.num_classes)
    def forward(self, x):
        for i in range(len(self.channels) - 1):
            x = self.pool(F.relu(getattr(self, f"conv{i}")(x)))
        B, C, H, W = x.shape
        x = x.reshape(B, C * H * W)
        x = self.dropout(x)
        return F.log_softmax(self.fc(x), dim=1)
'''),
    'gap + interpolate + permute': ('M()', [2, 3, 32, 32], '''
import torch
import torch.nn as nn
import torch.nn.functional as F
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU())
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.pw = nn.Conv2d(32, 64, 1)
        self.up = nn.Upsample(scale_factor=2, mode='nearest')
        self.head = nn.Linear(64, 5)
        self.rnn = nn.GRU(64, 32, batch_first=True, bidirectional=True)
        self.fc2 = nn.Linear(64, 3)
    def forward(self, x):
        x = self.stem(x)
        x = self.pw(self.dw(x))
        y = self.up(x)
        y = F.interpolate(y, scale_factor=0.5)
        x = x + y
        seq = x.flatten(2).permute(0, 2, 1)
        out, h = self.rnn(seq)
        z = out.mean(dim=1)
        g = F.adaptive_avg_pool2d(x, 1).view(x.size(0), -1)
        return self.head(g) , self.fc2(z)
'''),
    'transformer': ('T()', [2, 10, 16], '''
import torch
import torch.nn as nn
class T(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.proj = nn.Linear(16, d)
        self.enc = nn.TransformerEncoderLayer(d_model=d, nhead=4, dim_feedforward=128, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, 2)
    def forward(self, x):
        x = self.proj(x)
        x = self.enc(x)
        x = self.norm(x)
        return self.out(x[:, 0])
'''),
    'conditional arch': ('model', [2, 1, 28, 28], '''
import torch.nn as nn
class Net(nn.Module):
    def __init__(self, in_ch=1, use_bn=True, n=28):
        super().__init__()
        layers = [nn.Conv2d(in_ch, 8, 5)]
        if use_bn:
            layers.append(nn.BatchNorm2d(8))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        size = (n - 4) // 2
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(8 * size * size, 10))
    def forward(self, x):
        return self.classifier(self.features(x))
model = Net(in_ch=1, use_bn=False)
'''),
    'dcgan gen': ('Generator()', [2, 100, 1, 1], '''
import torch.nn as nn
nz, ngf, nc = 100, 64, 3
class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, nc, 4, 2, 1, bias=False), nn.Tanh())
    def forward(self, input):
        return self.main(input)
'''),
    'squeeze fire': ('Sq()', [2, 3, 224, 224], '''
import torch
import torch.nn as nn
class Fire(nn.Module):
    def __init__(self, inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)
    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)
class Sq(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 96, kernel_size=7, stride=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True), Fire(96, 16, 64, 64), Fire(128, 16, 64, 64))
        final_conv = nn.Conv2d(128, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(nn.Dropout(p=0.5), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))
    def forward(self, x):
        x = self.features(x)
        x = self.classifier(x)
        return torch.flatten(x, 1)
'''),
    'type equality in a cfg loop': ('Net()', [2, 3, 16, 16], '''
import torch.nn as nn

arch = [(3, 8, 1, 1), (3, 16, 1, 1), "M"]

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        layers, c = [], 3
        for x in arch:
            if type(x) == tuple:
                layers += [nn.Conv2d(c, x[1], kernel_size=x[0], stride=x[2], padding=x[3])]
                c = x[1]
            elif type(x) == str:
                layers += [nn.MaxPool2d(2, 2)]
        self.darknet = nn.Sequential(*layers)

    def forward(self, x):
        return self.darknet(x)
'''),
    'hasattr for an optional shortcut': ('net', [2, 8, 16, 16], '''
import torch.nn as nn

class Block(nn.Module):
    def __init__(self, c, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        if stride != 1:
            self.shortcut = nn.Conv2d(c, c, 1)

    def forward(self, x):
        shortcut = self.shortcut(x) if hasattr(self, 'shortcut') else x
        out = self.conv(x)
        out += shortcut
        return out

net = nn.Sequential(Block(8), nn.Conv2d(8, 4, 1))
'''),
    '__setattr__ and __getattr__ by name': ('Tree(4, 3)', [2, 4, 16, 16], '''
import torch.nn as nn

class Tree(nn.Module):
    def __init__(self, c, level=2):
        super().__init__()
        self.level = level
        for i in range(1, level):
            self.__setattr__('level_%d' % i, nn.Conv2d(c, c, 3, padding=1))
        self.root = nn.Conv2d(c, c, 1)

    def forward(self, x):
        for i in range(1, self.level):
            x = self.__getattr__('level_%d' % i)(x)
        return self.root(x)
'''),
    'torch.tensor sizes padding a skip': ('Net()', [2, 4, 15, 15], '''
import torch
import torch.nn as nn
import torch.nn.functional as F

class Up(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(8, 4, kernel_size=2, stride=2)
        self.conv = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        diffY = torch.tensor([x2.size()[2] - x1.size()[2]])
        diffX = torch.tensor([x2.size()[3] - x1.size()[3]])
        x1 = F.pad(x1, [diffX // 2, diffX - diffX // 2, diffY // 2, diffY - diffY // 2])
        return self.conv(torch.cat([x2, x1], dim=1))

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.up1 = Up()

    def forward(self, x):
        return self.up1(self.down(x), x)
'''),
    'isinstance over a module list': ('Net()', [2, 3, 8, 8], '''
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1),
                                     nn.Upsample(scale_factor=2), nn.Conv2d(8, 4, 1)])

    def forward(self, x):
        routes = []
        for layer in self.layers:
            x = layer(x)
            if isinstance(layer, nn.Upsample):
                x = x * 2
            else:
                routes.append(x)
        return x
'''),
    'while loops that build stages': ('Net(3)', [2, 8, 16, 16], '''
import torch.nn as nn
class Net(nn.Module):
    def __init__(self, n=3):
        super().__init__()
        self.input_channels = 8
        self.s = self._make_stage(n, 16)
    def _make_stage(self, repeat, out_channels):
        layers = [nn.Conv2d(self.input_channels, out_channels, 3, padding=1)]
        self.input_channels = out_channels
        while repeat - 1:
            layers.append(nn.Conv2d(self.input_channels, out_channels, 3, stride=2, padding=1))
            repeat -= 1
        count = 2
        while True:
            if count == 0:
                break
            layers.append(nn.ReLU())
            count -= 1
        return nn.Sequential(*layers)
    def forward(self, x):
        return self.s(x)
'''),
    'submodule names from a class name': ('Net()', [2, 8, 16, 16], '''
import torch.nn as nn
class Widen(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, 2 * c, 1)
    def forward(self, x):
        return self.conv(x)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = self._generate(8, 2, Widen)
        self.b = nn.Sequential()
        for i in range(2):
            self.b.add_module(Widen.__name__ + str(i), Widen(32 * 2 ** i))
    @staticmethod
    def _generate(c, n, block):
        layers = nn.Sequential()
        for l in range(n):
            layers.add_module("{}_{}".format(block.__name__, l), block(c))
            c *= 2
        return layers
    def forward(self, x):
        return self.b(self.a(x))
'''),
    'super().forward of a Sequential subclass, typing.cast': ('Net()', [2, 8, 16, 16], '''
from typing import cast
import torch
import torch.nn as nn
class DenseLayer(nn.Sequential):
    def __init__(self, c, g):
        super(DenseLayer, self).__init__()
        self.add_module('norm1', nn.BatchNorm2d(c))
        self.add_module('conv1', nn.Conv2d(c, cast(int, g), kernel_size=3, padding=1))
    def forward(self, x):
        new = super(DenseLayer, self).forward(x)
        return torch.cat([x, new], 1)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = DenseLayer(8, 4)
        self.l2 = DenseLayer(12, 4)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16, 10)
    def forward(self, x):
        return self.fc(self.pool(self.l2(self.l1(x))).mean([2, 3]))
'''),
    'old-style tensors, parameters, sampling grids': ('Net()', [2, 1, 28, 28], '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import Variable
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 5), nn.MaxPool2d(2), nn.ReLU())
        self.loc = nn.Sequential(nn.Conv2d(1, 4, 7), nn.MaxPool2d(2), nn.ReLU())
        self.theta = nn.Linear(self._features_size(), 6)
        self.codebook = nn.Embedding(16, 32)
        self.proj = nn.Linear(8 * 12 * 12, 32)
        self.out = nn.Linear(16, 10)
    def _features_size(self):
        return self.loc(Variable(torch.zeros(1, 1, 28, 28))).view(1, -1).size(1)
    def forward(self, x):
        theta = self.theta(self.loc(x).view(x.size(0), -1)).view(-1, 2, 3)
        grid = F.affine_grid(theta, x.size())
        x = F.grid_sample(x, grid)
        h = self.proj(self.features(x).view(x.size(0), -1))
        noise = Variable(h.data.new(h.size()).normal_())
        scores = torch.matmul(h + noise, self.codebook.weight.t())
        return self.out(scores)
'''),
}

# Code whose submodules the analysis cannot name or count: the shapes it depends on must be unknown
# (never the shape of the modules it did see).
UNKNOWABLE = {
    'a loop bound read from a file': '''
import json
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        n = json.load(open("depth.json"))["depth"]
        layers = [nn.Conv2d(8, 8, 3, padding=1)]
        while n > 1:
            layers.append(nn.Conv2d(8, 8, 3, stride=2, padding=1))
            n -= 1
        self.s = nn.Sequential(*layers)
    def forward(self, x):
        return self.s(x)
''',
    'a module added under a name nobody can tell': '''
import os
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.s = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1))
        self.s.add_module(os.environ["NAME"], nn.Conv2d(8, 8, 3, stride=2, padding=1))
    def forward(self, x):
        return self.s(x)
''',
    'a loop over an unknown range that appends': '''
import os
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Conv2d(8, 8, 3, padding=1)])
        for _ in range(int(os.environ["DEPTH"])):
            self.blocks.append(nn.Conv2d(8, 8, 3, stride=2, padding=1))
    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x
''',
}


@pytest.mark.parametrize("name", sorted(UNKNOWABLE))
def test_what_cannot_be_told_is_unknown(name: str) -> None:
    import cnnshape_ls

    result = cnnshape_ls.analyze(UNKNOWABLE[name], input="(2, 8, 16, 16)", model="Net()").to_json()
    model = result["models"][0]
    assert model["output"] is None
    assert not [d for d in result["diagnostics"] if d["severity"] == "error"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_layer_matches_torch(name: str) -> None:
    model, shape, source = CASES[name]
    matched, total, wrong = compare_with_torch(source, model, shape)
    assert not wrong, f"shapes torch would not produce: {wrong}"
    assert total > 0 and matched == total, f"{matched}/{total} layers known"
