"""Draw digits with a trained generator:
``python -m tinygan.sample --checkpoint runs/tinygan/checkpoint.npz --labels 1 9 8 6 --out grid.png``.

Each of the --n images shows the requested digits, object k in box k (row-major cells
by default, or the boxes given with --boxes), each with its own noise.
"""
import argparse
import sys

import numpy as np

from . import backend, cli
from .checkpoint import load_generator
from .images import save_grid_png
from .layout import check_boxes, check_labels


def parse_args(argv=None):
    parser = cli.ArgumentParser(prog="python -m tinygan.sample", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint.npz written by tinygan.train")
    parser.add_argument("--labels", required=True, nargs="+", type=int, help="one digit class per object")
    parser.add_argument("--boxes", nargs="+", type=int, default=None,
                        help="top left bottom right for each object (default: the cells of the grid)")
    parser.add_argument("--n", type=int, default=16, help="number of images")
    parser.add_argument("--columns", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=["auto", "numpy", "cupy"], default=None)
    parser.add_argument("--average", action=argparse.BooleanOptionalAction, default=True,
                        help="use the generator's weight average when the checkpoint has one (default); "
                             "--no-average: the trained generator")
    parser.add_argument("--out", default="samples.png", help="PNG file to write")
    args = parser.parse_args(argv)
    if args.n < 1 or args.columns < 1:
        parser.error(f"--n and --columns must be positive, got {args.n} and {args.columns}")
    return args, parser


def requested_inputs(args, config):
    """labels (n, objects) and boxes (n, objects, 4) from the flags; ValueError if they don't fit."""
    n_objects = config.n_objects
    if len(args.labels) != n_objects:
        raise ValueError(f"--labels: this model draws {n_objects} objects, got {len(args.labels)} labels")
    labels = np.array([args.labels], dtype=np.int64)
    check_labels(labels, 1, n_objects, config.n_classes, "--labels")
    if args.boxes is None:
        boxes = config.canvas().boxes(1)
    else:
        if len(args.boxes) != 4 * n_objects:
            raise ValueError(f"--boxes: expected {4 * n_objects} numbers (top left bottom right "
                             f"per object), got {len(args.boxes)}")
        boxes = np.array(args.boxes, dtype=np.int64).reshape(1, n_objects, 4)
        check_boxes(boxes, 1, n_objects, config.object_size, config.canvas_size, "--boxes")
    return np.repeat(labels, args.n, axis=0), np.repeat(boxes, args.n, axis=0)


def main(argv=None):
    args, parser = parse_args(argv)
    backend.set_backend(args.backend)
    try:
        generator, step, _, _ = load_generator(args.checkpoint, average=args.average)
        config = generator.config
        labels, boxes = requested_inputs(args, config)
    except ValueError as err:
        parser.error(str(err))
    noise = generator.sample_noise(np.random.default_rng(args.seed), args.n)
    images, _ = generator.forward(*(backend.to_device(a) for a in (noise, labels, boxes)))
    save_grid_png(args.out, backend.to_host(images), min(args.columns, args.n))
    print(f"wrote {args.out}: {args.n} images of {'-'.join(map(str, args.labels))} "
          f"from {args.checkpoint} (step {step})")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_command(main))
