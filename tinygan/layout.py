"""Layouts, and how objects meet the canvas.

A layout says what goes where: for a batch of B images of n objects each,

- labels: (B, n) int classes in 0..n_classes - 1, one per object;
- boxes: (B, n, 4) int (top, left, bottom, right) in pixels, bottom/right exclusive,
  each exactly size x size and inside the canvas.

Images are NHWC with one channel. :func:`paste_min` writes objects into their boxes with
an element-wise minimum (dark strokes win) and :func:`crop_boxes` cuts the boxes out (of
maps of any channels; its gradient also places maps on zero canvases), with their exact
gradients: on the host a slice per box, on the device one gather or scatter per object
through integer pixel indices. Free layouts resample instead (:func:`paste_min_resampled`,
:func:`crop_resampled`, :func:`place_resampled`).
Every function here takes host (NumPy) or device (CuPy) arrays, whatever the backend in
use: it computes with the module of its input (:func:`tinygan.backend.array_module`).
"""
import numpy as np

from . import fast
from .backend import array_module, to_host
from .resample import crop_axes, paste_axes, resample, resample_backward


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


def _box_corners(array, boxes):
    """(top, left) of box k of image b as ``corners[b][k]``, Python ints, where the host set of
    :mod:`tinygan.fast` runs on a host ``array``: there each box is a slice (a few microseconds
    each), which beats one gather per object through index arrays (NumPy's fancy indexing costs
    several times more per pixel). None elsewhere: the device set (on the device one gather per
    object beats a launch per box) and the plain set take the gathers."""
    if array_module(array) is not np or not fast.on_host_rows():
        return None
    return to_host(boxes)[:, :, :2].tolist()


def _box_slices(corners, k, size):
    """Index tuples (images, rows, columns) that together cover box k of every image (from
    :func:`_box_corners`): one over the whole batch when every image has that box at the same
    place (the grid layout), else one per image."""
    top, left = corners[0][k]
    if all(image_corners[k] == [top, left] for image_corners in corners):
        return [(slice(None), slice(top, top + size), slice(left, left + size))]
    return [(b, slice(top, top + size), slice(left, left + size)) for b, (top, left) in
            enumerate(image_corners[k] for image_corners in corners)]


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
    corners = _box_corners(background, boxes)
    for k in range(objects.shape[1]):
        if corners is not None:
            for box in _box_slices(corners, k, size):
                wins = objects[box[0], k, :, :, 0] < image[box]
                np.copyto(image[box], objects[box[0], k, :, :, 0], where=wins)
                np.copyto(winner[box], k + 1, where=wins)
            continue
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
    corners = _box_corners(dimage, boxes)
    dobjects = (xp.zeros if corners is not None else xp.empty)((dimage.shape[0], n_objects, size, size, 1),
                                                               dtype=dimage.dtype)
    for k in range(n_objects):
        if corners is not None:
            for box in _box_slices(corners, k, size):
                np.copyto(dobjects[box[0], k, :, :, 0], dimage[box], where=winner[box] == k + 1)
            continue
        index = _box_index(boxes, k, size)
        dobjects[:, k, :, :, 0] = xp.where(winner[index] == k + 1, dimage[index], 0)
    return dbackground, dobjects


def crop_boxes(image, boxes, size):
    """image (B, H, W, C), boxes (B, n, 4) -> crops (B, n, size, size, C)."""
    xp = array_module(image)
    corners = _box_corners(image, boxes)
    if corners is None:
        return xp.stack([image[_box_index(boxes, k, size)] for k in range(boxes.shape[1])], axis=1)
    crops = np.empty((image.shape[0], boxes.shape[1], size, size, image.shape[3]), dtype=image.dtype)
    for k in range(boxes.shape[1]):
        for box in _box_slices(corners, k, size):
            crops[box[0], k] = image[box]
    return crops


def crop_boxes_backward(dcrops, boxes, image_shape):
    """Gradient of :func:`crop_boxes`: scatter-add each crop's gradient into its box
    (overlapping boxes add up). dcrops (B, n, s, s, C) -> dimage of ``image_shape`` (B, H, W, C).
    It is also how maps of the boxes' size are placed on zero canvases (:meth:`BatchLayout.place`)."""
    xp = array_module(dcrops)
    dimage = xp.zeros(image_shape, dtype=dcrops.dtype)
    size, corners = dcrops.shape[2], _box_corners(dcrops, boxes)
    for k in range(boxes.shape[1]):
        if corners is not None:
            for box in _box_slices(corners, k, size):
                dimage[box] += dcrops[box[0], k]
            continue
        dimage[_box_index(boxes, k, size)] += dcrops[:, k]
    return dimage


