"""Differentiable resampling of boxes: write a fixed-size object into a box of any size and
aspect, or cut any box out to a fixed size.

A resize along one axis is a matrix. :func:`interval_weights` builds, for K boxes at once,
the (K, out_len, in_len) matrices that map the input interval [in_lo, in_hi) of an axis of
in_len pixels onto the output interval [out_lo, out_hi) of an axis of out_len pixels
(rows outside the output interval are zero). The filter is a triangle (bilinear
interpolation) whose width grows with the shrink factor, so shrinking averages every input
pixel instead of skipping some (anti-aliasing); each row sums to 1. It is Pillow's BILINEAR
resize with a source box: the filter may read a pixel beyond the input interval, never one
beyond the axis.

A 2-D resize is then ``rows @ x @ cols^T`` (:func:`resample`), and its gradient is
``rows^T @ dy @ cols`` (:func:`resample_backward`): two batched matmuls either way.
Matrices are built on the host in float64 (boxes are host integers) and sent to the device.
"""
import numpy as np

from .backend import array_module


def interval_weights(out_len, out_lo, out_hi, in_len, in_lo, in_hi):
    """(K, out_len, in_len) float64 resize matrices, one per interval pair.

    out_lo, out_hi, in_lo, in_hi: (K,) ints (or scalars), hi exclusive, each interval non-empty
    and inside its axis. Output pixel i of [out_lo, out_hi) reads the input around
    ``in_lo + (i + 0.5 - out_lo) * scale`` with scale = in_size / out_size, through a triangle
    of half-width max(scale, 1) input pixels, cut at the axis's ends and normalised."""
    out_lo, out_hi, in_lo, in_hi = (np.asarray(a, np.float64).reshape(-1, 1, 1)
                                    for a in np.broadcast_arrays(out_lo, out_hi, in_lo, in_hi))
    i = np.arange(out_len, dtype=np.float64)[None, :, None] + 0.5  # output pixel centres
    j = np.arange(in_len, dtype=np.float64)[None, None, :] + 0.5   # input pixel centres
    scale = (in_hi - in_lo) / (out_hi - out_lo)
    centre = in_lo + (i - out_lo) * scale
    width = np.maximum(scale, 1.0)
    weights = np.clip(1.0 - np.abs(j - centre) / width, 0.0, None)
    weights *= (i > out_lo) & (i < out_hi)
    total = weights.sum(axis=2, keepdims=True)
    return weights / np.where(total > 0, total, 1.0)


def paste_axes(boxes, size, canvas_size):
    """Matrices that write a size x size object into each box of a canvas_size canvas:
    boxes (K, 4) -> rows (K, canvas, size), cols (K, canvas, size), float64."""
    boxes = np.asarray(boxes)
    rows = interval_weights(canvas_size, boxes[:, 0], boxes[:, 2], size, 0, size)
    cols = interval_weights(canvas_size, boxes[:, 1], boxes[:, 3], size, 0, size)
    return rows, cols


def crop_axes(boxes, size, canvas_size):
    """Matrices that cut each box out of a canvas_size canvas at size x size:
    boxes (K, 4) -> rows (K, size, canvas), cols (K, size, canvas), float64."""
    boxes = np.asarray(boxes)
    rows = interval_weights(size, 0, size, canvas_size, boxes[:, 0], boxes[:, 2])
    cols = interval_weights(size, 0, size, canvas_size, boxes[:, 1], boxes[:, 3])
    return rows, cols


def resample(x, rows, cols):
    """x (K, h, w), rows (K, H, h), cols (K, W, w) -> rows @ x @ cols^T, (K, H, W). Leading axes
    broadcast (e.g. x (K, C, h, w) with rows (K, 1, H, h) and cols (K, 1, W, w))."""
    xp = array_module(x)
    return xp.matmul(xp.matmul(rows, x), cols.swapaxes(-1, -2))


def resample_backward(dy, rows, cols):
    """Gradient of :func:`resample` with respect to x: dy (K, H, W) -> rows^T @ dy @ cols, (K, h, w)."""
    xp = array_module(dy)
    return xp.matmul(xp.matmul(rows.swapaxes(-1, -2), dy), cols)
