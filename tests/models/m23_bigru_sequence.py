# Bidirectional GRU over feature sequences (batch, seq_len, n_features); both directions concatenated.
import torch
import torch.nn as nn


class BiGRU(nn.Module):
    def __init__(self, input_size=40, hidden_size=64, num_layers=2, num_classes=12):
        super(BiGRU, self).__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.norm = nn.LayerNorm(input_size)
        self.gru = nn.GRU(input_size, hidden_size, num_layers, batch_first=True, bidirectional=True)
        self.attn = nn.Linear(hidden_size * 2, 1)
        self.fc = nn.Linear(hidden_size * 2, num_classes)

    def forward(self, x):
        x = self.norm(x)
        out, _ = self.gru(x)
        weights = torch.softmax(self.attn(out), dim=1)
        context = torch.sum(weights * out, dim=1)
        return self.fc(context)
