"""Draw digits with a trained generator:
``python -m tinygan.sample --checkpoint runs/tinygan/checkpoint.npz --labels 1 9 8 6 --out grid.png``.

Each of the --n images shows the requested digits, object k in box k, each image with its
own noise. A grid model (--layout grid) draws its four digits in the cells of its grid, or in
28x28 boxes given with --boxes. A random-layout model (--layout random) draws any count of
digits in any boxes: ``--labels 7 3 --boxes 10 10 74 50 40 60 72 84`` (top left bottom right
per digit, pixels, bottom/right exclusive), or ``--layout layout.json`` holding
``{"labels": [7, 3], "boxes": [[10, 10, 74, 50], [40, 60, 72, 84]]}``.

A model draws on the background it was trained on (``--background`` of tinygan.train: white or
paper textures); one trained with ``--paper-conditioned`` draws the family ``--paper`` names, or
each family equally often. ``--real`` puts beside each generated image a real canvas: real test digits in the
same boxes on the same kind of paper.
"""
import argparse
import json
import sys
from dataclasses import replace

import numpy as np

from . import cli
from .checkpoint import load_generator
from .data import load_digits
from .data.textures import BACKGROUNDS, FAMILIES
from .images import save_grid_png


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
    parser.add_argument("--background", choices=BACKGROUNDS, default=None,
                        help="the background the checkpoint was trained on (default: that one); any other is an error")
    parser.add_argument("--paper", choices=FAMILIES, default=None,
                        help="draw paper of this family only (a checkpoint trained with --paper-conditioned; "
                             "default: every family, as the noise names)")
    parser.add_argument("--real", action="store_true",
                        help="beside each generated image, real test digits in the same boxes on the same background")
    parser.add_argument("--data-dir", default=None, help="--real: folder with the four MNIST files")
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


def main(argv=None):
    args, parser = parse_args(argv)
    cli.set_up(args.backend)
    try:
        generator, step, settings, _ = load_generator(args.checkpoint, average=args.average)
        config = generator.config
        if args.background not in (None, settings.background):
            raise ValueError(f"--background {args.background}: {args.checkpoint} was trained on --background "
                             f"{settings.background} and draws only that")
        if args.paper is not None and not config.paper_families:
            raise ValueError(f"--paper {args.paper}: {args.checkpoint} was not trained with --paper-conditioned "
                             f"(it draws its paper as it likes); leave --paper out")
        paper = None if args.paper is None else settings.families().index(args.paper)
        labels, boxes = config.placement.layout_from_flags(config, args.labels, args.boxes, args.n)
    except ValueError as err:
        parser.error(str(err))
    rng = np.random.default_rng(args.seed)
    images = generator.draw(labels, boxes, rng, batch_size=args.n, paper=paper)
    columns = min(args.columns, args.n)
    if args.real:  # each generated image, then a real one of the same layout
        if args.paper is not None:  # real digits on paper of the same family
            settings = replace(settings, background=args.paper, paper_conditioned=False, paper_norm=False)
        dataset = config.placement.training_data(settings, config, load_digits("test", data_dir=args.data_dir))
        real = dataset.draw_real(labels, boxes, rng).images
        images, columns = np.stack([images, real], axis=1).reshape(-1, *images.shape[1:]), 2 * columns
    save_grid_png(args.out, images, columns)
    print(f"wrote {args.out}: {args.n} images of {'-'.join(map(str, args.labels))} "
          f"from {args.checkpoint} (step {step})")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_command(main))
