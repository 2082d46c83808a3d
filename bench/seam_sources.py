"""Where a textured checkpoint's seams come from: the seam ratio (tinygan.metrics.paper) of its images and of
its paper alone (the global generator's output), and how much of the box rings the objects' alpha covers;
real digits on real paper in the same boxes last, as the ceiling.

    python bench/seam_sources.py runs/floor_s0/checkpoint.npz [more checkpoints] [--n 96] [--seed 1]

--n layouts are drawn (--seed) from the first checkpoint's training layouts, as bench/side_by_side.py draws
them; every checkpoint then draws them from the same noise, and real test digits are laid in the same boxes on
fresh real paper. Printed per row: the median seam ratio of the images and of their paper alone, and the share
of ring pixels off the strokes (those the seam ratio reads; half of them lie just outside a box, where no
object reaches) under any cover and under a cover above 0.01 and 0.05 (the real row: the real ink's alpha);
nan where the strokes hide every ring pixel (an untrained model's ink covers its boxes).
"""
import argparse

import numpy as np

from tinygan import cli
from tinygan.checkpoint import load_generator
from tinygan.data import load_digits
from tinygan.metrics.paper import box_rings, seam_ratios, stroke_zone


def row(label, images, cover, papers, labels, boxes):
    """One printed row of the table for images, cover and papers (B, H, W, 1) of labels and boxes."""
    zone = stroke_zone(images, papers, labels, boxes)
    rings = box_rings(labels, boxes, *images.shape[1:3]) & ~zone
    covered = cover[..., 0][rings]
    seams = [np.nanmedian(seam_ratios(drawn, zone, labels, boxes)) for drawn in (images, papers)]
    return f"{label} | {seams[0]:.2f} | {seams[1]:.2f} | " + " | ".join(
        f"{100 * np.mean(covered > t):.1f}%" for t in (0, 0.01, 0.05))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--n", type=int, default=96, help="layouts drawn")
    parser.add_argument("--seed", type=int, default=1, help="seed of the layouts, the noise and the real digits")
    parser.add_argument("--data-dir", help="folder with the four MNIST files (else TINYGAN_DATA or the cache)")
    args = parser.parse_args(argv)
    cli.set_up("numpy")
    print("checkpoint (step) | seam of the images | seam of the paper alone | rings under any cover | > 0.01 | > 0.05")
    dataset = layout = None
    for path in args.checkpoints:
        try:
            generator, step, settings, _ = load_generator(path)
        except (OSError, ValueError) as err:
            parser.error(f"{path}: {err}")
        config = generator.config
        if config.compositing != "alpha":
            parser.error(f"{path}: trained with {config.compositing!r} compositing: its objects have no alpha")
        if layout is None:
            dataset = config.placement.training_data(settings, config, load_digits("test", data_dir=args.data_dir))
            layout = dataset.sample_layout(args.n, np.random.default_rng(args.seed))
        images, cover, papers = generator.draw(*layout, np.random.default_rng(args.seed), parts=True)
        print(row(f"{path} ({step})", images, cover, papers, *layout))
    real = dataset.draw_real(*layout, np.random.default_rng(args.seed))
    print(row("real digits on real paper", real.images, real.alpha, real.papers, *layout))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
