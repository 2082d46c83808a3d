"""Multi-digit canvases: the data set of the paper (section 3.1, `src/data.py`).

Conventions used by the whole library:

- images are NHWC float32 in [0, 1], 1.0 = white;
- canvas digits are inverted MNIST digits, `1 - x / 255`: black digit on white
  (:func:`tinygan.data.digits.canvas_colours`);
- boxes and labels make a layout (:mod:`tinygan.layout`): boxes are int64 arrays (top, left,
  bottom, right) in pixels, bottom/right exclusive; labels are int64 digit classes, one per
  object, objects in row-major cell order. Digits are drawn by min compositing
  (:func:`tinygan.layout.paste_min`): dark ink wins.

A canvas is a `grid` x `grid` table of square cells. Each cell holds one digit of
`digit_size` pixels with `padding` pixels on every side. Cells are separated by black
lines `border` pixels wide; a line is centred on the edge between two cells (for
border 2 and 64-pixel cells: rows and columns 63 and 64), and runs across the whole
canvas. There is no line around the outside. This is what the original code draws.

On white paper (the default) a canvas is the min of the blank canvas and the digits. On a textured
background (issue 25, :mod:`.textures`) each canvas gets its own paper and the digits are real ink over
it (:func:`tinygan.data.real.ink_on_paper`); the black lines stay on top.
"""

from dataclasses import dataclass

import numpy as np

from ..layout import check_boxes, check_labels, paste_min
from .digits import N_CLASSES, canvas_colours
from .real import ink_on_paper, pick_digits, white
from .textures import families_of

ORDER_CHOICES = ("seen", "unseen", "any")


@dataclass(frozen=True)
class CanvasConfig:
    """Geometry of a canvas. The defaults are the paper's 128x128 canvas of 2x2 cells.

    canvas_size: side of the square canvas in pixels; must equal grid * cell size.
    grid: cells per row and per column.
    digit_size: side of a digit image in pixels (28 for MNIST).
    padding: pixels between a digit and its cell's edge, on each side.
    border: width in pixels of the black lines between cells (0 for none).
    n_objects: digits per canvas, placed in the first n_objects cells (row-major).
    """

    canvas_size: int = 128
    grid: int = 2
    digit_size: int = 28
    padding: int = 18
    border: int = 2
    n_objects: int = 4

    def __post_init__(self):
        for name in ("canvas_size", "grid", "digit_size", "n_objects"):
            _require_int(self, name, minimum=1)
        for name in ("padding", "border"):
            _require_int(self, name, minimum=0)
        cell = self.digit_size + 2 * self.padding
        if self.canvas_size != self.grid * cell:
            raise ValueError(
                f"CanvasConfig: canvas_size={self.canvas_size} must equal grid * "
                f"(digit_size + 2 * padding) = {self.grid} * {cell} = {self.grid * cell}")
        if self.n_objects > self.grid * self.grid:
            raise ValueError(
                f"CanvasConfig: n_objects={self.n_objects} exceeds the "
                f"grid * grid = {self.grid * self.grid} cells")
        if (self.border + 1) // 2 > self.padding:
            raise ValueError(
                f"CanvasConfig: border={self.border} is too wide for padding="
                f"{self.padding}: half a border line must fit in the padding")

    @property
    def cell_size(self):
        """Side of one cell in pixels."""
        return self.canvas_size // self.grid

    def boxes(self, batch=None):
        """(n_objects, 4) int64: box k is the digit square of cell k (row-major). With
        ``batch`` an int: a writable (batch, n_objects, 4) copy, these boxes for every image."""
        rows, cols = np.divmod(np.arange(self.n_objects), self.grid)
        top = rows * self.cell_size + self.padding
        left = cols * self.cell_size + self.padding
        boxes = np.stack([top, left, top + self.digit_size, left + self.digit_size],
                         axis=1).astype(np.int64)
        return boxes if batch is None else np.repeat(boxes[None], batch, axis=0)


def _require_int(config, name, minimum):
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"CanvasConfig: {name} must be an integer >= {minimum}, got {value!r}")


