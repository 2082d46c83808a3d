"""What a generator with free layouts draws, measured (``python -m tinygan.evaluate`` on a
checkpoint with layout 'random').

Every present object's box is cut out of its canvas and scaled into an MNIST-style 28x28
frame (:func:`frame_crops`), where the digit judge classifies it. Beside the judge's
verdict: does the drawn ink sit in the requested box (:func:`localisation`), is there ink
where no box is (:func:`background_ink`), and how far are the judge's features of the frames
from real digits' (Fréchet distance, within-class spread). :data:`SPLITS` are the layouts
measured: the training distribution and five ways out of it.

Host NumPy throughout. Images (B, H, W, 1) float32 in canvas colours (black ink on white);
labels (B, N) int (-1: empty slot); boxes (B, N, 4) int (top, left, bottom, right), bottom and
right exclusive. Present objects are listed in :func:`tinygan.layout.present_objects` order.
"""
from dataclasses import asdict

import numpy as np

from .data.digits import N_CLASSES
from .data.layouts import INK_LEVEL, LayoutDataset, LayoutRules, box_iou, training_rules
from .judge_model import classify, judge_features
from .layout import present_objects
from .metrics import diversity, frechet_distance, generate, proportion
from .resample import interval_weights, resample

FRAME = 28        # side of the judge's input, as MNIST
FRAME_DIGIT = 20  # MNIST digits fit a 20x20 box centred in the frame
MIN_MARGIN = 2    # pixels: the least distance from its box at which ink still belongs to it
CHUNK = 512       # objects (or canvases) processed at once, to bound memory


# ------------------------------------------------------------------------- per object

def frame_placement(boxes):
    """Where each box lands in the frame: boxes (P, 4) -> (P, 4) int64 (top, left, bottom,
    right) of a block whose longer side is FRAME_DIGIT pixels, the other keeping the box's
    aspect (at least 1 pixel), centred in the FRAME x FRAME frame."""
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    sides = boxes[:, 2:] - boxes[:, :2]
    scale = FRAME_DIGIT / sides.max(axis=1, keepdims=True)
    sides = np.maximum(1, np.round(sides * scale)).astype(np.int64)
    start = (FRAME - sides) // 2
    return np.concatenate([start, start + sides], axis=1)


def centre_of_mass_shift(frames, placement):
    """Move each frame's ink, as MNIST's digits were moved, by whole pixels so that its centre of
    mass is at the frame's centre, as far as the block (placement (P, 4)) stays inside the frame.
    frames (P, 28, 28, 1) white outside their blocks -> the same, shifted."""
    ink = 1.0 - frames[..., 0]
    mass = ink.sum(axis=(1, 2))
    centres = np.arange(FRAME) + 0.5
    centre_row = (ink.sum(axis=2) @ centres) / np.maximum(mass, 1e-12)
    centre_col = (ink.sum(axis=1) @ centres) / np.maximum(mass, 1e-12)
    shift = np.rint(FRAME / 2 - np.stack([centre_row, centre_col], axis=1)).astype(np.int64)
    shift = np.clip(shift, -placement[:, :2], FRAME - placement[:, 2:]) * (mass > 0)[:, None]
    rows = (np.arange(FRAME) - shift[:, :1]) % FRAME  # (P, 28): the source row of each row
    cols = (np.arange(FRAME) - shift[:, 1:]) % FRAME
    return frames[np.arange(len(frames))[:, None, None], rows[:, :, None], cols[:, None, :]]


def frame_crops(images, labels, boxes):
    """Each present object's box cut out of its canvas and scaled into an MNIST-style frame
    (:func:`frame_placement`), with Pillow's bilinear resize (:func:`tinygan.resample.interval_weights`)
    of the ink, 1 - image, so the frame around the digit is white; then centred on its ink's
    centre of mass (:func:`centre_of_mass_shift`), as MNIST's digits are.
    images (B, H, W, 1), labels (B, N), boxes (B, N, 4) -> (P, 28, 28, 1) float32 canvas colours."""
    images = np.asarray(images)
    where = present_objects(labels)
    source = np.asarray(boxes)[where]
    target = frame_placement(source)
    height, width = images.shape[1:3]
    frames = np.ones((len(source), FRAME, FRAME, 1), np.float32)
    for start in range(0, len(source), CHUNK):
        part = slice(start, start + CHUNK)
        s, t = source[part], target[part]
        rows = interval_weights(FRAME, t[:, 0], t[:, 2], height, s[:, 0], s[:, 2]).astype(np.float32)
        cols = interval_weights(FRAME, t[:, 1], t[:, 3], width, s[:, 1], s[:, 3]).astype(np.float32)
        ink = 1.0 - images[where[0][part], :, :, 0].astype(np.float32)
        frames[part, :, :, 0] = 1.0 - resample(ink, rows, cols)
    return centre_of_mass_shift(frames, target)


