# Time-series classifier: (batch, seq_len, features) input permuted to channels-first for Conv1d.
import torch
import torch.nn as nn


class TSNet(nn.Module):
    def __init__(self, n_features=9, n_classes=6, hidden=32):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(n_features, hidden, kernel_size=5, padding=2),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Conv1d(hidden, hidden * 2, kernel_size=3, padding=1),
            nn.BatchNorm1d(hidden * 2),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Dropout(0.3),
            nn.Conv1d(hidden * 2, hidden * 2, kernel_size=3, dilation=2, padding=2),
            nn.ReLU(),
        )
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(hidden * 2, n_classes)

    def forward(self, x):
        x = x.transpose(1, 2)
        x = self.conv(x)
        x = self.gap(x).squeeze(-1)
        return self.head(x)
