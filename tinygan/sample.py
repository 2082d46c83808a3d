"""Draw digits with a trained generator:
``python -m tinygan.sample --checkpoint runs/tinygan/checkpoint.npz --labels 1 9 8 6 --out grid.png``.

Each of the --n images shows the requested digits, object k in box k, each image with its
own noise. A grid model (--layout grid) draws its four digits in the cells of its grid, or in
28x28 boxes given with --boxes. A random-layout model (--layout random) draws any count of
digits in any boxes: ``--labels 7 3 --boxes 10 10 74 50 40 60 72 84`` (top left bottom right
per digit, pixels, bottom/right exclusive), or ``--layout layout.json`` holding
``{"labels": [7, 3], "boxes": [[10, 10, 74, 50], [40, 60, 72, 84]]}``.
"""
import argparse
import json
import sys

import numpy as np

from . import backend, cli
from .checkpoint import load_generator
from .images import save_grid_png
from .layout import MIN_SIDE, check_boxes, check_labels, check_layout


def parse_args(argv=None):
    parser = cli.ArgumentParser(prog="python -m tinygan.sample", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint.npz written by tinygan.train")
    parser.add_argument("--labels", nargs="+", type=int, help="one digit class per object")
    parser.add_argument("--boxes", nargs="+", type=int, default=None,
                        help="top left bottom right for each object (grid models: default the cells of the grid)")
    parser.add_argument("--layout", metavar="JSON", default=None,
                        help='a file holding {"labels": [...], "boxes": [[top, left, bottom, right], ...]} '
                             "instead of --labels and --boxes")
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
    if args.layout is not None and (args.labels is not None or args.boxes is not None):
        parser.error("give a layout either as --layout JSON or as --labels and --boxes, not both")
    if args.layout is None and args.labels is None:
        parser.error("give the digits to draw: --labels (and --boxes), or --layout JSON")
    if args.layout is not None:
        try:
            args.labels, args.boxes = read_layout(args.layout)
        except ValueError as err:
            parser.error(str(err))
    return args, parser


def read_layout(path):
    """(labels, flat boxes) from a JSON layout file; a ValueError naming the file and the problem."""
    try:
        with open(path) as file:
            layout = json.load(file)
    except OSError as err:
        raise ValueError(f"--layout: cannot read {path} ({err.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"--layout: {path} is not JSON ({err})") from None
    if not isinstance(layout, dict) or set(layout) != {"labels", "boxes"}:
        raise ValueError(f'--layout: {path} must hold one object {{"labels": [...], "boxes": [[t, l, b, r], ...]}}')
    labels, boxes = layout["labels"], layout["boxes"]
    if (not isinstance(labels, list) or not isinstance(boxes, list)
            or not all(isinstance(v, int) for v in labels)
            or not all(isinstance(b, list) and len(b) == 4 and all(isinstance(v, int) for v in b) for b in boxes)):
        raise ValueError(f"--layout: {path}: labels must be a list of integers and boxes a list of "
                         f"[top, left, bottom, right] integer lists")
    if len(labels) != len(boxes):
        raise ValueError(f"--layout: {path} holds {len(labels)} labels and {len(boxes)} boxes: give one box per label")
    return labels, [v for box in boxes for v in box]


def requested_inputs(args, config):
    """labels (n, objects) and boxes (n, objects, 4) from the flags; ValueError if they don't fit."""
    if config.layout == "random":
        return free_inputs(args, config)
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


def free_inputs(args, config):
    """Any count of labels and boxes for a random-layout model, checked as the model checks them."""
    if args.boxes is None:
        raise ValueError("--boxes: a random-layout model needs a box (top left bottom right) for every label")
    if len(args.boxes) != 4 * len(args.labels):
        raise ValueError(f"--boxes: {len(args.labels)} labels need {4 * len(args.labels)} numbers (top left bottom "
                         f"right per digit), got {len(args.boxes)}")
    labels = np.array([args.labels], dtype=np.int64)
    boxes = np.array(args.boxes, dtype=np.int64).reshape(1, -1, 4)
    if (labels < 0).any():
        raise ValueError(f"--labels: digit classes are 0..{config.n_classes - 1}, got {labels.min()}")
    check_layout(labels, boxes, config.n_classes, config.canvas_size, (MIN_SIDE, config.canvas_size), "layout")
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
    noise = generator.sample_noise(np.random.default_rng(args.seed), args.n, labels.shape[1])
    images, _ = generator.forward(*(backend.to_device(a) for a in (noise, labels, boxes)))
    save_grid_png(args.out, backend.to_host(images), min(args.columns, args.n))
    print(f"wrote {args.out}: {args.n} images of {'-'.join(map(str, args.labels))} "
          f"from {args.checkpoint} (step {step})")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_command(main))
