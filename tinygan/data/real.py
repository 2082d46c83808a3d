"""Real canvases as the evaluation needs them: the images with the ink alpha and the paper under them.

Both data sets (:class:`tinygan.data.canvas.CanvasDataset` for the grid, :class:`tinygan.data.layouts.LayoutDataset`
for free layouts) answer ``draw_real(labels, boxes, rng)`` with a :class:`RealCanvases`: real digits of those labels
in those boxes, on white paper or on fresh paper of the data set's families (:mod:`tinygan.data.textures`).
"""
from typing import NamedTuple

import numpy as np

from .textures import draw_backgrounds, draw_ink, ink_over


class RealCanvases(NamedTuple):
    """images (B, H, W, 1) float32: real digits on paper, 1.0 = white;
    alpha (B, H, W, 1) float32: their ink alpha in [0, 1] (1 = full ink; overlapping digits combined by max);
    papers (B, H, W, 1) float32: the paper alone (white, a read-only view, or a texture; the grid's black
        cell lines on it);
    families (B,) int64: each paper's family, an index into the data set's ``families`` (-1 on white)."""
    images: np.ndarray
    alpha: np.ndarray
    papers: np.ndarray
    families: np.ndarray


def pick_digits(class_indices, labels, rng):
    """(B, N) int64 indices of real digits, one drawn uniformly from class_indices[label] for each label
    of labels (B, N) (-1 where a slot is empty: label -1)."""
    picks = np.full(labels.shape, -1, np.int64)
    for digit, indices in enumerate(class_indices):
        wanted = labels == digit
        picks[wanted] = indices[rng.integers(len(indices), size=wanted.sum())]
    return picks


def white(images, alpha, papers):
    """Real canvases on white paper (the images as drawn today), of no family."""
    return RealCanvases(images, alpha, np.broadcast_to(papers, images.shape), np.full(len(images), -1, np.int64))


def ink_on_paper(alpha, families, rng, lines=None):
    """Real ink alpha (B, H, W, 1) laid over fresh paper (:func:`tinygan.data.textures.ink_over`): a paper
    of one of ``families`` and an ink tone drawn per image from rng, in that order. lines: (H, W) bool or
    None, pixels black on the paper and on top of the ink (the grid's cell lines). -> RealCanvases."""
    papers, which = draw_backgrounds(families, len(alpha), alpha.shape[1], rng)
    papers = papers[..., None]
    lines = np.zeros(alpha.shape[1:3], bool) if lines is None else lines
    papers[:, lines] = 0.0
    images = ink_over(papers, alpha, draw_ink(len(alpha), rng))
    images[:, lines] = 0.0
    return RealCanvases(images, alpha, papers, which)
