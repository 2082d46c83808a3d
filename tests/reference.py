"""Naive, loop-by-loop references that the fast kernels are tested against, and a loss
as a layer for the gradient checks."""
import numpy as np


def conv2d_naive(x, w, b, stride, pads):
    """Direct convolution: x (N, H, W, C), w (k, k, C, F), b (F,) -> (N, Ho, Wo, F)."""
    top, bottom, left, right = pads
    x_pad = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    n, hp, wp, _ = x_pad.shape
    k, f = w.shape[0], w.shape[3]
    out_h, out_w = (hp - k) // stride + 1, (wp - k) // stride + 1
    y = np.zeros((n, out_h, out_w, f))
    for i in range(n):
        for r in range(out_h):
            for c in range(out_w):
                patch = x_pad[i, r * stride:r * stride + k, c * stride:c * stride + k, :]
                y[i, r, c] = np.tensordot(patch, w, axes=3) + b
    return y


def conv2d_naive_backward(dy, x, w, stride, pads):
    """Gradients of conv2d_naive by scattering each output's gradient: (dx, dw, db)."""
    top, bottom, left, right = pads
    x_pad = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    k = w.shape[0]
    n, out_h, out_w, _ = dy.shape
    for i in range(n):
        for r in range(out_h):
            for c in range(out_w):
                rows, cols = slice(r * stride, r * stride + k), slice(c * stride, c * stride + k)
                dw += x_pad[i, rows, cols, :, None] * dy[i, r, c]
                dx_pad[i, rows, cols, :] += w @ dy[i, r, c]
    dx = dx_pad[:, top:dx_pad.shape[1] - bottom, left:dx_pad.shape[2] - right]
    return dx, dw, dy.sum(axis=(0, 1, 2))


def loss_as_layer(loss_fn):
    """A loss as a forward/backward pair for check_gradients: ``loss_fn(x) -> (loss, dx)``
    gives forward(x) -> (loss (1,), dx) and backward(upstream (1,), dx) -> upstream * dx."""
    def forward(x):
        loss, dx = loss_fn(x)
        return loss.reshape(1), dx

    def backward(upstream, dx):
        return dx * upstream[0]

    return forward, backward
