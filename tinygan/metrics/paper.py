"""Digits on paper, measured (issue 25): the ink, the masks against it, the paper around and
under the boxes, the seams at the box edges. Pure functions of host arrays.

Shapes: images and papers (B, H, W) or (B, H, W, 1) float in canvas colours (1.0 = white), the
paper being what lies under the ink (real canvases: their paper; generated ones: the generator's
global output); labels (B, N) int, -1 an empty slot; boxes (B, N, 4) int (top, left, bottom,
right), bottom and right exclusive. Statistics are robust: medians, and spreads as the
interquartile range (a mean is swamped by faint stroke edges on smooth paper).
"""
import numpy as np

from ..data.textures import draw_backgrounds
from ..layout import present_objects
from .ink import box_distances
from .statistics import frechet_distance

INK_SHARE = 0.5      # ink: darker than its paper by more than this share of the paper-to-ink gap
FAINT_SHARE = 0.1    # a pixel a stroke touches at all: darker by more than this share
NEAR_STROKE = 1      # pixels next to strokes (within this Chebyshev distance) count as stroke
INK_QUANTILE = 0.01  # the ink tone of an image: this quantile of its pixels inside boxes
BAND = 8             # pixels: the paper beside the boxes that the spread inside is compared with
AWAY = 4             # pixels: background at least this far from every box is 'away from boxes'
PATCH = 16           # side of the background patches
SCALES = (1, 2, 4, 8)  # pixel offsets of the texture feature's differences
GRADIENT_FLOOR = 1e-3  # added to both medians of the seam ratio, so flat paper gives 1, not 0/0
LOG_FLOOR = 1e-3      # added to the texture feature's spreads and differences before their logs
REFERENCE_SHEETS = 400  # sheets of real paper drawn for the reference of the background Fréchet distance
MARK_MARGIN = 2       # pixels around the layout's own marks (the grid's lines) left out of every measure


def plane(x):
    """(B, H, W, 1) or (B, H, W) -> (B, H, W) float32."""
    x = np.asarray(x, np.float32)
    return x[..., 0] if x.ndim == 4 and x.shape[-1] == 1 else x


def layout_marks(blank):
    """What a layout draws itself, and MARK_MARGIN pixels around it: the dark pixels of its ideal
    empty canvas ``blank`` (H, W) (``Placement.blank``: the grid's black lines; none on a free
    canvas). -> (H, W) bool."""
    return dilate(np.asarray(blank)[None] < 0.5, MARK_MARGIN)[0]


def dilate(mask, radius):
    """mask (B, H, W) bool grown by ``radius`` pixels (a square neighbourhood)."""
    height, width = mask.shape[1:]
    padded = np.pad(mask, ((0, 0), (radius, radius), (radius, radius)))
    return np.any([padded[:, dy:dy + height, dx:dx + width]
                   for dy in range(2 * radius + 1) for dx in range(2 * radius + 1)], axis=0)


def darkness_share(images, papers, labels, boxes):
    """How far each pixel lies from its paper towards the image's ink tone: (paper - image) /
    (paper - tone), the tone a low quantile (INK_QUANTILE) of the image inside its boxes (the whole
    image where it has none). 0 on bare paper, 1 on full ink. -> (B, H, W) float32."""
    images, papers = plane(images), plane(papers)
    inside = box_distances(labels, boxes, *images.shape[1:]).min(axis=1) == 0
    tone = np.array([np.quantile(image[where] if where.any() else image, INK_QUANTILE)
                     for image, where in zip(images, inside)], np.float32)
    return (papers - images) / np.maximum(papers - tone[:, None, None], 1e-3)


def ink_of(images, papers, labels, boxes, share=INK_SHARE):
    """The ink of each image: pixels darker than their paper by more than ``share`` of the
    paper-to-ink gap (:func:`darkness_share`). -> (B, H, W) bool."""
    return darkness_share(images, papers, labels, boxes) > share


def stroke_zone(images, papers, labels, boxes):
    """Pixels a stroke touches at all (FAINT_SHARE of the gap) and those next to them
    (NEAR_STROKE): left out of the paper's measures. -> (B, H, W) bool."""
    return dilate(ink_of(images, papers, labels, boxes, FAINT_SHARE), NEAR_STROKE)


def mask_iou(alphas, ink, labels, boxes):
    """Per present box, the IoU of the mask (alpha > 0.5) with the ink inside the box (nan where
    both are empty). alphas: the composite (B, H, W[, 1]) or each object's own (B, N, H, W);
    ink (B, H, W) bool. -> (M,) float64 in present_objects order."""
    alphas, labels = np.asarray(alphas), np.asarray(labels)
    per_object = alphas.ndim == 4 and alphas.shape[-1] != 1
    masks = alphas > 0.5 if per_object else plane(alphas) > 0.5
    ious = []
    for b, n in zip(*present_objects(labels)):
        top, left, bottom, right = np.asarray(boxes)[b, n]
        mask = (masks[b, n] if per_object else masks[b])[top:bottom, left:right]
        inked = ink[b, top:bottom, left:right]
        union = np.sum(mask | inked)
        ious.append(np.sum(mask & inked) / union if union else np.nan)
    return np.asarray(ious, np.float64)


