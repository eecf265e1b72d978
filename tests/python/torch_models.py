"""Small PyTorch models for the export tests (importable as torch_models:<factory> by python -m kiln.export)."""

import torch
from torch import nn


class TwoHeads(nn.Module):
    """Conv + BN + ReLU + pool, then two outputs: logits [N, 10] and the pooled features [N, 16]."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        features = self.body(x)
        return self.head(features), features


def two_heads() -> nn.Module:
    torch.manual_seed(0)
    return TwoHeads()