MIN_SIDE = 2  # the smallest box height or width a model with free layouts draws


# Free layouts: any number of objects per image (label -1 marks an empty slot), boxes of any
# size and aspect. Objects are resampled into their boxes (:mod:`tinygan.resample`); the
# layout is read on the host, where the resampling matrices are built.

def check_layout(labels, boxes, n_classes, canvas_size, sides, where=""):
    """Raise a ValueError unless labels (B, N) are ints in -1..n_classes - 1 (-1: no object)
    and boxes (B, N, 4) ints (top, left, bottom, right) where every present object's box lies
    inside the canvas with height and width in sides = (smallest, largest). Host or device
    arrays; returns both as host arrays."""
    prefix = f"{where}: " if where else ""
    labels, boxes = to_host(labels), to_host(boxes)
    if labels.ndim != 2:
        raise ValueError(f"{prefix}labels: expected shape (B, N), got {labels.shape}")
    if boxes.shape != (*labels.shape, 4):
        raise ValueError(f"{prefix}boxes: expected shape {(*labels.shape, 4)} (one top, left, bottom, right per "
                         f"label), got {boxes.shape}")
    for name, array in (("labels", labels), ("boxes", boxes)):
        if array.dtype.kind not in "iu":
            raise ValueError(f"{prefix}{name}: expected integers, got dtype {array.dtype}")
    bad = (labels < -1) | (labels >= n_classes)
    if bad.any():
        index, which = _first(bad, "object")
        raise ValueError(f"{prefix}labels: classes must be in 0..{n_classes - 1} (or -1 for no object), "
                         f"got {int(labels[index])} ({which})")
    present = labels >= 0
    heights, widths = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    smallest, largest = sides
    rules = [((heights < 1) | (widths < 1), "is empty"),
             ((boxes[..., :2] < 0).any(-1) | (boxes[..., 2:] > canvas_size).any(-1),
              f"reaches outside the {canvas_size}x{canvas_size} canvas"),
             ((heights < smallest) | (widths < smallest) | (heights > largest) | (widths > largest),
              f"has a side outside the {smallest} to {largest} pixels this model draws")]
    for broken, problem in rules:
        broken = broken & present
        if broken.any():
            index, which = _first(broken, "box")
            top, left, bottom, right = (int(v) for v in boxes[index])
            raise ValueError(f"{prefix}{which}, ({top}, {left}, {bottom}, {right}) = {bottom - top}x{right - left} "
                             f"pixels, {problem}")
    return labels, boxes


def present_objects(labels):
    """(image index, slot index) host int arrays of the objects present (label >= 0), in row-major order."""
    return np.nonzero(to_host(labels) >= 0)


def paste_min_resampled(background, objects, where, boxes, n_slots):
    """Resample each present object into its box and composite with an element-wise minimum
    (dark strokes win; ties go to the background, then the earlier slot).

    background (B, H, W, 1); objects (P, s, s, 1) in [0, 1], the present objects in the order
    of ``where`` = (image index, slot index) host arrays (:func:`present_objects`); boxes (P, 4)
    host ints; n_slots: N. Returns image (B, H, W, 1) and the cache of the backward. What is
    resampled is the ink, 1 - object, so the object's surroundings stay white."""
    xp = array_module(background)
    batch, height, width, _ = background.shape
    rows, cols = (xp.asarray(m, dtype=objects.dtype) for m in paste_axes(boxes, objects.shape[1], height))
    images, slots = xp.asarray(where[0]), xp.asarray(where[1] + 1)  # device indices: CuPy takes no host arrays
    layers = xp.ones((batch, 1 + n_slots, height, width), dtype=background.dtype)
    layers[:, 0] = background[..., 0]
    layers[images, slots] = 1 - resample(1 - objects[..., 0], rows, cols)
    winner = layers.argmin(axis=1)
    image = layers.min(axis=1)[..., None]
    return image, (winner, images, slots[:, None, None], rows, cols)


