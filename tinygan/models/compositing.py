"""Writing objects into an image at their boxes (min compositing) and cropping boxes out.

Both are gathers/scatters through integer pixel indices, with their exact gradients.
The image is NHWC with one channel; boxes are (top, left, bottom, right), bottom/right
exclusive, each exactly ``size`` x ``size`` pixels.
"""
from ..backend import get_xp, to_host


def check_boxes(boxes, batch, n_objects, size, canvas_size, where="boxes"):
    """Raise a ValueError unless boxes is an int array (batch, n_objects, 4) of size x size
    boxes inside the canvas."""
    xp = get_xp()
    shape = tuple(getattr(boxes, "shape", ()))
    if shape != (batch, n_objects, 4):
        raise ValueError(f"{where}: expected shape ({batch}, {n_objects}, 4) as (top, left, bottom, right), "
                         f"got {shape or type(boxes).__name__}")
    if boxes.dtype.kind not in "iu":
        raise ValueError(f"{where}: expected integer pixel coordinates, got dtype {boxes.dtype}")
    heights, widths = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    wrong_size, outside = to_host(xp.stack([xp.any((heights != size) | (widths != size)),  # one read
                                            xp.any((boxes[..., :2] < 0) | (boxes[..., 2:] > canvas_size))]))
    if wrong_size:
        raise ValueError(f"{where}: every box must be {size}x{size} pixels for this model")
    if outside:
        raise ValueError(f"{where}: boxes must lie inside the {canvas_size}x{canvas_size} canvas")


def _box_index(boxes, k, size):
    """Index arrays selecting box k of every image: (batch, 1, 1), (batch, size, 1), (batch, 1, size)."""
    xp = get_xp()
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
    xp = get_xp()
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
    xp = get_xp()
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
    xp = get_xp()
    plane = image[..., 0]
    crops = xp.stack([plane[_box_index(boxes, k, size)] for k in range(boxes.shape[1])], axis=1)
    return crops[..., None]


def crop_boxes_backward(dcrops, boxes, image_shape):
    """Gradient of :func:`crop_boxes`: scatter-add each crop's gradient into its box
    (overlapping boxes add up). dcrops (B, n, s, s, 1) -> dimage of ``image_shape``."""
    xp = get_xp()
    dimage = xp.zeros(image_shape[:3], dtype=dcrops.dtype)
    for k in range(boxes.shape[1]):
        index = _box_index(boxes, k, dcrops.shape[2])
        dimage[index] += dcrops[:, k, :, :, 0]
    return dimage[..., None]
