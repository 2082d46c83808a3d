"""Layouts, and how objects meet the canvas.

A layout says what goes where: for a batch of B images of n objects each,

- labels: (B, n) int classes in 0..n_classes - 1, one per object;
- boxes: (B, n, 4) int (top, left, bottom, right) in pixels, bottom/right exclusive,
  each exactly size x size and inside the canvas.

Images are NHWC with one channel. :func:`paste_min` writes objects into their boxes with
an element-wise minimum (dark strokes win) and :func:`crop_boxes` cuts the boxes out;
both are gathers/scatters through integer pixel indices, with their exact gradients.
Every function here takes host (NumPy) or device (CuPy) arrays, whatever the backend in
use: it computes with the module of its input (:func:`tinygan.backend.array_module`).
"""
import numpy as np

from .backend import array_module, to_host


def _first(mask, noun):
    """Name the first True entry of a host bool array (B, n): 'object 2 of image 5', or
    'object 2' in a batch of one."""
    image, k = (int(i) for i in np.argwhere(mask)[0])
    return (image, k), f"{noun} {k}" + (f" of image {image}" if mask.shape[0] > 1 else "")


def check_labels(labels, batch, n_objects, n_classes, where="labels"):
    """Raise a ValueError unless labels is an int array (batch, n_objects) of classes in
    0..n_classes - 1. Valid labels cost one read from the device."""
    shape = tuple(getattr(labels, "shape", ()))
    if shape != (batch, n_objects):
        raise ValueError(f"{where}: expected shape ({batch}, {n_objects}), got {shape or type(labels).__name__}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{where}: expected integer classes, got dtype {labels.dtype}")
    bad = (labels < 0) | (labels >= n_classes)
    if bool(array_module(labels).any(bad)):  # one read from the device
        index, which = _first(to_host(bad), "object")
        raise ValueError(f"{where}: classes must be in 0..{n_classes - 1}, got {int(to_host(labels)[index])} ({which})")


def check_boxes(boxes, batch, n_objects, size, canvas_size, where="boxes"):
    """Raise a ValueError unless boxes is an int array (batch, n_objects, 4) of size x size
    boxes inside the canvas_size x canvas_size canvas. Valid boxes cost one read from the device."""
    shape = tuple(getattr(boxes, "shape", ()))
    if shape != (batch, n_objects, 4):
        raise ValueError(f"{where}: expected shape ({batch}, {n_objects}, 4) as (top, left, bottom, right), "
                         f"got {shape or type(boxes).__name__}")
    if boxes.dtype.kind not in "iu":
        raise ValueError(f"{where}: expected integer pixel coordinates, got dtype {boxes.dtype}")
    xp = array_module(boxes)
    heights, widths = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    wrong_size = (heights != size) | (widths != size)
    outside = xp.any(boxes[..., :2] < 0, axis=-1) | xp.any(boxes[..., 2:] > canvas_size, axis=-1)
    if not to_host(xp.stack([xp.any(wrong_size), xp.any(outside)])).any():  # one read
        return
    host_boxes, wrong_size = to_host(boxes), to_host(wrong_size)
    if wrong_size.any():
        index, which = _first(wrong_size, "box")
        top, left, bottom, right = (int(v) for v in host_boxes[index])
        raise ValueError(f"{where}: {which} is {bottom - top}x{right - left} pixels, not the object size {size}x{size}")
    index, which = _first(to_host(outside), "box")
    raise ValueError(f"{where}: {which}, {tuple(int(v) for v in host_boxes[index])}, "
                     f"reaches outside the {canvas_size}x{canvas_size} canvas")


def _box_index(boxes, k, size):
    """Index arrays selecting box k of every image: (batch, 1, 1), (batch, size, 1), (batch, 1, size)."""
    xp = array_module(boxes)
    offsets = xp.arange(size)
    batch = xp.arange(boxes.shape[0])[:, None, None]
    rows = (boxes[:, k, 0][:, None] + offsets)[:, :, None]
    cols = (boxes[:, k, 1][:, None] + offsets)[:, None, :]
    return batch, rows, cols


def paste_min(background, objects, boxes):
    """Write each object into its box with an element-wise minimum (dark strokes win).

    background (B, H, W, 1), objects (B, n, s, s, 1), boxes (B, n, 4) ->
    image (B, H, W, 1) and the cache for :func:`paste_min_backward`: a map of which
    source won each pixel (0 = background, k + 1 = object k; ties go to the earlier).
    """
    xp = array_module(background)
    image = background[..., 0].copy()
    winner = xp.zeros(image.shape, dtype=xp.int8)
    size = objects.shape[2]
    for k in range(objects.shape[1]):
        index = _box_index(boxes, k, size)
        region, candidate = image[index], objects[:, k, :, :, 0]
        wins = candidate < region
        image[index] = xp.where(wins, candidate, region)
        winner[index] = xp.where(wins, k + 1, winner[index])
    return image[..., None], (winner, boxes, size, objects.shape[1])


def paste_min_backward(dimage, cache):
    """Gradient of :func:`paste_min`: each pixel's gradient goes to the source that won it.
    dimage (B, H, W, 1) -> (dbackground (B, H, W, 1), dobjects (B, n, s, s, 1))."""
    xp = array_module(dimage)
    winner, boxes, size, n_objects = cache
    dimage = dimage[..., 0]
    dbackground = xp.where(winner == 0, dimage, 0)[..., None]
    dobjects = xp.empty((dimage.shape[0], n_objects, size, size, 1), dtype=dimage.dtype)
    for k in range(n_objects):
        index = _box_index(boxes, k, size)
        dobjects[:, k, :, :, 0] = xp.where(winner[index] == k + 1, dimage[index], 0)
    return dbackground, dobjects


def crop_boxes(image, boxes, size):
    """image (B, H, W, 1), boxes (B, n, 4) -> crops (B, n, size, size, 1)."""
    xp = array_module(image)
    plane = image[..., 0]
    crops = xp.stack([plane[_box_index(boxes, k, size)] for k in range(boxes.shape[1])], axis=1)
    return crops[..., None]


def crop_boxes_backward(dcrops, boxes, image_shape):
    """Gradient of :func:`crop_boxes`: scatter-add each crop's gradient into its box
    (overlapping boxes add up). dcrops (B, n, s, s, 1) -> dimage of ``image_shape``."""
    xp = array_module(dcrops)
    dimage = xp.zeros(image_shape[:3], dtype=dcrops.dtype)
    for k in range(boxes.shape[1]):
        index = _box_index(boxes, k, dcrops.shape[2])
        dimage[index] += dcrops[:, k, :, :, 0]
    return dimage[..., None]
