"""What every placement answers, and what a batch's layout offers the models.

A layout is labels (B, N) int (-1: an empty slot, where a placement allows it) and boxes
(B, N, 4) int (top, left, bottom, right) in pixels, bottom and right exclusive. Of its B * N
slots, M hold an object (the present objects), in row-major order: image 0's first, ...
"""

SAMPLE_ROWS = 6  # layouts (rows) of every sample grid


class Placement:
    """How objects are placed on the canvas (subclasses: GridPlacement, FreePlacement).

    name: its value of ``--layout`` and GANConfig.layout.
    fixed_count: every image holds config.n_objects objects (else any count, -1 for an empty slot).
    seen, unseen: what its two evaluation groups are called in the log.
    report_measures: the names of the measures the evaluate command reports
        (:data:`tinygan.metrics.measures.REPORTED`).
    ink_share: (low, high) share of its object map that a real digit's ink covers (the mean ink
        alpha over the map: 1st and 99th percentiles on MNIST's training digits), the bounds of the
        mask-size prior (:func:`tinygan.losses.mask_size_prior`).
    """
    name = None
    fixed_count = True
    seen, unseen = "seen", "unseen"
    report_measures = ()
    ink_share = (0.0, 1.0)

    # ------------------------------------------------------------ settings and config
    def config_problems(self, config):
        """What in a GANConfig this placement cannot run, as messages (empty if nothing)."""
        raise NotImplementedError

    def settings_problems(self, settings):
        """What in RunSettings this placement cannot run, as messages naming the flags."""
        raise NotImplementedError

    def model_fields(self, settings):
        """GANConfig fields that this placement sets from the run's settings (a dict)."""
        return {}

    def held_out_region(self, text, canvas_size):
        """(top, left, bottom, right) of the region training layouts keep empty, or None, from the
        text of --holdout-region (None: the placement's default) on a canvas_size canvas."""
        return None

    # ------------------------------------------------------------ layouts
    def check(self, config, labels, boxes, batch, where):
        """Raise one ValueError naming the problem unless labels and boxes are a layout of
        ``batch`` images that this placement can draw; returns them. Host or device arrays;
        the public entries (a model's forward, the sample command) call it, a training step does not."""
        raise NotImplementedError

    def batch(self, config, labels, boxes):
        """The layout of a batch made ready for the models (a BatchLayout), unchecked: built once
        per batch from host (or device) labels and boxes that were checked where they entered."""
        raise NotImplementedError

    def layout_from_flags(self, config, labels, boxes, n):
        """labels (n, N) and boxes (n, N, 4) host int64 arrays from the sample command's
        ``--labels`` (a list) and ``--boxes`` (a flat list or None), repeated n times; a
        ValueError naming the flag if they don't fit."""
        raise NotImplementedError

    # ------------------------------------------------------------ data
    def training_data(self, settings, config, digits):
        """The data set training draws real batches from (``sample(batch, rng)`` -> images,
        labels, boxes; ``sample_canvases(batch, rng)`` -> RealCanvases, labels, boxes;
        ``sample_layout(batch, rng)`` -> labels, boxes)."""
        raise NotImplementedError

    def sample_grid_layouts(self, config, dataset):
        """The fixed layouts of every sample grid, one per row: labels (SAMPLE_ROWS, N),
        boxes (SAMPLE_ROWS, N, 4)."""
        raise NotImplementedError

    # ------------------------------------------------------------ evaluation
    def judge_frames(self, config, images, labels, boxes):
        """What the digit judge sees of host canvases images (B, H, W, 1) with labels (B, N) and
        boxes (B, N, 4): each present object as a (28, 28, 1) frame -> (M, 28, 28, 1), row-major."""
        raise NotImplementedError

    def evaluation_layouts(self, config, dataset, region):
        """The groups evaluated during training, {'seen': draw, 'unseen': draw (where there is an
        unseen group)}, each ``draw(n, rng)`` -> host labels (B <= n, N), boxes (B, N, 4) drawn from
        ``dataset`` (as training's) or around it; region: the held-out region or None."""
        raise NotImplementedError

    def reference_frames(self, config, test_digits, region, n_samples=1000, rng=None):
        """Frames (M, 28, 28[, 1]) of real test digits as the evaluation shows the generated ones
        to the judge, and their labels (M,): what the Fréchet distance compares against; drawn
        (where they are drawn) n_samples at a time from ``rng`` (default: seed 0)."""
        raise NotImplementedError

    def blank(self, config):
        """The ideal empty canvas (H, W) float32: what a canvas shows outside its boxes."""
        raise NotImplementedError

    def evaluate(self, generator, judge, test_digits, settings, holdout, n_samples, seed, log=print):
        """What ``python -m tinygan.evaluate`` measures: (report, failures, Markdown table), failures a
        list of (group, Judged) (:mod:`tinygan.metrics.report`)."""
        raise NotImplementedError


class BatchLayout:
    """A batch's layout made ready for the models, once per batch. Subclasses set:

    labels: (M,) int classes of the present objects, on the device;
    count: M; slots: N; images: B.
    """

    def objects_of(self, rows):
        """Per-slot rows (B, N, ...) -> the present objects' rows (M, ...)."""
        raise NotImplementedError

    def objects_of_images(self, rows):
        """Per-image rows (B, ...) -> each present object's image's row (M, ...)."""
        raise NotImplementedError

    def per_slot(self, rows):
        """Inverse of :meth:`objects_of`: (M, ...) -> (B, N, ...), zeros in empty slots."""
        raise NotImplementedError

    def sum_per_image(self, rows):
        """The gradient of :meth:`objects_of_images`: (M, ...) -> (B, ...), each image's objects summed."""
        raise NotImplementedError

    def paste(self, background, objects):
        """Composite objects (M, s, s, 1) onto background (B, H, W, 1) by the minimum (dark strokes
        win) -> image (B, H, W, 1) and the cache of :meth:`paste_backward`."""
        raise NotImplementedError

    def paste_backward(self, dimage, cache):
        """dimage (B, H, W, 1) -> (dbackground (B, H, W, 1), dobjects (M, s, s, 1))."""
        raise NotImplementedError

    def place(self, maps):
        """Per-object maps (M, s, s, C) placed in their boxes on zero canvases, each image's summed
        (overlaps add up) -> canvases (B, H, W, C) and the cache of :meth:`place_backward`."""
        raise NotImplementedError

    def place_backward(self, dcanvases, cache):
        """dcanvases (B, H, W, C) -> dmaps (M, s, s, C)."""
        raise NotImplementedError

    def crop(self, image, size):
        """Each present object's box cut out of image (B, H, W, 1) at size x size -> crops
        (M, size, size, 1) and the cache of :meth:`crop_backward`."""
        raise NotImplementedError

    def crop_backward(self, dcrops, cache):
        """dcrops (M, size, size, 1) -> dimage (B, H, W, 1)."""
        raise NotImplementedError

    def paper_weights(self, cells, stride, dtype):
        """Where a map of cells x cells places, each seeing the pixels within stride - 1 of (stride i,
        stride j), sees paper alone: (weights (B, cells, cells), seen (B,)) on the device, each image's
        weights 1/k on its k places whose window touches no box (0 elsewhere), seen 1 where k > 0."""
        raise NotImplementedError

    def side_map(self, config, dtype):
        """The layout as an image at a quarter of the canvas's side, (B, s/4, s/4, n_classes) on
        the device, for models that read it (config.layout_map); else None."""
        return None
