"""The discriminator: a global pathway judges the whole image, a local pathway (weights
shared by all objects) judges each box crop with its label, and a final Dense combines
them into one real-vs-fake decision (2 logits, for a softmax)."""
import numpy as np

from ..backend import get_xp
from ..layers import Conv2D, Dense, Dropout, Flatten, Layer, MinibatchStd, PReLU, Sequential
from .compositing import check_boxes, crop_boxes, crop_boxes_backward
from .generator import check_labels, one_hot


def strided_convs(channels, config, rng, dtype):
    """Three 3x3 stride-2 convs, each followed by PReLU and Dropout, then Flatten."""
    layers, previous = [], 1
    for width in channels:
        layers += [Conv2D(previous, width, 3, 2, rng=rng, dtype=dtype),
                   PReLU(width, alpha_init=config.prelu_init, dtype=dtype), Dropout(config.dropout)]
        previous = width
    return layers + [Flatten()]


def dense_block(in_features, config, rng, dtype):
    """Dense -> PReLU -> Dropout (-> MinibatchStd with config.minibatch_std): a pathway's
    feature vector of feature_width(config)."""
    layers = [Dense(in_features, config.disc_dense, rng=rng, dtype=dtype),
              PReLU(config.disc_dense, alpha_init=config.prelu_init, dtype=dtype), Dropout(config.dropout)]
    return layers + ([MinibatchStd()] if config.minibatch_std else [])


def feature_width(config):
    return config.disc_dense + (1 if config.minibatch_std else 0)


def flat_size(size, channels):
    for _ in range(3):
        size = -(-size // 2)
    return size * size * channels[-1]


class Discriminator(Layer):
    """(image, labels, boxes) -> logits (B, 2): index 0 'fake', index 1 'real'.

    image: (B, canvas, canvas, 1); labels: (B, n_objects) int; boxes: (B, n_objects, 4).
    In 'decisions' mode each pathway ends in Dense(2) and the final Dense reads the
    2 + 2 * n_objects decisions (paper); in 'features' mode it reads the concatenated
    dense features (original code).
    """

    def __init__(self, config, rng=None, dtype=np.float32, name="D"):
        super().__init__(name)
        rng = rng if rng is not None else np.random.default_rng()
        c, self.config, self.dtype = config, config, np.dtype(dtype)
        self.global_pathway = Sequential(
            strided_convs(c.disc_channels, c, rng, dtype)
            + dense_block(flat_size(c.canvas_size, c.disc_channels), c, rng, dtype), name="global")
        self.local_convs = Sequential(strided_convs(c.disc_channels, c, rng, dtype), name="local_convs")
        self.local_dense = Sequential(dense_block(flat_size(c.object_size, c.disc_channels) + c.n_classes,
                                                  c, rng, dtype), name="local_dense")
        self.decisions = c.combine == "decisions"
        if self.decisions:
            self.global_decision = Dense(feature_width(c), 2, rng=rng, dtype=dtype, name="global_decision")
            self.local_decision = Dense(feature_width(c), 2, rng=rng, dtype=dtype, name="local_decision")
            final_in = 2 + 2 * c.n_objects
        else:
            final_in = feature_width(c) * (1 + c.n_objects)
        self.final = Dense(final_in, 2, rng=rng, dtype=dtype, name="final")

    def children(self):
        parts = {"global": self.global_pathway, "local_convs": self.local_convs, "local_dense": self.local_dense}
        if self.decisions:
            parts.update(global_decision=self.global_decision, local_decision=self.local_decision)
        parts["final"] = self.final
        return parts

    def set_rng(self, generator):
        """Give every Dropout layer this backend generator (for reproducible masks)."""
        for _, layer in self.walk():
            if isinstance(layer, Dropout):
                layer.rng = generator

    def forward(self, image, labels, boxes):
        xp, c = get_xp(), self.config
        want = (c.canvas_size, c.canvas_size, 1)
        if getattr(image, "ndim", 0) != 4 or tuple(image.shape[1:]) != want:
            raise ValueError(f"{self.name}: expected images of shape (B, {', '.join(map(str, want))}), "
                             f"got {getattr(image, 'shape', type(image).__name__)}")
        batch, n, size = image.shape[0], c.n_objects, c.object_size
        check_labels(labels, batch, c, f"{self.name}: labels")
        check_boxes(boxes, batch, n, size, c.canvas_size, f"{self.name}: boxes")
        cache = {"boxes": boxes, "image_shape": image.shape}
        global_out, cache["global"] = self.global_pathway.forward(image)
        crops = crop_boxes(image, boxes, size).reshape(batch * n, size, size, 1)
        local_flat, cache["local_convs"] = self.local_convs.forward(crops)
        labels_hot = one_hot(labels, c.n_classes, image.dtype).reshape(batch * n, c.n_classes)
        local_out, cache["local_dense"] = self.local_dense.forward(xp.concatenate([local_flat, labels_hot], axis=1))
        if self.decisions:
            global_out, cache["global_decision"] = self.global_decision.forward(global_out)
            local_out, cache["local_decision"] = self.local_decision.forward(local_out)
        combined = xp.concatenate([global_out, local_out.reshape(batch, -1)], axis=1)
        logits, cache["final"] = self.final.forward(combined)
        return logits, cache

    def backward(self, dlogits, cache):
        """dlogits (B, 2) -> dimage (B, H, W, 1); adds parameter gradients."""
        c = self.config
        batch, n, size = dlogits.shape[0], c.n_objects, c.object_size
        dcombined = self.final.backward(dlogits, cache["final"])
        width = 2 if self.decisions else feature_width(c)
        dglobal_out, dlocal_out = dcombined[:, :width], dcombined[:, width:].reshape(batch * n, width)
        if self.decisions:
            dglobal_out = self.global_decision.backward(dglobal_out, cache["global_decision"])
            dlocal_out = self.local_decision.backward(dlocal_out, cache["local_decision"])
        dimage = self.global_pathway.backward(dglobal_out, cache["global"])
        dlocal_in = self.local_dense.backward(dlocal_out, cache["local_dense"])
        dcrops = self.local_convs.backward(dlocal_in[:, :-c.n_classes], cache["local_convs"])
        dimage += crop_boxes_backward(dcrops.reshape(batch, n, size, size, 1), cache["boxes"], cache["image_shape"])
        return dimage
