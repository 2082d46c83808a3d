"""A digit set: single-digit images with their labels, and the colours a digit takes on a canvas.

MNIST (:mod:`.mnist`) and the synthetic stand-in (:mod:`.synthetic`) are uint8 (N, 28, 28),
white digit (255) on black (0). On a canvas, and for the judge, a digit is black on white,
float32 in [0, 1]: :func:`canvas_colours`.
"""
from dataclasses import dataclass

import numpy as np

from .mnist import MnistError, check_split, find_mnist, how_to_point_at_mnist, read_split
from .synthetic import synthetic_digits

N_CLASSES = 10  # digit classes 0..9
# Synthetic stand-ins are smaller than MNIST's splits, to be made in a few seconds.
SYNTHETIC_SIZES = {"train": 20000, "test": 10000}


def canvas_colours(images):
    """uint8 (N, H, W) white on black, as MNIST -> float32 (N, H, W) black on white: ``1 - x / 255``."""
    return 1.0 - np.asarray(images, dtype=np.float32) / 255.0


@dataclass(frozen=True)
class DigitSet:
    """Single-digit images and their labels.

    images: uint8 (N, 28, 28), white digit (255) on black (0), as MNIST.
    labels: uint8 (N,) in 0..9.
    source: 'mnist' or 'synthetic'.
    """

    images: np.ndarray
    labels: np.ndarray
    source: str

    def __len__(self):
        return len(self.labels)

    def resized(self, size):
        """This set with images resized to size x size (bilinear), for models whose objects
        are not 28 pixels; itself when they already are."""
        if self.images.shape[1:] == (size, size):
            return self
        return DigitSet(images=resize_images(self.images, size), labels=self.labels, source=self.source)


def resize_images(images, size):
    """(N, H, W) uint8 or float32 images -> (N, size, size) of the same dtype, bilinear (Pillow)."""
    from PIL import Image
    return np.stack([np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
                     for image in images])


def load_digits(split, data_dir=None, download=True, allow_synthetic=True, log=print,
                seed=0, n_synthetic=None):
    """MNIST's `split` as a DigitSet, or synthetic digits if MNIST cannot be found.

    When MNIST is neither given, cached nor downloadable and `allow_synthetic` is set,
    logs an announcement and returns `synthetic_digits(n_synthetic, seed)`, with
    n_synthetic defaulting to SYNTHETIC_SIZES[split]. A given folder that lacks a file
    or holds a corrupt one still raises MnistError: it is never replaced silently.
    """
    check_split(split)
    directory = find_mnist(data_dir, download=download, log=log)
    if directory is not None:
        return DigitSet(*read_split(directory, split), source="mnist")
    if not allow_synthetic:
        raise MnistError("MNIST not found.\n" + how_to_point_at_mnist())
    n = SYNTHETIC_SIZES[split] if n_synthetic is None else n_synthetic
    log(f"tinygan: MNIST was not found, so {n} SYNTHETIC digits are used for the {split!r} "
        f"split.\nThey are Pillow's font digits, randomly distorted: not MNIST, so results "
        f"are not comparable to the paper's.\n" + how_to_point_at_mnist())
    return DigitSet(*synthetic_digits(n, seed=seed), source="synthetic")
