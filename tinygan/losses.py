"""Losses: each returns ``(loss, dlogits)``, the mean loss over the batch and its gradient."""
from .backend import get_xp


def _check(logits, targets, name):
    if getattr(logits, "shape", None) != getattr(targets, "shape", None):
        raise ValueError(f"{name}: logits shape {getattr(logits, 'shape', None)} and targets shape "
                         f"{getattr(targets, 'shape', None)} differ")
    if logits.ndim != 2:
        raise ValueError(f"{name}: expected logits of shape (N, K), got {tuple(logits.shape)}")


def softmax(logits):
    """Row-wise softmax of (N, K) logits, shifted by the row maximum for stability."""
    xp = get_xp()
    e = xp.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


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


def binary_cross_entropy_with_logits(logits, targets):
    """Binary cross-entropy of sigmoid(logits), mean over all elements, computed as
    ``max(x, 0) - x * t + log(1 + exp(-|x|))`` so large |x| never overflows.

    logits, targets: (N, K). Returns (scalar loss, dlogits (N, K))."""
    _check(logits, targets, "binary_cross_entropy_with_logits")
    xp = get_xp()
    loss = (xp.maximum(logits, 0) - logits * targets + xp.log1p(xp.exp(-xp.abs(logits)))).mean()
    sigmoid = (1 + xp.tanh(logits * 0.5)) * 0.5
    return loss, (sigmoid - targets) / logits.size
