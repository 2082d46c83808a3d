"""What the digit judge sees of a free layout's canvas: each present object's box, cut out and
scaled into MNIST's 28x28 frame (the grid's boxes are cut out as they are:
``GridPlacement.judge_frames``). Host NumPy; images (B, H, W, 1) float32 in canvas colours (black
ink on white), labels (B, N) int (-1: empty slot), boxes (B, N, 4) int (top, left, bottom, right)."""
import numpy as np

from ..layout import present_objects
from ..resample import interval_weights, resample

FRAME = 28        # side of the judge's input, as MNIST
FRAME_DIGIT = 20  # MNIST digits fit a 20x20 box centred in the frame
CHUNK = 512       # objects processed at once, to bound memory


def frame_placement(boxes):
    """Where each box lands in the frame: boxes (P, 4) -> (P, 4) int64 (top, left, bottom,
    right) of a block whose longer side is FRAME_DIGIT pixels, the other keeping the box's
    aspect (at least 1 pixel), centred in the FRAME x FRAME frame."""
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    sides = boxes[:, 2:] - boxes[:, :2]
    scale = FRAME_DIGIT / sides.max(axis=1, keepdims=True)
    sides = np.maximum(1, np.round(sides * scale)).astype(np.int64)
    start = (FRAME - sides) // 2
    return np.concatenate([start, start + sides], axis=1)

def centre_of_mass_shift(frames, placement):
    """Move each frame's ink, as MNIST's digits were moved, by whole pixels so that its centre of
    mass is at the frame's centre, as far as the block (placement (P, 4)) stays inside the frame.
    frames (P, 28, 28, 1) white outside their blocks -> the same, shifted."""
    ink = 1.0 - frames[..., 0]
    mass = ink.sum(axis=(1, 2))
    centres = np.arange(FRAME) + 0.5
    centre_row = (ink.sum(axis=2) @ centres) / np.maximum(mass, 1e-12)
    centre_col = (ink.sum(axis=1) @ centres) / np.maximum(mass, 1e-12)
    shift = np.rint(FRAME / 2 - np.stack([centre_row, centre_col], axis=1)).astype(np.int64)
    shift = np.clip(shift, -placement[:, :2], FRAME - placement[:, 2:]) * (mass > 0)[:, None]
    rows = (np.arange(FRAME) - shift[:, :1]) % FRAME  # (P, 28): the source row of each row
    cols = (np.arange(FRAME) - shift[:, 1:]) % FRAME
    return frames[np.arange(len(frames))[:, None, None], rows[:, :, None], cols[:, None, :]]

def frame_crops(images, labels, boxes):
    """Each present object's box cut out of its canvas and scaled into an MNIST-style frame
    (:func:`frame_placement`), with Pillow's bilinear resize (:func:`tinygan.resample.interval_weights`)
    of the ink, 1 - image, so the frame around the digit is white; then centred on its ink's
    centre of mass (:func:`centre_of_mass_shift`), as MNIST's digits are.
    images (B, H, W, 1), labels (B, N), boxes (B, N, 4) -> (P, 28, 28, 1) float32 canvas colours."""
    images = np.asarray(images)
    where = present_objects(labels)
    source = np.asarray(boxes)[where]
    target = frame_placement(source)
    height, width = images.shape[1:3]
    frames = np.ones((len(source), FRAME, FRAME, 1), np.float32)
    for start in range(0, len(source), CHUNK):
        part = slice(start, start + CHUNK)
        s, t = source[part], target[part]
        rows = interval_weights(FRAME, t[:, 0], t[:, 2], height, s[:, 0], s[:, 2]).astype(np.float32)
        cols = interval_weights(FRAME, t[:, 1], t[:, 3], width, s[:, 1], s[:, 3]).astype(np.float32)
        ink = 1.0 - images[where[0][part], :, :, 0].astype(np.float32)
        frames[part, :, :, 0] = 1.0 - resample(ink, rows, cols)
    return centre_of_mass_shift(frames, target)
