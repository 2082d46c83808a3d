"""A set of canvases shown to the digit judge: what every measure reads.

Host NumPy. images (B, H, W, 1) float32 in canvas colours (black ink on white); labels (B, N)
int (-1: empty slot); boxes (B, N, 4) int (top, left, bottom, right). The M present objects are
in :func:`tinygan.layout.present_objects` order; the placement says how each is framed for the
judge (``judge_frames``).
"""
from functools import cached_property

import numpy as np

from ..judge_model import classify, judge_features
from ..layout import present_objects
from .ink import background_ink, localisation


class Judged:
    """Canvases and the judge's verdict on each present object.

    requested, verdicts: (M,) the requested and the judged class; probability: (M,) the judge's
    probability of the requested class; frames (M, 28, 28, 1). ``features`` (M, D), the judge's
    penultimate features, and the ink measures are computed when first read.
    reference: None or (features (R, D), labels (R,)) of real digits, for the Fréchet distance and
    the spread; ideal: None or the ideal empty canvas (H, W), for the background error.
    """

    def __init__(self, judge, placement, config, images, labels, boxes, reference=None, ideal=None):
        self.judge, self.images, self.labels, self.boxes = judge, images, np.asarray(labels), np.asarray(boxes)
        self.reference, self.ideal, self.n_classes = reference, ideal, config.n_classes
        self.where = present_objects(self.labels)
        self.requested = self.labels[self.where]
        self.frames = placement.judge_frames(config, images, self.labels, self.boxes)
        self.verdicts, probabilities = classify(judge, self.frames)
        self.probability = probabilities[np.arange(len(self.verdicts)), self.requested]
        self.correct = self.verdicts == self.requested

    def per_slot(self, values, empty):
        """(M,) values of the present objects -> (B, N), ``empty`` in empty slots."""
        slots = np.full(self.labels.shape, empty, dtype=np.asarray(values).dtype)
        slots[self.where] = values
        return slots

    @cached_property
    def features(self):
        return judge_features(self.judge, self.frames)

    @cached_property
    def iou(self):
        """(M,) IoU of each box with the bounding box of its ink (:func:`tinygan.metrics.ink.localisation`)."""
        return localisation(self.images, self.labels, self.boxes)

    @cached_property
    def outside_ink(self):
        """(share of ink, mean darkness) outside every present box (:func:`tinygan.metrics.ink.background_ink`)."""
        return background_ink(self.images, self.labels, self.boxes)

    def worst_first(self):
        """Canvas indices, the worst first: most misjudged digits, then the least sure verdict (the
        lowest probability of a requested class); canvases without objects last."""
        present = self.labels >= 0
        wrong = self.per_slot(~self.correct, False).sum(axis=1)
        least_sure = np.where(present, self.per_slot(self.probability, 1.0), np.inf).min(axis=1)
        return np.lexsort((least_sure, -wrong, ~present.any(axis=1)))


def draw_and_judge(generator, judge, labels, boxes, rng, reference=None):
    """The generator's canvases for host labels and boxes, their noise from a seed drawn from the
    NumPy generator ``rng``, judged (the ideal background: the placement's blank canvas)."""
    config = generator.config
    images = generator.draw(labels, boxes, np.random.default_rng(int(rng.integers(2**31))))
    return Judged(judge, config.placement, config, images, labels, boxes, reference, config.placement.blank(config))
