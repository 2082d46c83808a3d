"""The paper each family draws: for checkpoints trained with --paper-conditioned, blank sheets (no
digits) of each family beside real sheets of it, and how far each family's texture is from real
paper of that family.

    python bench/paper_families.py "seed 0=runs/paper_s0/checkpoint.npz" --n 6 --out families.png

Each argument is LABEL=CHECKPOINT. For each family (rows: real paper, then each checkpoint) the
generators draw --n sheets from noise that names the family (``Generator.naming_paper``). Printed,
per family and checkpoint: the Fréchet distance of the sheets' texture features (the background
measure of ``tinygan.evaluate``, 16x16 patches) against fresh real sheets of that family, and the
means of a few standardised features (0: real paper of every family on average; the spread of real
paper is 1) beside the real family's.
"""
import argparse

import numpy as np

from tinygan import cli
from tinygan.checkpoint import load_generator
from tinygan.data.textures import draw_backgrounds
from tinygan.images import save_grid_png
from tinygan.metrics.paper import background_patches, paper_reference, texture_features
from tinygan.metrics.statistics import frechet_distance

SHOWN = {"mean": 0, "log std": 1, "diff 1 (max)": 2, "diff 1 (min)": 3, "diff 8 (max)": 8}  # feature columns
MEASURED_SHEETS = 64


def sheets(generator, family, n, seed):
    """n blank sheets (n, H, W, 1) the generator draws for ``family``, from noise of ``seed``."""
    noise = generator.naming_paper(generator.sample_noise(np.random.default_rng(seed), n, 1), family)
    labels, boxes = np.full((n, 1), -1, np.int64), np.zeros((n, 1, 4), np.int64)
    with generator.evaluating():
        _, cache = generator.forward(noise, labels, boxes)
    return np.asarray(cache.background)


def features(reference, papers):
    empty = np.full((len(papers), 0), -1), np.zeros((len(papers), 0, 4), int)
    return reference.standardise(texture_features(background_patches(papers, *empty)[0]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", metavar="LABEL=CHECKPOINT")
    parser.add_argument("--n", type=int, default=6, help="sheets per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="PNG file to write")
    args = parser.parse_args(argv)
    cli.set_up("numpy")
    models = []
    for argument in args.checkpoints:
        label, _, path = argument.partition("=")
        try:
            generator, step, settings, _ = load_generator(path)
        except (OSError, ValueError) as err:
            parser.error(f"{path}: {err}")
        if not generator.config.paper_families:
            parser.error(f"{path}: trained without --paper-conditioned: its paper has no family to ask for")
        models.append((label, generator, settings.families()))
    names = models[0][2]
    reference = paper_reference(names, models[0][1].config.canvas_size, seed=args.seed)
    rows = []
    print("family  | drawn by | Fréchet vs real of the family | " + " | ".join(SHOWN))
    for index, name in enumerate(names):
        real = features(reference, draw_backgrounds((name,), MEASURED_SHEETS, models[0][1].config.canvas_size,
                                                    np.random.default_rng([args.seed, index]))[0])
        mine = reference.features[reference.families == index]
        print(f"{name:7} | real | {frechet_distance(real, mine):.2f} | "
              + " | ".join(f"{v:.2f}" for v in mine.mean(axis=0)[list(SHOWN.values())]))
        rows.append(draw_backgrounds((name,), args.n, models[0][1].config.canvas_size,
                                     np.random.default_rng([args.seed, index, 1]))[0][..., None])
        for label, generator, _ in models:
            drawn = sheets(generator, index, MEASURED_SHEETS, args.seed + index)
            measured = features(reference, drawn)
            print(f"{name:7} | {label} | {frechet_distance(measured, mine):.2f} | "
                  + " | ".join(f"{v:.2f}" for v in measured.mean(axis=0)[list(SHOWN.values())]))
            rows.append(drawn[:args.n])
    save_grid_png(args.out, np.concatenate(rows), args.n)
    print(f"wrote {args.out}: per family, real paper then {', '.join(label for label, _, _ in models)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
