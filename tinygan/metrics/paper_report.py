"""The evaluate command's section for digits on paper (issue 25): generated canvases and real ones
in the same boxes, each judged (:class:`OnPaper`) and measured by the paper entries of
:data:`tinygan.metrics.measures.REPORTED` (:data:`PAPER_MEASURES`)."""
from functools import cached_property

import numpy as np

from .judged import Judged
from .measures import markdown_table, report
from .paper import (background_frechet, image_families, ink_of, layout_marks, mask_iou, median, paper_reference,
                    plane, seam_ratios, spread_ratios, stroke_zone)
from .statistics import proportion

PAPER_MEASURES = ("per_object", "accuracy_per_family", "paper_families", "mask_iou", "paper_frechet", "spread_ratio",
                  "seam_ratio")


class OnPaper(Judged):
    """Judged canvases on paper and what the paper measures read (:mod:`tinygan.metrics.paper`).

    papers (B, H, W[, 1]): what lies under the ink; alphas: the masks (composite (B, H, W[, 1]) or
    each object's (B, N, H, W)), None where the model has none; reference: a PaperReference of
    real paper of the families named ``family_names``; families (B,): each image's family index,
    None to take the one recognised in its texture (generated canvases); digit_reference: the real
    digits' judge features and labels, for the digits' Fréchet distance and spread (as :class:`Judged`). The Fréchet distances group
    the images by the recognised family, real ones too, so that both sides share its few mistakes;
    the reference is fresh sheets of real paper (:func:`tinygan.metrics.paper.paper_reference`)."""

    def __init__(self, judge, placement, config, images, labels, boxes, papers, alphas, reference, family_names,
                 families=None, digit_reference=None):
        super().__init__(judge, placement, config, images, labels, boxes, digit_reference)
        self.papers, self.alphas, self.family_names = plane(papers), alphas, tuple(family_names)
        self.paper_reference = reference
        self.marks = layout_marks(placement.blank(config))  # the grid's lines: paper no measure reads
        self.recognised = image_families(images, labels, boxes, reference, self.marks)
        self.families = self.recognised if families is None else np.asarray(families)
        self.ink = ink_of(images, self.papers, labels, boxes)
        self.zone = stroke_zone(images, self.papers, labels, boxes) | self.marks

    @cached_property
    def mask_iou(self):
        """Median over boxes of the IoU of the mask (alpha > 0.5) with the ink; None without masks."""
        return None if self.alphas is None else median(mask_iou(self.alphas, self.ink, self.labels, self.boxes))

    @cached_property
    def paper_frechet(self):
        return background_frechet(self.images, self.labels, self.boxes, self.paper_reference, self.recognised,
                                  self.family_names, self.marks)

    @cached_property
    def paper_families(self):
        """{family: share of the images} whose texture is recognised as that family's."""
        return {name: float(np.mean(self.recognised == index)) for index, name in enumerate(self.family_names)}

    @cached_property
    def spread_ratio(self):
        return median(spread_ratios(self.images, self.zone, self.labels, self.boxes))

    @cached_property
    def seam_ratio(self):
        return median(seam_ratios(self.images, self.zone, self.labels, self.boxes))

    @cached_property
    def accuracy_per_family(self):
        """{family: proportion judged right} of the boxes on each family's paper (shares of boxes too)."""
        family = self.families[self.where[0]]
        return {name: proportion(self.correct[family == index]) for index, name in enumerate(self.family_names)}


def paper_section(judge, placement, config, labels, boxes, generated, real, family_names, reference=None,
                  names=PAPER_MEASURES, digit_reference=None):
    """One group's paper measures for the generated canvases and for real ones in the same boxes.

    generated: (images, alphas, papers) as ``Generator.draw(labels, boxes, rng, parts=True)``
    gives them (alphas None for a model without masks); real: a RealCanvases (images, alpha,
    papers, families) as ``dataset.draw_real(labels, boxes, rng)`` gives it, families (B,) indices
    into ``family_names``. reference: the real paper the backgrounds are compared with (default:
    :func:`~tinygan.metrics.paper.paper_reference` of those families at the canvas's size); names:
    the REPORTED measures (default the paper's own); digit_reference: as :class:`OnPaper`.
    Returns ({'generated': {...}, 'real': {...}}, Markdown table, the generated OnPaper); the real
    canvases' 'mask_iou' is the ink estimator's IoU with their real ink (alpha > 0.5): the sanity figure."""
    labels, boxes = np.asarray(labels), np.asarray(boxes)
    reference = reference or paper_reference(family_names, plane(real.papers).shape[-1])
    images, alphas, papers = generated
    shown = {"generated": OnPaper(judge, placement, config, images, labels, boxes, papers, alphas, reference,
                                  family_names, digit_reference=digit_reference),
             "real": OnPaper(judge, placement, config, real.images, labels, boxes, real.papers, real.alpha,
                             reference, family_names, real.families, digit_reference)}
    results = {kind: report(judged, names) for kind, judged in shown.items()}
    table = markdown_table([(kind, results[kind]) for kind in shown], names)
    return results, table, shown["generated"]


PAPER_NOTE = ("On paper: real digits in the same boxes on real paper. Mask IoU: alpha > 0.5 against the ink (darker "
              "than the paper by half the paper-to-ink gap), median over boxes; real: the estimator against the real "
              "ink. Background Fréchet distance: texture features of background patches against real paper's; a "
              "generated image's family is the nearest in texture. Spread and seam ratios: medians over images; real "
              "paper gives about 1.")
