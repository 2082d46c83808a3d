"""Statistics of judged digits: proportions with 95% Wilson intervals, the Fréchet distance of
two feature sets, and the within-class spread of features against real digits'. Host NumPy."""
import math

import numpy as np

Z_95 = 1.959964


def wilson_interval(successes, total, z=Z_95):
    """95% Wilson score interval (low, high) for a proportion."""
    if total == 0:
        return (float("nan"), float("nan"))
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))

def proportion(hits):
    """{'value', 'n', 'ci95'} of a boolean array."""
    hits = np.asarray(hits, dtype=bool).ravel()
    return {"value": float(hits.mean()) if hits.size else float("nan"), "n": int(hits.size),
            "ci95": list(wilson_interval(int(hits.sum()), hits.size))}

def frechet_distance(features_a, features_b):
    """Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D):
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)). The trace of the square root is
    computed as that of (A S_b A)^(1/2), A = S_a^(1/2), which is symmetric: no complex parts."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    mean_gap = a.mean(axis=0) - b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(mean_gap @ mean_gap + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)

def mean_pairwise_distance(features, limit=300, seed=0):
    """Mean Euclidean distance between two different rows of ``features`` (N, D), over at
    most ``limit`` rows drawn with ``seed`` (nan for fewer than two rows)."""
    features = np.asarray(features, np.float64)
    if len(features) > limit:
        features = features[np.random.default_rng(seed).choice(len(features), limit, replace=False)]
    n = len(features)
    if n < 2:
        return float("nan")
    squared = (features * features).sum(axis=1)
    gaps = np.sqrt(np.clip(squared[:, None] + squared[None, :] - 2 * features @ features.T, 0, None))
    return float(gaps.sum() / (n * (n - 1)))

def diversity(features, labels, real_features, real_labels, n_classes):
    """How varied the generated digits of each class are, against real digits of that class:
    the mean pairwise distance of judge features within the class, generated over real.
    1 means as varied as MNIST; a generator that draws one glyph per class gives about 0.
    Returns {'per_class': {class: ratio}, 'mean': ..., 'min': ...}."""
    ratios = {}
    for c in range(n_classes):
        generated = mean_pairwise_distance(features[labels == c])
        real = mean_pairwise_distance(real_features[real_labels == c])
        ratios[str(c)] = generated / real if real > 0 else float("nan")
    values = [v for v in ratios.values() if np.isfinite(v)]
    return {"per_class": ratios, "mean": float(np.mean(values)) if values else float("nan"),
            "min": float(np.min(values)) if values else float("nan")}
