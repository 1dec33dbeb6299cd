"""Chapter 01: logistic regression σ(w·x + b) as an nn.Module that returns logits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class LogisticRegressionConfig:
    """The size of a `LogisticRegression`: its input features. Chapter 01."""

    in_features: int = 2


class LogisticRegression(nn.Module):
    """One linear layer; `forward` returns logits (use BCEWithLogitsLoss), `predict_proba` σ.
    Chapter 01."""

    config_class = LogisticRegressionConfig

    def __init__(self, config: LogisticRegressionConfig | None = None) -> None:
        super().__init__()
        self.config = config or LogisticRegressionConfig()
        self.linear = nn.Linear(self.config.in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, F) -> (N,)
        return self.linear(x).squeeze(-1)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(x))
