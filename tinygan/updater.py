"""One training step of the multi-object GAN (what Chainer calls an updater).

:class:`Updater` owns what a step changes: the generator and discriminator, their Adam
optimisers, the generator's weight average, and the canvases it draws batches from. Its
loss functions are chosen once, from the run's settings. Each step trains the
discriminator on a real and a fake batch, then the generator through the updated
discriminator. The training loop (:mod:`.loop`) calls :meth:`Updater.update` and then the
periodic work (:mod:`.extensions`).

On several processes (:mod:`.parallel`) the batch of a step is split into equal parts: part
0 is drawn from the seeded generator (seed, step), part r > 0 from (seed, step, r), and
process r of P trains on parts r * k ... r * k + k - 1 (k = parts / P, 1 by default). The
gradients of each model are summed across processes (its flat gradient buffer, one call) and
divided by P, the generator's BatchNorms use the statistics of the whole batch, and the losses
are averaged, so every process holds the same weights, optimiser state and weight average at
every step.

    updater = Updater(RunSettings(preset="tiny"), load_digits("train"), total_steps=100)
    losses = updater.update(0)      # backend scalars: read them in bulk
"""
import numpy as np

from . import backend
from .checkpoint import restore_training, save_checkpoint
from .ema import WeightAverage, refresh_batch_statistics
from .layers import one_hot
from .losses import generator_hinge_loss, hinge_loss, mask_size_prior, mode_seeking_loss, softmax_cross_entropy
from .models import Discriminator, Generator
from .optim import Adam
from .parallel import SingleProcess, synchronise_batch_norms

# Images drawn with fixed seeds to measure the weight average's BatchNorm statistics.
STATISTICS_BATCHES, STATISTICS_BATCH_SIZE = 8, 64


def learning_rate(base, step, total, decay_at, decay):
    """Step schedule: base * decay ** (number of decay_at fractions of ``total`` passed)."""
    return base * decay ** sum(step >= at * total for at in decay_at)


def noisy_targets(rng, batch, real):
    """The paper's soft targets over (fake, real): real -> (U(0,.3), U(.7,1)), fake -> swapped.
    (batch, 2) float32 from the NumPy generator ``rng``."""
    low, high = rng.uniform(0.0, 0.3, batch), rng.uniform(0.7, 1.0, batch)
    pair = (low, high) if real else (high, low)
    return np.stack(pair, axis=1).astype(np.float32)


class PaperLoss:
    """Softmax cross-entropy of the two logits on soft noisy targets, drawn every step."""

    def targets(self, rng, labels):
        """The targets of D's real batch, D's fake batch and G's update, from ``rng``."""
        return [noisy_targets(rng, len(labels), real=real) for real in (True, False, True)]

    def discriminator(self, out, real, targets):
        return softmax_cross_entropy(out, targets)

    def generator(self, out, targets):
        return softmax_cross_entropy(out, targets)


class HingeLoss:
    """Hinge loss on one score per pathway: the image's weighted ``global_weight``, the objects'
    sharing the rest. With ``varying_count`` (a placement whose images hold any count of objects)
    an image's objects share the rest among those present, so each score has its own weight (its
    'target'), 0 for an empty slot. With ``paper_weight`` the scores' last column, the paper
    pathway's, adds with that weight."""

    def __init__(self, global_weight, n_objects, varying_count=False, paper_weight=0.0):
        self.weights = [global_weight] + [(1 - global_weight) / n_objects] * n_objects + (
            [paper_weight] if paper_weight else [])
        self.global_weight, self.varying_count, self.paper_weight = global_weight, varying_count, paper_weight

    def targets(self, rng, labels):
        """None (the fixed column weights), or with a varying count the weights (B, 1 + N) of the scores."""
        if not self.varying_count:
            return [None, None, None]
        present = labels >= 0
        share = (1 - self.global_weight) / np.maximum(present.sum(axis=1, keepdims=True), 1)
        weights = np.concatenate([np.full((len(labels), 1), self.global_weight), present * share]
                                 + ([np.full((len(labels), 1), self.paper_weight)] if self.paper_weight else []),
                                 axis=1)
        return [weights.astype(np.float32)] * 3

    def discriminator(self, out, real, targets):
        return hinge_loss(out, real, self.weights if targets is None else targets)

    def generator(self, out, targets):
        return generator_hinge_loss(out, self.weights if targets is None else targets)


