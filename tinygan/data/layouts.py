"""Free layouts: any number of digits at random positions and sizes, on white or textured paper.

A box is the tight bounding box of a digit's ink (top, left, bottom, right; bottom/right
exclusive), as in object-detection data: a real digit is cropped to its ink (pixels of at
least INK_LEVEL darkness) and resampled into its box, so its box's width follows the digit's
own shape. :class:`LayoutRules` says how layouts are drawn (counts, heights, overlap, regions
to avoid or to fill); :class:`LayoutDataset` draws layouts and renders real digits into them.
Labels are (B, N) with -1 in slots without a digit; boxes (B, N, 4) (zeros in empty slots).
On white a canvas is one minus the ink of its digits (overlaps: the darkest); on a textured background
(issue 25, :mod:`.textures`) that ink is laid over a paper drawn per canvas (:func:`.real.ink_on_paper`).
"""
import copy
from dataclasses import dataclass

import numpy as np

from ..layout import MIN_SIDE, check_layout, present_objects
from ..resample import interval_weights, resample
from .digits import N_CLASSES
from .real import ink_on_paper, pick_digits, white
from .textures import families_of

INK_LEVEL = 0.25  # darkness (0 white .. 1 black) from which a pixel counts as ink
TRIES = 100       # placements tried per digit before it is left out


def parse_region(text, canvas_size, flag="--holdout-region"):
    """'T,L,B,R' -> (t, l, b, r) ints inside the canvas; None for None, '' or 'none'."""
    if text is None or str(text).strip().lower() in ("", "none"):
        return None
    try:
        region = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        region = ()
    if len(region) != 4:
        raise ValueError(f"{flag}: expected four integers T,L,B,R (or none), got {text!r}")
    top, left, bottom, right = region
    if not (0 <= top < bottom <= canvas_size and 0 <= left < right <= canvas_size):
        raise ValueError(f"{flag}: {region} is not a non-empty region of the {canvas_size}x{canvas_size} canvas")
    return region


def ink_boxes(images):
    """uint8 (N, H, W) white-on-black digits -> (N, 4) int64 tight boxes of their ink
    (pixels of at least INK_LEVEL darkness); the whole image for a digit without ink."""
    ink = np.asarray(images) >= INK_LEVEL * 255
    height, width = ink.shape[1:]
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    boxes = np.stack([rows.argmax(1), cols.argmax(1), height - rows[:, ::-1].argmax(1),
                      width - cols[:, ::-1].argmax(1)], axis=1).astype(np.int64)
    boxes[~rows.any(axis=1)] = (0, 0, height, width)
    return boxes


def box_iou(a, b):
    """Intersection over union of boxes a (..., 4) and b (..., 4), broadcast."""
    a, b = np.asarray(a), np.asarray(b)
    height = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    width = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = height * width
    area = lambda box: (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1)


def occupied(labels, *arrays):
    """labels (B, N) and arrays (B, ...) of a batch of layouts, without the images where no slot
    holds an object."""
    keep = (labels >= 0).any(axis=1)
    return (labels[keep], *(array[keep] for array in arrays))


def touches(box, region):
    """Does ``box`` (4,) share a pixel with ``region`` (4,)?"""
    return box[0] < region[2] and region[0] < box[2] and box[1] < region[3] and region[1] < box[3]


@dataclass(frozen=True)
class LayoutRules:
    """How free layouts are drawn.

    canvas_size: side of the square canvas.
    counts: (fewest, most) digits per canvas, drawn uniformly.
    heights: (smallest, largest) box height in pixels, drawn uniformly; the width follows the
        digit's ink (height * ink width / ink height), both shrunk to fit the canvas (or the
        ``inside`` region), neither below MIN_SIDE.
    overlap: the largest intersection over union two boxes may have (0: boxes never share a pixel).
    pairs: (low, high) or None: digits come in pairs whose boxes overlap with an IoU in
        [low, high], each pair apart from the others (the overlap split of the evaluation).
    avoid: (t, l, b, r) or None: a region no box may touch (held out of training).
    inside: (t, l, b, r) or None: a region every box must lie in.
    A digit that finds no place in TRIES draws is left out (its slot gets label -1).
    """
    canvas_size: int = 128
    counts: tuple = (1, 6)
    heights: tuple = (16, 64)
    overlap: float = 0.0
    pairs: tuple = None
    avoid: tuple = None
    inside: tuple = None

    def __post_init__(self):
        low, high = self.counts
        if not 1 <= low <= high:
            raise ValueError(f"LayoutRules: counts must be 1 <= fewest <= most, got {self.counts}")
        low, high = self.heights
        if not 1 <= low <= high <= self.canvas_size:
            raise ValueError(f"LayoutRules: heights must be 1 <= smallest <= largest <= {self.canvas_size}, "
                             f"got {self.heights}")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"LayoutRules: overlap must be in [0, 1), got {self.overlap}")


