"""The same layouts and noises drawn by several checkpoints, one row each, and real digits on the
same kind of paper in the same boxes in the last row: a figure for an ablation.

    python bench/side_by_side.py "min=runs/t_min/checkpoint.npz" "alpha=runs/t_alpha/checkpoint.npz" \\
        --n 6 --out docs/ablation.png

Each argument is LABEL=CHECKPOINT. The layouts are drawn (``--seed``) from the first checkpoint's
training layouts; every checkpoint then draws them from the same noise (a generator's noise
depends only on the seed and the layout, so checkpoints of one preset get the same noise). The
real row takes MNIST's test digits, drawn as that checkpoint's training data draws them.
"""
import argparse

import numpy as np

from tinygan import cli
from tinygan.checkpoint import load_generator
from tinygan.data import load_digits
from tinygan.images import save_grid_png


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", metavar="LABEL=CHECKPOINT")
    parser.add_argument("--n", type=int, default=6, help="layouts (columns)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the layouts and the noise")
    parser.add_argument("--data-dir", help="folder with the four MNIST files (else TINYGAN_DATA or the cache)")
    parser.add_argument("--out", required=True, help="PNG file to write")
    args = parser.parse_args(argv)
    cli.set_up("numpy")
    rows, captions, layout = [], [], None
    for argument in args.checkpoints:
        caption, _, path = argument.partition("=")
        if not caption or not path:
            parser.error(f"{argument!r}: expected LABEL=CHECKPOINT")
        try:
            generator, step, settings, _ = load_generator(path)
        except (OSError, ValueError) as err:
            parser.error(f"{path}: {err}")
        if layout is None:
            config = generator.config
            dataset = config.placement.training_data(settings, config, load_digits("test", data_dir=args.data_dir))
            layout = dataset.sample_layout(args.n, np.random.default_rng(args.seed))
        rows.append(generator.draw(*layout, np.random.default_rng(args.seed), batch_size=args.n))
        captions.append(f"{caption} ({step})")
    rows.append(dataset.draw_real(*layout, np.random.default_rng(args.seed)).images)
    captions.append("real")
    save_grid_png(args.out, np.concatenate(rows), args.n, captions=captions)
    print(f"wrote {args.out}: {len(captions)} rows of {args.n} layouts")
    return 0


if __name__ == "__main__":
    main()
