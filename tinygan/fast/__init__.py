"""The fast implementations of tinygan's operations, chosen once per process.

``tinygan/layers/`` writes every layer's math plainly (Conv2D as im2col and one GEMM, BatchNorm
with x_hat and the textbook dx). Each plain function that has a fast twin carries the
:func:`replaceable` mark; a call to it runs the twin of the implementation set in use:

- ``plain``: no twin; the layers' own textbook code runs. The oracle of every test.
- ``host``: the NumPy twins (:mod:`.conv`, :mod:`.norm`, :mod:`.elementwise`): work split over the
  host threads (:mod:`tinygan.threads`), im2col in blocks that stay in cache, a strided conv's
  input gradient by phases, per-channel work on wide rows (:mod:`.rows`).
- ``device``: the same twins arranged as CuPy runs them: one part, padding kept virtual, channel
  vectors broadcast, fused CUDA kernels (:mod:`.kernels`). On NumPy it runs the kernels' NumPy
  twins, which is how ``bench/count_ops.py`` counts a GPU step's operations on a CPU.

The set is ``TINYGAN_KERNELS`` (plain, host or device) or :func:`use`; by default ``host`` on
NumPy and ``device`` on CuPy. A twin takes the plain function's arguments and returns what it
returns, but its cache is its own: a forward's cache goes back only to the same set's backward.
"""

from . import conv, elementwise, norm, upsample_conv
from .registry import register, replaceable
from .sets import SETS, active, on_host_rows, use

TWINS = {twin.__name__: twin for twin in (  # each beside the plain function of the same name in:
    conv.conv2d_forward, conv.conv2d_backward, conv.add_bias, conv.bias_grad,            # layers/conv.py
    upsample_conv.upsample_conv2d_forward, upsample_conv.upsample_conv2d_backward,        # layers/upsampled_conv.py
    elementwise.upsample_forward, elementwise.upsample_backward,                          # layers/shape.py
    norm.batch_norm_forward, norm.batch_norm_backward,                                    # layers/norm.py
    norm.conditional_batch_norm_forward, norm.conditional_batch_norm_backward,            # layers/conditional.py
    elementwise.prelu_forward, elementwise.prelu_backward,                                # layers/activations.py
    elementwise.sigmoid_forward, elementwise.sigmoid_backward,
    elementwise.matmul,                                                                   # layers/dense.py
    elementwise.column_sums, elementwise.fill_zeros,                                      # layers/base.py
    elementwise.l2_norm, elementwise.normalise, elementwise.scale_weight,                 # layers/spectral.py
    elementwise.spectral_weight_grad,
    elementwise.adam_update,                                                              # optim.py
    elementwise.moving_average,                                                           # ema.py
)}
register(TWINS)

__all__ = ["SETS", "TWINS", "active", "on_host_rows", "replaceable", "use"]
