"""The generator: a global pathway draws the background, a local pathway (weights
shared by all objects) draws each object, and min compositing writes the objects
into their boxes (paper Table 1; `src/model.py` of the original code)."""
import numpy as np

from ..backend import get_xp
from ..layers import (BatchNorm, ConditionalBatchNorm, Conv2D, Dense, Layer, PReLU, Reshape, Sequential, Sigmoid,
                      JoinChannels, UpsampleConv2D, one_hot)
from ..layout import (MIN_SIDE, check_boxes, check_labels, check_layout, layout_map, paste_min, paste_min_backward,
                      paste_min_resampled, paste_min_resampled_backward, present_objects)


def generator_pathway(in_features, out_size, channels, config, rng, dtype, name, n_classes=None, extra_channels=0):
    """Dense -> BN -> PReLU -> reshape to (s/4, s/4, c0); conv c1; upsample; conv c2;
    upsample; conv c3 (each conv with BN and PReLU); 1x1 conv to 1 channel; sigmoid.
    (N, in_features) -> (N, out_size, out_size, 1) in [0, 1]. With ``n_classes`` every
    BN is a ConditionalBatchNorm and the pathway's forward takes labels (N,). With
    ``extra_channels`` the forward takes a map (N, s/4, s/4, extra_channels) instead, joined
    to the reshaped features before the first conv."""
    side = out_size // 4
    c0, c1, c2, c3 = channels
    units = side * side * c0
    bn = dict(momentum=config.bn_momentum, dtype=dtype)

    def norm(width):
        return BatchNorm(width, **bn) if n_classes is None else ConditionalBatchNorm(width, n_classes, **bn)

    act = dict(alpha_init=config.prelu_init, dtype=dtype)
    layers = [Dense(in_features, units, rng=rng, dtype=dtype), norm(units), PReLU(units, **act),
              Reshape((side, side, c0))]
    if extra_channels:
        layers.append(JoinChannels(extra_channels))
    previous = c0 + extra_channels
    for index, width in enumerate((c1, c2, c3)):  # the second and third convs read x upsampled 2x
        conv = UpsampleConv2D(previous, width, rng=rng, dtype=dtype) if index else Conv2D(previous, width, 3, rng=rng, dtype=dtype)
        layers += [conv, norm(width), PReLU(width, **act)]
        previous = width
    layers += [Conv2D(previous, 1, 1, rng=rng, dtype=dtype), Sigmoid()]
    return Sequential(layers, name=name)


