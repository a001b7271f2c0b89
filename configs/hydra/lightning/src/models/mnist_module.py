"""The training wrapper: a plain nn.Module here, so the example needs no Lightning install; a
LightningModule (itself an nn.Module) is built by Hydra the same way."""

import torch
from torch import nn


class MnistModule(nn.Module):
    def __init__(self, net: nn.Module, lr: float = 0.001):
        super().__init__()
        self.net = net
        self.lr = lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
