"""The generator: a global pathway draws the background, a local pathway (weights
shared by all objects) draws each object, and min compositing writes the objects
into their boxes (paper Table 1; `src/model.py` of the original code). With
GANConfig.compositing 'alpha' each object also has an alpha mask and meets the background by
alpha compositing (:mod:`.compositing`); GANConfig.merge_convs adds convolutions after the merge."""
from typing import NamedTuple

import numpy as np

from ..backend import get_xp, to_device, to_host
from ..backend import rng as backend_rng
from ..layers import (BatchNorm, BilinearUpsample, ConditionalBatchNorm, Conv2D, Dense, JoinChannels, Layer, MergeConvs,
                      PixelNoise, PReLU, Reshape, Sequential, Sigmoid, SineWaves, UpsampleConv2D, one_hot)
from .compositing import compositing_of

WAVE_HEAD = 16  # hidden width of the 1x1 convs that read the last maps and the waves (WavyPathway)


def generator_pathway(in_features, out_size, channels, config, rng, dtype, name, n_classes=None, extra_channels=0,
                      out_channels=1, bilinear=False, pixel_noise=False, waves=False):
    """Dense -> BN -> PReLU -> reshape to (s/4, s/4, c0); conv c1; upsample; conv c2;
    upsample; conv c3 (each conv with BN and PReLU); 1x1 conv to out_channels; sigmoid.
    (N, in_features) -> (N, out_size, out_size, out_channels) in [0, 1]. With ``n_classes`` every
    BN is a ConditionalBatchNorm and the pathway's forward takes labels (N,). With
    ``extra_channels`` the forward takes a map (N, s/4, s/4, extra_channels) instead, joined
    to the reshaped features before the first conv. With ``bilinear`` each upsampling is bilinear
    (BilinearUpsample then Conv2D) instead of nearest-neighbour (UpsampleConv2D). With ``pixel_noise``
    the upsampled convs' normalised maps get per-pixel noise (PixelNoise, per class with ``n_classes``)
    before their PReLU. With ``waves`` the last conv's maps are joined by straight waves whose
    strengths and phases are drawn from the same input (:class:`WavyPathway`)."""
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
        if index and not bilinear:
            layers.append(UpsampleConv2D(previous, width, rng=rng, dtype=dtype))
        else:
            layers += [BilinearUpsample()] if index else []
            layers.append(Conv2D(previous, width, 3, rng=rng, dtype=dtype))
        layers.append(norm(width))
        if index and pixel_noise:
            layers.append(PixelNoise(width, n_classes, dtype=dtype))
        layers.append(PReLU(width, **act))
        previous = width
    if waves:
        return WavyPathway(Sequential(layers, name="trunk"), in_features, out_size, previous, out_channels,
                           config, rng, dtype, name)
    layers += [Conv2D(previous, out_channels, 1, rng=rng, dtype=dtype), Sigmoid()]
    return Sequential(layers, name=name)


