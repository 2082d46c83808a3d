"""Where a canvas's ink lies against its boxes: in the requested box (:func:`localisation`), or
outside every box (:func:`background_ink`, :func:`background_score`). Host NumPy; images
(B, H, W, 1) float32 in canvas colours (black ink on white), labels (B, N) int (-1: empty slot),
boxes (B, N, 4) int (top, left, bottom, right), bottom and right exclusive."""
import numpy as np

from ..data.layouts import INK_LEVEL, box_iou
from ..layout import present_objects

MIN_MARGIN = 2    # pixels: the least distance from its box at which ink still belongs to it
CHUNK = 512       # canvases processed at once, to bound memory


def background_score(images, boxes, ideal):
    """Mean |image - ideal| over the pixels outside every box. images (B, H, W, 1),
    boxes (B, n, 4), ideal (H, W)."""
    images = np.asarray(images)[..., 0]
    outside = np.ones(images.shape, dtype=bool)
    for b, image_boxes in enumerate(np.asarray(boxes)):
        for top, left, bottom, right in image_boxes:
            outside[b, top:bottom, left:right] = False
    return float(np.abs(images - ideal)[outside].mean())


def _box_distances(boxes, present, length, axis):
    """Distance in pixels from each pixel index 0..length-1 to the box's extent on one axis
    (axis 0: rows, 1: columns), 0 inside: boxes (B, N, 4) -> (B, N, length) int16; a large
    value for empty slots."""
    low, high = boxes[..., axis, None], boxes[..., axis + 2, None] - 1
    pixels = np.arange(length)
    distance = np.maximum(np.maximum(low - pixels, pixels - high), 0)
    return np.where(present[..., None], distance, np.iinfo(np.int16).max).astype(np.int16)

def box_distances(labels, boxes, height, width):
    """Chebyshev distance in pixels from each pixel to each box, 0 inside, a large value for
    empty slots: labels (B, N), boxes (B, N, 4) -> (B, N, H, W) int16."""
    boxes, present = np.asarray(boxes), np.asarray(labels) >= 0
    return np.maximum(_box_distances(boxes, present, height, 0)[..., :, None],
                      _box_distances(boxes, present, width, 1)[..., None, :])

def _extent(mask, axis_length):
    """(first, end) of the True entries of mask (..., L) along its last axis; end exclusive."""
    return mask.argmax(axis=-1), axis_length - mask[..., ::-1].argmax(axis=-1)

def ink_owners(images, labels, boxes, margin=0.25):
    """Which box each ink pixel belongs to: the nearest (Chebyshev distance in pixels from the
    pixel to the box, 0 inside; a pixel equally near several boxes belongs to each), if that
    distance is at most max(MIN_MARGIN, margin * the box's longer side).
    Ink: darkness 1 - pixel >= INK_LEVEL. images (B, H, W, 1), labels (B, N), boxes (B, N, 4)
    -> bool (B, N, H, W)."""
    boxes = np.asarray(boxes)
    height, width = images.shape[1:3]
    ink = (1.0 - np.asarray(images)[..., 0]) >= INK_LEVEL
    distance = box_distances(labels, boxes, height, width)
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
