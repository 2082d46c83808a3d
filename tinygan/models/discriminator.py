"""The discriminator: a global pathway judges the whole image, a local pathway (weights
shared by all objects) judges each box crop with its label, and their decisions are
combined: by a final Dense into one real-vs-fake decision (2 logits, for a softmax; the
paper), or as one raw score per pathway that the hinge loss averages ('scores'). With
``paper_pathway`` a third pathway judges the paper between the boxes alone."""
import numpy as np

from ..backend import get_xp, to_host
from ..layers import (BatchNorm, ClassProjection, Conv2D, Dense, Dropout, Flatten, JoinChannels, Layer, MinibatchStd,
                      PReLU, Sequential, SpatialMean, WeightedMean, one_hot)


def strided_convs(channels, config, rng, dtype, extra_channels=0, pool=False, stem=0):
    """Three 3x3 stride-2 convs, each followed by PReLU and Dropout, then Flatten (with ``pool``:
    SpatialMean, each channel's mean over the image). With
    ``extra_channels`` the forward takes a map at a quarter of the image's side (N, s/4, s/4,
    extra_channels) too, joined to the features before the third conv. With ``stem`` channels a
    3x3 stride-1 conv (PReLU, Dropout) reads the image at full resolution first."""
    act = dict(alpha_init=config.prelu_init, dtype=dtype)
    layers, previous = [], 1
    if stem:
        layers += [Conv2D(1, stem, 3, 1, rng=rng, dtype=dtype, spectral_norm=config.spectral_norm),
                   PReLU(stem, **act), Dropout(config.dropout)]
        previous = stem
    for index, width in enumerate(channels):
        if index == 2 and extra_channels:
            layers.append(JoinChannels(extra_channels))
            previous += extra_channels
        layers += [Conv2D(previous, width, 3, 2, rng=rng, dtype=dtype, spectral_norm=config.spectral_norm),
                   PReLU(width, **act), Dropout(config.dropout)]
        previous = width
    return layers + [SpatialMean() if pool else Flatten()]


def dense_block(in_features, config, rng, dtype):
    """Dense -> PReLU -> Dropout (-> MinibatchStd with config.minibatch_std): a pathway's
    feature vector of feature_width(config)."""
    layers = [Dense(in_features, config.disc_dense, rng=rng, dtype=dtype, spectral_norm=config.spectral_norm),
              PReLU(config.disc_dense, alpha_init=config.prelu_init, dtype=dtype), Dropout(config.dropout)]
    return layers + ([MinibatchStd()] if config.minibatch_std else [])


def feature_width(config):
    return config.disc_dense + (1 if config.minibatch_std else 0)


def flat_size(size, channels):
    return map_size(size) ** 2 * channels[-1]


