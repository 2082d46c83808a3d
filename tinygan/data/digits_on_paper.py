"""Single digits laid as ink over paper, for the judge that reads digits on textured canvases
(issue 25; :func:`tinygan.judge_model.train_judge` with a non-white background).

The evaluation shows the judge each box scaled into a 28x28 frame, white outside the box's block
(:func:`tinygan.metrics.frames.frame_crops`); boxes of 16 to 64 pixels of a 128-pixel canvas. So
a digit's paper is a square crop of CROP_SIDES pixels of a PAPER_SIZE sheet resized to the frame
(the sheet's lines and grain at the scale the frames give them), under the whole frame or, as the
evaluation frames it, under the ink's bounding box only. Host NumPy; images in canvas colours
(1.0 = white), float32.
"""
import numpy as np

from ..resample import interval_weights, resample
from .textures import FAMILIES, draw_backgrounds, draw_ink, ink_over

FRAME = 28            # the judge's input side
PAPER_SIZE = 128      # the sheet the crops are cut from: a canvas
CROP_SIDES = (22, 90)  # crop sides in sheet pixels: boxes of 16 to 64 pixels seen at the frame's 28/20
WHITE_SHARE = 0.2     # digits left on white paper, so the judge still reads white canvases
BOXED_SHARE = 0.5     # of those on paper: paper under the ink's bounding box only, white around it


def paper_crops(n, rng, families=FAMILIES):
    """n crops of paper (:func:`tinygan.data.textures.draw_backgrounds`), each a random square of
    CROP_SIDES pixels of a PAPER_SIZE sheet resized to FRAME x FRAME.
    Returns ((n, 28, 28) float32, (n,) int64 family indices into ``families``)."""
    papers, which = draw_backgrounds(families, n, PAPER_SIZE, rng)
    sides = rng.integers(CROP_SIDES[0], CROP_SIDES[1] + 1, size=n)
    tops, lefts = (rng.integers(0, PAPER_SIZE - sides + 1) for _ in range(2))
    rows = interval_weights(FRAME, 0, FRAME, PAPER_SIZE, tops, tops + sides)
    cols = interval_weights(FRAME, 0, FRAME, PAPER_SIZE, lefts, lefts + sides)
    return resample(papers.astype(np.float64), rows, cols).astype(np.float32), which


def ink_box_only(papers, alpha):
    """papers (n, H, W) inside the bounding box of each image's ink (alpha (n, H, W) > 0), white
    (1.0) outside it; an image without ink becomes all white."""
    rows, cols = (alpha > 0).any(axis=2), (alpha > 0).any(axis=1)

    def span(mask):  # True from the first to the last True entry of each row of mask (n, L)
        return np.maximum.accumulate(mask, axis=1) & np.maximum.accumulate(mask[:, ::-1], axis=1)[:, ::-1]

    return np.where(span(rows)[:, :, None] & span(cols)[:, None, :], papers, np.float32(1.0))


def digits_on_paper(x, rng, families=FAMILIES, white_share=WHITE_SHARE):
    """Digits in canvas colours x (n, 28, 28, 1) laid as ink (a tone from
    :func:`~tinygan.data.textures.draw_ink`, alpha = the digit's darkness 1 - x) over paper crops
    (:func:`paper_crops`) of ``families``, BOXED_SHARE of them only under the ink's bounding box;
    a share ``white_share`` of the digits are left as they are. Returns (n, 28, 28, 1) float32."""
    alpha = 1.0 - x[..., 0]
    papers, _ = paper_crops(len(x), rng, families)
    boxed = rng.random(len(x)) < BOXED_SHARE
    papers = np.where(boxed[:, None, None], ink_box_only(papers, alpha), papers)
    inked = ink_over(papers, alpha, draw_ink(len(x), rng))[..., None]
    white = rng.random(len(x)) < white_share
    return np.where(white[:, None, None, None], x, inked).astype(np.float32)
