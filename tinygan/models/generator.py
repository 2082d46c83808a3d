"""The generator: a global pathway draws the background, a local pathway (weights
shared by all objects) draws each object, and min compositing writes the objects
into their boxes (paper Table 1; `src/model.py` of the original code)."""
import numpy as np

from ..backend import get_xp
from ..layers import (BatchNorm, ConditionalBatchNorm, Conv2D, Dense, Layer, PReLU, Reshape, Sequential, Sigmoid,
                      Upsample, one_hot)
from ..layout import check_boxes, check_labels, paste_min, paste_min_backward


def generator_pathway(in_features, out_size, channels, config, rng, dtype, name, n_classes=None):
    """Dense -> BN -> PReLU -> reshape to (s/4, s/4, c0); conv c1; upsample; conv c2;
    upsample; conv c3 (each conv with BN and PReLU); 1x1 conv to 1 channel; sigmoid.
    (N, in_features) -> (N, out_size, out_size, 1) in [0, 1]. With ``n_classes`` every
    BN is a ConditionalBatchNorm and the pathway's forward takes labels (N,)."""
    side = out_size // 4
    c0, c1, c2, c3 = channels
    units = side * side * c0
    bn = dict(momentum=config.bn_momentum, dtype=dtype)

    def norm(width):
        return BatchNorm(width, **bn) if n_classes is None else ConditionalBatchNorm(width, n_classes, **bn)

    act = dict(alpha_init=config.prelu_init, dtype=dtype)
    layers = [Dense(in_features, units, rng=rng, dtype=dtype), norm(units), PReLU(units, **act),
              Reshape((side, side, c0))]
    previous = c0
    for index, width in enumerate((c1, c2, c3)):
        if index:
            layers.append(Upsample(2))
        layers += [Conv2D(previous, width, 3, rng=rng, dtype=dtype), norm(width), PReLU(width, **act)]
        previous = width
    layers += [Conv2D(previous, 1, 1, rng=rng, dtype=dtype), Sigmoid()]
    return Sequential(layers, name=name)


class Generator(Layer):
    """(noise, labels, boxes) -> image.

    noise: (B, noise_dim), shared by the background and every object (original code),
        or (B, 1 + n_objects, noise_dim) with ``config.per_object_noise``: row 0 for the
        background, row 1 + k for object k. Values U(0, 1) as the paper, or N(0, 1) with
        ``config.noise == 'normal'`` (draw them with :meth:`sample_noise`).
    labels: (B, n_objects) int classes; boxes: (B, n_objects, 4) int, object_size square.
    image: (B, canvas, canvas, 1) in [0, 1].
    """

    def __init__(self, config, rng=None, dtype=np.float32, name="G"):
        super().__init__(name)
        rng = rng if rng is not None else np.random.default_rng()
        self.config, self.dtype = config, np.dtype(dtype)
        self.global_pathway = generator_pathway(config.noise_dim, config.canvas_size, config.global_channels,
                                                config, rng, dtype, "global")
        self.local_pathway = generator_pathway(config.noise_dim + config.n_classes, config.object_size,
                                               config.local_channels, config, rng, dtype, "local",
                                               n_classes=config.n_classes if config.conditional_bn else None)

    def children(self):
        return {"global": self.global_pathway, "local": self.local_pathway}

    def noise_shape(self, batch):
        c = self.config
        return (batch, 1 + c.n_objects, c.noise_dim) if c.per_object_noise else (batch, c.noise_dim)

    def sample_noise(self, rng, batch):
        """Host noise (float32, :meth:`noise_shape`) from a NumPy generator, as the config says."""
        shape = self.noise_shape(batch)
        if self.config.noise == "normal":
            return rng.standard_normal(shape, dtype=np.float32).astype(self.dtype, copy=False)
        return rng.random(shape, dtype=np.float32).astype(self.dtype, copy=False)

    def forward(self, noise, labels, boxes):
        xp, c = get_xp(), self.config
        batch = noise.shape[0] if hasattr(noise, "shape") and noise.ndim else 0
        if tuple(getattr(noise, "shape", ())) != self.noise_shape(batch) or noise.dtype != self.dtype:
            raise ValueError(f"{self.name}: expected noise of shape {self.noise_shape('B')} and dtype "
                             f"{self.dtype}, got {getattr(noise, 'shape', None)} {getattr(noise, 'dtype', '')}")
        check_labels(labels, batch, c.n_objects, c.n_classes, f"{self.name}: labels")
        check_boxes(boxes, batch, c.n_objects, c.object_size, c.canvas_size, f"{self.name}: boxes")
        if c.per_object_noise:
            z_global, z_objects = noise[:, 0], noise[:, 1:]
        else:
            z_global = noise
            z_objects = xp.broadcast_to(noise[:, None], (batch, c.n_objects, c.noise_dim))
        local_in = xp.concatenate([z_objects, one_hot(labels, c.n_classes, self.dtype)], axis=2)
        background, global_cache = self.global_pathway.forward(z_global)
        objects, local_cache = self.local_pathway.forward(local_in.reshape(batch * c.n_objects, -1),
                                                          labels.reshape(-1))
        size = c.object_size
        image, paste_cache = paste_min(background, objects.reshape(batch, c.n_objects, size, size, 1), boxes)
        return image, (global_cache, local_cache, paste_cache)

    def backward(self, dimage, cache, need_dx=True):
        """dimage (B, H, W, 1) -> dnoise of the noise's shape (None with ``need_dx=False``,
        as in training); adds parameter gradients unless frozen."""
        xp, c = get_xp(), self.config
        global_cache, local_cache, paste_cache = cache
        dbackground, dobjects = paste_min_backward(dimage, paste_cache)
        batch, size = dimage.shape[0], c.object_size
        dz_global = self.global_pathway.backward(dbackground, global_cache, need_dx)
        dlocal_in = self.local_pathway.backward(dobjects.reshape(batch * c.n_objects, size, size, 1), local_cache,
                                                need_dx)
        if not need_dx:
            return None
        dz_objects = dlocal_in[:, :c.noise_dim].reshape(batch, c.n_objects, c.noise_dim)
        if c.per_object_noise:
            return xp.concatenate([dz_global[:, None], dz_objects], axis=1)
        return dz_global + dz_objects.sum(axis=1)
