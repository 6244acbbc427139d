# A small Transformer encoder classifier: Embedding + learned positions + TransformerEncoder, mean over time.
import torch
import torch.nn as nn


class TransformerClassifier(nn.Module):
    def __init__(self, vocab_size=1000, d_model=64, nhead=4, num_layers=2, dim_feedforward=128,
                 num_classes=3, max_len=256):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.zeros(1, max_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model=d_model, nhead=nhead, dim_feedforward=dim_feedforward,
                                           dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x):
        x = x.long()
        seq_len = x.size(1)
        h = self.embed(x) + self.pos[:, :seq_len, :]
        h = self.encoder(h)
        h = self.norm(h.mean(dim=1))
        return self.head(h)
