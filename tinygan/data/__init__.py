"""Data for tinygan: MNIST (verified), synthetic digits, and multi-digit canvases."""

from .canvas import (CanvasConfig, CanvasDataset, LabelOrderHoldout, blank_canvas, compose,
                     load_npz, one_hot, save_npz)
from .mnist import (DigitSet, MnistError, default_cache_dir, find_mnist, load_digits,
                    load_mnist, read_idx)
from .synthetic import synthetic_digits

__all__ = [
    "CanvasConfig", "CanvasDataset", "LabelOrderHoldout", "blank_canvas", "compose",
    "load_npz", "one_hot", "save_npz",
    "DigitSet", "MnistError", "default_cache_dir", "find_mnist", "load_digits",
    "load_mnist", "read_idx",
    "synthetic_digits",
]
