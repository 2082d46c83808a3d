"""Data for tinygan: MNIST (verified), synthetic digits, digit sets and multi-digit canvases."""

from .canvas import CanvasConfig, CanvasDataset, LabelOrderHoldout, blank_canvas
from .digits import N_CLASSES, DigitSet, canvas_colours, load_digits, resize_images
from .mnist import MnistError, default_cache_dir, find_mnist, load_mnist, read_idx
from .synthetic import synthetic_digits

__all__ = [
    "CanvasConfig", "CanvasDataset", "LabelOrderHoldout", "blank_canvas",
    "N_CLASSES", "DigitSet", "canvas_colours", "load_digits", "resize_images",
    "MnistError", "default_cache_dir", "find_mnist", "load_mnist", "read_idx",
    "synthetic_digits",
]
