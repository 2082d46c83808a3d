"""The grid placement, the paper's: n_objects objects of object_size at the fixed places of a
2x2 grid (``--layout grid``). Every slot holds an object, so a batch's M objects are its B * n
slots and its per-object rows are per-slot rows reshaped."""
import numpy as np

from ..backend import array_module, to_device, to_host
from ..data import CanvasDataset, blank_canvas, canvas_colours, resize_images
from ..layout import check_boxes, check_labels, crop_boxes, crop_boxes_backward, paste_min, paste_min_backward
from ..metrics.report import evaluate_orders
from .base import BatchLayout, Placement

# The SAMPLE_ROWS label orders of every sample grid: easy orders and the paper's failure cases.
SAMPLE_ORDERS = ["0123", "4567", "8901", "1986", "3258", "5274"]
JUDGE_SIDE = 28  # the digit judge's input, as MNIST
# The settings of the free placement, at the values that leave them off.
FREE_ONLY = {"max_objects": 6, "holdout_region": None, "overlap": 0.0, "layout_map": False}


class GridPlacement(Placement):
    """n_objects boxes of object_size, one per cell of the canvas's grid (GANConfig.canvas());
    evaluated on label orders seen in training and on those held out of it (--holdout)."""
    name = "grid"
    fixed_count = True
    seen, unseen = "seen orders", "unseen orders"
    report_measures = ("per_object", "all_correct", "per_position", "per_class", "frechet", "frechet_per_class",
                       "diversity", "background")
    ink_share = (0.05, 0.25)  # a digit in its whole 28x28 frame (median 0.13)

    def config_problems(self, config):
        if config.layout_map:
            return ["GANConfig: layout_map needs layout 'random' (the grid's layout never changes)"]
        return []

    def settings_problems(self, settings):
        changed = [f"--{name.replace('_', '-')}" for name, off in FREE_ONLY.items() if getattr(settings, name) != off]
        return [f"{', '.join(changed)}: only with --layout random"] if changed else []

    def check(self, config, labels, boxes, batch, where):
        check_labels(labels, batch, config.n_objects, config.n_classes, f"{where}: labels")
        check_boxes(boxes, batch, config.n_objects, config.object_size, config.canvas_size, f"{where}: boxes")
        return labels, boxes

    def batch(self, config, labels, boxes):
        return GridBatch(to_device(labels), to_device(boxes), config.canvas_size, config.object_size)

    def layout_from_flags(self, config, labels, boxes, n):
        n_objects = config.n_objects
        if len(labels) != n_objects:
            raise ValueError(f"--labels: this model draws {n_objects} objects, got {len(labels)} labels")
        labels = np.array([labels], dtype=np.int64)
        check_labels(labels, 1, n_objects, config.n_classes, "--labels")
        if boxes is None:
            boxes = config.canvas().boxes(1)
        else:
            if len(boxes) != 4 * n_objects:
                raise ValueError(f"--boxes: expected {4 * n_objects} numbers (top left bottom right "
                                 f"per object), got {len(boxes)}")
            boxes = np.array(boxes, dtype=np.int64).reshape(1, n_objects, 4)
            check_boxes(boxes, 1, n_objects, config.object_size, config.canvas_size, "--boxes")
        return np.repeat(labels, n, axis=0), np.repeat(boxes, n, axis=0)

    def training_data(self, settings, config, digits):
        """Canvases of real digits in the grid's cells, label orders of --holdout left out."""
        return CanvasDataset(digits.resized(config.object_size), config.canvas(), settings.label_holdout(),
                             background=settings.background)

    def sample_grid_layouts(self, config, dataset):
        labels = np.array([[int(d) for d in order[:config.n_objects]] for order in SAMPLE_ORDERS])
        return labels, dataset.config.boxes(len(labels))

    def judge_frames(self, config, images, labels, boxes):
        """Each box cut out at object_size, resized to the judge's 28x28 if it has another size."""
        size = config.object_size
        crops = to_host(crop_boxes(to_device(images), to_device(boxes), size)).reshape(-1, size, size, 1)
        return crops if size == JUDGE_SIDE else resize_images(crops[..., 0], JUDGE_SIDE)[..., None]

    def evaluation_layouts(self, config, dataset, region):
        groups = ["seen", "unseen"] if len(dataset.holdout) else ["seen"]
        return {group: (lambda n, rng, group=group: dataset.sample_layout(n, rng, orders=group)) for group in groups}

    def reference_frames(self, config, test_digits, region, n_samples=None, rng=None):
        """The test digits themselves (28x28, canvas colours)."""
        return canvas_colours(test_digits.images), np.asarray(test_digits.labels)

    def blank(self, config):
        return blank_canvas(config.canvas())

    def evaluate(self, generator, judge, test_digits, settings, holdout, n_samples, seed, log=print):
        """The evaluate command's measures on seen and unseen orders and real canvases
        (:func:`tinygan.metrics.report.evaluate_orders`)."""
        return evaluate_orders(generator, judge, test_digits, holdout, n_samples, seed,
                               settings.background)


class GridBatch(BatchLayout):
    """labels (B, n) and boxes (B, n, 4) on the device, on a canvas_size canvas, each box
    object_size square; object k of image b is row b * n + k."""

    def __init__(self, labels, boxes, canvas_size, object_size):
        self.boxes, self.canvas_shape, self.size = boxes, (canvas_size, canvas_size), object_size
        self.images, self.slots = labels.shape
        self.labels, self.count = labels.reshape(-1), labels.size

    def objects_of(self, rows):
        return rows.reshape(self.count, *rows.shape[2:])

    def objects_of_images(self, rows):
        xp = array_module(rows)
        return xp.broadcast_to(rows[:, None], (self.images, self.slots, *rows.shape[1:])).reshape(self.count, -1)

    def per_slot(self, rows):
        return rows.reshape(self.images, self.slots, *rows.shape[1:])

    def sum_per_image(self, rows):
        return self.per_slot(rows).sum(axis=1)

    def paste(self, background, objects):
        return paste_min(background, self.per_slot(objects), self.boxes)

    def paste_backward(self, dimage, cache):
        dbackground, dobjects = paste_min_backward(dimage, cache)
        return dbackground, self.objects_of(dobjects)

    def place(self, maps):
        shape = (self.images, *self.canvas_shape, maps.shape[-1])
        return crop_boxes_backward(self.per_slot(maps), self.boxes, shape), None

    def place_backward(self, dcanvases, cache):
        return self.objects_of(crop_boxes(dcanvases, self.boxes, self.size))

    def crop(self, image, size):
        return self.objects_of(crop_boxes(image, self.boxes, size)), image.shape

    def crop_backward(self, dcrops, cache):
        return crop_boxes_backward(self.per_slot(dcrops), self.boxes, cache)