def _box_distances(boxes, present, length, axis):
    """Distance in pixels from each pixel index 0..length-1 to the box's extent on one axis
    (axis 0: rows, 1: columns), 0 inside: boxes (B, N, 4) -> (B, N, length) int16; a large
    value for empty slots."""
    low, high = boxes[..., axis, None], boxes[..., axis + 2, None] - 1
    pixels = np.arange(length)
    distance = np.maximum(np.maximum(low - pixels, pixels - high), 0)
    return np.where(present[..., None], distance, np.iinfo(np.int16).max).astype(np.int16)


def _extent(mask, axis_length):
    """(first, end) of the True entries of mask (..., L) along its last axis; end exclusive."""
    return mask.argmax(axis=-1), axis_length - mask[..., ::-1].argmax(axis=-1)


def ink_owners(images, labels, boxes, margin=0.25):
    """Which box each ink pixel belongs to: the nearest (Chebyshev distance in pixels from the
    pixel to the box, 0 inside; a pixel equally near several boxes belongs to each), if that
    distance is at most max(MIN_MARGIN, margin * the box's longer side).
    Ink: darkness 1 - pixel >= INK_LEVEL. images (B, H, W, 1), labels (B, N), boxes (B, N, 4)
    -> bool (B, N, H, W)."""
    boxes, present = np.asarray(boxes), np.asarray(labels) >= 0
    height, width = images.shape[1:3]
    ink = (1.0 - np.asarray(images)[..., 0]) >= INK_LEVEL
    distance = np.maximum(_box_distances(boxes, present, height, 0)[..., :, None],
                          _box_distances(boxes, present, width, 1)[..., None, :])
    sides = boxes[..., 2:] - boxes[..., :2]
    reach = np.maximum(MIN_MARGIN, margin * sides.max(axis=-1))
    nearest = distance.min(axis=1, keepdims=True)
    return (distance == nearest) & (distance <= reach[..., None, None]) & ink[:, None]