def training_rules(canvas_size, max_objects, overlap=0.0, avoid=None):
    """The rules of ``--layout random``'s training canvases: 1 to max_objects digits, box heights an
    eighth to a half of the canvas (16-64 pixels on 128), at most ``overlap`` IoU, off ``avoid``."""
    return LayoutRules(canvas_size, counts=(1, max_objects), heights=(canvas_size // 8, canvas_size // 2),
                       overlap=overlap, avoid=avoid)


class LayoutDataset:
    """Free layouts drawn at random, and canvases of real digits in them.

    digits: a DigitSet (uint8 (N, 28, 28) white on black). rules: LayoutRules.
    n_slots: objects per row of labels and boxes (default the most a canvas holds).
    background: a value of --background (:data:`tinygan.data.textures.BACKGROUNDS`): 'white', or the
        paper families each canvas's paper is drawn from (the attribute ``families``: () for white).
    """

    def __init__(self, digits, rules=LayoutRules(), n_slots=None, background="white"):
        self.rules = rules
        self.families = families_of(background)
        self.n_slots = n_slots or rules.counts[1]
        if self.n_slots < rules.counts[1]:
            raise ValueError(f"LayoutDataset: {self.n_slots} slots cannot hold {rules.counts[1]} digits")
        self.ink = np.asarray(digits.images, np.float32) / 255.0
        self.ink_boxes = ink_boxes(digits.images)
        ink_box_sides = self.ink_boxes[:, 2:] - self.ink_boxes[:, :2]
        self.aspects = ink_box_sides[:, 1] / ink_box_sides[:, 0]
        labels = np.asarray(digits.labels)
        self.class_indices = [np.flatnonzero(labels == c) for c in range(N_CLASSES)]
        absent = [c for c, indices in enumerate(self.class_indices) if len(indices) == 0]
        if absent:
            raise ValueError(f"LayoutDataset: the digit set has no images of classes {absent}")

    def with_rules(self, rules):
        """This digit set's layouts drawn by other rules (the arrays are shared)."""
        other = copy.copy(self)
        other.rules, other.n_slots = rules, rules.counts[1]
        return other

    def sample(self, batch_size, rng):
        """A random batch: images (B, H, W, 1) float32 dark ink on paper, labels (B, N), boxes (B, N, 4)."""
        canvases, labels, boxes = self.sample_canvases(batch_size, rng)
        return canvases.images, labels, boxes

    def sample_canvases(self, batch_size, rng):
        """As :meth:`sample`, the canvases whole: a :class:`tinygan.data.real.RealCanvases` (their
        papers and families too), labels, boxes."""
        labels, boxes, picks = self.sample_layout(batch_size, rng, with_picks=True)
        return self._draw(labels, boxes, picks, rng), labels, boxes

    def sample_occupied(self, batch_size, rng):
        """As :meth:`sample`, without the canvases where no digit found a place (B <= batch_size)."""
        labels, boxes, picks = occupied(*self.sample_layout(batch_size, rng, with_picks=True))
        return self.render(labels, boxes, picks, rng), labels, boxes

    def sample_layout(self, batch_size, rng, with_picks=False):
        """labels (B, N) int64 (-1: empty slot), boxes (B, N, 4) int64 and, with ``with_picks``, the
        index (B, N) of the real digit whose shape gave each box (-1 in empty slots)."""
        n = self.n_slots
        labels, picks = np.full((batch_size, n), -1, np.int64), np.full((batch_size, n), -1, np.int64)
        boxes = np.zeros((batch_size, n, 4), np.int64)
        low, high = self.rules.counts
        for image in range(batch_size):
            count = int(rng.integers(low, high + 1))
            placed, previous = [], None
            for slot in range(count):
                label = int(rng.integers(N_CLASSES))
                indices = self.class_indices[label]
                pick = int(indices[rng.integers(len(indices))])
                partner = previous if self.rules.pairs and slot % 2 else None
                box = previous = self._place(rng, self.aspects[pick], placed, partner)
                if box is not None:
                    labels[image, slot], picks[image, slot], boxes[image, slot] = label, pick, box
                    placed.append(box)
        return (labels, boxes, picks) if with_picks else (labels, boxes)

    def _place(self, rng, aspect, placed, partner):
        """A box for a digit of this ink aspect (width / height) that keeps the rules, or None."""
        r, size = self.rules, self.rules.canvas_size
        top_lo, left_lo, top_hi, left_hi = (0, 0, size, size) if r.inside is None else r.inside
        for _ in range(TRIES):
            height = int(rng.integers(r.heights[0], r.heights[1] + 1))
            width = max(MIN_SIDE, int(round(height * aspect)))
            fit = min(1.0, (top_hi - top_lo) / height, (left_hi - left_lo) / width)
            height, width = max(MIN_SIDE, int(height * fit)), max(MIN_SIDE, int(width * fit))
            if partner is None:
                top = int(rng.integers(top_lo, top_hi - height + 1))
                left = int(rng.integers(left_lo, left_hi - width + 1))
            else:  # somewhere that shares pixels with the partner
                top = int(np.clip(rng.integers(partner[0] - height + 1, partner[2]), top_lo, top_hi - height))
                left = int(np.clip(rng.integers(partner[1] - width + 1, partner[3]), left_lo, left_hi - width))
            box = np.array([top, left, top + height, left + width])
            if r.avoid is not None and touches(box, r.avoid):
                continue
            others = [b for b in placed if b is not partner]
            if others and box_iou(np.array(others), box).max() > (0 if r.pairs else r.overlap):
                continue
            if partner is not None and not r.pairs[0] <= box_iou(partner, box) <= r.pairs[1]:
                continue
            return box
        return None

    def render(self, labels, boxes, picks, rng):
        """Canvases of the picked real digits (:meth:`draw_real`'s images): (B, H, W, 1) float32. rng: draws
        the papers and ink tones of a textured background (unused on white)."""
        return self._draw(labels, boxes, picks, rng).images

    def draw_real(self, labels, boxes, rng):
        """Real digits of labels (B, N) (-1: an empty slot) in boxes (B, N, 4) of any size inside the canvas,
        each digit drawn from rng among its class, on fresh paper: a :class:`tinygan.data.real.RealCanvases`.
        On white its images are what :meth:`render` draws for these layouts."""
        size = self.rules.canvas_size
        labels, boxes = check_layout(labels, boxes, N_CLASSES, size, (MIN_SIDE, size), "LayoutDataset.draw_real")
        return self._draw(labels, boxes, pick_digits(self.class_indices, labels, rng), rng)

    def _draw(self, labels, boxes, picks, rng):
        """RealCanvases of the picked real digits, each cropped to its ink and resampled into its box; the
        ink alpha is the darkest of the digits at each pixel. On white the canvas is one minus it."""
        where = present_objects(labels)
        size = self.rules.canvas_size
        source, target = self.ink_boxes[picks[where]], boxes[where]
        rows = interval_weights(size, target[:, 0], target[:, 2], self.ink.shape[1], source[:, 0], source[:, 2])
        cols = interval_weights(size, target[:, 1], target[:, 3], self.ink.shape[2], source[:, 1], source[:, 3])
        ink = resample(self.ink[picks[where]], rows.astype(np.float32), cols.astype(np.float32))
        layers = np.zeros((labels.shape[0], labels.shape[1], size, size), np.float32)
        layers[where] = ink
        alpha = layers.max(axis=1)[..., None]
        if self.families:
            return ink_on_paper(alpha, self.families, rng)
        return white(1.0 - alpha, alpha, np.ones((size, size, 1), np.float32))
