"""The free placement (``--layout random``; 'random' is the flag's word): any count of objects per
image (label -1 leaves a slot empty), in boxes of any size and aspect inside the canvas, each
object resampled between its box and object_size (:mod:`tinygan.resample`). The layout is read
on the host, where the resampling matrices are made."""
import numpy as np

from ..backend import get_xp, to_host
from ..data.layouts import LayoutDataset, LayoutRules, occupied, parse_region, training_rules
from ..layout import (MIN_SIDE, check_layout, crop_resampled, crop_resampled_backward, layout_map,
                      paste_min_resampled, paste_min_resampled_backward, place_resampled, place_resampled_backward,
                      present_objects)
from ..metrics.frames import frame_crops
from ..metrics.report import evaluate_splits
from .base import SAMPLE_ROWS, BatchLayout, Placement

DEFAULT_REGION = (88, 88, 128, 128)  # held out of training layouts on a 128-pixel canvas (scaled to others)


class FreePlacement(Placement):
    """Layouts drawn as :func:`tinygan.data.layouts.training_rules` say; evaluated on layouts as
    training draws them and on layouts inside the region held out of training."""
    name = "random"
    fixed_count = False
    seen, unseen = "training layouts", "held-out region"
    report_measures = ("per_object", "per_class", "all_correct", "mean_iou", "iou_above_half", "spurious_ink",
                       "background_darkness", "frechet", "diversity")
    ink_share = (0.15, 0.65)  # a digit cropped to its ink, its box tight around it (median 0.34)

    def config_problems(self, config):
        if config.combine != "scores":
            return [f"--layout random scores each object alone (any count per image): it needs --combine scores and "
                    f"--loss hinge (the tinygan recipe's), got GANConfig combine={config.combine!r}"]
        return []

    def settings_problems(self, settings):
        problems = []
        if settings.holdout is not None:
            problems.append("--holdout holds out label orders of the grid; with --layout random use --holdout-region")
        if settings.mode_seeking:
            problems.append("--mode-seeking compares whole grids; it runs with --layout grid only")
        if not 1 <= settings.max_objects:
            problems.append(f"--max-objects must be at least 1, got {settings.max_objects}")
        if not 0 <= settings.overlap < 1:
            problems.append(f"--overlap must be in [0, 1), got {settings.overlap}")
        return problems

    def model_fields(self, settings):
        return {"n_objects": settings.max_objects}

    def held_out_region(self, text, canvas_size):
        """The region of --holdout-region ``text`` (None: DEFAULT_REGION scaled to canvas_size)."""
        if text is None:
            text = ",".join(str(v * canvas_size // 128) for v in DEFAULT_REGION)
        return parse_region(text, canvas_size)

    def check(self, config, labels, boxes, batch, where):
        labels, boxes = check_layout(labels, boxes, config.n_classes, config.canvas_size,
                                     (MIN_SIDE, config.canvas_size), where)
        if labels.shape[0] != batch:
            raise ValueError(f"{where}: a batch of {batch} but {labels.shape[0]} layouts")
        return labels, boxes

    def batch(self, config, labels, boxes):
        return FreeBatch(to_host(labels), to_host(boxes), config.canvas_size)

    def layout_from_flags(self, config, labels, boxes, n):
        if boxes is None:
            raise ValueError("--boxes: a random-layout model needs a box (top left bottom right) for every label")
        if len(boxes) != 4 * len(labels):
            raise ValueError(f"--boxes: {len(labels)} labels need {4 * len(labels)} numbers (top left bottom "
                             f"right per digit), got {len(boxes)}")
        labels = np.array([labels], dtype=np.int64)
        boxes = np.array(boxes, dtype=np.int64).reshape(1, -1, 4)
        if (labels < 0).any():
            raise ValueError(f"--labels: digit classes are 0..{config.n_classes - 1}, got {labels.min()}")
        check_layout(labels, boxes, config.n_classes, config.canvas_size, (MIN_SIDE, config.canvas_size), "layout")
        return np.repeat(labels, n, axis=0), np.repeat(boxes, n, axis=0)

    def training_data(self, settings, config, digits):
        """Real digits at random places and sizes, off the held-out region."""
        return LayoutDataset(digits, training_rules(config.canvas_size, config.n_objects, settings.overlap,
                                                    settings.held_out_region()), background=settings.background)

    def sample_grid_layouts(self, config, dataset):
        return dataset.sample_layout(SAMPLE_ROWS, np.random.default_rng(12345))

    def judge_frames(self, config, images, labels, boxes):
        """Each present object's box scaled into an MNIST-style frame (:func:`tinygan.metrics.frames.frame_crops`)."""
        return frame_crops(images, labels, boxes)

    def evaluation_layouts(self, config, dataset, region):
        groups = {"seen": dataset}
        if region is not None:
            groups["unseen"] = dataset.with_rules(held_out_region(config.canvas_size, config.n_objects, region))
        return {group: (lambda n, rng, layouts=layouts: occupied(*layouts.sample_layout(n, rng)))
                for group, layouts in groups.items()}

    def reference_frames(self, config, test_digits, region, n_samples=1000, rng=None):
        """The frames of real canvases of test digits in layouts drawn as training draws them."""
        rules = in_distribution(config.canvas_size, config.n_objects, region)
        rng = np.random.default_rng(0) if rng is None else rng
        images, labels, boxes = LayoutDataset(test_digits, rules).sample_occupied(n_samples, rng)
        return frame_crops(images, labels, boxes), labels[present_objects(labels)]

    def blank(self, config):
        return np.ones((config.canvas_size, config.canvas_size), np.float32)

    def evaluate(self, generator, judge, test_digits, settings, holdout, n_samples, seed, log=print):
        """The evaluate command's measures on each of :data:`SPLITS`
        (:func:`tinygan.metrics.report.evaluate_splits`)."""
        return evaluate_splits(generator, judge, test_digits, settings.held_out_region(), n_samples, seed, log,
                               settings.background)

    def evaluation_splits(self, config, region):
        """{split: LayoutRules} of the evaluate command: :data:`SPLITS` that apply."""
        return split_rules(config.canvas_size, config.n_objects, region)


class FreeBatch(BatchLayout):
    """labels (B, N) and boxes (B, N, 4) on the host; the present objects, row-major
    (:func:`tinygan.layout.present_objects`), indexed on the device; canvas_size: the canvas's side."""

    def __init__(self, labels, boxes, canvas_size):
        xp = get_xp()
        self.host_labels, self.host_boxes, self.canvas_size = labels, boxes, canvas_size
        self.images, self.slots = labels.shape
        self.where = present_objects(labels)
        self.count = len(self.where[0])
        self.image_index, self.slot_index = xp.asarray(self.where[0]), xp.asarray(self.where[1])
        self.labels, self.boxes = xp.asarray(labels[self.where]), boxes[self.where]
        self._map = self._paper = None

    def objects_of(self, rows):
        return rows[self.image_index, self.slot_index]

    def objects_of_images(self, rows):
        return rows[self.image_index]

    def per_slot(self, rows):
        slots = get_xp().zeros((self.images, self.slots, *rows.shape[1:]), dtype=rows.dtype)
        slots[self.image_index, self.slot_index] = rows
        return slots

    def sum_per_image(self, rows):
        xp = get_xp()
        membership = (xp.arange(self.images)[:, None] == self.image_index[None, :]).astype(rows.dtype)
        return membership @ rows

    def paste(self, background, objects):
        return paste_min_resampled(background, objects, self.where, self.boxes, self.slots)

    def paste_backward(self, dimage, cache):
        return paste_min_resampled_backward(dimage, cache)

    def place(self, maps):
        return place_resampled(maps, self.where, self.boxes, self.images, self.canvas_size)

    def place_backward(self, dcanvases, cache):
        return place_resampled_backward(dcanvases, cache)

    def crop(self, image, size):
        return crop_resampled(image, self.where, self.boxes, size)

    def crop_backward(self, dcrops, cache):
        return crop_resampled_backward(dcrops, cache)

    def paper_weights(self, cells, stride, dtype):
        if self._paper is None:  # on the device once (the first call's sizes and dtype), for D's passes of a batch
            clear = clear_cells(self.host_labels, self.host_boxes, cells, stride)
            count = clear.sum(axis=(1, 2))
            xp = get_xp()
            self._paper = (xp.asarray(clear / np.maximum(count, 1)[:, None, None], dtype),
                           xp.asarray(count > 0, dtype))
        return self._paper

    def side_map(self, config, dtype):
        if not config.layout_map:
            return None
        if self._map is None:  # the same for the generator and the discriminator
            self._map = layout_map(self.host_labels, self.host_boxes, config.n_classes, config.canvas_size,
                                   config.canvas_size // 4)
        return get_xp().asarray(self._map, dtype)


def clear_cells(labels, boxes, cells, stride):
    """Which places of a cells x cells map see no box: place (i, j) sees the pixels within
    stride - 1 rows and columns of (stride i, stride j), as a stack of 3x3 stride-2 convs of total
    stride ``stride`` does. labels (B, N) (-1: empty slot), boxes (B, N, 4) as (top, left, bottom,
    right), ends exclusive -> (B, cells, cells) bool."""
    boxes = np.asarray(boxes)
    centres = np.arange(cells) * stride
    low, high = centres - (stride - 1), centres + (stride - 1)

    def touch(axis):  # (B, N, cells): the windows along this axis overlap the box's extent
        return (high >= boxes[..., axis, None]) & (low <= boxes[..., axis + 2, None] - 1)

    hit = touch(0)[..., :, None] & touch(1)[..., None, :] & (np.asarray(labels) >= 0)[..., None, None]
    return ~hit.any(axis=1)


# ------------------------------------------------------------ the evaluation's splits
# The layouts the evaluate command measures: the training distribution and five ways out of it.

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
