"""Train or check the digit judge: ``python -m tinygan.judge --train`` / ``python -m tinygan.judge``.

The judge (:mod:`.judge_model`) is the MNIST classifier that scores the digits a generator
draws; one ships with tinygan. ``--train`` trains one on MNIST's training set and saves it in
the tinygan cache (or --out), where training and evaluation then find it; without it, the
judge they use (--out, else the cache's, else the shipped one) is loaded and its test
accuracy measured again.

``--background textured`` (or one paper family) does the same for the judge of digits on paper
(issue 25): trained with each digit also laid as ink over paper
(:mod:`.data.digits_on_paper`), kept beside the white one in the cache, measured on white and
on each family's paper. ``--limit N``: the first N training and test digits only (a quick run).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from . import cli
from .data import canvas_colours, load_mnist
from .data.textures import BACKGROUNDS, families_of
from .judge_model import (DEFAULT_EPOCHS, accuracy, family_accuracies, file_sha256, judge_path, load_judge,
                          save_judge, train_judge)


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def parse_args(argv=None):
    parser = cli.ArgumentParser(
        prog="python -m tinygan.judge",
        description="Train (--train) or check the MNIST digit judge used to evaluate generators.")
    parser.add_argument("--train", action="store_true", help="train a judge and save it")
    parser.add_argument("--epochs", type=positive_int, help=f"training epochs (default {DEFAULT_EPOCHS})")
    parser.add_argument("--seed", type=int, help="training seed (default 0)")
    parser.add_argument("--data-dir", help="folder holding the MNIST files (else TINYGAN_DATA or the cache)")
    parser.add_argument("--float16", action="store_true",
                        help="with --train: store the weights as float16 (half the file, as the shipped judge)")
    parser.add_argument("--background", choices=BACKGROUNDS, default="white",
                        help="the paper the judge reads digits on: white (default), textured (every family) "
                             "or one family; a non-white judge is kept in the cache as judge-<background>.npz")
    parser.add_argument("--limit", type=positive_int,
                        help="use only the first N training and test digits (a quick run)")
    parser.add_argument("--out", "--path", dest="path",
                        help=f"judge checkpoint file (default: --train writes {judge_path()}; the check "
                             f"reads that one when it exists, else the judge shipped with tinygan)")
    args = parser.parse_args(argv)
    if not args.train and (args.epochs is not None or args.seed is not None or args.float16):
        parser.error("--epochs, --seed and --float16 apply only with --train")
    return args


def main(argv=None):
    args = parse_args(argv)
    cli.set_up()
    if args.train:
        path = Path(args.path) if args.path else judge_path(args.background)
        epochs = args.epochs or DEFAULT_EPOCHS
        seed = args.seed if args.seed is not None else 0
        model, test_accuracy, on_paper = train_judge(args.data_dir, epochs=epochs, seed=seed,
                                                     background=args.background, limit=args.limit)
        save_judge(model, path, test_accuracy, seed, epochs, np.float16 if args.float16 else np.float32, on_paper)
        print(f"judge: saved to {path} (test accuracy {test_accuracy:.4f}, sha256 {file_sha256(path)})")
        return
    try:
        model, info = load_judge(args.path, background=args.background)
        test_digits, test_labels = load_mnist("test", data_dir=args.data_dir)
    except ValueError as err:
        sys.exit(str(err))
    test_digits, test_labels = test_digits[:args.limit], test_labels[:args.limit]
    print(f"judge: {info.path} ({info.source}): stored test accuracy {info.test_accuracy:.4f} "
          f"(seed {info.seed}, {info.epochs} epochs), sha256 {file_sha256(info.path)}"
          + "".join(f"; {family} {value:.4f}" for family, value in info.on_paper.items()))
    print(f"judge: re-evaluated test accuracy {accuracy(model, canvas_colours(test_digits), test_labels):.4f}"
          + "".join(f"; {family} {value:.4f}" for family, value in
                    family_accuracies(model, test_digits, test_labels, families_of(args.background)).items()))


if __name__ == "__main__":
    sys.exit(cli.run_command(main))
