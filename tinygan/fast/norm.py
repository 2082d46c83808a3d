"""Fast twins of batch normalisation and class-conditional batch normalisation.

x_hat = (x - mean) * inv_std is never made: the forward keeps x - mean ("centred", on the wide
rows of :func:`channel_rows`) and writes y in one scale-and-shift pass from it
(:func:`kernels.scale_shift`); the input gradient's coefficients take inv_std in
(:func:`kernels.batch_norm_coefficients`), so dx is one fused pass over dy and centred. The channel
sums run on the host threads (partial sums added in part order) or as one reduction kernel.
``norm`` is the :class:`tinygan.layers.BatchNorm` whose statistics these are (its channels, eps,
momentum, running mean and variance, training mode and processes). The plain versions in
:mod:`tinygan.layers.norm` and :mod:`tinygan.layers.conditional` are the specification.
"""
from ..backend import get_xp
from ..threads import run_parts, sum_parts
from . import kernels
from .sets import on_host_rows
from .kernels import column_sums
from .rows import channel_rows, fold_channels, tile_channels


def _channel_sums(norm, work, rows):
    """Per-channel sums (C,): ``work(r0, r1)`` returns a tuple of wide-row sums (:func:`column_sums`)
    of rows r0:r1; it runs in parts on the host threads, and the parts' sums are added in order."""
    return [fold_channels(sums, norm.channels) for sums in sum_parts(work, rows.shape[0], rows.size)]


