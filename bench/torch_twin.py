"""A PyTorch twin of tinygan's multi-object GAN, for speed comparisons and parity checks.

    from torch_twin import TorchTwin
    twin = TorchTwin(updater.config, updater.settings, device="cpu")
    twin.load_tinygan(updater.generator, updater.discriminator)   # same weights and state
    losses = twin.train_step(step, *batch)                        # Updater.update's step

The twin is written the way a PyTorch user would write the model (NCHW, nn.Conv2d,
nn.BatchNorm, nn.PReLU, autograd, torch.optim.Adam), with the same architecture, losses and
update as :class:`tinygan.updater.Updater` for one ``GANConfig`` and ``RunSettings``. Where
PyTorch's built-ins have other semantics than tinygan's, the twin follows tinygan:

* padding: Keras 'same'. A 3x3 stride-2 conv on an even size pads (0, 1) (the odd pixel
  after), which ``nn.Conv2d(padding=1)`` would not do: an ``nn.ZeroPad2d`` goes first.
* layout: tinygan is NHWC and flattens (H, W, C); the twin is NCHW and flattens (C, H, W).
  The rows of the Dense after a Flatten, and the units of the generator's first Dense
  (and its BatchNorm and PReLU) are permuted when weights are copied, so that the twin
  computes the same function without transposes.
* BatchNorm: eps 1e-3 and the Keras momentum m become ``momentum=1 - m``. PyTorch updates
  ``running_var`` with the unbiased batch variance (x n / (n - 1)); tinygan with the biased
  one. Outputs are the same (training normalises with the biased variance in both); only
  the running variance after a training step differs by that factor.
* spectral norm: a hand-written parametrization with tinygan's power iteration (one step
  per training forward, ``u`` of length fan_out, ``sigma = |W u| + eps``). PyTorch's
  ``parametrizations.spectral_norm`` keeps both singular vectors and uses
  ``sigma = u^T W v``: the same limit, another value at every step. As with PyTorch's, every
  read of a parametrized ``module.weight`` in training mode is a power-iteration step: the
  twin reads it only inside forward (copies go through ``parametrizations.weight.original``).
* min compositing: ``torch.where(object < region, object, region)``, so ties go to the
  earlier source with the whole gradient, as tinygan (``torch.minimum`` splits ties).
* Adam: tinygan uses Keras' form, ``eps`` added to ``sqrt(v)`` before bias correction;
  torch.optim.Adam adds it after. Setting ``eps_t = eps / sqrt(1 - beta2^t)`` before step t
  makes them the same update (:func:`adam_step`).

Dropout masks come from torch's generator, so they differ from tinygan's; everything else
in a training step is the same function of the same inputs. The checks that the twin
computes what tinygan computes are in parity.py.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

ADAM_EPS = 1e-7  # tinygan.optim.Adam's default, as Keras
BN_EPS = 1e-3  # tinygan.layers.BatchNorm's default, as Keras


# ----------------------------------------------------------------------------- layers

def same_padding(size, kernel, stride):
    """Keras 'same' padding (before, after) for one axis (tinygan.layers.conv.same_padding)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def hwc_to_chw(height, width, channels):
    """perm with chw_vector = hwc_vector[perm]: tinygan's flattening order to PyTorch's."""
    return np.arange(height * width * channels).reshape(height, width, channels).transpose(2, 0, 1).reshape(-1)


class SpectralNorm(nn.Module):
    """Parametrization ``weight -> weight / sigma`` with tinygan's power iteration
    (tinygan.layers.spectral): ``u`` (fan_out,) persists; in training each forward first
    sets ``v = normalise(W u)``, ``u = normalise(W^T v)`` without gradient, then
    ``sigma = |W u| + eps`` with ``u`` held constant. W is the weight as a (fan_in, fan_out)
    matrix; PyTorch weights are (fan_out, ...), so here ``W^T = weight.reshape(fan_out, -1)``
    (its fan_in order differs from tinygan's, which changes neither sigma nor u)."""

    def __init__(self, fan_out, eps=1e-12):
        super().__init__()
        u = torch.randn(fan_out)
        self.register_buffer("u", u / u.norm())
        self.eps = eps

    def _normalise(self, vector):
        return vector / (vector.square().sum().sqrt() + self.eps)

    def forward(self, weight):
        w_t = weight.reshape(weight.shape[0], -1)  # (fan_out, fan_in)
        if self.training:
            with torch.no_grad():
                self.u.copy_(self._normalise(w_t @ self._normalise(w_t.t() @ self.u)))
        u = self.u.clone()  # later forwards move self.u in place; autograd keeps this one
        sigma = (w_t.t() @ u).square().sum().sqrt() + self.eps
        return weight / sigma