class WavyPathway(Layer):
    """A pathway whose last maps are joined by straight waves across the canvas (ruled lines):

        h = trunk(z, second)                  (N, s, s, C): the conv pathway up to its last PReLU
        w = SineWaves(Dense(z))               (N, s, s, K): a bank of K straight waves, each image's own
                                              strengths and phases (tinygan.layers.SineWaves)
        y = sigmoid(conv1x1(PReLU(conv1x1([h, w]))))    (N, s, s, out_channels)

    The 1x1 convs (hidden width WAVE_HEAD) read each pixel's features and waves: a PReLU of a
    wave past a threshold is a thin line. The waves' strengths start at 0 (their Dense's weights,
    as PixelNoise's), so that the generator draws no wave until its paper needs one.
    forward(z, second) as a Sequential's."""

    second_input = True

    def __init__(self, trunk, in_features, size, channels, out_channels, config, rng, dtype, name):
        super().__init__(name)
        self.trunk = trunk
        bank = SineWaves(size)
        strengths_and_phases = Dense(in_features, 2 * bank.waves, rng=rng, dtype=dtype)
        strengths_and_phases.params["w"][:, :bank.waves] = 0  # no wave at first: the plain pathway's start
        self.waves = Sequential([strengths_and_phases, bank], name="waves")
        self.head = Sequential([Conv2D(channels + bank.waves, WAVE_HEAD, 1, rng=rng, dtype=dtype),
                                PReLU(WAVE_HEAD, alpha_init=config.prelu_init, dtype=dtype),
                                Conv2D(WAVE_HEAD, out_channels, 1, rng=rng, dtype=dtype), Sigmoid()], name="head")
        self.channels = channels

    def children(self):
        return {"trunk": self.trunk, "waves": self.waves, "head": self.head}

    def forward(self, z, second=None):
        h, trunk_cache = self.trunk.forward(z, second)
        w, waves_cache = self.waves.forward(z)
        y, head_cache = self.head.forward(get_xp().concatenate([h, w], axis=3))
        return y, (trunk_cache, waves_cache, head_cache)

    def backward(self, dy, cache, need_dx=True):
        trunk_cache, waves_cache, head_cache = cache
        dhw = self.head.backward(dy, head_cache)
        dz = self.trunk.backward(dhw[..., :self.channels], trunk_cache, need_dx)
        dz_waves = self.waves.backward(dhw[..., self.channels:], waves_cache, need_dx)
        return dz + dz_waves if need_dx else None


class GeneratorCache(NamedTuple):
    """What :meth:`Generator.backward` needs, and the parts of the image: background (B, H, W, 1)
    the global pathway's; objects (M, s, s, channels) the local pathway's; cover (B, H, W, 1) the
    objects' combined alpha (None with min compositing). dalphas: a gradient (M, s, s, 1) of the
    objects' alpha masks from a loss on them (:meth:`Generator.object_alphas`), which the backward
    adds: put it in with ``cache._replace(dalphas=...)``."""
    global_cache: object
    local_cache: object
    composite_cache: object
    merge_cache: object
    layout: object
    background: object
    objects: object
    cover: object
    dalphas: object = None