class Generator(Layer):
    """(noise, labels, boxes) -> image.

    noise: (B, noise_dim), shared by the background and every object (original code),
        or (B, 1 + N, noise_dim) with ``config.per_object_noise``: row 0 for the
        background, row 1 + k for object k. Values U(0, 1) as the paper, or N(0, 1) with
        ``config.noise == 'normal'`` (draw them with :meth:`sample_noise`).
    labels: (B, N) int classes; boxes: (B, N, 4) int (top, left, bottom, right).
        Layout 'grid': N = n_objects, each box object_size square. Layout 'random': any N;
        label -1 leaves a slot empty (its box is ignored; it costs nothing); any box inside
        the canvas (:func:`tinygan.layout.check_layout`).
    image: (B, canvas, canvas, 1) in [0, 1].
    """

    def __init__(self, config, rng=None, dtype=np.float32, name="G"):
        super().__init__(name)
        rng = rng if rng is not None else np.random.default_rng()
        self.config, self.dtype = config, np.dtype(dtype)
        self.global_pathway = generator_pathway(config.noise_dim, config.canvas_size, config.global_channels,
                                                config, rng, dtype, "global",
                                                extra_channels=config.n_classes if config.layout_map else 0)
        self.local_pathway = generator_pathway(config.noise_dim + config.n_classes, config.object_size,
                                               config.local_channels, config, rng, dtype, "local",
                                               n_classes=config.n_classes if config.conditional_bn else None)

    def children(self):
        return {"global": self.global_pathway, "local": self.local_pathway}

    def noise_shape(self, batch, n_objects=None):
        c = self.config
        n_objects = c.n_objects if n_objects is None else n_objects
        return (batch, 1 + n_objects, c.noise_dim) if c.per_object_noise else (batch, c.noise_dim)

    def sample_noise(self, rng, batch, n_objects=None):
        """Host noise (:meth:`noise_shape`) of this model's dtype from a NumPy generator, as the
        config says; n_objects: slots per image (default the config's)."""
        shape = self.noise_shape(batch, n_objects)
        if self.config.noise == "normal":
            return rng.standard_normal(shape, dtype=np.float32).astype(self.dtype, copy=False)
        return rng.random(shape, dtype=np.float32).astype(self.dtype, copy=False)

    def _check_noise(self, noise, n_objects):
        batch = noise.shape[0] if hasattr(noise, "shape") and noise.ndim else 0
        if tuple(getattr(noise, "shape", ())) != self.noise_shape(batch, n_objects) or noise.dtype != self.dtype:
            raise ValueError(f"{self.name}: expected noise of shape {self.noise_shape('B', n_objects)} and dtype "
                             f"{self.dtype}, got {getattr(noise, 'shape', None)} {getattr(noise, 'dtype', '')}")
        return batch

    def forward(self, noise, labels, boxes):
        if self.config.layout == "random":
            return self._forward_free(noise, labels, boxes)
        xp, c = get_xp(), self.config
        batch = self._check_noise(noise, c.n_objects)
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
        if self.config.layout == "random":
            return self._backward_free(dimage, cache, need_dx)
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

    def _forward_free(self, noise, labels, boxes):
        """Layout 'random': only the present objects go through the local pathway; each is
        resampled into its box (:func:`tinygan.layout.paste_min_resampled`)."""
        xp, c = get_xp(), self.config
        labels, boxes = check_layout(labels, boxes, c.n_classes, c.canvas_size, (MIN_SIDE, c.canvas_size),
                                     self.name)
        batch, n_slots = labels.shape
        if self._check_noise(noise, n_slots) != batch:
            raise ValueError(f"{self.name}: noise has {noise.shape[0]} rows for {batch} layouts")
        where = present_objects(labels)
        images, slots = xp.asarray(where[0]), xp.asarray(where[1])
        z_global, z_objects = (noise[:, 0], noise[:, 1:][images, slots]) if c.per_object_noise else (noise, noise[images])
        present_labels = xp.asarray(labels[where])
        local_in = xp.concatenate([z_objects, one_hot(present_labels, c.n_classes, self.dtype)], axis=1)
        side_map = None
        if c.layout_map:
            side_map = xp.asarray(layout_map(labels, boxes, c.n_classes, c.canvas_size, c.canvas_size // 4), self.dtype)
        background, global_cache = self.global_pathway.forward(z_global, side_map)
        if len(where[0]):
            objects, local_cache = self.local_pathway.forward(local_in, present_labels)
        else:  # no object in the whole batch (BatchNorm needs at least one)
            objects, local_cache = xp.ones((0, c.object_size, c.object_size, 1), self.dtype), None
        image, paste_cache = paste_min_resampled(background, objects, where, boxes[where], n_slots)
        return image, (global_cache, local_cache, paste_cache, images, slots, n_slots)

    def _backward_free(self, dimage, cache, need_dx):
        xp, c = get_xp(), self.config
        global_cache, local_cache, paste_cache, images, slots, n_slots = cache
        dbackground, dobjects = paste_min_resampled_backward(dimage, paste_cache)
        dz_global = self.global_pathway.backward(dbackground, global_cache, need_dx)
        dlocal_in = (self.local_pathway.backward(dobjects, local_cache, need_dx) if local_cache is not None
                     else xp.zeros((0, c.noise_dim + c.n_classes), dimage.dtype))
        if not need_dx:
            return None
        dz_objects = dlocal_in[:, :c.noise_dim]
        batch = dimage.shape[0]
        if c.per_object_noise:
            dnoise = xp.zeros((batch, 1 + n_slots, c.noise_dim), dtype=dimage.dtype)
            dnoise[:, 0] = dz_global
            dnoise[images, slots + 1] = dz_objects
            return dnoise
        membership = (xp.arange(batch)[:, None] == images[None, :]).astype(dimage.dtype)
        return dz_global + membership @ dz_objects