def spectral(module, enabled):
    """Register :class:`SpectralNorm` on ``module.weight`` when ``enabled``; return module."""
    if enabled:
        parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight.shape[0]))
    return module


def spectral_of(module):
    """The module's SpectralNorm parametrization, or None."""
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight[0]
    return None


def batch_norm(channels, dims, config, affine=True):
    kind = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    return kind(channels, eps=BN_EPS, momentum=1 - config.bn_momentum, affine=affine)


class ConditionalBatchNorm(nn.Module):
    """BatchNorm without affine, then ``x_hat * gamma[label] + beta[label]`` (per class)."""

    def __init__(self, channels, n_classes, dims, config):
        super().__init__()
        self.norm = batch_norm(channels, dims, config, affine=False)
        self.gamma = nn.Parameter(torch.ones(n_classes, channels))
        self.beta = nn.Parameter(torch.zeros(n_classes, channels))

    def forward(self, x, labels):
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)
        return self.norm(x) * self.gamma[labels].view(shape) + self.beta[labels].view(shape)


class MinibatchStd(nn.Module):
    """Append mean_f sqrt(var_n(x[:, f]) + eps) (biased variance) as one more feature."""

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        spread = (x.var(dim=0, unbiased=False) + self.eps).sqrt().mean()
        return torch.cat([x, spread.expand(x.shape[0], 1)], dim=1)


# ----------------------------------------------------------------------------- compositing

def box_index(boxes, size, height, width):
    """Flat indices into a (B * H * W) image of every box: boxes (B, n, 4) -> (B, n, size, size)."""
    offsets = torch.arange(size, device=boxes.device)
    rows = boxes[:, :, 0, None] + offsets  # (B, n, size)
    cols = boxes[:, :, 1, None] + offsets
    batch = torch.arange(boxes.shape[0], device=boxes.device)[:, None, None, None] * (height * width)
    return batch + rows[:, :, :, None] * width + cols[:, :, None, :]


def paste_min(background, objects, index):
    """background (B, 1, H, W), objects (B, n, s, s), index from :func:`box_index` -> image
    (B, 1, H, W): each object written into its box with an element-wise minimum, ties and
    their gradient to the earlier source (tinygan.layout.paste_min)."""
    flat = background.reshape(-1)
    for k in range(objects.shape[1]):
        where = index[:, k]
        region, candidate = flat[where], objects[:, k]
        flat = flat.index_put((where,), torch.where(candidate < region, candidate, region))
    return flat.view(background.shape)


def crop_boxes(image, index):
    """image (B, 1, H, W) -> crops (B * n, 1, s, s); the gradient scatter-adds back."""
    crops = image.reshape(-1)[index]
    return crops.reshape(-1, 1, crops.shape[-2], crops.shape[-1])


# ----------------------------------------------------------------------------- models

class GeneratorPathway(nn.Module):
    """Dense -> BN -> PReLU -> (c0, s/4, s/4); conv c1; upsample; conv c2; upsample; conv c3
    (each 3x3 conv with BN and PReLU); 1x1 conv to one channel; sigmoid.
    With ``n_classes`` every BN is a :class:`ConditionalBatchNorm` taking labels (N,)."""

    def __init__(self, in_features, out_size, channels, config, n_classes=None):
        super().__init__()
        side = out_size // 4
        c0, c1, c2, c3 = channels
        self.first_shape = (c0, side, side)
        units = side * side * c0
        self.conditional = n_classes is not None

        def norm(width, dims):
            return ConditionalBatchNorm(width, n_classes, dims, config) if self.conditional else \
                batch_norm(width, dims, config)

        self.dense = nn.Linear(in_features, units)
        self.norms = nn.ModuleList([norm(units, 1), norm(c1, 2), norm(c2, 2), norm(c3, 2)])
        self.prelus = nn.ModuleList([nn.PReLU(width, init=config.prelu_init) for width in (units, c1, c2, c3)])
        self.convs = nn.ModuleList([nn.Conv2d(a, b, 3, padding=1) for a, b in ((c0, c1), (c1, c2), (c2, c3))])
        self.to_image = nn.Conv2d(c3, 1, 1)
        # tinygan's Dense units are (h, w, c) ordered: copy them permuted to (c, h, w)
        perm = hwc_to_chw(side, side, c0)
        for module in (self.dense, self.norms[0], self.prelus[0]):
            module.tinygan_out_perm = perm

    def _norm(self, index, x, labels):
        return self.norms[index](x, labels) if self.conditional else self.norms[index](x)

    def forward(self, x, labels=None):
        x = self.prelus[0](self._norm(0, self.dense(x), labels)).view(-1, *self.first_shape)
        for index, conv in enumerate(self.convs):
            if index:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.prelus[index + 1](self._norm(index + 1, conv(x), labels))
        return torch.sigmoid(self.to_image(x))


