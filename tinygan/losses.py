"""Losses: each returns ``(loss, dlogits)``, the mean loss over the batch and its gradient."""
from .backend import get_xp


def _check(logits, targets, name):
    if getattr(logits, "shape", None) != getattr(targets, "shape", None):
        raise ValueError(f"{name}: logits shape {getattr(logits, 'shape', None)} and targets shape "
                         f"{getattr(targets, 'shape', None)} differ")
    if logits.ndim != 2:
        raise ValueError(f"{name}: expected logits of shape (N, K), got {tuple(logits.shape)}")


def softmax_cross_entropy(logits, targets):
    """Categorical cross-entropy of softmax(logits) against soft targets, as Keras:
    ``loss = mean_n( -sum_k t[n, k] * log p[n, k] )``. Targets need not sum to 1 (the
    paper's noisy targets do not), so ``dlogits = (p * sum_k t - t) / N``.

    logits, targets: (N, K). Returns (scalar loss, dlogits (N, K))."""
    _check(logits, targets, "softmax_cross_entropy")
    xp = get_xp()
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -(targets * log_p).sum() / n
    dlogits = (xp.exp(log_p) * targets.sum(axis=1, keepdims=True) - targets) / n
    return loss, dlogits


def _column_weights(scores, weights):
    """Per-column weights (K,) on the backend, uniform 1/K when ``weights`` is None."""
    k = scores.shape[1]
    return get_xp().asarray([1.0 / k] * k if weights is None else weights, dtype=scores.dtype)


def hinge_loss(scores, real, weights=None):
    """The discriminator's hinge loss (Lim & Ye 2017; Miyato et al. 2018): ``max(0, 1 - s)``
    for real samples, ``max(0, 1 + s)`` for fake ones, averaged over the batch and summed
    over the K columns with ``weights`` (K,) (default: 1/K each, the mean).

    scores: (N, K) raw discriminator scores. Returns (scalar loss, dscores (N, K))."""
    sign = 1.0 if real else -1.0
    margin = 1.0 - sign * scores
    active = (margin > 0).astype(scores.dtype)
    scale = _column_weights(scores, weights) * (1.0 / scores.shape[0])
    return (margin * active * scale).sum(), active * (-sign * scale)


def generator_hinge_loss(scores, weights=None):
    """The generator's side of the hinge loss: ``-s`` over the fake samples' scores, mean
    over the batch, columns weighted as in :func:`hinge_loss`.
    scores: (N, K). Returns (scalar loss, dscores (N, K))."""
    xp = get_xp()
    scale = _column_weights(scores, weights) * (-1.0 / scores.shape[0])
    return (scores * scale).sum(), xp.broadcast_to(scale, scores.shape).copy()


def mode_seeking_loss(images, noise, weight, eps=1e-5):
    """Mode-seeking regularisation (Mao et al., 2019) for a batch whose second half has the
    same labels and boxes as its first half but other noise: the generator should map
    different noise to different images. ``ratio = mean|I_a - I_b| / mean|z_a - z_b|``
    over the two halves, ``loss = weight / (ratio + eps)``.

    images: (2M, ...) generated images; noise: (2M, ...) their noise. Returns (scalar loss,
    dimages of the images' shape); the noise is held constant."""
    xp = get_xp()
    half = images.shape[0] // 2
    if images.shape[0] != 2 * half or noise.shape[0] != images.shape[0]:
        raise ValueError(f"mode_seeking_loss: expected an even batch of images and noise, got "
                         f"{images.shape[0]} images and {noise.shape[0]} noise rows")
    image_gap = images[:half] - images[half:]
    noise_gap = xp.abs(noise[:half] - noise[half:]).mean()
    ratio = xp.abs(image_gap).mean() / noise_gap
    loss = weight / (ratio + eps)
    dfirst = xp.sign(image_gap) * (-weight / (ratio + eps) ** 2 / (noise_gap * image_gap.size))
    return loss, xp.concatenate([dfirst, -dfirst])


def mask_size_prior(alphas, bounds, weight):
    """A mask-size prior against collapsed masks (FurryGAN: a mask that covers the whole box, or
    nothing): a hinge on each object's share of its map covered, the mean alpha m_k, outside
    bounds = (low, high): ``weight * mean_k(max(0, low - m_k) + max(0, m_k - high))``.
    alphas: (M, s, s, 1) the objects' alpha masks. Returns (scalar loss, dalphas (M, s, s, 1));
    no object: loss 0."""
    xp = get_xp()
    low, high = bounds
    share = alphas.mean(axis=(1, 2, 3))
    scale = weight / max(len(share), 1)
    loss = ((xp.maximum(low - share, 0) + xp.maximum(share - high, 0)) * scale).sum()
    pixels = alphas.shape[1] * alphas.shape[2] * alphas.shape[3]
    dshare = ((share > high).astype(alphas.dtype) - (share < low).astype(alphas.dtype)) * (scale / pixels)
    return loss, xp.broadcast_to(dshare[:, None, None, None], alphas.shape).copy()