def cell_lines(config):
    """(H, W) bool: the pixels of the black lines between cells."""
    size = config.canvas_size
    lines = np.zeros((size, size), bool)
    start = -(config.border // 2)  # a line starts this far from the edge it covers
    for edge in range(config.cell_size, size, config.cell_size):
        lines[edge + start:edge + start + config.border, :] = True
        lines[:, edge + start:edge + start + config.border] = True
    return lines


def blank_canvas(config):
    """An empty canvas: (H, W) float32, white, black lines between cells."""
    canvas = np.ones((config.canvas_size, config.canvas_size), np.float32)
    canvas[cell_lines(config)] = 0.0
    return canvas


class LabelOrderHoldout:
    """A set of label orders (one digit per object, e.g. (1, 9, 8, 6)) kept out of
    training, to test whether the model draws orders it has never seen.

    Stored as a sorted int64 array `orders` (k, n_objects) without duplicates.
    """

    def __init__(self, orders, n_objects):
        orders = np.asarray(orders, dtype=np.int64)
        if orders.size == 0:
            orders = orders.reshape(0, n_objects)
        if orders.ndim != 2 or orders.shape[1] != n_objects:
            raise ValueError(f"LabelOrderHoldout: orders must have shape (k, {n_objects}), "
                             f"got {orders.shape}")
        if orders.size and (orders.min() < 0 or orders.max() >= N_CLASSES):
            raise ValueError(f"LabelOrderHoldout: digits must lie in 0..{N_CLASSES - 1}, "
                             f"got range [{orders.min()}, {orders.max()}]")
        self.n_objects = n_objects
        self.orders = np.unique(orders, axis=0)
        self._codes = _order_codes(self.orders)

    @classmethod
    def from_orders(cls, orders, n_objects=None):
        """From sequences of digits, e.g. [(1, 9, 8, 6), "3258"]. `n_objects` is needed
        only when `orders` is empty."""
        orders = [[int(digit) for digit in order] for order in orders]
        lengths = {len(order) for order in orders}
        if n_objects is None and len(lengths) != 1:
            raise ValueError("LabelOrderHoldout.from_orders: give n_objects, or orders "
                             f"that all have the same length (got lengths {sorted(lengths)})")
        n_objects = lengths.pop() if n_objects is None else n_objects
        if any(len(order) != n_objects for order in orders):
            raise ValueError(f"LabelOrderHoldout.from_orders: every order must have "
                             f"{n_objects} digits, got {orders}")
        return cls(orders, n_objects)

    @classmethod
    def from_fraction(cls, fraction, n_objects, seed):
        """Hold out round(fraction * 10**n_objects) orders chosen at random by `seed`."""
        if not 0 <= fraction < 1:
            raise ValueError(f"LabelOrderHoldout.from_fraction: fraction must be in [0, 1), "
                             f"got {fraction}")
        count = round(fraction * N_CLASSES ** n_objects)
        codes = np.random.default_rng(seed).choice(N_CLASSES ** n_objects, count, replace=False)
        return cls(_decode_orders(codes, n_objects), n_objects)

    @classmethod
    def from_array(cls, array):
        """Inverse of `to_array`: from an int array (k, n_objects)."""
        array = np.asarray(array)
        if array.ndim != 2:
            raise ValueError(f"LabelOrderHoldout.from_array: need a 2-d array (k, n_objects), "
                             f"got shape {array.shape}")
        return cls(array, array.shape[1])

    def to_array(self):
        """(k, n_objects) int64, for saving in an .npz checkpoint."""
        return self.orders.copy()

    def __len__(self):
        return len(self.orders)

    def __repr__(self):
        shown = ", ".join("".join(map(str, order)) for order in self.orders[:5])
        more = ", ..." if len(self) > 5 else ""
        return f"LabelOrderHoldout({len(self)} orders of {self.n_objects}: {shown}{more})"

    def contains(self, labels):
        """labels (B, n_objects) int -> (B,) bool: is each row a held-out order?"""
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.shape[1] != self.n_objects:
            raise ValueError(f"LabelOrderHoldout.contains: labels must have shape "
                             f"(B, {self.n_objects}), got {labels.shape}")
        return np.isin(_order_codes(labels), self._codes)


def _order_codes(orders):
    """(k, n) digits -> (k,) int64: each order read as a base-10 number."""
    return orders.astype(np.int64) @ (N_CLASSES ** np.arange(orders.shape[1] - 1, -1, -1))


def _decode_orders(codes, n_objects):
    """Inverse of `_order_codes`: (k,) int -> (k, n_objects) int64 digits."""
    powers = N_CLASSES ** np.arange(n_objects - 1, -1, -1)
    return (np.asarray(codes, np.int64)[:, None] // powers) % N_CLASSES


class CanvasDataset:
    """Random canvases of digits, made on demand from a digit set.

    digits: a DigitSet (uint8 (N, 28, 28) white-on-black images and labels).
    config: CanvasConfig.
    holdout: LabelOrderHoldout, or None to hold out nothing.
    background: a value of --background (:data:`tinygan.data.textures.BACKGROUNDS`): 'white', or the
        paper families each canvas's paper is drawn from (the attribute ``families``: () for white).
    """

    def __init__(self, digits, config=CanvasConfig(), holdout=None, background="white"):
        images = np.asarray(digits.images)
        if images.shape[1:] != (config.digit_size, config.digit_size):
            raise ValueError(f"CanvasDataset: digit images are {images.shape[1:]}, but "
                             f"config.digit_size is {config.digit_size}")
        self.config = config
        self.families = families_of(background)
        if holdout is None:
            holdout = LabelOrderHoldout([], config.n_objects)
        self.holdout = holdout
        if self.holdout.n_objects != config.n_objects:
            raise ValueError(f"CanvasDataset: holdout orders have {self.holdout.n_objects} "
                             f"digits, config.n_objects is {config.n_objects}")
        self.inverted_digits = canvas_colours(images)  # black on white
        labels = np.asarray(digits.labels)
        self.class_indices = [np.flatnonzero(labels == c) for c in range(N_CLASSES)]
        absent = [c for c, indices in enumerate(self.class_indices) if len(indices) == 0]
        if absent:
            raise ValueError(f"CanvasDataset: the digit set has no images of classes {absent}")
        self._lines = cell_lines(config)
        self._plain_background = blank_canvas(config)

    def sample(self, batch_size, rng, orders="seen"):
        """A random batch of canvases.

        orders: 'seen' draws label orders uniformly among those not held out, 'unseen'
                uniformly among the held-out ones, 'any' uniformly among all 10**n.
        Returns: images (B, H, W, 1) float32, labels (B, n) int64, boxes (B, n, 4) int64.
        """
        canvases, labels, boxes = self.sample_canvases(batch_size, rng, orders)
        return canvases.images, labels, boxes

    def sample_canvases(self, batch_size, rng, orders="seen"):
        """As :meth:`sample`, the canvases whole: a :class:`tinygan.data.real.RealCanvases` (their
        papers and families too), labels, boxes."""
        labels = self.sample_labels(batch_size, rng, orders)
        boxes = self.config.boxes(len(labels))
        return self._draw(labels, boxes, rng), labels, boxes

    def sample_layout(self, batch_size, rng, orders="seen"):
        """labels (B, n_objects) int64 of ``orders`` (as in :meth:`sample`) and the grid's boxes (B, n_objects, 4)."""
        return self.sample_labels(batch_size, rng, orders), self.config.boxes(batch_size)

    def sample_labels(self, batch_size, rng, orders="seen"):
        """(batch_size, n_objects) int64 label orders; `orders` as in `sample`."""
        n_objects = self.config.n_objects
        if orders == "unseen":
            if len(self.holdout) == 0:
                raise ValueError("CanvasDataset: orders='unseen' needs a non-empty holdout")
            return self.holdout.orders[rng.integers(len(self.holdout), size=batch_size)]
        if orders not in ORDER_CHOICES:
            raise ValueError(f"CanvasDataset: orders must be one of {ORDER_CHOICES}, "
                             f"got {orders!r}")
        labels = rng.integers(N_CLASSES, size=(batch_size, n_objects), dtype=np.int64)
        if orders == "seen":
            if len(self.holdout) == N_CLASSES ** n_objects:
                raise ValueError("CanvasDataset: every label order is held out; none is seen")
            rejected = self.holdout.contains(labels)
            while rejected.any():  # redraw held-out rows until none is left
                labels[rejected] = rng.integers(
                    N_CLASSES, size=(rejected.sum(), n_objects), dtype=np.int64)
                rejected = self.holdout.contains(labels)
        return labels

    def render(self, labels, rng):
        """Canvases showing the given label orders, with random digit images.

        labels: (B, n_objects) int in 0..9.
        Returns: images (B, H, W, 1) float32 and boxes (B, n_objects, 4) int64.
        """
        config = self.config
        labels = np.asarray(labels)
        batch = labels.shape[0] if labels.ndim else 0
        check_labels(labels, batch, config.n_objects, N_CLASSES, "CanvasDataset.render: labels")
        boxes = config.boxes(batch)
        return self._draw(labels, boxes, rng).images, boxes

    def draw_real(self, labels, boxes, rng):
        """Real digits of labels (B, n_objects) in boxes (B, n_objects, 4) of digit_size (any place on the
        canvas), on fresh paper: a :class:`tinygan.data.real.RealCanvases`. On white its images are those
        :meth:`render` draws for these labels and the grid's boxes."""
        labels, boxes = np.asarray(labels), np.asarray(boxes)
        config = self.config
        batch = labels.shape[0] if labels.ndim else 0
        check_labels(labels, batch, config.n_objects, N_CLASSES, "CanvasDataset.draw_real: labels")
        check_boxes(boxes, batch, config.n_objects, config.digit_size, config.canvas_size,
                    "CanvasDataset.draw_real: boxes")
        return self._draw(labels, boxes, rng)

    def _draw(self, labels, boxes, rng):
        """RealCanvases of checked labels and boxes: a real digit of each label drawn from rng, then
        (textured) a paper and an ink tone per image. On white: today's min of blank canvas and digits."""
        digits = self.inverted_digits[pick_digits(self.class_indices, labels, rng)][..., None]
        size = self.config.canvas_size
        shade, _ = paste_min(np.ones((len(labels), size, size, 1), np.float32), digits, boxes)  # 1 - ink alpha
        if self.families:
            return ink_on_paper(1 - shade, self.families, rng, self._lines)
        plain = self._plain_background[..., None]
        return white(np.minimum(plain, shade), 1 - shade, plain)
