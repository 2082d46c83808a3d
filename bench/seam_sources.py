"""Where a textured checkpoint's seams come from: the seam ratio (tinygan.metrics.paper) of its images and of
its paper alone (the global generator's output), and how much of the box rings the objects' alpha covers.

    python bench/seam_sources.py runs/floor_s0/checkpoint.npz [more checkpoints] [--n 96]

Each checkpoint draws the same --n layouts of two boxes (one near the top left, one near the bottom right,
20-50 pixels a side) from the same noise. Printed per checkpoint: the median seam ratio of the images and of
their paper alone, and the share of ring pixels off the strokes (those the seam ratio reads; half of them lie
just outside a box, where no object reaches) under any cover and under a cover above 0.01 and 0.05.
"""
import argparse

import numpy as np

from tinygan import cli
from tinygan.checkpoint import load_generator
from tinygan.metrics.paper import box_rings, seam_ratios, stroke_zone


def two_box_layouts(n, canvas, rng):
    """labels (n, 2) and boxes (n, 2, 4) on a canvas of ``canvas`` pixels: one box near the top-left
    corner, one near the middle, their places and sizes (at 128 pixels) as the module says, scaled."""
    labels = rng.integers(0, 10, (n, 2))
    top_left = np.array([[8, 8], [66, 66]]) + rng.integers(0, 10, (n, 2, 2))
    sizes = np.stack([rng.integers(28, 50, (n, 2)), rng.integers(20, 40, (n, 2))], axis=-1)
    scale = canvas / 128
    top_left = (top_left * scale).astype(np.int64)
    bottom_right = np.minimum(top_left + np.maximum((sizes * scale).astype(np.int64), 2), canvas)
    return labels, np.concatenate([top_left, bottom_right], axis=-1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--n", type=int, default=96, help="layouts drawn")
    args = parser.parse_args(argv)
    cli.set_up("numpy")
    print("checkpoint | step | seam of the images | seam of the paper alone | rings under any cover | > 0.01 | > 0.05")
    for path in args.checkpoints:
        try:
            generator, step, _, _ = load_generator(path)
        except (OSError, ValueError) as err:
            parser.error(f"{path}: {err}")
        if generator.config.compositing != "alpha":
            parser.error(f"{path}: trained with {generator.config.compositing!r} compositing: its objects have no alpha")
        labels, boxes = two_box_layouts(args.n, generator.config.canvas_size, np.random.default_rng(1))
        images, cover, papers = generator.draw(labels, boxes, np.random.default_rng(0), parts=True)
        zone = stroke_zone(images, papers, labels, boxes)
        rings = box_rings(labels, boxes, *images.shape[1:3]) & ~zone
        covered = cover[..., 0][rings]
        seams = [np.nanmedian(seam_ratios(drawn, zone, labels, boxes)) for drawn in (images, papers)]
        print(f"{path} | {step} | {seams[0]:.2f} | {seams[1]:.2f} | "
              + " | ".join(f"{100 * np.mean(covered > t):.1f}%" for t in (0, 0.01, 0.05)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
