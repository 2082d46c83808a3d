"""Parity checks: bench/torch_twin.py computes what tinygan computes, in float64.

- :func:`forward_parity`: parameter counts, and the generator's image and the discriminator's
  output in eval mode from the same (perturbed) weights, on random labels, noise and boxes;
- :func:`step_parity`: one whole ``Updater.update`` of a float64 updater against the twin's
  ``train_step`` from the same weights and inputs: losses, and every weight, running
  statistic and spectral-norm vector after the update.

Used by bench/step_speed.py before it times anything, and by tests/test_step_speed.py.
"""
import dataclasses

import numpy as np
import torch
from torch import nn

from tinygan import backend
from tinygan.models import Discriminator as TinyDiscriminator
from tinygan.models import Generator as TinyGenerator
from tinygan.updater import Updater
from torch_twin import Discriminator, Generator, TorchTwin, count_parameters, host_array, load_tinygan


def relative_error(ours, theirs):
    """max |a - b| / max |b| (host arrays)."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-300))


def perturb_tinygan(model, rng, scale=0.2):
    """Move every parameter and BatchNorm statistic of a tinygan model off its initial value
    (zero biases, unit gammas, equal slopes), so that a mis-ordered or mis-permuted copy
    cannot pass a parity check."""
    def noise(value):
        return backend.to_device(rng.standard_normal(value.shape), dtype=value.dtype)

    for _, layer in model.walk():
        for value in layer.params.values():
            value += noise(value) * (scale * max(float(np.abs(host_array(value)).mean()), 0.1))
        buffers = layer.buffers()
        if "running_mean" in buffers:
            buffers["running_mean"] += noise(buffers["running_mean"]) * scale
            buffers["running_var"] *= backend.get_xp().exp(noise(buffers["running_var"]) * scale)
    return model


def random_boxes(rng, batch, config):
    """(batch, n_objects, 4) boxes of object_size anywhere in the canvas (they may overlap)."""
    corner = rng.integers(0, config.canvas_size - config.object_size + 1, size=(batch, config.n_objects, 2))
    return np.concatenate([corner, corner + config.object_size], axis=2).astype(np.int64)


def forward_parity(config, device="cpu", batch=3, seed=0):
    """Float64 tinygan models for ``config`` (seeded, then perturbed) against float64 twins
    loaded from them: parameter counts, and in eval mode (no dropout, running statistics,
    ``u`` held) the generator's image and the discriminator's output, on random labels,
    noise and overlapping boxes. Returns a dict of counts and relative errors."""
    rng = np.random.default_rng(seed)
    tiny_g = perturb_tinygan(TinyGenerator(config, rng, dtype=np.float64), rng).eval()
    tiny_d = perturb_tinygan(TinyDiscriminator(config, rng, dtype=np.float64), rng).eval()
    twin_g = load_tinygan(Generator(config).to(device, torch.float64), tiny_g).eval()
    twin_d = load_tinygan(Discriminator(config).to(device, torch.float64), tiny_d).eval()
    labels = rng.integers(config.n_classes, size=(batch, config.n_objects))
    boxes = random_boxes(rng, batch, config)
    noise = tiny_g.sample_noise(rng, batch)
    inputs = [backend.to_device(a) for a in (noise, labels, boxes)]
    as_torch = [torch.as_tensor(a, device=device) for a in (noise, labels, boxes)]
    image = backend.to_host(tiny_g.forward(*inputs)[0])
    out = backend.to_host(tiny_d.forward(backend.to_device(image), inputs[1], inputs[2])[0])
    with torch.no_grad():
        twin_image = twin_g(*as_torch).cpu().numpy()
        twin_out = twin_d(torch.as_tensor(image, device=device).reshape(twin_image.shape), *as_torch[1:])
    return {"dtype": "float64", "batch": batch,
            "parameters": {"generator": [count_parameters(tiny_g), count_parameters(twin_g)],
                           "discriminator": [count_parameters(tiny_d), count_parameters(twin_d)]},
            "generator_image_rel_error": relative_error(image.reshape(twin_image.shape), twin_image),
            "discriminator_output_rel_error": relative_error(out, twin_out.cpu().numpy())}


def _state(module):
    return {name: value.detach().clone() for name, value in module.state_dict().items()
            if not name.endswith("num_batches_tracked")}


def float64_updater(settings, digits, batch):
    """An Updater for ``settings`` in float64, batch ``batch``, no dropout (torch cannot draw
    tinygan's masks), its models perturbed off their initial values (the weight average
    starting from the perturbed generator)."""
    settings = dataclasses.replace(settings, batch_size=batch, dropout=0.0)
    check = Updater(settings, digits, dtype=np.float64)
    rng = np.random.default_rng(settings.seed)
    perturb_tinygan(check.generator, rng)
    perturb_tinygan(check.discriminator, rng)
    if check.average is not None:
        check.average.copy_weights()
    return check


def step_parity(settings, digits, device="cpu", batch=4, step=0):
    """One ``Updater.update`` of a float64 updater (:func:`float64_updater`) against the
    twin's :meth:`TorchTwin.train_step` from the same weights and the same inputs (the batch,
    noise and targets that the update draws from its seeded generator, in its order).
    Compares the losses, and every parameter and buffer after the step (BatchNorm running
    variances corrected for PyTorch's unbiased update); update errors are relative to the
    largest change of a value in the step. Returns a dict of errors."""
    check = float64_updater(settings, digits, batch)
    s, config = check.settings, check.config
    twin = TorchTwin(config, s, device, torch.float64).load_tinygan(check.generator, check.discriminator)
    rng = np.random.default_rng([s.seed, step])  # what Updater.update draws, in its order
    real, labels, boxes = check.dataset.sample(batch, rng)
    noise = check.generator.sample_noise(rng, batch)
    targets = [twin.tensor(t) if t is not None else None for t in check.loss.targets(rng, labels)]
    before = {"generator": _state(twin.generator), "discriminator": _state(twin.discriminator)}
    counts = {}  # values per channel that each BatchNorm normalised over in the step

    def count_hook(module, inputs, output):
        counts[module] = inputs[0].numel() // inputs[0].shape[1]

    norms = [m for m in twin.generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    hooks = [m.register_forward_hook(count_hook) for m in norms]
    losses = {name: float(value) for name, value in check.update(step).items()}
    twin_losses = twin.train_step(step, twin.tensor(real), twin.tensor(labels), twin.tensor(boxes),
                                  noise=twin.tensor(noise), targets=targets)
    for hook in hooks:
        hook.remove()
    result = {"dtype": "float64", "batch": batch, "dropout": 0.0,
              "loss_rel_error": max(abs(losses[k] - twin_losses[k]) / max(abs(losses[k]), 1e-300) for k in losses)}
    running_var_names = {}
    for name, module in twin.generator.named_modules():
        if module in counts:
            running_var_names[f"{name}.running_var"] = (counts[module], 1 - module.momentum)
    for part in ("generator", "discriminator"):
        twin_model = getattr(twin, part)
        reference = _state(load_tinygan(type(twin_model)(config).to(device, torch.float64), getattr(check, part)))
        worst_update, worst_name, largest_change = 0.0, None, 0.0
        for name, after in _state(twin_model).items():
            expected, start = reference[name], before[part][name]
            if name in running_var_names:  # torch adds momentum * var * n / (n - 1), tinygan momentum * var
                n, keep = running_var_names[name]
                expected = keep * start + (expected - keep * start) * n / (n - 1)
            largest_change = max(largest_change, float((expected - start).abs().max()))
            gap = float((after - expected).abs().max())
            if gap >= worst_update:
                worst_update, worst_name = gap, name
        result[f"{part}_update_rel_error"] = worst_update / max(largest_change, 1e-300)
        result[f"{part}_worst_value"] = worst_name
    if check.average is not None:
        reference = list(load_tinygan(Generator(config).to(device, torch.float64),
                                      check.average.average).parameters())
        result["average_rel_error"] = max(relative_error(a.cpu().numpy(), b.detach().cpu().numpy())
                                          for a, b in zip(twin.average, reference))
    return result