class Generator(nn.Module):
    """(noise, labels, boxes) -> image (B, 1, H, W), as tinygan.models.Generator."""

    def __init__(self, config):
        super().__init__()
        self.config = c = config
        self.global_pathway = GeneratorPathway(c.noise_dim, c.canvas_size, c.global_channels, c)
        self.local_pathway = GeneratorPathway(c.noise_dim + c.n_classes, c.object_size, c.local_channels, c,
                                              n_classes=c.n_classes if c.conditional_bn else None)

    def noise_shape(self, batch):
        c = self.config
        return (batch, 1 + c.n_objects, c.noise_dim) if c.per_object_noise else (batch, c.noise_dim)

    def sample_noise(self, batch, device, dtype):
        shape = self.noise_shape(batch)
        if self.config.noise == "normal":
            return torch.randn(shape, device=device, dtype=dtype)
        return torch.rand(shape, device=device, dtype=dtype)

    def forward(self, noise, labels, boxes):
        c = self.config
        batch, n = labels.shape
        if c.per_object_noise:
            z_global, z_objects = noise[:, 0], noise[:, 1:]
        else:
            z_global, z_objects = noise, noise[:, None].expand(batch, n, c.noise_dim)
        local_in = torch.cat([z_objects, F.one_hot(labels, c.n_classes).to(noise.dtype)], dim=2)
        background = self.global_pathway(z_global)
        flat_labels = labels.reshape(-1)
        objects = self.local_pathway(local_in.reshape(batch * n, -1), flat_labels if c.conditional_bn else None)
        index = box_index(boxes, c.object_size, c.canvas_size, c.canvas_size)
        return paste_min(background, objects.view(batch, n, c.object_size, c.object_size), index)


