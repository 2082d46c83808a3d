"""Does the paper classifier of a checkpoint trained with --family-weight name the paper family? On real
canvases (test digits in the checkpoint's training layouts, on fresh paper) and on generated canvases in the
same layouts whose noise names each family in turn (the weight average; both models in eval mode).

    python bench/paper_classifier.py runs/B1/checkpoint.npz [more checkpoints] [--n 256] [--seed 1]

AC-GAN's auxiliary classifier steers the generator only if it tells the families apart on real paper; when
it names the asked family on generated paper that the texture measures (bench/paper_families.py) place
elsewhere, the generator has learned to fool it instead. Printed per checkpoint: the accuracy and mean
cross-entropy on real canvases (chance: 1/F and log F), then two tables, rows the family drawn (real) or
asked for (generated), columns the family the classifier names. Canvases where every place of the paper
pathway touches a box are left out: the pathway sees no paper there.
"""
import argparse

import numpy as np

from tinygan import cli
from tinygan.checkpoint import load_generator, read_checkpoint
from tinygan.data import load_digits
from tinygan.layers import one_hot
from tinygan.losses import softmax_cross_entropy
from tinygan.models import Discriminator
from tinygan.serialize import load_model_state


def named(discriminator, images, labels, boxes, families):
    """The classifier's logits (n, F) for images (B, H, W, 1) said to be of ``families`` (B,), only the
    n images whose paper the pathway sees."""
    out, cache = discriminator.forward(images, labels, boxes, families)
    seen = np.asarray(cache["paper_seen"])[:, 0] > 0
    return np.asarray(out, np.float64)[seen, -discriminator.config.paper_families:], seen


def confusion(true, logits, n_families):
    table = np.zeros((n_families, n_families), np.int64)
    np.add.at(table, (true, logits.argmax(axis=1)), 1)
    return table


def print_table(title, table, names):
    print(f"{title} | " + " | ".join(names))
    for name, counts in zip(names, table):
        print(f"{name} | " + " | ".join(str(c) for c in counts))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--n", type=int, default=256, help="layouts drawn")
    parser.add_argument("--seed", type=int, default=1, help="seed of the layouts, the papers and the noise")
    parser.add_argument("--data-dir", help="folder with the four MNIST files (else TINYGAN_DATA or the cache)")
    args = parser.parse_args(argv)
    cli.set_up("numpy")
    for path in args.checkpoints:
        try:
            checkpoint = read_checkpoint(path)
            generator = load_generator(path, log=lambda message: None)[0]
        except (OSError, ValueError) as err:
            parser.error(f"{path}: {err}")
        config, settings = checkpoint.config, checkpoint.settings
        if not config.paper_classifier:
            parser.error(f"{path}: trained without --family-weight: its discriminator has no paper classifier")
        discriminator = Discriminator(config, np.random.default_rng(0))
        load_model_state(discriminator, checkpoint.arrays, source=str(path))
        discriminator.eval()
        names = settings.families()
        dataset = config.placement.training_data(settings, config, load_digits("test", data_dir=args.data_dir))
        real, labels, boxes = dataset.sample_canvases(args.n, np.random.default_rng(args.seed))
        logits, seen = named(discriminator, real.images, labels, boxes, real.families)
        true = real.families[seen]
        loss, _ = softmax_cross_entropy(logits, one_hot(true, len(names), logits.dtype))  # the training step's loss
        print(f"{path} (step {checkpoint.step}): real canvases seen {len(true)} of {args.n}, accuracy "
              f"{np.mean(logits.argmax(axis=1) == true):.3f}, cross-entropy {loss:.3f} "
              f"(chance {1 / len(names):.3f}, {np.log(len(names)):.3f})")
        print_table("real: drawn \\ named", confusion(true, logits, len(names)), names)
        rows = []
        for family in range(len(names)):
            images = generator.draw(labels, boxes, np.random.default_rng([args.seed, family]), paper=family)
            asked = np.full(len(images), family, np.int64)
            logits, seen = named(discriminator, images, labels, boxes, asked)
            rows.append(confusion(asked[seen], logits, len(names))[family])
        print_table("generated: asked \\ named", np.array(rows), names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
