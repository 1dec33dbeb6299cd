"""Chapter 01: logistic regression σ(w·x + b) as an nn.Module that returns logits."""

from __future__ import annotations

import torch
from torch import nn


class LogisticRegression(nn.Module):
    """One linear layer; `forward` returns logits (use BCEWithLogitsLoss), `predict_proba` σ."""

    def __init__(self, in_features: int = 2) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, F) -> (N,)
        return self.linear(x).squeeze(-1)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(x))