def strided_convs(size, config):
    """Three 3x3 stride-2 convs ('same' padding), each with PReLU (and Dropout), then Flatten.
    Returns (nn.Sequential, output side)."""
    layers, previous = [], 1
    for width in config.disc_channels:
        top, bottom = same_padding(size, 3, 2)
        if top != bottom:
            layers.append(nn.ZeroPad2d((top, bottom, top, bottom)))
        layers += [spectral(nn.Conv2d(previous, width, 3, stride=2, padding=top if top == bottom else 0),
                            config.spectral_norm), nn.PReLU(width, init=config.prelu_init)]
        if config.dropout > 0:
            layers.append(nn.Dropout(config.dropout))
        previous, size = width, -(-size // 2)
    return nn.Sequential(*layers, nn.Flatten()), size


def dense_block(in_features, config, in_perm=None):
    """Dense -> PReLU (-> Dropout) (-> MinibatchStd); ``in_perm`` reorders the copied rows."""
    dense = spectral(nn.Linear(in_features, config.disc_dense), config.spectral_norm)
    if in_perm is not None:
        dense.tinygan_in_perm = in_perm
    layers = [dense, nn.PReLU(config.disc_dense, init=config.prelu_init)]
    if config.dropout > 0:
        layers.append(nn.Dropout(config.dropout))
    if config.minibatch_std:
        layers.append(MinibatchStd())
    return nn.Sequential(*layers)


class Discriminator(nn.Module):
    """(image (B, 1, H, W), labels, boxes) -> logits (B, 2) or scores (B, 1 + n), as
    tinygan.models.Discriminator for config.combine."""

    def __init__(self, config):
        super().__init__()
        self.config = c = config
        width = c.disc_dense + (1 if c.minibatch_std else 0)
        channels = c.disc_channels[-1]
        convs, side = strided_convs(c.canvas_size, c)
        self.global_pathway = nn.Sequential(*convs, dense_block(side * side * channels, c,
                                                                hwc_to_chw(side, side, channels)))
        self.local_convs, side = strided_convs(c.object_size, c)
        label_width = 0 if c.projection else c.n_classes
        perm = hwc_to_chw(side, side, channels)
        self.local_dense = dense_block(side * side * channels + label_width, c,
                                       np.concatenate([perm, np.arange(label_width) + perm.size]))
        out = 1 if c.combine == "scores" else 2
        self.global_decision = self.local_decision = self.projection = self.final = None
        if c.combine != "features":
            self.global_decision = spectral(nn.Linear(width, out), c.spectral_norm)
            self.local_decision = spectral(nn.Linear(width, out), c.spectral_norm)
        if c.projection:
            self.projection = nn.Parameter(torch.zeros(c.n_classes, width))
        if c.combine != "scores":
            final_in = 2 + 2 * c.n_objects if c.combine == "decisions" else width * (1 + c.n_objects)
            self.final = spectral(nn.Linear(final_in, 2), c.spectral_norm)

    def forward(self, image, labels, boxes):
        c = self.config
        batch, n = labels.shape
        global_out = self.global_pathway(image)
        crops = crop_boxes(image, box_index(boxes, c.object_size, c.canvas_size, c.canvas_size))
        local_out = self.local_convs(crops)
        if not c.projection:
            hot = F.one_hot(labels.reshape(-1), c.n_classes).to(local_out.dtype)
            local_out = torch.cat([local_out, hot], dim=1)
        features = local_out = self.local_dense(local_out)
        if self.global_decision is not None:
            global_out, local_out = self.global_decision(global_out), self.local_decision(features)
        if c.projection:
            local_out = local_out + (self.projection[labels.reshape(-1)] * features).sum(dim=1, keepdim=True)
        combined = torch.cat([global_out, local_out.reshape(batch, -1)], dim=1)
        return combined if self.final is None else self.final(combined)


# ----------------------------------------------------------------------------- weights

def count_parameters(model):
    """Number of trainable values: a torch module or a tinygan model."""
    if isinstance(model, nn.Module):
        return sum(p.numel() for p in model.parameters())
    return sum(int(layer.params[key].size) for _, layer, key in model.named_parameters())


def host_array(array):
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else np.asarray(array)


def _put(target, value, what):
    value = torch.as_tensor(np.ascontiguousarray(value))
    if tuple(target.shape) != tuple(value.shape):
        raise ValueError(f"copying {what}: torch shape {tuple(target.shape)} != tinygan {tuple(value.shape)}")
    with torch.no_grad():
        target.copy_(value)


def _tinygan_layers(model, kind, where=None):
    from tinygan import layers as tl
    found = [layer for _, layer in model.walk() if isinstance(layer, getattr(tl, kind))]  # UpsampleConv2D is a Conv2D
    return [layer for layer in found if where is None or where(layer)]


def _torch_modules(module, kinds, where=None):
    return [m for m in module.modules() if isinstance(m, kinds) and (where is None or where(m))]


def _pairs(tinygan_model, torch_model, tinygan_kind, torch_kind, tinygan_where=None, torch_where=None):
    ours = _tinygan_layers(tinygan_model, tinygan_kind, tinygan_where)
    theirs = _torch_modules(torch_model, torch_kind, torch_where)
    if len(ours) != len(theirs):
        raise ValueError(f"{tinygan_kind}: tinygan has {len(ours)}, the twin {len(theirs)} ({torch_kind})")
    return zip(ours, theirs)


def _out_perm(module, values):
    """values (..., units) reordered as the twin's units, where the module's are permuted."""
    perm = getattr(module, "tinygan_out_perm", None)
    return values if perm is None else values[..., perm]


def _weight(module):
    """The trainable weight tensor (the original one under a spectral-norm parametrization)."""
    return module.parametrizations.weight.original if spectral_of(module) else module.weight


def _copy_spectral(layer, module):
    if (layer.spectral is None) != (spectral_of(module) is None):
        raise ValueError(f"{layer.name}: spectral norm on one side only")
    if layer.spectral is not None:
        _put(spectral_of(module).u, host_array(layer.spectral.u), f"{layer.name}.u")


def _copy_norm(layer, module, stats, perm_of):
    """Affine parameters of ``layer`` into ``module`` and ``layer``'s running statistics
    (those of its inner BatchNorm for a conditional one) into ``stats``."""
    norm = getattr(layer, "norm", layer)
    for key, target in (("gamma", module.gamma if hasattr(module, "gamma") else module.weight),
                        ("beta", module.beta if hasattr(module, "beta") else module.bias)):
        _put(target, _out_perm(perm_of, host_array(layer.params[key])), f"{layer.name}.{key}")
    _put(stats.running_mean, _out_perm(perm_of, host_array(norm.running_mean)), f"{layer.name}.running_mean")
    _put(stats.running_var, _out_perm(perm_of, host_array(norm.running_var)), f"{layer.name}.running_var")


def load_tinygan(torch_model, tinygan_model):
    """Copy every parameter and buffer (BatchNorm statistics, spectral-norm ``u``) of a tinygan
    Generator or Discriminator into its twin, converting layouts; shapes and parameter counts
    are checked. Returns the twin."""
    for layer, module in _pairs(tinygan_model, torch_model, "Dense", nn.Linear):
        w = host_array(layer.params["w"])  # (in, out)
        perm = getattr(module, "tinygan_in_perm", None)
        _put(_weight(module), _out_perm(module, w if perm is None else w[perm]).T, f"{layer.name}.w")
        _put(module.bias, _out_perm(module, host_array(layer.params["b"])), f"{layer.name}.b")
        _copy_spectral(layer, module)
    for layer, module in _pairs(tinygan_model, torch_model, "Conv2D", nn.Conv2d):
        _put(_weight(module), host_array(layer.params["w"]).transpose(3, 2, 0, 1), f"{layer.name}.w")
        _put(module.bias, host_array(layer.params["b"]), f"{layer.name}.b")
        _copy_spectral(layer, module)
    for layer, module in _pairs(tinygan_model, torch_model, "PReLU", nn.PReLU):
        _put(module.weight, _out_perm(module, host_array(layer.params["alpha"])), f"{layer.name}.alpha")
    affine = (lambda layer: bool(layer.params)), (lambda module: module.affine)
    for layer, module in _pairs(tinygan_model, torch_model, "BatchNorm", (nn.BatchNorm1d, nn.BatchNorm2d), *affine):
        _copy_norm(layer, module, module, module)
    for layer, module in _pairs(tinygan_model, torch_model, "ConditionalBatchNorm", ConditionalBatchNorm):
        _copy_norm(layer, module, module.norm, module)
    projections = _tinygan_layers(tinygan_model, "ClassProjection")
    if (not projections) != (getattr(torch_model, "projection", None) is None):
        raise ValueError("class projection on one side only")
    if projections:
        _put(torch_model.projection, host_array(projections[0].params["embed"]), "projection.embed")
    ours, theirs = count_parameters(tinygan_model), count_parameters(torch_model)
    if ours != theirs:
        raise ValueError(f"parameter counts differ: tinygan {ours}, twin {theirs}")
    return torch_model


# ----------------------------------------------------------------------------- training step

def adam_step(optimizer, step_number, eps=ADAM_EPS):
    """torch.optim.Adam's step with tinygan's (Keras') eps: Keras adds eps to sqrt(v) and then
    scales by sqrt(1 - beta2^t); torch adds it to sqrt(v / (1 - beta2^t)). They agree when
    torch's eps is ``eps / sqrt(1 - beta2^t)`` at step t (1-based)."""
    for group in optimizer.param_groups:
        group["eps"] = eps / math.sqrt(1 - group["betas"][1] ** step_number)
    optimizer.step()


def noisy_targets(batch, real, device, dtype):
    """The paper's soft targets over (fake, real): real -> (U(0,.3), U(.7,1)), fake swapped."""
    low = torch.rand(batch, device=device, dtype=dtype) * 0.3
    high = torch.rand(batch, device=device, dtype=dtype) * 0.3 + 0.7
    return torch.stack((low, high) if real else (high, low), dim=1)


class TorchTwin:
    """Generator, discriminator, Adam optimisers and weight average of one run, in PyTorch,
    with :meth:`train_step` doing what ``tinygan.updater.Updater.update`` does."""

    def __init__(self, config, settings, device="cpu", dtype=torch.float32):
        self.config, self.settings, self.device, self.dtype = config, settings, torch.device(device), dtype
        self.generator = Generator(config).to(device=self.device, dtype=dtype)
        self.discriminator = Discriminator(config).to(device=self.device, dtype=dtype)
        betas = (settings.beta1, settings.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=settings.lr_g, betas=betas, eps=ADAM_EPS)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=settings.lr_d, betas=betas,
                                      eps=ADAM_EPS)
        if settings.mode_seeking:
            raise NotImplementedError("the twin has no mode-seeking term (neither recipe uses one)")
        self.steps = 0
        self._weights = None
        self.average = None
        if settings.ema:
            self.average = [p.detach().clone() for p in self.generator.parameters()]

    def load_tinygan(self, generator, discriminator):
        """Copy a tinygan generator's and discriminator's weights and state into the twin."""
        load_tinygan(self.generator, generator)
        load_tinygan(self.discriminator, discriminator)
        if self.average is not None:
            with torch.no_grad():
                torch._foreach_copy_(self.average, list(self.generator.parameters()))
        return self

    def parameter_counts(self):
        return {"generator": count_parameters(self.generator), "discriminator": count_parameters(self.discriminator)}

    def tensor(self, array, dtype=None):
        """A host (or CuPy) array as a tensor on the twin's device (floats in its dtype)."""
        value = torch.as_tensor(host_array(array))
        return value.to(self.device, dtype=self.dtype if value.is_floating_point() and dtype is None else dtype)

    def _score_weights(self, out):
        """Hinge loss weights of the (1 + n) score columns, as tinygan's HingeLoss: the
        image's ``global_weight``, the objects sharing the rest."""
        if self._weights is None or self._weights.dtype != out.dtype:
            n, global_weight = self.config.n_objects, self.settings.global_weight
            weights = [global_weight] + [(1 - global_weight) / n] * n
            self._weights = torch.tensor(weights, device=out.device, dtype=out.dtype)
        return self._weights

    def _discriminator_loss(self, out, real, targets):
        if self.settings.loss == "paper":
            return F.cross_entropy(out, targets)  # soft targets: -mean_n sum_k t log softmax
        margins = F.relu(1 - out) if real else F.relu(1 + out)
        return (margins.mean(dim=0) * self._score_weights(out)).sum()

    def _generator_loss(self, out, targets):
        if self.settings.loss == "paper":
            return F.cross_entropy(out, targets)
        return -(out.mean(dim=0) * self._score_weights(out)).sum()

    def train_step(self, step, real, labels, boxes, noise=None, targets=None):
        """One D update on real + fake, one G update through the updated D on the same fake
        batch (Updater.update). real (B, 1, H, W) or (B, H, W, 1), labels (B, n), boxes (B, n, 4)
        tensors on the device; noise and the paper loss's three target pairs are drawn with
        torch unless given. Returns host float losses."""
        s, G, D = self.settings, self.generator, self.discriminator
        batch = real.shape[0]
        real = real.reshape(batch, 1, self.config.canvas_size, self.config.canvas_size)
        if noise is None:
            noise = G.sample_noise(batch, self.device, self.dtype)
        if targets is None:
            targets = [noisy_targets(batch, r, self.device, self.dtype) if s.loss == "paper" else None
                       for r in (True, False, True)]
        G.train()
        D.train()
        fake = G(noise, labels, boxes)

        self.opt_d.zero_grad(set_to_none=True)  # D sees 2B images, each half weighted 1/2
        if self.config.joint_discriminator_pass:  # one pass of 2B, as Updater.update
            out = D(torch.cat([real, fake.detach()]), torch.cat([labels, labels]), torch.cat([boxes, boxes]))
            loss_real = self._discriminator_loss(out[:batch], True, targets[0])
            loss_fake = self._discriminator_loss(out[batch:], False, targets[1])
        else:
            loss_real = self._discriminator_loss(D(real, labels, boxes), True, targets[0])
            loss_fake = self._discriminator_loss(D(fake.detach(), labels, boxes), False, targets[1])
        (0.5 * loss_real + 0.5 * loss_fake).backward()
        adam_step(self.opt_d, self.steps + 1)

        self.opt_g.zero_grad(set_to_none=True)  # G through the updated D; D's own gradients unneeded
        D.requires_grad_(False)
        loss_g = self._generator_loss(D(fake, labels, boxes), targets[2])
        loss_g.backward()
        D.requires_grad_(True)
        adam_step(self.opt_g, self.steps + 1)
        self.steps += 1
        if self.average is not None:
            with torch.no_grad():
                weights = list(G.parameters())
                if step < s.ema_start:
                    torch._foreach_copy_(self.average, weights)
                else:
                    torch._foreach_lerp_(self.average, weights, 1 - s.ema)
        return {"d_real": loss_real.item(), "d_fake": loss_fake.item(), "g": loss_g.detach().item()}
