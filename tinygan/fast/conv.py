"""The fast 2-D convolution (NHWC): blocked im2col and one GEMM per block, split over host threads.

Layout: x (N, H, W, C), weights (k, k, C, F), output (N, Ho, Wo, F). With channels last, the
im2col matrix of a block is (pixels, k*k*C) and its product with the weights (k*k*C, F) *is* the
NHWC output: no transpose on the way in or out.

im2col copies every k x k window from one strided view, not tap by tap. The batch is processed in
blocks of at most the block budget of im2col matrix (:func:`block_budget`), so memory stays bounded
and each block stays warm in cache for its GEMM; in the host set the images are split over the
host threads (:mod:`tinygan.threads`). A stride-1 conv's backward builds one im2col, of dy: times
the flipped, transposed kernel it is dx, and x^T times it is the weight gradient
(:func:`_backward_by_transpose`); other strides take the input gradient by phases
(:func:`_input_grad_by_phases`) where channels are few, else scatter-add the column gradient
(col2im). In the device set the padding (and a strided backward's spreading of dy) stay virtual:
one kernel reads the columns straight from the unpadded array (:class:`Padded`,
:func:`tinygan.fast.kernels.im2col`), and every strided backward takes the stride-1 way.
The plain version, :func:`tinygan.layers.conv.conv2d_forward`, is the specification.
"""
import threading
from typing import NamedTuple

import numpy as np

from ..backend import backend_name, get_xp
from ..threads import run_parts, sum_parts
from . import kernels
from .sets import on_host_rows
from .rows import channel_rows, channel_sums, tile_channels

# A strided conv's input gradient on the host goes by phases (_input_grad_by_phases) when its
# s*s*C phase channels lie in this range; else by col2im. Measured here (whole backward, 1 thread,
# 3x3 stride 2, against the grouped col2im): C = 4 0.57-0.69x, C = 8 0.70x, C = 16 0.87-0.98x,
# C = 32 1.06-1.29x, C = 1 1.25x.
PHASE_CHANNELS = (16, 64)
BLOCK_BYTES = {"numpy": 1 << 20, "cupy": 512 << 20}  # the im2col block budget by backend


