"""The README's picture of a random-layout model: fixed, varied layouts, each drawn with
several noises, captioned.

    python bench/layout_samples.py --checkpoint runs/random/checkpoint.npz --out bench/results/layouts.png

The PNG carries the stamp of bench/harness.py (commit, machine, date, command line) as JSON in
its text chunk ``stamp`` (``PIL.Image.open(path).text["stamp"]``).

Layouts (on a 128-pixel canvas; scaled to the model's canvas): a big 7 and a small 3 beside
it, one large digit, a row of growing digits, six digits as training shows them, nine small
digits (more than training's six), tiny digits (smaller than training's 16 pixels), two
overlapping digits, and digits inside the region that training kept empty. Each row outlines
nothing: the boxes are where the caption says.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import PngImagePlugin

from harness import stamp, stamp_text
from tinygan import backend
from tinygan.checkpoint import load_generator
from tinygan.images import grid_image

# (caption, [(label, (top, left, bottom, right)), ...]) on a 128-pixel canvas
LAYOUTS = [
    ("big 7, small 3 beside it", [(7, (8, 8, 72, 52)), (3, (40, 64, 64, 82))]),
    ("one large 2 (96 px)", [(2, (16, 30, 112, 98))]),
    ("growing 1 4 6 8", [(1, (52, 4, 68, 10)), (4, (46, 20, 74, 42)), (6, (38, 48, 82, 80)), (8, (30, 84, 90, 124))]),
    ("six, as in training", [(0, (4, 4, 40, 32)), (5, (6, 44, 46, 74)), (9, (4, 84, 44, 112)),
                             (3, (52, 8, 84, 32)), (2, (50, 40, 80, 64)), (7, (52, 70, 82, 94))]),
    ("nine digits", [(d, (4 + 42 * (k // 3), 6 + 42 * (k % 3), 32 + 42 * (k // 3), 28 + 42 * (k % 3)))
                     for k, d in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9])]),
    ("tiny 12 px digits", [(d, (30 + 24 * (k // 4), 10 + 28 * (k % 4), 42 + 24 * (k // 4), 19 + 28 * (k % 4)))
                           for k, d in enumerate([0, 3, 6, 9, 2, 5, 8, 4])]),
    ("overlapping 4 and 9", [(4, (30, 30, 80, 66)), (9, (44, 52, 94, 88))]),
    ("in the held-out corner", [(5, (92, 90, 124, 112)), (6, (16, 16, 60, 48))]),
]


def layout_arrays(size):
    """labels (L, N) (-1 pads) and boxes (L, N, 4) of LAYOUTS scaled to a size-pixel canvas."""
    n = max(len(objects) for _, objects in LAYOUTS)
    labels, boxes = np.full((len(LAYOUTS), n), -1, np.int64), np.zeros((len(LAYOUTS), n, 4), np.int64)
    for row, (_, objects) in enumerate(LAYOUTS):
        for slot, (label, box) in enumerate(objects):
            labels[row, slot] = label
            boxes[row, slot] = np.round(np.array(box) * size / 128)
    return labels, boxes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", default="layouts.png")
    parser.add_argument("--samples", type=int, default=4, help="noises per layout")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    generator, step, _, _ = load_generator(args.checkpoint)
    if generator.config.layout != "random":
        parser.error(f"{args.checkpoint} is a grid model; this draws random-layout models (--layout random)")
    labels, boxes = (np.repeat(a, args.samples, axis=0) for a in layout_arrays(generator.config.canvas_size))
    noise = generator.sample_noise(np.random.default_rng(args.seed), len(labels), labels.shape[1])
    images, _ = generator.forward(backend.to_device(noise), labels, boxes)
    record = stamp(threads=None, checkpoint=str(args.checkpoint), step=step)
    text = PngImagePlugin.PngInfo()  # the stamp rides along in the PNG's text chunk 'stamp'
    text.add_text("stamp", json.dumps(record))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    picture = grid_image(backend.to_host(images), args.samples, captions=[caption for caption, _ in LAYOUTS])
    picture.save(args.out, format="PNG", optimize=True, pnginfo=text)
    print(stamp_text(record))
    print(f"wrote {args.out}: {len(LAYOUTS)} layouts x {args.samples} noises from {args.checkpoint} (step {step})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