def split_problems(settings, parts, processes):
    """Why a batch of ``settings`` cannot be drawn in ``parts`` parts on ``processes``
    processes, as messages (empty if it can)."""
    problems = []
    if parts % processes:
        problems.append(f"{parts} batch parts cannot be shared by {processes} processes")
    if settings.batch_size % parts:
        problems.append(f"--batch-size {settings.batch_size} cannot be split into {parts} equal parts "
                        f"(one per process): choose a multiple of {parts}")
    if parts > 1 and settings.mode_seeking:
        problems.append("--mode-seeking compares the two halves of one batch: it runs on one process only")
    if parts > 1 and settings.minibatch_std:
        problems.append("--minibatch-std measures the spread of one batch: it runs on one process only")
    return problems


class Updater:
    """Models, optimisers, weight average and data of a run, and its training step.

    settings: RunSettings. digits: the DigitSet that real canvases are drawn from.
    total_steps: the run's length, for the learning-rate schedule (None: no decay).
    dtype: of the models and batches (float64 for parity checks).
    processes: this run's processes (:func:`tinygan.parallel.connect`; default one).
    parts: how many parts a batch is drawn in (default: one per process).
    """

    def __init__(self, settings, digits, total_steps=None, dtype=np.float32, processes=None, parts=None):
        self.settings, self.total_steps, self.dtype = settings, total_steps, np.dtype(dtype)
        self.processes = processes = processes or SingleProcess()
        parts = parts or processes.size
        problems = split_problems(settings, parts, processes.size)
        if problems:
            raise ValueError("; ".join(problems))
        share = parts // processes.size  # parts per process
        self.parts = range(processes.rank * share, (processes.rank + 1) * share)
        self.part_size = settings.batch_size // parts
        self.config = config = settings.model_config()
        model_rng = np.random.default_rng(settings.seed)
        self.generator = Generator(config, model_rng, dtype)
        self.discriminator = Discriminator(config, model_rng, dtype)
        adam = dict(beta1=settings.beta1, beta2=settings.beta2)  # each model's parameters in one flat buffer
        self.opt_g = Adam(self.generator, lr=settings.lr_g, **adam)
        self.opt_d = Adam(self.discriminator, lr=settings.lr_d, **adam)
        self.average = None
        if settings.ema:
            self.average = WeightAverage(self.generator, Generator(config, np.random.default_rng(0), dtype),
                                         settings.ema, settings.ema_start)
        self.statistics_step = None  # the step at which the average's BatchNorm statistics were measured
        self.holdout = settings.label_holdout()
        self.digits = digits
        self.placement = placement = config.placement
        self.dataset = placement.training_data(settings, config, digits)
        self.loss = (PaperLoss() if settings.loss == "paper"
                     else HingeLoss(settings.global_weight, config.n_objects, varying_count=not placement.fixed_count,
                                    paper_weight=settings.paper_weight))
        if processes.size > 1:
            synchronise_batch_norms(self.generator, processes)

    def draw(self, step):
        """This process's share of the batch of ``step``, on the host: real images, labels, boxes,
        the fake batch's labels and boxes, noise, the paper families of the real and the fake
        images (Nones without config.paper_families), the loss's three targets (or Nones) and
        seeds for the dropout masks and for G's per-pixel noise (each None where there is none:
        no dropout, no config.global_noise)."""
        s, drawn, seeds = self.settings, [], None
        for part in self.parts:
            rng = np.random.default_rng([s.seed, step] if part == 0 else [s.seed, step, part])
            canvases, labels, boxes = self.dataset.sample_canvases(self.part_size, rng)
            fake_labels, fake_boxes = labels, boxes
            if s.mode_seeking:  # the second half of the fake batch repeats the first half's labels
                half = self.part_size // 2
                fake_labels, fake_boxes = (np.concatenate([a[:half], a[:half]]) for a in (labels, boxes))
            noise = self.generator.sample_noise(rng, self.part_size)
            papers = ((canvases.families, self.generator.papers_of_noise(noise)) if self.config.paper_families
                      else (None, None))
            drawn.append((canvases.images, labels, boxes, fake_labels, fake_boxes, noise, *papers,
                          *self.loss.targets(rng, labels)))
            if seeds is None:  # from the first part's generator, one of each per step
                seeds = tuple(int(rng.integers(2**31)) if wanted else None
                              for wanted in (s.dropout, self.config.global_noise))
        if len(drawn) == 1:
            return (*drawn[0], seeds)
        return (*(None if column[0] is None else np.concatenate(column) for column in zip(*drawn)), seeds)

    def update(self, step):
        """One D update on real + fake, one G update; returns the losses as backend scalars
        (each read waits for the device: read them in bulk)."""
        s = self.settings
        self.set_learning_rates(step)
        G, D, xp = self.generator, self.discriminator, backend.get_xp()
        real, labels, boxes, fake_labels, fake_boxes, noise, real_papers, fake_papers, *targets, seeds = \
            self.draw(step)
        dropout_seed, pixel_seed = seeds
        real, noise = backend.to_device(real, dtype=self.dtype), backend.to_device(noise)
        if real_papers is not None:  # on the device once, for D's three passes
            real_papers, fake_papers = backend.to_device(real_papers), backend.to_device(fake_papers)
        layout = self.placement.batch(self.config, labels, boxes)  # made ready once, for G and D
        fake_layout = self.placement.batch(self.config, fake_labels, fake_boxes) if s.mode_seeking else layout
        targets = [None if t is None else backend.to_device(t, dtype=self.dtype) for t in targets]
        if dropout_seed is not None:  # a device generator for the dropout masks
            D.set_rng(backend.rng(dropout_seed))
        if pixel_seed is not None:  # and one for G's per-pixel noise
            G.set_rng(backend.rng(pixel_seed))
        G.train()
        fake, g_cache = G.forward_layout(noise, fake_layout)

        D.zero_grad()  # D sees 2B images; each half's loss is weighted 1/2, as one batch of 2B
        if self.config.joint_discriminator_pass:  # real and fake in one pass of 2B: half the calls (launches on a GPU)
            both = self.placement.batch(self.config, *(np.concatenate(pair) for pair in
                                                      ((labels, fake_labels), (boxes, fake_boxes))))
            papers = None if real_papers is None else xp.concatenate([real_papers, fake_papers])
            out, cache = D.forward_layout(xp.concatenate([real, fake]), both, papers)
            n = len(real)
            loss_real, dout_real = self.discriminator_loss(out[:n], True, targets[0], real_papers)
            loss_fake, dout_fake = self.discriminator_loss(out[n:], False, targets[1])
            D.backward(xp.concatenate([dout_real, dout_fake]), cache, need_dx=False)
        else:  # a layer couples the images of a pass (minibatch std) or draws per pass (dropout)
            out, cache = D.forward_layout(real, layout, real_papers)
            loss_real, dout = self.discriminator_loss(out, True, targets[0], real_papers)
            D.backward(dout, cache, need_dx=False)
            out, cache = D.forward_layout(fake, fake_layout, fake_papers)
            loss_fake, dout = self.discriminator_loss(out, False, targets[1])
            D.backward(dout, cache, need_dx=False)
        self.average_gradients(D)
        self.opt_d.step()

        G.zero_grad()  # G through the updated D, on the same fake batch (G is unchanged)
        out, cache = D.forward_layout(fake, fake_layout, fake_papers)
        scores, logits = self.family_logits(out)
        loss_g, dout = self.loss.generator(scores, targets[2])
        if logits is not None:  # the paper drawn should be named as the family asked for
            family_loss, dlogits = self.family_loss(logits, fake_papers)
            loss_g, dout = loss_g + family_loss, xp.concatenate([dout, dlogits], axis=1)
        dfake = D.freeze().backward(dout, cache)  # only the image gradient: D's own are not needed
        D.freeze(False)
        if s.mask_prior:  # part of G's loss (its column 'g'): the objects' alpha masks, neither empty nor full
            prior, dalphas = mask_size_prior(G.object_alphas(g_cache), self.placement.ink_share, s.mask_prior)
            loss_g, g_cache = loss_g + prior, g_cache._replace(dalphas=dalphas)
        losses = {"d_real": loss_real, "d_fake": loss_fake, "g": loss_g}
        if s.mode_seeking:  # on the objects' boxes: the background should not vary
            crops, crop_cache = fake_layout.crop(fake, self.config.object_size)
            losses["mode_seeking"], dcrops = mode_seeking_loss(fake_layout.per_slot(crops), noise, s.mode_seeking)
            dfake += fake_layout.crop_backward(fake_layout.objects_of(dcrops), crop_cache)
        G.backward(dfake, g_cache, need_dx=False)
        self.average_gradients(G)
        self.opt_g.step()
        if self.average is not None:
            self.average.update(step)
        return self.average_losses(losses)

    def discriminator_loss(self, out, real, target, papers=None):
        """D's loss on one half of its batch, D's output ``out`` -> (loss, dout): the loss on the
        scores, their gradient halved (each half weighs 1/2, as one batch of 2B), and with the
        paper classifier its cross-entropy against the families ``papers`` of real canvases (the
        logits' gradient 0 on fake ones: the classifier learns real paper only)."""
        xp, (scores, logits) = backend.get_xp(), self.family_logits(out)
        loss, dout = self.loss.discriminator(scores, real, target)
        dout = dout * 0.5
        if logits is None:
            return loss, dout
        family_loss, dlogits = self.family_loss(logits, papers) if real else (0.0, xp.zeros_like(logits))
        return loss + family_loss, xp.concatenate([dout, dlogits], axis=1)

    def family_logits(self, out):
        """D's output -> (its scores, the paper classifier's logits (B, F) or None without one)."""
        if not self.config.paper_classifier:
            return out, None
        families = self.config.paper_families
        return out[:, :-families], out[:, -families:]

    def family_loss(self, logits, papers):
        """--family-weight times the cross-entropy of the paper classifier's ``logits`` (B, F)
        against the families ``papers`` (B,) -> (loss, dlogits)."""
        loss, dlogits = softmax_cross_entropy(logits, one_hot(papers, self.config.paper_families, logits.dtype))
        return self.settings.family_weight * loss, self.settings.family_weight * dlogits

    def average_gradients(self, model):
        """On several processes: the mean over processes of ``model``'s gradients, in place (one
        sum of its flat gradient buffer)."""
        if self.processes.size > 1:
            gradients = model.flat[1]
            self.processes.sum(gradients)
            gradients /= self.processes.size

    def average_losses(self, losses):
        """On several processes: each loss averaged over processes (the same values on every one)."""
        if self.processes.size == 1:
            return losses
        xp = backend.get_xp()
        values = self.processes.sum(xp.stack([xp.asarray(v) for v in losses.values()])) / self.processes.size
        return dict(zip(losses, values))

    def set_learning_rates(self, step):
        """Both rates at ``step`` of the schedule (constant without ``total_steps``)."""
        s = self.settings
        decay_at = s.lr_decay_at if self.total_steps else ()
        self.opt_g.lr = learning_rate(s.lr_g, step, self.total_steps, decay_at, s.lr_decay)
        self.opt_d.lr = learning_rate(s.lr_d, step, self.total_steps, decay_at, s.lr_decay)

    def sampling_generator(self, step):
        """The generator that draws samples and is evaluated: the weight average when the run
        keeps one (its BatchNorm statistics measured afresh at this step, on fixed seen label
        orders and noise, per-pixel noise too), else the trained generator. Draw under ``with g.evaluating():``."""
        if self.average is None:
            return self.generator
        if self.statistics_step != step:
            rng = np.random.default_rng(0)
            batches = []
            for _ in range(STATISTICS_BATCHES):
                labels, boxes = self.dataset.sample_layout(STATISTICS_BATCH_SIZE, rng)
                noise = self.average.average.sample_noise(rng, STATISTICS_BATCH_SIZE)
                batches.append(tuple(backend.to_device(a) for a in (noise, labels, boxes)))
            if self.config.global_noise:  # and fixed per-pixel noise
                self.average.average.set_rng(backend.rng(int(rng.integers(2**31))))
            refresh_batch_statistics(self.average.average, batches)
            self.statistics_step = step
        return self.average.average

    def save(self, path, step):
        """Write a checkpoint of this run at ``step`` (atomically)."""
        average = None if self.average is None else self.sampling_generator(step)
        save_checkpoint(path, self.generator, self.discriminator, self.opt_g, self.opt_d, step,
                        self.settings, self.holdout.to_array(), average=average)

    def restore(self, path):
        """Load models, optimisers and weight average from a checkpoint of this run; return its step."""
        return restore_training(path, self.generator, self.discriminator, self.opt_g, self.opt_d,
                                None if self.average is None else self.average.average)
