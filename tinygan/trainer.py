"""One training step of the multi-object GAN, for a run's settings: :class:`Trainer` holds the
models, optimisers, data and weight average; ``python -m tinygan.train`` (:mod:`.train`) runs it.

Each step trains the discriminator on a real and a fake batch, then the generator through
the updated discriminator, with the loss and ingredients the settings name (:mod:`.recipes`).
"""
import numpy as np

from . import backend
from .checkpoint import save_checkpoint
from .data import CanvasDataset, LabelOrderHoldout, load_digits
from .ema import WeightAverage, refresh_batch_statistics
from .images import save_grid_png
from .losses import generator_hinge_loss, hinge_loss, mode_seeking_loss, softmax_cross_entropy
from .models import Discriminator, Generator, preset
from .models.compositing import crop_boxes, crop_boxes_backward
from .optim import Adam

# Label orders drawn in every sample grid: easy orders and the paper's failure cases.
SAMPLE_ORDERS = ["0123", "4567", "8901", "1986", "3258", "5274"]
SAMPLES_PER_ORDER = 6
# Model fields that come from the settings.
CONFIG_SETTINGS = ("combine", "per_object_noise", "noise", "conditional_bn", "spectral_norm", "projection",
                   "minibatch_std", "dropout")
# Images drawn with fixed seeds to measure the weight average's BatchNorm statistics.
STATISTICS_BATCHES, STATISTICS_BATCH_SIZE = 8, 64


def make_holdout(spec, n_objects, seed):
    """A LabelOrderHoldout from the --holdout text (None: nothing held out)."""
    if spec is None:
        return LabelOrderHoldout([], n_objects)
    try:
        fraction = float(spec)
    except ValueError:
        return LabelOrderHoldout.from_orders(spec.split(","), n_objects)
    return LabelOrderHoldout.from_fraction(fraction, n_objects, seed)


def learning_rate(base, step, total, decay_at, decay):
    """Step schedule: base * decay ** (number of decay_at fractions passed)."""
    return base * decay ** sum(step >= at * total for at in decay_at)


def noisy_targets(rng, batch, real):
    """The paper's soft targets over (fake, real): real -> (U(0,.3), U(.7,1)), fake -> swapped."""
    low, high = rng.uniform(0.0, 0.3, batch), rng.uniform(0.7, 1.0, batch)
    pair = (low, high) if real else (high, low)
    return np.stack(pair, axis=1).astype(np.float32)