def map_size(size):
    """The side of the map after three stride-2 convs of an image of side ``size``."""
    for _ in range(3):
        size = -(-size // 2)
    return size


PAPER_STRIDE = 8  # of the paper pathway's map: three stride-2 convs


class Discriminator(Layer):
    """(image, labels, boxes) -> decisions.

    image: (B, canvas, canvas, 1); labels (B, N) int and boxes (B, N, 4) as the config's
    placement allows (:mod:`tinygan.placement`): on the grid N = n_objects; free ('random',
    combine='scores'): any N, label -1 for an empty slot (scored 0, no cost), and with
    ``layout_map`` the global pathway also reads the layout.
    combine='decisions': each pathway ends in Dense(2) and the final Dense reads the
        2 + 2 * n_objects decisions (paper); 'features': the final Dense reads the
        concatenated dense features (original code). Both return logits (B, 2): index 0
        'fake', index 1 'real'.
    combine='scores': each pathway ends in Dense(1) (plus, with ``projection``, the inner
        product of its features with the object's class embedding); returns raw scores
        (B, 1 + N): column 0 the whole image, column 1 + k object k. With ``paper_pathway``
        (B, 2 + N): the last column scores the paper between the boxes (0 for an image whose
        boxes leave no place clear); with ``paper_classifier`` F more columns follow, the
        pathway's logits of the F paper families (0 where no place is clear).
    papers: with ``config.paper_families``, each image's paper family (B,) int: the whole image's
        score adds the inner product of its features with the family's embedding (what a real
        canvas was drawn on; for a generated one, the family its noise named).

    :meth:`forward` checks its inputs; the training step, whose layouts were checked where they
    entered, calls :meth:`forward_layout` with the batch's layout made ready once.
    """

    def __init__(self, config, rng=None, dtype=np.float32, name="D"):
        super().__init__(name)
        rng = rng if rng is not None else np.random.default_rng()
        c, self.config, self.dtype, self.placement = config, config, np.dtype(dtype), config.placement
        sn = dict(rng=rng, dtype=dtype, spectral_norm=c.spectral_norm)
        self.global_pathway = Sequential(
            strided_convs(c.disc_channels, c, rng, dtype, c.n_classes if c.layout_map else 0, c.global_pool,
                          c.disc_stem)
            + dense_block(c.disc_channels[-1] if c.global_pool else flat_size(c.canvas_size, c.disc_channels),
                          c, rng, dtype), name="global")
        self.local_convs = Sequential(strided_convs(c.disc_channels, c, rng, dtype), name="local_convs")
        label_width = 0 if c.projection else c.n_classes
        self.local_dense = Sequential(dense_block(flat_size(c.object_size, c.disc_channels) + label_width,
                                                  c, rng, dtype), name="local_dense")
        width = 1 if c.combine == "scores" else 2
        self.heads = {}
        if c.combine != "features":
            self.heads["global_decision"] = Dense(feature_width(c), width, name="global_decision", **sn)
            self.heads["local_decision"] = Dense(feature_width(c), width, name="local_decision", **sn)
        if c.projection:
            self.heads["projection"] = ClassProjection(c.n_classes, feature_width(c), rng, dtype, name="projection")
        if c.paper_families:
            self.heads["paper_projection"] = ClassProjection(c.paper_families, feature_width(c), rng, dtype,
                                                             name="paper_projection")
        if c.combine != "scores":
            final_in = 2 + 2 * c.n_objects if c.combine == "decisions" else feature_width(c) * (1 + c.n_objects)
            self.heads["final"] = Dense(final_in, 2, name="final", **sn)
        self.paper_pathway = None
        if c.paper_pathway:  # features of the places that see paper alone, averaged: a mean of patch scores
            self.paper_pathway = Sequential(strided_convs(c.disc_channels, c, rng, dtype)[:-1] + [WeightedMean()],
                                            name="paper")
            self.heads["paper_decision"] = Dense(c.disc_channels[-1], 1, name="paper_decision", **sn)
            if c.paper_families:
                self.heads["paper_family"] = ClassProjection(c.paper_families, c.disc_channels[-1], rng, dtype,
                                                             name="paper_family")
            if c.paper_classifier:  # features standardised: the families differ by ~0.01 in features of ~0.07
                self.heads["paper_classes"] = Sequential(
                    [BatchNorm(c.disc_channels[-1], c.bn_momentum, dtype=dtype, affine=False),
                     Dense(c.disc_channels[-1], c.paper_families, rng=rng, dtype=dtype)], name="paper_classes")

    def children(self):
        paper = {"paper": self.paper_pathway} if self.paper_pathway else {}
        return {"global": self.global_pathway, "local_convs": self.local_convs, "local_dense": self.local_dense,
                **paper, **self.heads}

    def set_rng(self, generator):
        """Give every Dropout layer this backend generator (for reproducible masks)."""
        for _, layer in self.walk():
            if isinstance(layer, Dropout):
                layer.rng = generator

    def _check_image(self, image):
        want = (self.config.canvas_size, self.config.canvas_size, 1)
        if getattr(image, "ndim", 0) != 4 or tuple(image.shape[1:]) != want:
            raise ValueError(f"{self.name}: expected images of shape (B, {', '.join(map(str, want))}), "
                             f"got {getattr(image, 'shape', type(image).__name__)}")

    def forward(self, image, labels, boxes, papers=None):
        """The checked entry: a ValueError naming the problem for inputs that don't fit."""
        self._check_image(image)
        labels, boxes = self.placement.check(self.config, labels, boxes, image.shape[0], self.name)
        families = self.config.paper_families
        if papers is not None and not families:
            raise ValueError(f"{self.name}: papers given, but this discriminator has no paper families")
        if families:
            host = to_host(papers) if papers is not None else None
            if (host is None or host.shape != (image.shape[0],) or host.dtype.kind not in "iu"
                    or not np.all((0 <= host) & (host < families))):
                raise ValueError(f"{self.name}: judges paper of {families} families: expected papers of shape "
                                 f"({image.shape[0]},), each image's family in 0..{families - 1}, got "
                                 f"{getattr(host, 'shape', None)} {getattr(host, 'dtype', '')}")
        return self.forward_layout(image, self.placement.batch(self.config, labels, boxes),
                                   None if papers is None else get_xp().asarray(papers))

    def forward_layout(self, image, layout, papers=None):
        """image and papers (on the device) as in :meth:`forward`, layout a BatchLayout (unchecked)
        -> decisions, cache. Only the present objects are cropped (by the layout) and judged; an empty slot's
        score is 0."""
        xp, c, heads = get_xp(), self.config, self.heads
        cache = {"layout": layout}
        features, cache["global"] = self.global_pathway.forward(image, layout.side_map(c, image.dtype))
        global_out = features
        if "global_decision" in heads:
            global_out, cache["global_decision"] = heads["global_decision"].forward(features)
        if c.paper_families:
            paper_term, cache["paper_projection"] = heads["paper_projection"].forward(features, papers)
            global_out = global_out + paper_term
        if layout.count:
            crops, cache["crop"] = layout.crop(image, c.object_size)
            objects_out = layout.per_slot(self._objects_forward(crops, layout.labels, cache))
        else:  # no object in the whole batch
            objects_out = xp.zeros((image.shape[0], layout.slots, global_out.shape[1]), dtype=image.dtype)
        combined = xp.concatenate([global_out, objects_out.reshape(image.shape[0], -1)], axis=1)
        if self.paper_pathway:
            combined = xp.concatenate([combined, self._paper_forward(image, layout, papers, cache)], axis=1)
        if "final" not in heads:
            return combined, cache
        logits, cache["final"] = heads["final"].forward(combined)
        return logits, cache

    def backward(self, dout, cache, need_dx=True):
        """dout (B, 2) for logits or (B, 1 + N) for scores -> dimage (B, H, W, 1), or None
        with ``need_dx=False`` (the discriminator's own update); adds parameter gradients
        unless frozen (the generator's update)."""
        heads, layout = self.heads, cache["layout"]
        dcombined = heads["final"].backward(dout, cache["final"]) if "final" in heads else dout
        dpaper = None
        if self.paper_pathway:
            width = 1 + (self.config.paper_families if "paper_classes" in heads else 0)
            dpaper = self._paper_backward(dcombined[:, -width:], cache, need_dx)
            dcombined = dcombined[:, :-width]
        width = dcombined.shape[1] // (1 + layout.slots)
        dglobal_out = dcombined[:, :width]
        dfeatures = dglobal_out
        if "global_decision" in heads:
            dfeatures = heads["global_decision"].backward(dglobal_out, cache["global_decision"])
        if "paper_projection" in heads:
            dfeatures = dfeatures + heads["paper_projection"].backward(dglobal_out, cache["paper_projection"])
        dimage = self.global_pathway.backward(dfeatures, cache["global"], need_dx)
        if dpaper is not None:
            dimage = dimage + dpaper
        if "crop" not in cache:  # no object in the whole batch
            return dimage
        dobjects_out = layout.objects_of(dcombined[:, width:].reshape(dcombined.shape[0], layout.slots, width))
        dcrops = self._objects_backward(dobjects_out, cache, need_dx)
        return dimage + layout.crop_backward(dcrops, cache["crop"]) if need_dx else None

    def _paper_forward(self, image, layout, papers, cache):
        """The paper pathway: image (B, H, W, 1) -> its score (B, 1), the mean over the places whose
        window touches no box of a linear score (plus the family's projection) of their features,
        and with the classifier the families' logits (B, 1 + F); 0 for an image with no such place.
        Fills ``cache``."""
        xp, heads = get_xp(), self.heads
        weights, seen = layout.paper_weights(map_size(self.config.canvas_size), PAPER_STRIDE, image.dtype)
        features, cache["paper"] = self.paper_pathway.forward(image, weights)
        score, cache["paper_decision"] = heads["paper_decision"].forward(features)
        if "paper_family" in heads:
            family_term, cache["paper_family"] = heads["paper_family"].forward(features, papers)
            score = score + family_term
        if "paper_classes" in heads:
            logits, cache["paper_classes"] = heads["paper_classes"].forward(features)
            score = xp.concatenate([score, logits], axis=1)
        cache["paper_seen"] = seen[:, None]
        return score * cache["paper_seen"]

    def _paper_backward(self, dout, cache, need_dx):
        """Gradient of :meth:`_paper_forward`: dout (B, 1 + F) -> dimage (B, H, W, 1) (None with
        ``need_dx=False``)."""
        dout = dout * cache["paper_seen"]
        dscore = dout[:, :1]
        dfeatures = self.heads["paper_decision"].backward(dscore, cache["paper_decision"])
        if "paper_family" in self.heads:
            dfeatures = dfeatures + self.heads["paper_family"].backward(dscore, cache["paper_family"])
        if "paper_classes" in self.heads:
            dfeatures = dfeatures + self.heads["paper_classes"].backward(dout[:, 1:], cache["paper_classes"])
        return self.paper_pathway.backward(dfeatures, cache["paper"], need_dx)

    def _objects_forward(self, crops, labels, cache):
        """The local pathway: crops (M, s, s, 1) with their labels (M,) -> each object's decision
        or score (M, 2 or 1), or its features with combine='features'; fills ``cache``."""
        xp, c, heads = get_xp(), self.config, self.heads
        out, cache["local_convs"] = self.local_convs.forward(crops)
        if not c.projection:
            out = xp.concatenate([out, one_hot(labels, c.n_classes, crops.dtype)], axis=1)
        features, cache["local_dense"] = self.local_dense.forward(out)
        out = features
        if "local_decision" in heads:
            out, cache["local_decision"] = heads["local_decision"].forward(features)
        if c.projection:
            class_term, cache["projection"] = heads["projection"].forward(features, labels)
            out = out + class_term
        return out

    def _objects_backward(self, dout, cache, need_dx):
        """Gradient of :meth:`_objects_forward`: dout (M, width) -> dcrops (M, s, s, 1) (None with
        ``need_dx=False``)."""
        c, heads = self.config, self.heads
        dfeatures = heads["local_decision"].backward(dout, cache["local_decision"]) if "local_decision" in heads else dout
        if c.projection:
            dfeatures = dfeatures + heads["projection"].backward(dout, cache["projection"])
        din = self.local_dense.backward(dfeatures, cache["local_dense"])
        if not c.projection:
            din = din[:, :-c.n_classes]
        return self.local_convs.backward(din, cache["local_convs"], need_dx)
