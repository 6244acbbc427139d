# Prototype (RBF) classifier head: distances of embeddings to learned prototypes by broadcasting.
import torch
import torch.nn as nn
import torch.nn.functional as F


class ProtoNet(nn.Module):
    def __init__(self, in_channels=1, embed_dim=32, num_prototypes=20, num_classes=10):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(32, embed_dim),
        )
        self.prototypes = nn.Parameter(torch.randn(num_prototypes, embed_dim))
        self.log_gamma = nn.Parameter(torch.zeros(num_prototypes))
        self.dist_norm = nn.LayerNorm(num_prototypes)
        self.classifier = nn.Linear(num_prototypes, num_classes)

    def forward(self, x):
        z = self.encoder(x)                                   # (B, D)
        diff = z.unsqueeze(1) - self.prototypes               # (B, P, D)
        dist = self.dist_norm(diff.pow(2).sum(dim=-1))        # (B, P)
        sim = torch.exp(-torch.exp(self.log_gamma) * dist)    # (B, P)
        return F.log_softmax(self.classifier(sim), dim=1)