class Generator(Layer):
    """(noise, labels, boxes) -> image.

    noise: (B, noise_dim), shared by the background and every object (original code),
        or (B, 1 + N, noise_dim) with ``config.per_object_noise``: row 0 for the
        background, row 1 + k for object k. Values U(0, 1) as the paper, or N(0, 1) with
        ``config.noise == 'normal'`` (draw them with :meth:`sample_noise`).
    labels: (B, N) int classes; boxes: (B, N, 4) int (top, left, bottom, right), as the
        config's placement allows (:mod:`tinygan.placement`): on the grid N = n_objects, each
        box object_size square at its cell; free ('random'): any N, label -1 leaves a slot
        empty (its box is ignored; it costs nothing), any box inside the canvas.
    image: (B, canvas, canvas, 1) in [0, 1].

    With ``config.paper_families`` the background is paper of the family the noise names
    (:meth:`papers_of_noise`); with ``config.paper_norm`` the global pathway's BatchNorms are
    conditioned on it too.

    With ``config.compositing == 'alpha'`` the local pathway draws two channels per object, its
    value and its alpha mask (:class:`.compositing.AlphaCompositing`); ``config.merge_convs``
    convolutions (:class:`tinygan.layers.MergeConvs`) then read the composite, the background and
    the alpha, and give the image.

    :meth:`forward` checks its inputs; the training step, whose layouts were checked where they
    entered, calls :meth:`forward_layout` with the batch's layout made ready once.
    """

    def __init__(self, config, rng=None, dtype=np.float32, name="G"):
        super().__init__(name)
        rng = rng if rng is not None else np.random.default_rng()
        self.config, self.dtype, self.placement = config, np.dtype(dtype), config.placement
        self.compositing = compositing_of(config)
        self.global_pathway = generator_pathway(config.noise_dim + config.paper_families, config.canvas_size,
                                                config.global_channels,
                                                config, rng, dtype, "global",
                                                extra_channels=config.n_classes if config.layout_map else 0,
                                                n_classes=config.paper_families if config.paper_norm else None,
                                                bilinear=config.global_upsampling == "bilinear",
                                                pixel_noise=config.global_noise, waves=config.global_waves)
        self.local_pathway = generator_pathway(config.noise_dim + config.n_classes, config.object_size,
                                               config.local_channels, config, rng, dtype, "local",
                                               n_classes=config.n_classes if config.conditional_bn else None,
                                               out_channels=self.compositing.channels)
        self.merge = None
        if config.merge_convs:  # reads the composite, the background and the alpha (where there is one)
            self.merge = MergeConvs(2 + (config.compositing == "alpha"), config.merge_convs, config.merge_channels,
                                    rng, dtype, config.prelu_init)

    def children(self):
        parts = {"global": self.global_pathway, "local": self.local_pathway}
        return parts if self.merge is None else {**parts, "merge": self.merge}

    def set_rng(self, generator):
        """Give every PixelNoise layer (config.global_noise) this backend generator, so that its
        per-pixel noise is reproducible."""
        for _, layer in self.walk():
            if isinstance(layer, PixelNoise):
                layer.rng = generator

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

    def papers_of_noise(self, noise):
        """The paper family each image's noise names (config.paper_families > 0): the index of the
        largest of the background noise's first paper_families values, so that every family is drawn
        equally often. noise as :meth:`noise_shape` (host or device) -> (B,) int."""
        z_global = noise[:, 0] if self.config.per_object_noise else noise
        return z_global[:, :self.config.paper_families].argmax(axis=1)

    def naming_paper(self, noise, family):
        """Host noise (:meth:`noise_shape`) changed to name paper ``family`` (:meth:`papers_of_noise`):
        in each background row the largest of the first paper_families values swaps places with the
        value at ``family``, so the noise keeps its distribution. -> a new array."""
        noise = noise.copy()
        rows = noise[:, 0] if self.config.per_object_noise else noise
        largest, everyone = self.papers_of_noise(noise), np.arange(len(rows))
        rows[everyone, largest], rows[everyone, family] = rows[everyone, family], rows[everyone, largest]
        return noise

    def draw(self, labels, boxes, rng, batch_size=64, parts=False, paper=None):
        """Images (B, H, W, 1) on the host for host labels (B, N) and boxes (B, N, 4), in eval mode
        (the mode is restored), batch_size at a time, each batch's noise drawn from the NumPy
        generator ``rng`` (:meth:`sample_noise`), and with config.global_noise the per-pixel noise
        from a backend generator seeded from it. What samples, grids and evaluations draw.
        With ``parts``: (images, alphas, papers), alphas (B, H, W, 1) the objects' combined alpha
        on the canvas (None with min compositing), papers (B, H, W, 1) the global pathway's output.
        paper: a family index (config.paper_families) that every image's paper is of (default: as
        the noise names, each family equally often)."""
        drawn = []
        with self.evaluating():
            for start in range(0, len(labels), batch_size):
                stop = min(start + batch_size, len(labels))
                noise = self.sample_noise(rng, stop - start, labels.shape[1])
                if paper is not None:
                    noise = self.naming_paper(noise, paper)
                if self.config.global_noise:
                    self.set_rng(backend_rng(int(rng.integers(2**31))))
                image, cache = self.forward(*(to_device(a) for a in (noise, labels[start:stop], boxes[start:stop])))
                drawn.append([to_host(image)] + ([None if cache.cover is None else to_host(cache.cover),
                                                  to_host(cache.background)] if parts else []))
        columns = [None if column[0] is None else np.concatenate(column) for column in zip(*drawn)]
        return tuple(columns) if parts else columns[0]

    def _check_noise(self, noise, n_objects):
        batch = noise.shape[0] if hasattr(noise, "shape") and noise.ndim else 0
        if tuple(getattr(noise, "shape", ())) != self.noise_shape(batch, n_objects) or noise.dtype != self.dtype:
            raise ValueError(f"{self.name}: expected noise of shape {self.noise_shape('B', n_objects)} and dtype "
                             f"{self.dtype}, got {getattr(noise, 'shape', None)} {getattr(noise, 'dtype', '')}")

    def forward(self, noise, labels, boxes):
        """The checked entry: a ValueError naming the problem for inputs that don't fit. noise,
        labels and boxes on the host or the device (noise as :meth:`sample_noise` gives it)."""
        batch = noise.shape[0] if getattr(noise, "ndim", 0) else 0
        labels, boxes = self.placement.check(self.config, labels, boxes, batch, self.name)
        self._check_noise(noise, labels.shape[1])
        return self.forward_layout(to_device(noise), self.placement.batch(self.config, labels, boxes))

    def forward_layout(self, noise, layout):
        """noise as in :meth:`forward`, layout a BatchLayout (unchecked) -> image, cache. Only the
        present objects go through the local pathway; the layout pastes them into their boxes."""
        xp, c = get_xp(), self.config
        if c.per_object_noise:
            z_global, z_objects = noise[:, 0], layout.objects_of(noise[:, 1:])
        else:
            z_global, z_objects = noise, layout.objects_of_images(noise)
        local_in = xp.concatenate([z_objects, one_hot(layout.labels, c.n_classes, self.dtype)], axis=1)
        second = layout.side_map(c, self.dtype)  # the layout map (config.layout_map), or None
        if c.paper_families:  # the global pathway reads the paper family its noise names, one-hot
            papers = self.papers_of_noise(noise)
            z_global = xp.concatenate([z_global, one_hot(papers, c.paper_families, self.dtype)], axis=1)
            second = papers if c.paper_norm else second  # and its BatchNorms take them (config.paper_norm)
        background, global_cache = self.global_pathway.forward(z_global, second)
        if layout.count:
            objects, local_cache = self.local_pathway.forward(local_in, layout.labels)
        else:  # no object in the whole batch (BatchNorm needs at least one)
            objects = xp.ones((0, c.object_size, c.object_size, self.compositing.channels), self.dtype)
            local_cache = None
        image, cover, composite_cache = self.compositing.forward(background, objects, layout)
        merge_cache = None
        if self.merge is not None:
            image, merge_cache = self.merge.forward(xp.concatenate([image, background, *(
                [] if cover is None else [cover])], axis=-1))
        return image, GeneratorCache(global_cache, local_cache, composite_cache, merge_cache, layout, background,
                                     objects, cover)

    def object_alphas(self, cache):
        """The present objects' alpha masks (M, s, s, 1) of a forward's cache (alpha compositing), as
        the local pathway drew them (before any alpha floor)."""
        return cache.objects[..., 1:]

    def backward(self, dimage, cache, need_dx=True):
        """dimage (B, H, W, 1) -> dnoise of the noise's shape (None with ``need_dx=False``,
        as in training); adds parameter gradients unless frozen. The cache's dalphas, where a
        loss on the objects' alphas put one, is added to theirs."""
        xp, c = get_xp(), self.config
        dmerge = None if self.merge is None else self.merge.backward(dimage, cache.merge_cache)
        if dmerge is not None:  # its input: composite, background and the alpha where there is one
            dimage = dmerge[..., :1]
        dcover = None if dmerge is None or cache.cover is None else dmerge[..., 2:]
        dbackground, dobjects = self.compositing.backward(dimage, dcover, cache.composite_cache)
        if dmerge is not None:
            dbackground = dbackground + dmerge[..., 1:2]
        if cache.dalphas is not None:
            dobjects = xp.concatenate([dobjects[..., :1], dobjects[..., 1:] + cache.dalphas], axis=-1)
        dz_global = self.global_pathway.backward(dbackground, cache.global_cache, need_dx)
        dlocal_in = (self.local_pathway.backward(dobjects, cache.local_cache, need_dx) if cache.local_cache is not None
                     else xp.zeros((0, c.noise_dim + c.n_classes), dimage.dtype))
        layout = cache.layout
        if not need_dx:
            return None
        dz_objects, dz_global = dlocal_in[:, :c.noise_dim], dz_global[:, :c.noise_dim]
        if c.per_object_noise:
            return xp.concatenate([dz_global[:, None], layout.per_slot(dz_objects)], axis=1)
        return dz_global + layout.sum_per_image(dz_objects)