def centre(norm, x):
    """x - mean as :func:`channel_rows` (the batch's mean in training, which also moves the running
    statistics; else the running mean), and the backward's cache: (that array, inv_std (C,), training, norm)."""
    xp = get_xp()
    rows = channel_rows(x, norm.channels)
    centred = xp.empty_like(rows)
    if norm.training:
        sums, count = norm.over_processes(_channel_sums(norm, lambda r0, r1: (column_sums(rows[r0:r1]),), rows),
                                          rows.size // norm.channels)
        mean = sums[0] / count
        mean_row = tile_channels(mean, rows)

        def centre_rows(r0, r1):
            xp.subtract(rows[r0:r1], mean_row, out=centred[r0:r1])
            return (kernels.square_sums(centred[r0:r1]),)
        squares, count = norm.over_processes(_channel_sums(norm, centre_rows, rows), rows.size // norm.channels)
        inv_std = kernels.batch_norm_statistics(squares[0], mean, count, norm.eps, norm.momentum,
                                                norm.running_mean, norm.running_var)
    else:
        mean_row = tile_channels(norm.running_mean, rows)
        run_parts(lambda r0, r1: xp.subtract(rows[r0:r1], mean_row, out=centred[r0:r1]), rows.shape[0], rows.size)
        inv_std = 1 / xp.sqrt(norm.running_var + norm.eps)
    return centred, (centred, inv_std, norm.training, norm)


def batch_norm_forward(x, gamma, beta, norm):
    """x (N, C) or (N, H, W, C) -> y = x_hat * gamma + beta (x_hat alone when gamma is None), cache."""
    xp = get_xp()
    centred, cache = centre(norm, x)
    inv_std = cache[1]
    scale, shift = (inv_std * gamma, beta) if gamma is not None else (inv_std, None)
    y, scale_row = xp.empty_like(centred), tile_channels(scale, centred)
    if shift is None:
        run_parts(lambda r0, r1: xp.multiply(centred[r0:r1], scale_row, out=y[r0:r1]), y.shape[0], y.size)
    else:
        shift_row = tile_channels(shift, centred)
        run_parts(lambda r0, r1: kernels.scale_shift(centred[r0:r1], scale_row, shift_row, y[r0:r1]),
                  y.shape[0], y.size)
    return y.reshape(x.shape), cache


def batch_norm_backward(dy, cache, gamma, need_param_grads=True):
    """dy -> (dx, dgamma, dbeta); the parameter gradients are None unless asked for."""
    centred, inv_std, training, norm = cache
    rows = dy.reshape(centred.shape)
    sums = None
    if need_param_grads or training:
        sums = _channel_sums(norm, lambda r0, r1: (column_sums(rows[r0:r1]),
                                                   kernels.product_sums(rows[r0:r1], centred[r0:r1])), rows)
    dgamma, dbeta = (sums[1] * inv_std, sums[0]) if need_param_grads else (None, None)  # sum(dy * x_hat), sum(dy)
    return input_grad(dy, cache, gamma, sums), dgamma, dbeta


def input_grad(dy, cache, gamma, sums, sample_scale=None):
    """dx (shaped as dy) when the gradient of x_hat is dy times gamma (None: ones), or dy times
    ``sample_scale`` (N, width of the conditional norm's sample rows), each sample's own scale: then
    that gradient is never made. ``sums``: the channel sums (C,) of that gradient and of it times
    x - mean, needed in training."""
    centred, inv_std, training, norm = cache
    xp, c = get_xp(), norm.channels
    rows = dy.reshape(centred.shape)
    if sample_scale is not None:  # per sample: rows (N, rows of a sample, width), the scale (N, 1, width)
        rows, centred = (a.reshape(dy.shape[0], -1, sample_scale.shape[1]) for a in (rows, centred))
    gamma = gamma if gamma is not None else xp.ones_like(inv_std)
    if training:  # the batch mean and variance depend on x (on every process's x) too
        (sum_dy, sum_dy_centred), count = norm.over_processes(list(sums), rows.size // c)
        factors = [tile_channels(f, rows) for f in
                   kernels.batch_norm_coefficients(gamma, inv_std, sum_dy, sum_dy_centred, count)]
    else:
        factors = [tile_channels(gamma * inv_std, rows)]
    if sample_scale is not None:
        factors[0] = (sample_scale * factors[0])[:, None, :]
    dx = xp.empty_like(rows)

    def part(r0, r1):
        scale = factors[0] if sample_scale is None else factors[0][r0:r1]
        if not training:
            return xp.multiply(rows[r0:r1], scale, out=dx[r0:r1])
        return kernels.batch_norm_input_grad(rows[r0:r1], centred[r0:r1], scale, *factors[1:], dx[r0:r1])
    run_parts(part, rows.shape[0], rows.size)
    return dx.reshape(dy.shape)


def conditional_batch_norm_forward(x, hot, gamma, beta, norm):
    """y = x_hat * gamma[label] + beta[label] with hot (N, n_classes) the labels one-hot and
    gamma, beta (n_classes, C); x_hat from ``norm`` (a BatchNorm without affine). Returns y, cache."""
    centred, norm_cache = centre(norm, x)
    scale, shift = hot @ gamma, hot @ beta  # (N, C)
    rows = _sample_rows(centred.reshape(x.shape))
    scale_rows, shift_rows = _tile_per_sample(scale, x), _tile_per_sample(shift, x)
    factor_rows = _tile_per_sample(scale * norm_cache[1], x)  # gamma[label] * inv_std
    y = get_xp().empty_like(rows)
    run_parts(lambda n0, n1: kernels.scale_shift(rows[n0:n1], factor_rows[n0:n1, None, :],
                                                 shift_rows[n0:n1, None, :], y[n0:n1]), rows.shape[0], rows.size)
    return y.reshape(x.shape), (norm_cache, rows, hot, scale_rows)


def conditional_batch_norm_backward(dy, cache, need_param_grads=True):
    """dy -> (dx, dgamma, dbeta). The norm's input gradient comes straight from dy: the gradient of
    x_hat, dy times each sample's scale, is never made, and its channel sums come from the
    per-sample sums that gamma's and beta's gradients need anyway."""
    norm_cache, centred_rows, hot, scale_rows = cache
    xp, n, c, training = get_xp(), dy.shape[0], norm_cache[3].channels, norm_cache[2]
    dy_rows = dy.reshape(centred_rows.shape)
    sums = None
    if need_param_grads or training:
        sums = {key: xp.empty((n, dy_rows.shape[2]), dtype=dy.dtype) for key in ("gamma", "beta")}

        def samples(n0, n1):  # each sample's sums over its rows (N, W*C): of dy, of dy * (x - mean)
            dy_rows[n0:n1].sum(axis=1, out=sums["beta"][n0:n1])
            kernels.sample_product_sums(dy_rows[n0:n1], centred_rows[n0:n1], sums["gamma"][n0:n1])
        run_parts(samples, n, dy.size)
    dgamma = dbeta = None
    if need_param_grads:  # (N, W*C) -> (N, C) -> per class; x_hat = (x - mean) * inv_std
        dbeta = hot.T @ sums["beta"].reshape(n, -1, c).sum(axis=1)
        dgamma = hot.T @ (sums["gamma"].reshape(n, -1, c).sum(axis=1) * norm_cache[1])
    channel_sums = None if not training else \
        [fold_channels((scale_rows * sums[key]).sum(axis=0), c) for key in ("beta", "gamma")]
    return input_grad(dy, norm_cache, None, channel_sums, sample_scale=scale_rows), dgamma, dbeta


def _sample_rows(x):
    """x (N, C) or (N, H, W, C) viewed as (N, rows, width) with width C, or W * C on host rows."""
    wide = x.ndim == 4 and on_host_rows()
    return x.reshape(x.shape[0], -1, x.shape[-2] * x.shape[-1] if wide else x.shape[-1])


def _tile_per_sample(values, x):
    """Per-sample channel values (N, C) repeated to the width of :func:`_sample_rows`: (N, width)."""
    repeats = x.shape[-2] if x.ndim == 4 and on_host_rows() else 1
    return get_xp().tile(values, (1, repeats)) if repeats > 1 else values
