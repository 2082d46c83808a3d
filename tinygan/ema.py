"""An exponential moving average of the generator's weights, used for samples and
evaluation (as BigGAN's and StyleGAN's generators are; Yazici et al., 2019).

It is optimiser-like state: a second generator of the same architecture whose parameters
follow ``average = decay * average + (1 - decay) * weight`` after every training step
(a plain copy before ``start``). Its BatchNorm statistics are not averaged: running
statistics gathered under other weights would not fit the averaged ones, so
:func:`refresh_batch_statistics` measures them afresh on the averaged weights ("standing
statistics", BigGAN) before the average draws anything.
"""
from .fast import replaceable
from .layers import BatchNorm


@replaceable
def moving_average(averaged, weights, decay):
    """averaged = decay * averaged + (1 - decay) * weights, in place."""
    averaged *= decay
    averaged += (1 - decay) * weights


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
        # both models' parameters as flat buffers (Layer.flatten), in the same order
        self.weights, self.averaged = (m.flat[0] if m.flat else m.flatten()[0] for m in (model, average))
        if self.weights.shape != self.averaged.shape:
            raise ValueError(f"WeightAverage: {model.name} has {self.weights.size} parameters, "
                             f"the average {self.averaged.size}")
        self.copy_weights()

    def copy_weights(self):
        self.averaged[...] = self.weights

    def update(self, step):
        """After training step ``step`` (0-based): copy before ``start``, average from then on."""
        if step < self.start:
            self.copy_weights()
            return
        moving_average(self.averaged, self.weights, self.decay)


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
