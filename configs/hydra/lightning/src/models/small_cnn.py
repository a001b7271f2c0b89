"""A two-conv network for 1×28×28 digits; its sizes are constructor arguments set by the config."""

from torch import nn


class SmallCNN(nn.Module):
    def __init__(self, channels: int = 16, kernel: int = 3, fc_in: int = 1568, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, kernel, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(channels, channels * 2, kernel, padding=1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(fc_in, num_classes)

    def forward(self, x):
        x = self.pool(self.conv1(x).relu())
        x = self.pool(self.conv2(x).relu())
        return self.fc(self.flatten(x))