def robust_spread(values):
    """The interquartile range of ``values`` over 1.349 (a normal's standard deviation), nan
    for fewer than 8 values: stray dark or light pixels do not move it."""
    values = np.asarray(values).ravel()
    if values.size < 8:
        return np.nan
    low, high = np.quantile(values, [0.25, 0.75])
    return float((high - low) / 1.349)


def spread_ratios(images, zone, labels, boxes):
    """Whether the paper continues under the digits: per image, the robust spread of the pixels
    inside its boxes over that of the paper beside them (within BAND pixels of a box, outside
    every box), stroke pixels (``zone`` (B, H, W) bool) left out of both. -> (B,) float64, nan
    where either side has too few pixels."""
    images = plane(images)
    nearest = box_distances(labels, boxes, *images.shape[1:]).min(axis=1)
    inside, beside = (nearest == 0) & ~zone, (nearest > 0) & (nearest <= BAND) & ~zone
    spreads = np.array([[robust_spread(image[i]), robust_spread(image[o])] for image, i, o in zip(images, inside, beside)])
    return spreads[:, 0] / np.where(spreads[:, 1] > 0, spreads[:, 1], np.nan)


def gradient_magnitude(images):
    """|central differences| (edges repeated): (B, H, W) -> (B, H, W) float32."""
    padded = np.pad(plane(images), ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = (padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]) / 2
    cols = (padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]) / 2
    return np.hypot(rows, cols)


def box_rings(labels, boxes, height, width):
    """The one-pixel rings just inside and just outside each present box's edge, over all boxes
    of an image: -> (B, H, W) bool."""
    labels, boxes = np.asarray(labels), np.asarray(boxes)
    distance = box_distances(labels, boxes, height, width)
    rows, cols = np.arange(height), np.arange(width)
    row_edge = (rows == boxes[..., 0, None]) | (rows == boxes[..., 2, None] - 1)  # (B, N, H)
    col_edge = (cols == boxes[..., 1, None]) | (cols == boxes[..., 3, None] - 1)  # (B, N, W)
    inner = (distance == 0) & (row_edge[..., :, None] | col_edge[..., None, :])
    return ((inner & (labels >= 0)[..., None, None]) | (distance == 1)).any(axis=1)


def seam_ratios(images, zone, labels, boxes):
    """Seams at the box edges: per image, the median gradient magnitude on the rings just inside
    and outside each box edge (:func:`box_rings`) over that of the background at least AWAY
    pixels from every box, stroke pixels (``zone``) left out, GRADIENT_FLOOR added to both.
    About 1 where the paper runs on through the edges; well above 1 for a pasted rectangle.
    -> (B,) float64, nan where either set is empty."""
    images = plane(images)
    height, width = images.shape[1:]
    gradient = gradient_magnitude(images)
    rings = box_rings(labels, boxes, height, width) & ~zone
    away = (box_distances(labels, boxes, height, width).min(axis=1) >= AWAY) & ~zone
    return np.array([(np.median(g[r]) + GRADIENT_FLOOR) / (np.median(g[a]) + GRADIENT_FLOOR)
                     if r.any() and a.any() else np.nan for g, r, a in zip(gradient, rings, away)])


def texture_features(patches):
    """A patch's texture, F = 2 + 2 * len(SCALES) numbers: its grey-level mean and the log of its
    standard deviation, and at each offset s of SCALES the log of the mean |difference| of pixels s
    apart along rows and along columns, the larger first (orientation-free: ruled lines and fibres
    run either way). Small offsets see grain and lines, large ones clouds and stains. The logs
    (of the value plus LOG_FLOOR) keep a ruled line or a stain's rim from swamping the rest.
    patches (P, S, S) -> (P, F) float64."""
    patches = np.asarray(patches, np.float64)
    columns = [patches.mean(axis=(1, 2)), patches.std(axis=(1, 2))]
    for s in SCALES:
        down = np.abs(patches[:, s:] - patches[:, :-s]).mean(axis=(1, 2))
        across = np.abs(patches[:, :, s:] - patches[:, :, :-s]).mean(axis=(1, 2))
        columns += [np.maximum(down, across), np.minimum(down, across)]
    features = np.stack(columns, axis=1)
    features[:, 1:] = np.log(features[:, 1:] + LOG_FLOOR)
    return features