def paste_min_resampled_backward(dimage, cache):
    """dimage (B, H, W, 1) -> (dbackground (B, H, W, 1), dobjects (P, s, s, 1))."""
    xp = array_module(dimage)
    winner, images, slots, rows, cols = cache
    d = dimage[..., 0]
    dbackground = xp.where(winner == 0, d, 0)[..., None]
    dink = xp.where(winner[images] == slots, d[images], 0)  # the gradient of 1 - ink is -dink
    return dbackground, resample_backward(dink, rows, cols)[..., None]


def crop_resampled(image, where, boxes, size):
    """Cut each present object's box out of its image at size x size.
    image (B, H, W, 1); where, boxes as in :func:`paste_min_resampled` -> crops (P, size, size, 1), cache."""
    xp = array_module(image)
    rows, cols = (xp.asarray(m, dtype=image.dtype) for m in crop_axes(boxes, size, image.shape[1]))
    images = xp.asarray(where[0])
    return resample(image[images, :, :, 0], rows, cols)[..., None], (images, rows, cols, image.shape)


def crop_resampled_backward(dcrops, cache):
    """dcrops (P, size, size, 1) -> dimage (B, H, W, 1): each crop's gradient back into its box, the
    objects of one image summed (one product with the (B, P) membership matrix)."""
    images, rows, cols, shape = cache
    return sum_per_image(resample_backward(dcrops[..., 0], rows, cols), images, shape[0]).reshape(shape)


def sum_per_image(planes, images, batch):
    """planes (P, ...) of objects in images ``images`` (P,) -> (batch, ...): each image's planes
    summed (one product with the (batch, P) membership matrix)."""
    xp = array_module(planes)
    membership = (xp.arange(batch)[:, None] == images[None, :]).astype(planes.dtype)
    rows = planes.reshape(planes.shape[0], int(np.prod(planes.shape[1:])))  # -1 fails for P = 0
    return (membership @ rows).reshape(batch, *planes.shape[1:])


def place_resampled(maps, where, boxes, batch, canvas_size):
    """Each present object's maps resampled into its box on a zero canvas, an image's objects
    summed (overlaps add up). maps (P, s, s, C) in the order of ``where`` = (image index, slot
    index) host arrays; boxes (P, 4) host ints; batch: B -> canvases (B, H, W, C), cache.
    The canvas is 0 outside every box (no ink, unlike :func:`paste_min_resampled`'s white)."""
    xp = array_module(maps)
    rows, cols = (xp.asarray(m, dtype=maps.dtype)[:, None] for m in paste_axes(boxes, maps.shape[1], canvas_size))
    images = xp.asarray(where[0])
    planes = resample(maps.transpose(0, 3, 1, 2), rows, cols)  # (P, C, H, W)
    return sum_per_image(planes, images, batch).transpose(0, 2, 3, 1), (images, rows, cols)


def place_resampled_backward(dcanvases, cache):
    """dcanvases (B, H, W, C) -> dmaps (P, s, s, C): each box's gradient resampled back."""
    images, rows, cols = cache
    return resample_backward(dcanvases.transpose(0, 3, 1, 2)[images], rows, cols).transpose(0, 2, 3, 1)


def layout_map(labels, boxes, n_classes, canvas_size, size=None):
    """The layout as an image: (B, size, size, n_classes) float32 on the host; in channel c each
    pixel holds the share of it that boxes of class c cover (summed over boxes, at most 1): 1
    inside a box, 0 outside. ``size`` divides canvas_size (default: the canvas itself).
    Host or device labels (B, N) (-1: empty slot) and boxes (B, N, 4)."""
    labels, boxes = to_host(labels), to_host(boxes)
    size = size or canvas_size
    where = present_objects(labels)
    present = boxes[where].astype(np.float64) * (size / canvas_size)  # in map pixels
    edges = np.arange(size + 1, dtype=np.float64)

    def cover(low, high):  # (P, size): the share of each map pixel inside [low, high)
        return np.clip(np.minimum(high[:, None], edges[None, 1:]) - np.maximum(low[:, None], edges[None, :-1]), 0, 1)

    shares = cover(present[:, 0], present[:, 2])[:, :, None] * cover(present[:, 1], present[:, 3])[:, None, :]
    plane = np.zeros((labels.shape[0], n_classes, size, size), np.float32)
    np.add.at(plane, (where[0], labels[where]), shares)
    return np.minimum(plane, 1).transpose(0, 2, 3, 1)
