"""cnninspect: shape and parameter inspector for convolutional networks."""

__version__ = "0.1.0"
