"""An exponential moving average of the generator's weights, used for samples and
evaluation (as BigGAN's and StyleGAN's generators are; Yazici et al., 2019).

It is optimiser-like state: a second generator of the same architecture whose parameters
follow ``average = decay * average + (1 - decay) * weight`` after every training step
(a plain copy before ``start``). Its BatchNorm statistics are not averaged: running
statistics gathered under other weights would not fit the averaged ones, so
:func:`refresh_batch_statistics` measures them afresh on the averaged weights ("standing
statistics", BigGAN) before the average draws anything.
"""
from .layers import BatchNorm


def check_decay(decay, name="WeightAverage: decay", note=""):
    """Raise a ValueError naming ``name`` unless ``decay`` is in (0, 1)."""
    if not 0 < decay < 1:
        raise ValueError(f"{name} must be in (0, 1){' ' + note if note else ''}, got {decay}")


class WeightAverage:
    """The running average of ``model``'s parameters, held in ``average`` (a model of the
    same architecture, e.g. a second Generator built from the same config)."""

    def __init__(self, model, average, decay, start=0):
        check_decay(decay)
        self.model, self.average, self.decay, self.start = model, average, decay, start
        if model.flat is not None and average.flat is not None:  # flattened models: one pair of buffers
            self.pairs = [(model.flat[0], average.flat[0])]
        else:
            self.pairs = [(layer.params[key], twin.params[twin_key]) for (_, layer, key), (_, twin, twin_key)
                          in zip(model.named_parameters(), average.named_parameters(), strict=True)]
        self.copy_weights()

    def copy_weights(self):
        for weight, averaged in self.pairs:
            averaged[...] = weight

    def update(self, step):
        """After training step ``step`` (0-based): copy before ``start``, average from then on."""
        if step < self.start:
            self.copy_weights()
            return
        for weight, averaged in self.pairs:
            averaged *= self.decay
            averaged += (1 - self.decay) * weight


def refresh_batch_statistics(model, batches):
    """Set every BatchNorm's running mean and variance in ``model`` to the average of the
    batch statistics over ``batches``, a list of argument tuples for ``model.forward``
    (run in training mode). Leaves the model in eval mode."""
    norms = [layer for _, layer in model.walk() if isinstance(layer, BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    model.train()
    try:
        for index, inputs in enumerate(batches):
            for norm in norms:  # running = mean of the batch statistics seen so far
                norm.momentum = index / (index + 1)
            model.forward(*inputs)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
    return model.eval()