def background_patches(images, labels, boxes, margin=2, marks=None):
    """The PATCH x PATCH patches of a grid over each image that lie at least ``margin`` pixels
    from every box (with no boxes: all of them) and touch none of ``marks`` ((H, W) bool: what the
    layout draws itself, the grid's lines). -> (patches (P, PATCH, PATCH), image index (P,))."""
    images = plane(images)
    batch, height, width = images.shape
    distance = box_distances(labels, boxes, height, width)
    clear = distance.min(axis=1, initial=np.iinfo(np.int16).max) >= margin
    if marks is not None:
        clear &= ~marks
    patches, owners = [], []
    for top in range(0, height - PATCH + 1, PATCH):
        for left in range(0, width - PATCH + 1, PATCH):
            keep = clear[:, top:top + PATCH, left:left + PATCH].all(axis=(1, 2))
            patches.append(images[keep, top:top + PATCH, left:left + PATCH])
            owners.append(np.flatnonzero(keep))
    return np.concatenate(patches), np.concatenate(owners)


class PaperReference:
    """Texture features of real paper (:func:`texture_features` of every grid patch of ``papers``
    (R, H, W[, 1]) whose families are ``families`` (R,) int): what backgrounds are compared with.
    The features are standardised by the reference's own mean and deviation, so that no one
    number's units weigh more in the Fréchet distance; each family's patches are summed up as a
    Gaussian (mean, covariance), by which an image's family is recognised (:meth:`nearest_family`)."""

    def __init__(self, papers, families):
        papers = plane(papers)
        patches, owners = background_patches(papers, np.full((len(papers), 0), -1), np.zeros((len(papers), 0, 4), int))
        raw = texture_features(patches)
        self.mean, self.scale = raw.mean(axis=0), np.maximum(raw.std(axis=0), 1e-6)
        self.features, self.families = self.standardise(raw), np.asarray(families)[owners]
        self.gaussians = [self.gaussian(self.features[self.families == f]) for f in range(self.families.max() + 1)]

    def standardise(self, raw):
        return (raw - self.mean) / self.scale

    @staticmethod
    def gaussian(features, ridge=1e-3):
        """(mean (F,), inverse covariance (F, F), log-determinant) of features (P, F); None for P < 2."""
        if len(features) < 2:
            return None
        covariance = np.cov(features, rowvar=False) + ridge * np.eye(features.shape[1])
        return features.mean(axis=0), np.linalg.inv(covariance), np.linalg.slogdet(covariance)[1]

    def log_likelihood(self, features, family):
        """Sum over the rows of ``features`` (P, F) of their Gaussian log-density in ``family``
        (up to a constant); -inf for a family without reference patches."""
        if self.gaussians[family] is None:
            return -np.inf
        mean, inverse, log_det = self.gaussians[family]
        gap = features - mean
        return -0.5 * float(np.einsum("pi,ij,pj->", gap, inverse, gap) + len(features) * log_det)

    def nearest_family(self, features, owners, n_images):
        """Each image's family: the most likely given its patches' standardised ``features``
        (P, F) (``owners`` (P,): their images). -> (n_images,) int, -1 for an image without patch."""
        families = np.full(n_images, -1)
        for image in np.unique(owners):
            mine = features[owners == image]
            families[image] = int(np.argmax([self.log_likelihood(mine, f) for f in range(len(self.gaussians))]))
        return families


def paper_reference(family_names, size, sheets=REFERENCE_SHEETS, seed=0):
    """A :class:`PaperReference` of ``sheets`` fresh sheets of real paper (size x size) of the
    families ``family_names`` (:func:`tinygan.data.textures.draw_backgrounds`), drawn with ``seed``."""
    return PaperReference(*draw_backgrounds(tuple(family_names), sheets, size, np.random.default_rng(seed)))


def image_families(images, labels, boxes, reference, marks=None):
    """Each image's paper family as the reference's nearest in texture
    (:meth:`PaperReference.nearest_family` of its background patches, ``marks`` as there):
    (B,) int, -1 with no patch."""
    patches, owners = background_patches(images, labels, boxes, marks=marks)
    return reference.nearest_family(reference.standardise(texture_features(patches)), owners, len(plane(images)))


def background_frechet(images, labels, boxes, reference, families, names, marks=None):
    """Background realism: the Fréchet distance of the standardised texture features of the
    background patches (:func:`background_patches`) against the reference's (a
    :class:`PaperReference`), for each family named in ``names`` (``families`` (B,): each
    image's index into ``names``), their mean over the families drawn (each weighs the same, however
    many images it has), and 'all': every patch against every reference patch, which also counts a
    family the images never show (``marks``: as :func:`background_patches`). -> {each name, 'mean',
    'all': distance}, nan with fewer than two patches."""
    patches, owners = background_patches(images, labels, boxes, marks=marks)
    features, families = reference.standardise(texture_features(patches)), np.asarray(families)[owners]
    distances = {name: frechet_distance(features[families == index], reference.features[reference.families == index])
                 for index, name in enumerate(names)}
    finite = _finite(list(distances.values()))
    return {**distances, "mean": float(finite.mean()) if finite.size else float("nan"),
            "all": frechet_distance(features, reference.features)}


def _finite(values):
    values = np.asarray(values, np.float64)
    return values[np.isfinite(values)]


def median(values):
    """The median of the finite ``values``, nan when there are none."""
    values = _finite(values)
    return float(np.median(values)) if values.size else float("nan")