def localisation(images, labels, boxes, margin=0.25):
    """Intersection over union of each present box with the bounding box of the ink that
    belongs to it (:func:`ink_owners`); 0 for a box without ink.
    images (B, H, W, 1), labels (B, N), boxes (B, N, 4) -> (P,) float64."""
    labels, boxes = np.asarray(labels), np.asarray(boxes)
    height, width = images.shape[1:3]
    ious = np.zeros(labels.shape)
    step = max(1, CHUNK // 8)  # canvases at a time: (step, N, H, W) masks
    for start in range(0, len(labels), step):
        part = slice(start, start + step)
        owned = ink_owners(images[part], labels[part], boxes[part], margin)
        rows, cols = owned.any(axis=3), owned.any(axis=2)
        (top, bottom), (left, right) = _extent(rows, height), _extent(cols, width)
        ink_box = np.stack([top, left, bottom, right], axis=-1)
        ious[part] = np.where(rows.any(axis=-1), box_iou(ink_box, boxes[part]), 0.0)
    return ious[present_objects(labels)]


def background_ink(images, labels, boxes):
    """What lies outside every present box: (the share of those pixels that are ink, darkness
    >= INK_LEVEL; their mean darkness, 1 - pixel, which also sees faint smudges), over all
    images. images (B, H, W, 1), labels (B, N), boxes (B, N, 4) -> (float, float), nan when the
    boxes cover every pixel."""
    labels, boxes = np.asarray(labels), np.asarray(boxes)
    present = labels >= 0
    height, width = images.shape[1:3]
    outside_ink = outside = darkness = 0
    for start in range(0, len(labels), CHUNK):
        part = slice(start, start + CHUNK)
        rows = _box_distances(boxes[part], present[part], height, 0) == 0
        cols = _box_distances(boxes[part], present[part], width, 1) == 0
        inside = (rows[..., :, None] & cols[..., None, :]).any(axis=1)
        dark = (1.0 - np.asarray(images[part])[..., 0])[~inside]
        outside_ink += int((dark >= INK_LEVEL).sum())
        darkness += float(dark.sum())
        outside += dark.size
    return (outside_ink / outside, darkness / outside) if outside else (float("nan"), float("nan"))


# ------------------------------------------------------------------------ the report

def layout_report(judge, images, labels, boxes, reference=None):
    """Everything measured on one set of canvases.

    judge: the digit judge. images (B, H, W, 1), labels (B, N), boxes (B, N, 4).
    reference: None or (features (M, D), labels (M,)) of real digits' frames, for the
    Fréchet distance and the within-class spread ('diversity': generated over real).
    Returns (report, verdicts): report a JSON-ready dict ('per_box', 'per_class' and
    'all_correct' proportions of judged == requested, the last over canvases with at least
    one object; 'mean_iou', 'iou_above_half', 'spurious_ink', 'background_darkness' (:func:`background_ink`)
    and, with a reference,
    'frechet' and 'diversity'); verdicts {'judged': (B, N) int64 judged labels (-1 in empty
    slots), 'iou': (B, N) float64 (nan in empty slots)} for a failure grid."""
    labels = np.asarray(labels)
    where = present_objects(labels)
    requested = labels[where]
    frames = frame_crops(images, labels, boxes)
    judged, _ = classify(judge, frames)
    correct = judged == requested
    iou = localisation(images, labels, boxes)
    verdicts = {"judged": np.full(labels.shape, -1, np.int64), "iou": np.full(labels.shape, np.nan)}
    verdicts["judged"][where], verdicts["iou"][where] = judged, iou
    occupied = (labels >= 0).any(axis=1)
    report = {"per_box": proportion(correct),
              "per_class": {str(c): proportion(correct[requested == c]) for c in np.unique(requested)},
              "all_correct": proportion((verdicts["judged"] == labels).all(axis=1)[occupied]),
              "mean_iou": float(iou.mean()) if iou.size else float("nan"),
              "iou_above_half": proportion(iou > 0.5),
              **dict(zip(("spurious_ink", "background_darkness"), background_ink(images, labels, boxes)))}
    if reference is not None:
        features = judge_features(judge, frames)
        report["frechet"] = frechet_distance(features, reference[0])
        report["diversity"] = diversity(features, requested, reference[0], reference[1], N_CLASSES)
    return report, verdicts


def worst_first(labels, verdicts):
    """Canvas indices, the worst first: most misjudged digits, then the lowest IoU of a box;
    canvases without objects last. labels (B, N), verdicts of :func:`layout_report` -> (B,)."""
    present = np.asarray(labels) >= 0
    wrong = ((verdicts["judged"] != labels) & present).sum(axis=1)
    lowest_iou = np.where(present, verdicts["iou"], np.inf).min(axis=1)
    return np.lexsort((lowest_iou, -wrong, ~present.any(axis=1)))


# ------------------------------------------------------------------------- the splits

def _pixels(canvas_size):
    """Pixel figures given for a 128-pixel canvas, scaled to canvas_size (rounded, at least 1)."""
    return lambda value: max(1, int(round(value * canvas_size / 128)))


def in_distribution(canvas_size, max_objects, region):
    """As training draws them (:func:`tinygan.data.layouts.training_rules`), off the held-out region."""
    return training_rules(canvas_size, max_objects, avoid=region)


def more_digits(canvas_size, max_objects, region):
    """7 to 9 digits (more than training shows), heights 16-36 (at 128 pixels)."""
    px = _pixels(canvas_size)
    return LayoutRules(canvas_size, counts=(7, 9), heights=(px(16), px(36)), avoid=region)


def small_boxes(canvas_size, max_objects, region):
    """Digits smaller than training's: heights 10-15 (at 128 pixels)."""
    px = _pixels(canvas_size)
    return LayoutRules(canvas_size, counts=(1, max_objects), heights=(px(10), px(15)), avoid=region)


def large_boxes(canvas_size, max_objects, region):
    """One or two digits larger than training's: heights 65-96 (at 128 pixels)."""
    px = _pixels(canvas_size)
    return LayoutRules(canvas_size, counts=(1, 2), heights=(px(65), px(96)), avoid=region)


def overlapping(canvas_size, max_objects, region):
    """2 to 4 digits in pairs whose boxes overlap with an IoU of 0.2-0.4 (training's never touch)."""
    px = _pixels(canvas_size)
    return LayoutRules(canvas_size, counts=(2, 4), heights=(px(16), px(64)), pairs=(0.2, 0.4), avoid=region)


def held_out_region(canvas_size, max_objects, region):
    """One or two digits inside the region held out of training; None without a region."""
    if region is None:
        return None
    px = _pixels(canvas_size)
    top, left, bottom, right = region
    tallest = min(px(64), bottom - top, right - left)
    return LayoutRules(canvas_size, counts=(1, 2), heights=(min(px(16), tallest), tallest), inside=tuple(region))


SPLITS = {split.__name__: split for split in
          (in_distribution, more_digits, small_boxes, large_boxes, overlapping, held_out_region)}


def split_rules(canvas_size, max_objects, region):
    """{split name: LayoutRules} of :data:`SPLITS` in order, without those that do not apply
    (the held-out region's when region is None)."""
    rules = {name: split(canvas_size, max_objects, region) for name, split in SPLITS.items()}
    return {name: r for name, r in rules.items() if r is not None}


# --------------------------------------------------------------------------- drawing

def draw_real(test_digits, rules, n_samples, rng):
    """n_samples layouts of ``rules`` and real canvases of test digits in them:
    (images (B, H, W, 1), labels (B, N), boxes (B, N, 4)), N the most digits the rules allow.
    Canvases where no digit found a place are left out: B <= n_samples."""
    dataset = LayoutDataset(test_digits, rules)
    labels, boxes, picks = dataset.sample_layout(n_samples, rng, with_picks=True)
    occupied = (labels >= 0).any(axis=1)
    labels, boxes, picks = labels[occupied], boxes[occupied], picks[occupied]
    return dataset.render(labels, boxes, picks), labels, boxes


def reference_digits(judge, test_digits, rules, n_samples, rng):
    """(features (M, D), labels (M,)) of the frames of real canvases drawn with ``rules``."""
    images, labels, boxes = draw_real(test_digits, rules, n_samples, rng)
    return judge_features(judge, frame_crops(images, labels, boxes)), labels[present_objects(labels)]


def evaluate_layouts(generator, judge, test_digits, region, n_samples=500, seed=0, log=print):
    """Measure a generator with free layouts on every split of :data:`SPLITS`.

    For each split, n_samples layouts are drawn with real MNIST test digits (whose ink shapes
    give the boxes); the real canvases (the ceiling the judge allows) and the generator's
    images for the same labels and boxes are both reported (:func:`layout_report`). The
    Fréchet distance and spread are measured against the frames of a separate draw of real
    in-distribution canvases. region: (t, l, b, r) held out of training, or None.
    Returns (report, failures): report {'n_samples', 'seed', 'held_out_region', 'splits': {split:
    {'rules', 'canvases', 'mean_count', 'generated', 'real'}}} (only the first two for a split
    where no layout was drawable); failures a list of
    (split, images, labels, boxes, judged, worst-first order) of the generated canvases."""
    config = generator.config
    rng = np.random.default_rng(seed)
    rules = split_rules(config.canvas_size, config.n_objects, region)
    reference = reference_digits(judge, test_digits, rules["in_distribution"], n_samples, rng)
    report = {"n_samples": n_samples, "seed": seed, "held_out_region": None if region is None else list(region),
              "splits": {}}
    failures = []
    for name, split in rules.items():
        real, labels, boxes = draw_real(test_digits, split, n_samples, rng)
        result = report["splits"][name] = {"rules": asdict(split), "canvases": len(labels)}
        if not len(labels):
            log(f"{name}: no digit found a place in any layout: not measured")
            continue
        images = generate(generator, labels, boxes, seed=int(rng.integers(2**31)))
        generated, verdicts = layout_report(judge, images, labels, boxes, reference)
        result.update(mean_count=float((labels >= 0).sum(axis=1).mean()), generated=generated,
                      real=layout_report(judge, real, labels, boxes, reference)[0])
        failures.append((name, images, labels, boxes, verdicts["judged"], worst_first(labels, verdicts)))
        log(f"{name}: {len(labels)} canvases, {result['mean_count']:.2f} digits each; boxes judged "
            f"correct {100 * generated['per_box']['value']:.1f}% generated, "
            f"{100 * result['real']['per_box']['value']:.1f}% real")
    return report, failures


def judged_layout_accuracy(generator, dataset, judge, n_samples, seed, region, real_features=None):
    """For evaluations during training, as :func:`tinygan.metrics.judged_accuracy` for the grid:
    per-box accuracy on ``n_samples`` layouts drawn as the training ``dataset`` (a LayoutDataset)
    draws them ('seen') and on layouts inside the held-out ``region`` ('unseen'; None without
    one), and the Fréchet distance of the seen frames to ``real_features`` (None without).
    Returns {'seen': fraction, 'unseen': fraction or None, 'frechet': float or None}."""
    rng = np.random.default_rng(seed)
    config = generator.config
    result = {"seen": None, "unseen": None, "frechet": None}
    groups = {"seen": dataset}
    if region is not None:
        groups["unseen"] = dataset.with_rules(held_out_region(config.canvas_size, config.n_objects, region))
    for group, layouts in groups.items():
        labels, boxes = layouts.sample_layout(n_samples, rng)
        occupied = (labels >= 0).any(axis=1)
        labels, boxes = labels[occupied], boxes[occupied]
        images = generate(generator, labels, boxes, seed=int(rng.integers(2**31)))
        frames = frame_crops(images, labels, boxes)
        judged, _ = classify(judge, frames)
        result[group] = float(np.mean(judged == labels[present_objects(labels)]))
        if group == "seen" and real_features is not None:
            result["frechet"] = frechet_distance(judge_features(judge, frames), real_features)
    return result
