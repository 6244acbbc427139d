# LSTM text classifier: token ids -> Embedding -> LSTM (batch_first) -> last time step -> Linear.
import torch
import torch.nn as nn


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size=5000, embedding_dim=64, hidden_dim=128, output_dim=4, n_layers=2, dropout=0.2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers=n_layers, batch_first=True, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_dim, output_dim)

    def forward(self, text):
        text = text.long()
        embedded = self.dropout(self.embedding(text))
        out, (hidden, cell) = self.lstm(embedded)
        out = out[:, -1, :]
        return self.fc(out)


model = LSTMClassifier()
