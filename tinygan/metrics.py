"""What a generator draws, measured: the judge's verdict on each box, proportions with 95%
Wilson intervals, the Fréchet distance and within-class spread of judge features, and the
background outside the boxes. Shared by training's evaluations and ``tinygan.evaluate``.

Images are host NHWC float32 in canvas colours (black on white); labels (B, n) int;
boxes (B, n, 4) int (top, left, bottom, right).
"""
import math

import numpy as np

from . import backend
from .data.digits import resize_images
from .judge_model import IMAGE_SHAPE, classify, judge_features
from .layout import crop_boxes

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


def accuracy_report(requested, judged):
    """Accuracies of judged (B, n) labels against requested (B, n) labels."""
    requested = np.asarray(requested)
    correct = np.asarray(judged) == requested
    return {"per_object": proportion(correct),
            "per_position": [proportion(correct[:, k]) for k in range(correct.shape[1])],
            "per_class": {str(c): proportion(correct[requested == c]) for c in np.unique(requested)},
            "all_correct": proportion(correct.all(axis=1))}


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


def background_score(images, boxes, ideal):
    """Mean |image - ideal| over the pixels outside every box. images (B, H, W, 1),
    boxes (B, n, 4), ideal (H, W)."""
    images = np.asarray(images)[..., 0]
    outside = np.ones(images.shape, dtype=bool)
    for b, image_boxes in enumerate(np.asarray(boxes)):
        for top, left, bottom, right in image_boxes:
            outside[b, top:bottom, left:right] = False
    return float(np.abs(images - ideal)[outside].mean())


def generate(generator, labels, boxes, seed, batch_size=64):
    """Images (B, H, W, 1) on the host for the given labels (B, N) and boxes (B, N, 4) (a grid's,
    or any layout for a random-layout generator), drawn in eval mode (the generator's mode is restored)."""
    rng = np.random.default_rng(seed)
    parts = []
    with generator.evaluating():
        for start in range(0, len(labels), batch_size):
            stop = min(start + batch_size, len(labels))
            noise = generator.sample_noise(rng, stop - start, labels.shape[1])
            images, _ = generator.forward(*(backend.to_device(a) for a in
                                            (noise, labels[start:stop], boxes[start:stop])))
            parts.append(backend.to_host(images))
    return np.concatenate(parts)


def judge_crops(crops):
    """Box crops (N, s, s, 1) at the judge's 28x28 (for models whose objects have another size)."""
    side = IMAGE_SHAPE[0]
    if crops.shape[1] == side:
        return crops
    return resize_images(crops[..., 0], side)[..., None]


def judge_images(judge, images, labels, boxes, size):
    """Classify each box crop: returns judged labels (B, n), probability of the requested
    label (B, n) and the crops (B * n, size, size, 1)."""
    crops = backend.to_host(crop_boxes(backend.to_device(images), backend.to_device(boxes), size))
    crops = crops.reshape(-1, size, size, 1)
    judged, probabilities = classify(judge, judge_crops(crops))
    requested_probability = probabilities[np.arange(len(judged)), labels.ravel()]
    return judged.reshape(labels.shape), requested_probability.reshape(labels.shape), crops


def judged_accuracy(generator, dataset, judge, n_samples, seed, real_features=None):
    """For evaluations during training: per-object accuracy on ``n_samples`` images of seen
    orders (and of unseen ones when the dataset holds some out) and, given the judge's
    ``real_features`` of real digits, the Fréchet distance of the seen images' crops.
    Returns {'seen': fraction, 'unseen': fraction or None, 'frechet': float or None}."""
    rng = np.random.default_rng(seed)
    result = {"seen": None, "unseen": None, "frechet": None}
    for group in ("seen", "unseen") if len(dataset.holdout) else ("seen",):
        labels = dataset.sample_labels(n_samples, rng, orders=group)
        boxes = dataset.config.boxes(len(labels))
        images = generate(generator, labels, boxes, seed=int(rng.integers(2**31)))
        judged, _, crops = judge_images(judge, images, labels, boxes, generator.config.object_size)
        result[group] = float(np.mean(judged == labels))
        if group == "seen" and real_features is not None:
            result["frechet"] = frechet_distance(judge_features(judge, judge_crops(crops)), real_features)
    return result