class Trainer:
    """Models, optimisers, data and one training step, for a run's settings."""

    def __init__(self, settings, data_dir=None, log=print):
        self.settings, self.log = settings, log
        self.config = preset(settings["preset"], **{name: settings[name] for name in CONFIG_SETTINGS})
        model_rng = np.random.default_rng(settings["seed"])
        self.generator = Generator(self.config, model_rng)
        self.discriminator = Discriminator(self.config, model_rng)
        adam = dict(beta1=settings["beta1"], beta2=settings["beta2"])
        self.opt_g = Adam(self.generator.named_parameters(), lr=settings["lr_g"], **adam)
        self.opt_d = Adam(self.discriminator.named_parameters(), lr=settings["lr_d"], **adam)
        self.average = None
        if settings["ema"]:
            self.average = WeightAverage(self.generator, Generator(self.config, np.random.default_rng(0)),
                                         settings["ema"], settings["ema_start"])
        self.statistics_step = None  # the step at which the average's BN statistics were measured
        self.holdout = make_holdout(settings["holdout"], self.config.n_objects, settings["seed"])
        digits = load_digits("train", data_dir=data_dir, log=log).resized(self.config.object_size)
        self.data_source = digits.source
        self.dataset = CanvasDataset(digits, self.config.canvas(settings["texture"]), self.holdout)

    def score_weights(self):
        """Hinge loss weights of the (1 + n_objects) scores: the image's, then each object's."""
        n, global_weight = self.config.n_objects, self.settings["global_weight"]
        return [global_weight] + [(1 - global_weight) / n] * n

    def discriminator_loss(self, out, real, targets):
        if self.settings["loss"] == "paper":
            return softmax_cross_entropy(out, targets)
        return hinge_loss(out, real, self.score_weights())

    def generator_loss(self, out, targets):
        if self.settings["loss"] == "paper":
            return softmax_cross_entropy(out, targets)
        return generator_hinge_loss(out, self.score_weights())

    def step(self, step):
        """One D update on real + fake, one G update; returns the losses as backend scalars
        (read them in bulk, :class:`LossLog`: on a GPU each read waits for the device)."""
        s = self.settings
        rng = np.random.default_rng([s["seed"], step])
        batch = s["batch_size"]
        G, D = self.generator, self.discriminator
        real, labels, boxes = self.dataset.sample(batch, rng)
        fake_labels, fake_boxes = labels, boxes
        if s["mode_seeking"]:  # the second half of the fake batch repeats the first half's labels
            half = batch // 2
            fake_labels, fake_boxes = (np.concatenate([a[:half], a[:half]]) for a in (labels, boxes))
        real, labels, boxes, fake_labels, fake_boxes = (backend.to_device(a) for a in
                                                        (real, labels, boxes, fake_labels, fake_boxes))
        noise = backend.to_device(G.sample_noise(rng, batch))
        targets = [backend.to_device(noisy_targets(rng, batch, real=r)) if s["loss"] == "paper" else None
                   for r in (True, False, True)]
        if s["dropout"]:  # a device generator for the dropout masks (none to make without dropout)
            D.set_rng(backend.rng(int(rng.integers(2**31))))
        G.train()
        fake, g_cache = G.forward(noise, fake_labels, fake_boxes)

        D.zero_grad()  # D sees 2B images; each half's loss is weighted 1/2, as one batch of 2B
        out, cache = D.forward(real, labels, boxes)
        loss_real, dout = self.discriminator_loss(out, True, targets[0])
        D.backward(dout * 0.5, cache, need_dimage=False)
        out, cache = D.forward(fake, fake_labels, fake_boxes)
        loss_fake, dout = self.discriminator_loss(out, False, targets[1])
        D.backward(dout * 0.5, cache, need_dimage=False)
        self.opt_d.step()

        G.zero_grad()  # G through the updated D, on the same fake batch (G is unchanged)
        out, cache = D.forward(fake, fake_labels, fake_boxes)
        loss_g, dout = self.generator_loss(out, targets[2])
        dfake = D.freeze().backward(dout, cache)  # only the image gradient: D's own are not needed
        D.freeze(False)
        losses = {"d_real": loss_real, "d_fake": loss_fake, "g": loss_g}
        if s["mode_seeking"]:  # on the objects' boxes: the background should not vary
            size = self.config.object_size
            crops = crop_boxes(fake, fake_boxes, size)
            losses["mode_seeking"], dcrops = mode_seeking_loss(crops, noise, s["mode_seeking"])
            dfake += crop_boxes_backward(dcrops, fake_boxes, fake.shape)
        G.backward(dfake, g_cache, need_dnoise=False)
        self.opt_g.step()
        if self.average is not None:
            self.average.update(step)
        return losses

    def set_learning_rates(self, step, total):
        s = self.settings
        self.opt_g.lr = learning_rate(s["lr_g"], step, total, s["lr_decay_at"], s["lr_decay"])
        self.opt_d.lr = learning_rate(s["lr_d"], step, total, s["lr_decay_at"], s["lr_decay"])

    def sampler(self, step):
        """The generator that draws samples and is evaluated, in eval mode: the weight
        average when the run keeps one (its BatchNorm statistics measured afresh at this
        step, on fixed seen label orders and noise), else the trained generator."""
        if self.average is None:
            return self.generator.eval()
        if self.statistics_step != step:
            rng = np.random.default_rng(0)
            batches = []
            for _ in range(STATISTICS_BATCHES):
                labels = self.dataset.sample_labels(STATISTICS_BATCH_SIZE, rng)
                boxes = np.broadcast_to(self.dataset.config.boxes(), labels.shape + (4,))
                noise = self.average.average.sample_noise(rng, STATISTICS_BATCH_SIZE)
                batches.append(tuple(backend.to_device(a) for a in (noise, labels, boxes)))
            refresh_batch_statistics(self.average.average, batches)
            self.statistics_step = step
        return self.average.average.eval()

    def sample_grid(self, path, step):
        """Fixed orders x fixed noise, drawn by :meth:`sampler`; rows captioned with the labels."""
        n = self.config.n_objects
        orders = np.array([[int(d) for d in order[:n]] for order in SAMPLE_ORDERS])
        labels = np.repeat(orders, SAMPLES_PER_ORDER, axis=0)
        generator = self.sampler(step)
        noise = generator.sample_noise(np.random.default_rng(12345), len(labels))
        boxes = np.broadcast_to(self.dataset.config.boxes(), labels.shape + (4,)).copy()
        images, _ = generator.forward(*(backend.to_device(a) for a in (noise, labels, boxes)))
        self.generator.train()
        save_grid_png(path, backend.to_host(images), SAMPLES_PER_ORDER,
                      captions=["-".join(order[:n]) for order in SAMPLE_ORDERS])

    def save(self, path, step):
        average = None if self.average is None else self.sampler(step)
        save_checkpoint(path, self.generator, self.discriminator, self.opt_g, self.opt_d, step,
                        self.settings, self.holdout.to_array(), average=average)
        self.generator.train()