def _blocks(n, out_h, row_bytes, block_bytes):
    """Split (image, output-row) space into blocks of whole images, or of rows of one image.
    Yields (n0, n1, h0, h1); each block is a contiguous range of output pixels."""
    rows = max(1, block_bytes // max(row_bytes, 1))
    if rows >= out_h:
        step = rows // out_h
        for n0 in range(0, n, step):
            yield n0, min(n0 + step, n), 0, out_h
    else:
        for n0 in range(n):
            for h0 in range(0, out_h, rows):
                yield n0, n0 + 1, h0, min(h0 + rows, out_h)


_scratch_buffers = threading.local()  # .buffers: (role, dtype, module) -> array, per host thread


def scratch(role, shape, dtype):
    """A reusable buffer for one role ('cols', 'dcols') and host thread; valid until that
    thread's next call for that role.

    Blocked im2col writes every block into the same memory: a fresh allocation per block
    would page-fault new memory each time, which costs more than the copy itself."""
    xp = get_xp()
    size = int(np.prod(shape))
    buffers = _scratch_buffers.__dict__.setdefault("buffers", {})  # this thread's own
    key = (role, np.dtype(dtype).str, xp.__name__)
    buffer = buffers.get(key)
    if buffer is None or buffer.size < size:
        buffer = buffers[key] = xp.empty(size, dtype=dtype)
    return buffer[:size].reshape(shape)


class Padded(NamedTuple):
    """An image batch as a conv reads it: ``array`` (N, H, W, C) spread out by ``dilation``
    (dilation - 1 zeros between values) and zero-padded by ``pads`` (top, bottom, left, right).
    In the host layout :func:`padded` applies both at once (the array is the padded one); on
    CuPy they stay virtual, and the im2col kernel reads zeros for them (no padded copy)."""
    array: object
    pads: tuple = (0, 0, 0, 0)
    dilation: int = 1

    @property
    def shape(self):
        n, h, w, c = self.array.shape
        top, bottom, left, right = self.pads
        return n, (h - 1) * self.dilation + 1 + top + bottom, (w - 1) * self.dilation + 1 + left + right, c

    def images(self, n0, n1):
        return Padded(self.array[n0:n1], self.pads, self.dilation)


def padded(x, pads, dilation=1):
    """x (N, H, W, C) spread out by ``dilation`` and zero-padded by ``pads``, as a :class:`Padded`.
    Only CuPy's layout spreads (a strided conv's backward); the host layout scatters dcols instead."""
    if not on_host_rows():
        return Padded(x, tuple(pads), dilation)
    if dilation != 1:
        raise ValueError(f"padded: the host layout pads but never spreads, got dilation {dilation}")
    return Padded(pad_nhwc(x, pads))


def _im2col(source, block, kernel, stride, out_w):
    """Columns of one block: (pixels, k*k*C), taps outer and channels inner, as w.reshape(-1, F).

    One copy from a strided view of every k x k window. In the view, the kernel's
    column taps and the channels are adjacent in memory, so the copy moves runs of
    k*C values rather than C (ten times faster than a copy per tap when C is small).
    A source with virtual padding (CuPy) goes through one kernel instead (:func:`kernels.im2col`).
    The result lives in a scratch buffer: use it before the next call."""
    n0, n1, h0, h1 = block
    x_pad, channels = source.array, source.array.shape[3]
    shape = (n1 - n0, h1 - h0, out_w, kernel, kernel, channels)
    if any(source.pads) or source.dilation > 1:
        cols = kernels.im2col(x_pad, source.pads, source.dilation, block, kernel, stride, out_w,
                              scratch("cols", shape, x_pad.dtype))
        return cols.reshape(-1, kernel * kernel * channels)
    if kernel == 1 and stride == 1:
        return x_pad[n0:n1, h0:h1].reshape(-1, channels)
    xp = get_xp()
    part = x_pad[n0:n1, h0 * stride:]
    s_n, s_h, s_w, s_c = part.strides
    windows = xp.lib.stride_tricks.as_strided(
        part, shape, (s_n, s_h * stride, s_w * stride, s_h, s_w, s_c))
    cols = scratch("cols", shape, x_pad.dtype)
    cols[...] = windows
    return cols.reshape(-1, kernel * kernel * channels)


def _col2im_add(dx_pad, dcols, block, kernel, stride, out_w):
    """Scatter-add one block's column gradient (pixels, k*k*C) back into dx_pad (the adjoint of _im2col).

    Within a row of taps, ``stride`` neighbouring taps land on neighbouring pixels of dx_pad, and
    their columns are neighbours too: each such group is one add of runs of stride*C values
    (NumPy's strided adds cost per run: 6 adds of 2C rather than 9 of C for a 3x3 stride-2 conv)."""
    xp = get_xp()
    n0, n1, h0, h1 = block
    channels = dx_pad.shape[3]
    dcols = dcols.reshape(n1 - n0, h1 - h0, out_w, kernel, kernel, channels)
    for i in range(kernel):
        rows = dx_pad[n0:n1, h0 * stride + i:(h1 - 1) * stride + i + 1:stride]
        for j in range(0, kernel, stride):
            taps = min(stride, kernel - j)
            s_n, s_h, s_w, s_c = rows.strides
            target = xp.lib.stride_tricks.as_strided(rows[:, :, j:], (n1 - n0, h1 - h0, out_w, taps * channels),
                                                     (s_n, s_h, s_w * stride, s_c))
            target += dcols[:, :, :, i, j:j + taps, :].reshape(n1 - n0, h1 - h0, out_w, taps * channels)


def pad_nhwc(x, pads):
    """Zero-pad H and W by pads = (top, bottom, left, right). On CuPy: zeros, then one copy.
    On NumPy each host thread writes its images' borders and interiors (about twice as fast
    as zeroing the whole buffer first)."""
    if not any(pads):
        return x
    xp = get_xp()
    top, bottom, left, right = pads
    n, h, w, c = x.shape
    shape = (n, h + top + bottom, w + left + right, c)
    if not on_host_rows():
        x_pad = xp.zeros(shape, dtype=x.dtype)
        x_pad[:, top:top + h, left:left + w] = x
        return x_pad
    x_pad = xp.empty(shape, dtype=x.dtype)

    def images(n0, n1):
        part = x_pad[n0:n1]
        part[:, :top] = part[:, top + h:] = part[:, :, :left] = part[:, :, left + w:] = 0
        part[:, top:top + h, left:left + w] = x[n0:n1]
    run_parts(images, n, x_pad.size)
    return x_pad


def blocked_forward(source, w, stride, block_bytes):
    """Convolve a :class:`Padded` source (N, Hp, Wp, C padded) with w (k, k, C, F) -> (N, Ho, Wo, F),
    no bias. The images are split over the host threads."""
    xp = get_xp()
    n, hp, wp, channels = source.shape
    kernel, filters = w.shape[0], w.shape[3]
    if kernel * kernel * channels == 1 and stride == 1 and not any(source.pads):
        return _outer_product(source.array, w.reshape(-1))
    out_h, out_w = (hp - kernel) // stride + 1, (wp - kernel) // stride + 1
    y = xp.empty((n, out_h, out_w, filters), dtype=source.array.dtype)
    w_mat = w.reshape(-1, filters)
    row_bytes = out_w * kernel * kernel * channels * source.array.itemsize

    def images(n0, n1):
        part, y_rows = source.images(n0, n1), y[n0:n1].reshape(-1, filters)
        for block in _blocks(n1 - n0, out_h, row_bytes, block_bytes):
            b0, b1, h0, h1 = block
            start, stop = (b0 * out_h + h0) * out_w, ((b1 - 1) * out_h + h1) * out_w
            xp.matmul(_im2col(part, block, kernel, stride, out_w), w_mat, out=y_rows[start:stop])
    run_parts(images, n, n * hp * wp * channels * kernel * kernel // stride ** 2)
    return y


def _outer_product(x, w):
    """A 1x1 conv of one channel x (N, H, W, 1) with w (F,): y (N, H, W, F) = x * w, as a
    repeat and a product on wide rows (the input gradient of a 1x1 conv to one filter).
    BLAS, and NumPy's broadcast over a short last axis, are several times slower at it."""
    xp, filters = get_xp(), w.shape[0]
    y = xp.empty(x.shape[:3] + (filters,), dtype=x.dtype)

    def images(n0, n1):
        y[n0:n1] = xp.repeat(x[n0:n1], filters, axis=3)
        rows = channel_rows(y[n0:n1], filters)
        rows *= tile_channels(w, rows)
    run_parts(images, x.shape[0], y.size)
    return y


def blocked_backward(dy, source, w, stride, pads, block_bytes, need_dx=True, need_dw=True):
    """Gradients of conv2d_forward: returns (dx (N, H, W, C), dw (k, k, C, F)), each None
    when not needed. ``source``: the :class:`Padded` input of the forward; ``pads`` =
    (top, bottom, left, right) that padded it."""
    xp = get_xp()
    n, hp, wp, channels = source.shape
    kernel, filters = w.shape[0], w.shape[3]
    out_h, out_w = dy.shape[1], dy.shape[2]
    row_bytes = out_w * kernel * kernel * channels * dy.itemsize
    if need_dx and kernel > 1 and max(pads) <= kernel - 1 and (stride == 1 or not on_host_rows()):
        return _backward_by_transpose(dy, source, w, stride, pads, block_bytes, need_dw)
    if need_dx and stride > 1 and PHASE_CHANNELS[0] <= channels * stride * stride <= PHASE_CHANNELS[1]:
        dx = _input_grad_by_phases(dy, w, stride, pads, source.shape, block_bytes)  # CuPy: 1x1, or pads >= k
        return dx, blocked_backward(dy, source, w, stride, pads, block_bytes, False, need_dw)[1]
    one_by_one = need_dx and kernel == 1 and stride == 1 and not any(pads)
    top, bottom, left, right = pads
    dx_pad = xp.zeros(source.shape, dtype=dy.dtype) if need_dx and not one_by_one else None
    dx = None if dx_pad is None else xp.empty((n, hp - top - bottom, wp - left - right, channels), dtype=dy.dtype)

    def images(n0, n1):  # the weight gradient of these images (and their col2im share of dx)
        part, dx_part, dy_rows = source.images(n0, n1), None if dx_pad is None else dx_pad[n0:n1], dy[n0:n1].reshape(-1, filters)
        dw = None
        for block in _blocks(n1 - n0, out_h, row_bytes, block_bytes):
            b0, b1, h0, h1 = block
            start, stop = (b0 * out_h + h0) * out_w, ((b1 - 1) * out_h + h1) * out_w
            if need_dw:
                dw = _accumulate(dw, _im2col(part, block, kernel, stride, out_w).T @ dy_rows[start:stop])
            if dx_part is not None:
                dcols = scratch("dcols", (stop - start, kernel * kernel * channels), dy.dtype)
                xp.matmul(dy_rows[start:stop], w.reshape(-1, filters).T, out=dcols)
                _col2im_add(dx_part, dcols, block, kernel, stride, out_w)
        if dx_part is not None:  # dx without its padding, contiguous (as the next layer reads it in rows)
            dx[n0:n1] = dx_part[:, top:hp - bottom, left:wp - right]
        return dw
    dw = None
    if need_dw or dx_pad is not None:
        dw = sum_parts(images, n, n * hp * wp * channels * kernel * kernel // stride ** 2)
        dw = None if dw is None else dw.reshape(w.shape)
    if not need_dx:
        return None, dw
    if one_by_one:  # dx = dy times the transposed kernel
        return blocked_forward(Padded(dy), xp.ascontiguousarray(w.transpose(0, 1, 3, 2)), 1, block_bytes), dw
    return dx, dw


def _backward_by_transpose(dy, source, w, stride, pads, block_bytes, need_dw):
    """Both gradients of a conv from one im2col, of dy rather than of x.

    With stride s, y is every s-th value of the stride-1 conv z of the padded x; dz is dy
    spread out with zeros between (on CuPy, where fewer launches beat less arithmetic; NumPy
    scatters dcols instead). dx is dz (padded by k-1-pad) correlated with the flipped,
    transposed kernel: the columns D (pixels of x, k*k*F) of padded dz times w_t (k*k*F, C).
    The same columns give the weight gradient: x^T D (C, k*k*F) holds dw with its taps
    flipped, since dw[i, j, c, f] = sum_p x[p, c] dz[p - (i, j) + pad, f]
    = sum_p x[p, c] D[p, (k-1-i, k-1-j), f]. Returns (dx (N, H, W, C), dw (k, k, C, F) or None)."""
    xp = get_xp()
    kernel, channels, filters = w.shape[0], w.shape[2], w.shape[3]
    top, bottom, left, right = pads
    n, hp, wp, _ = source.shape
    height, width = hp - top - bottom, wp - left - right
    x = source.array if any(source.pads) else source.array[:, top:top + height, left:left + width]
    # the stride-1 grid has hp - k + 1 rows; dy spread out covers (Ho - 1) * s + 1 of them
    extra_h, extra_w = hp - kernel + 1 - ((dy.shape[1] - 1) * stride + 1), wp - kernel + 1 - ((dy.shape[2] - 1) * stride + 1)
    dz = padded(dy, (kernel - 1 - top, kernel - 1 - bottom + extra_h, kernel - 1 - left, kernel - 1 - right + extra_w), stride)
    w_t = xp.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(-1, channels)
    dx = xp.empty((n, height, width, channels), dtype=dy.dtype)
    row_bytes = width * kernel * kernel * filters * dy.itemsize

    def images(n0, n1):  # dx of these images, and their share of the flipped weight gradient
        dz_part, dx_rows, dw = dz.images(n0, n1), dx[n0:n1].reshape(-1, channels), None
        for block in _blocks(n1 - n0, height, row_bytes, block_bytes):
            b0, b1, h0, h1 = block
            start, stop = (b0 * height + h0) * width, ((b1 - 1) * height + h1) * width
            cols = _im2col(dz_part, block, kernel, 1, width)
            xp.matmul(cols, w_t, out=dx_rows[start:stop])
            if need_dw:
                dw = _accumulate(dw, x[n0 + b0:n0 + b1, h0:h1].reshape(-1, channels).T @ cols)
        return dw
    dw = sum_parts(images, n, n * (height + kernel - 1) * (width + kernel - 1) * filters * kernel * kernel)
    if not need_dw:
        return dx, None
    return dx, dw.reshape(channels, kernel, kernel, filters)[:, ::-1, ::-1].transpose(1, 2, 0, 3)


def _input_grad_by_phases(dy, w, stride, pads, padded_shape, block_bytes):
    """dx (N, H, W, C) of a strided conv on the host, as one stride-1 conv of dy and a shuffle.

    Per axis, padded input position s*m + r (phase r < s) receives dy[m - t] w[r + s*t] for
    each t with r + s*t < k: a conv of dy (zero-padded by T - 1 = ceil(k/s) - 1 before) with
    a T x T kernel whose s*s*C outputs are the phases of input pixel m. Its output
    (N, M, M', s, s, C), reordered to (N, M, s, M', s, C), is the padded dx. Where channels
    are few, the column gradient's scatter-add (col2im) costs more than this conv's extra
    products (the kernel's missing taps are zeros: 16 products where col2im's has 9, for a
    3x3 stride-2 conv). ``padded_shape``: (N, Hp, Wp, C); ``pads``: (top, bottom, left, right)."""
    xp = get_xp()
    n, hp, wp, channels = padded_shape
    kernel, filters = w.shape[0], w.shape[3]
    taps, rows, cols = -(-kernel // stride), -(-hp // stride), -(-wp // stride)
    w_phases = xp.zeros((taps, taps, filters, stride, stride, channels), dtype=w.dtype)
    for a, b, p, q in np.ndindex(taps, taps, stride, stride):  # tap (a, b) reads dy[m - (T-1-a), m' - (T-1-b)]
        i, j = p + stride * (taps - 1 - a), q + stride * (taps - 1 - b)
        if i < kernel and j < kernel:
            w_phases[a, b, :, p, q] = w[i, j].T
    w_phases = w_phases.reshape(taps, taps, filters, stride * stride * channels)
    dy_pad = pad_nhwc(dy, (taps - 1, rows - dy.shape[1], taps - 1, cols - dy.shape[2]))
    top, bottom, left, right = pads
    height, width = hp - top - bottom, wp - left - right
    dx = xp.empty((n, height, width, channels), dtype=dy.dtype)  # without its padding
    aligned = all(size % stride == 0 for size in (top, left, height, width))  # dx seen as whole phase grids
    chunk = max(1, block_bytes // (rows * cols * w_phases.shape[3] * dy.itemsize))

    def images(n0, n1):  # in chunks of images, so that the phases' output stays small
        for c0 in range(n0, n1, chunk):
            c1 = min(c0 + chunk, n1)
            phases = blocked_forward(Padded(dy_pad[c0:c1]), w_phases, 1, block_bytes)
            phases = phases.reshape(c1 - c0, rows, cols, stride, stride, channels).transpose(0, 1, 3, 2, 4, 5)
            if aligned:  # dx itself seen as (N, M, s, M', s, C): one copy
                dx[c0:c1].reshape(c1 - c0, height // stride, stride, width // stride, stride, channels)[...] = \
                    phases[:, top // stride:(top + height) // stride, :, left // stride:(left + width) // stride]
            else:
                grid = phases.reshape(c1 - c0, rows * stride, cols * stride, channels)
                dx[c0:c1] = grid[:, top:top + height, left:left + width]
    run_parts(images, n, n * rows * cols * taps * taps * filters)
    return dx


def _accumulate(total, part):
    """total + part, into total when there is one (None: part itself, no zeros to add to)."""
    if total is None:
        return part
    total += part
    return total




def block_budget(w):
    """The im2col block budget for weights ``w``: the backend's, but on NumPy at least four times
    the weight matrix (which BLAS repacks for every block)."""
    return max(BLOCK_BYTES[backend_name()], 4 * w.nbytes)


def conv2d_forward(x, w, stride, pads):
    """x (N, H, W, C) padded by pads = (top, bottom, left, right), convolved with w (k, k, C, F) ->
    y (N, Ho, Wo, F), no bias; and the cache of :func:`conv2d_backward` (the padded source)."""
    source = padded(x, pads)
    return blocked_forward(source, w, stride, block_budget(w)), source


def conv2d_backward(dy, cache, w, stride, pads, need_dx=True, need_dw=True):
    """dy (N, Ho, Wo, F) -> (dx (N, H, W, C), dw (k, k, C, F)), each None when not needed."""
    return blocked_backward(dy, cache, w, stride, pads, block_budget(w), need_dx, need_dw)


def add_bias(y, b):
    """y (N, ..., F) plus the bias b (F,), in place (rows split over the host threads); returns y."""
    xp, rows = get_xp(), channel_rows(y, b.shape[0])
    bias = tile_channels(b, rows)
    run_parts(lambda r0, r1: xp.add(rows[r0:r1], bias, out=rows[r0:r1]), rows.shape[0], rows.size)
    return y


def bias_grad(dy):
    """The bias gradient (F,): dy (N, ..., F) summed over all but its last axis."""
    return channel_sums(channel_rows(dy, dy.shape[-1]), dy.shape[-1])
