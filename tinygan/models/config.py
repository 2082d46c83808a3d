"""Model configuration and presets: 'paper' (Table 1), 'small' (CPU-trainable), 'tiny' (tests)."""
from dataclasses import asdict, dataclass, fields, replace

from ..data import CanvasConfig
from ..placement import LAYOUTS, placement_of
from .compositing import COMPOSITINGS

COMBINE_MODES = ("decisions", "features", "scores")
NOISE_KINDS = ("uniform", "normal")
UPSAMPLINGS = ("nearest", "bilinear")


@dataclass(frozen=True)
class GANConfig:
    """Sizes of the multi-object GAN.

    canvas_size, object_size: sides in pixels of the image and of the local pathways' square
        object (a box on the grid); both divisible by 4 (each generator upsamples twice).
    n_objects, n_classes, noise_dim: objects per image (with layout 'random': the most that
        training shows; any count can be drawn), label classes, length of z.
    layout: the placement of the objects (:mod:`tinygan.placement`): 'grid', the paper's:
        n_objects boxes of object_size, at fixed places; or 'random' (the free placement): any
        count of boxes of any size and aspect (label -1: an empty slot), each object resampled
        between its box and object_size (:mod:`tinygan.resample`); needs 'scores'.
    layout_map: (layout 'random') the global generator and discriminator also see the layout,
        one channel per class set inside each box of that class (:func:`tinygan.layout.layout_map`).
    global_channels: (c0, c1, c2, c3) of the global generator: Dense to
        (canvas/4, canvas/4, c0); conv c1 at canvas/4; upsample; conv c2; upsample; conv c3;
        1x1 conv to one channel; sigmoid.
    local_channels: the same for the local (object) generator at object/4, object/2, object.
    disc_channels: the three stride-2 convs of both discriminator pathways.
    disc_dense: width of each discriminator pathway's dense layer.
    dropout: discriminator dropout rate.
    combine: 'decisions' (paper: a final Dense over 2 + 2 * n_objects decisions),
        'features' (original code: a final Dense over the concatenated dense features), both
        giving 2 logits for a softmax; or 'scores': no final layer, one raw score per pathway
        (global, then each object: (B, 1 + n_objects)) for a hinge loss that averages them.
    per_object_noise: each object draws its own z (else all share the global z, as the code).
    noise: 'uniform' (U(0, 1), the paper) or 'normal' (N(0, 1)).
    conditional_bn: the local generator's BatchNorms take their scale and shift from the
        object's class (ConditionalBatchNorm), besides the one-hot label at its input.
    spectral_norm: every discriminator weight is spectrally normalised.
    projection: the local discriminator scores the class as the inner product of a learned
        class embedding with its features (projection discriminator) instead of reading the
        one-hot label concatenated after Flatten; needs combine='scores'.
    minibatch_std: append each discriminator pathway's batch spread to its features
        (MinibatchStd, not in the paper), so a generator that ignores its noise is caught.
    bn_momentum: BatchNorm running-statistics momentum (Keras convention).
    prelu_init: initial PReLU slope (0 as Keras). The tiny preset uses 0.2: with 0, whole
        feature maps start at exactly 0, sigmoid gives exactly 0.5 everywhere, and min
        compositing then sits on ties, where finite differences meet a kink.
    compositing: how the objects meet the global pathway's background
        (:mod:`tinygan.models.compositing`): 'min' (the paper's: dark strokes win) or 'alpha'
        (the local pathway also draws each object's alpha mask; learned alpha compositing).
    ink_ceiling: with 'alpha', the objects' colour is ink_ceiling times the local pathway's value
        (1: any grey; textured paper: real ink's 0.15, darker than any paper, so an object's
        shape comes from its alpha mask alone).
    alpha_floor: with 'alpha', the objects' masks are max(a - alpha_floor, 0) / (1 - alpha_floor)
        of the local pathway's alpha a: exactly 0 where a is at most the floor (0: a itself).
    merge_convs: 3x3 convolutions at full resolution after the merge (0: none), reading the
        composite, the background and (with 'alpha') the objects' alpha
        (:class:`tinygan.layers.MergeConvs`); merge_channels: their width.
    paper_families: paper families the global generator draws on request (0: none): it reads the
        family the noise names, one-hot, and the discriminator's whole-image score has a projection
        term of the family it is told (needs 'scores').
    paper_norm: (paper_families) the global generator's BatchNorms also take their scale and
        shift from the paper family (ConditionalBatchNorm), so each family has its own statistics
        at every layer; not with layout_map (the global pathway reads the layout map there).
    global_pool: the discriminator's global pathway averages its conv features over the image.
    disc_stem: width of a 3x3 stride-1 conv that reads the whole image at full resolution before
        the global pathway's strided convs (0: none; they start at stride 2).
    global_upsampling: how the global generator doubles its maps: 'nearest' or 'bilinear'.
    global_noise: the global generator's two upsampled convs get per-pixel noise with learned
        weights per channel (tinygan.layers.PixelNoise; per paper family with paper_norm).
    global_waves: a bank of straight waves across the canvas (tinygan.layers.SineWaves), their
        strengths and phases drawn from the global noise, joins the global generator's last maps
        before two 1x1 convs (tinygan.models.generator.WavyPathway): what rules straight lines.
    paper_pathway: the discriminator has a third pathway that judges the paper alone: the
        global pathway's three strided convs (own weights), their features averaged over the places
        whose window touches no box, a Dense score (plus a projection of the paper family with
        paper_families); its score is the last column (needs 'scores' and the 'random' layout).
    paper_classifier: (paper_pathway and paper_families) the paper pathway also classifies the
        paper family (BatchNorm without scale or shift, then a Dense to paper_families logits: AC-GAN's
        auxiliary classifier on standardised features), so the generator can be told to draw paper
        of the family it was asked for.
    """
    canvas_size: int = 128
    object_size: int = 28
    n_objects: int = 4
    n_classes: int = 10
    noise_dim: int = 100
    global_channels: tuple = (256, 256, 128, 64)
    local_channels: tuple = (256, 256, 128, 64)
    disc_channels: tuple = (32, 64, 128)
    disc_dense: int = 128
    dropout: float = 0.2
    combine: str = "decisions"
    per_object_noise: bool = False
    noise: str = "uniform"
    conditional_bn: bool = False
    spectral_norm: bool = False
    projection: bool = False
    minibatch_std: bool = False
    bn_momentum: float = 0.99
    prelu_init: float = 0.0
    layout: str = "grid"
    layout_map: bool = False
    compositing: str = "min"
    ink_ceiling: float = 1.0
    alpha_floor: float = 0.0
    merge_convs: int = 0
    merge_channels: int = 8
    paper_families: int = 0
    paper_norm: bool = False
    global_pool: bool = False
    disc_stem: int = 0
    global_upsampling: str = "nearest"
    global_noise: bool = False
    global_waves: bool = False
    paper_pathway: bool = False
    paper_classifier: bool = False

    def __post_init__(self):
        for name in ("canvas_size", "object_size", "n_objects", "n_classes", "noise_dim", "disc_dense"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"GANConfig: {name} must be a positive integer, got {value!r}")
        for name in ("canvas_size", "object_size"):
            if getattr(self, name) % 4:
                raise ValueError(f"GANConfig: {name} must be divisible by 4, got {getattr(self, name)}")
        if self.object_size > self.canvas_size:
            raise ValueError(f"GANConfig: object_size {self.object_size} exceeds canvas_size {self.canvas_size}")
        for name, count in (("global_channels", 4), ("local_channels", 4), ("disc_channels", 3)):
            value = tuple(getattr(self, name))
            if len(value) != count or any(not isinstance(c, int) or c < 1 for c in value):
                raise ValueError(f"GANConfig: {name} must be {count} positive integers, got {value!r}")
            object.__setattr__(self, name, value)
        if self.combine not in COMBINE_MODES:
            raise ValueError(f"GANConfig: combine must be one of {COMBINE_MODES}, got {self.combine!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"GANConfig: layout must be one of {LAYOUTS}, got {self.layout!r}")
        problems = self.placement.config_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"GANConfig: noise must be one of {NOISE_KINDS}, got {self.noise!r}")
        if self.projection and self.combine != "scores":
            raise ValueError(f"GANConfig: projection adds a class term to each object's score: it needs "
                             f"combine='scores' (the hinge loss), got {self.combine!r}")
        if self.compositing not in COMPOSITINGS:
            raise ValueError(f"GANConfig: compositing must be one of {tuple(COMPOSITINGS)}, got {self.compositing!r}")
        if not 0 < self.ink_ceiling <= 1:
            raise ValueError(f"GANConfig: ink_ceiling must be in (0, 1], got {self.ink_ceiling!r}")
        if self.ink_ceiling != 1 and self.compositing != "alpha":
            raise ValueError(f"GANConfig: ink_ceiling scales the alpha compositing's colour: it needs "
                             f"compositing='alpha', got {self.compositing!r}")
        if not 0 <= self.alpha_floor < 0.5 or (self.alpha_floor and self.compositing != "alpha"):
            raise ValueError(f"GANConfig: alpha_floor must be in [0, 0.5) and, above 0, needs compositing='alpha', "
                             f"got {self.alpha_floor!r} with {self.compositing!r}")
        if not isinstance(self.merge_convs, int) or self.merge_convs < 0:
            raise ValueError(f"GANConfig: merge_convs must be an integer >= 0, got {self.merge_convs!r}")
        if not isinstance(self.merge_channels, int) or self.merge_channels < 1:
            raise ValueError(f"GANConfig: merge_channels must be a positive integer, got {self.merge_channels!r}")
        if not isinstance(self.paper_families, int) or not 0 <= self.paper_families <= self.noise_dim:
            raise ValueError(f"GANConfig: paper_families must be an integer in [0, noise_dim={self.noise_dim}], "
                             f"got {self.paper_families!r}")
        if self.paper_families and self.combine != "scores":
            raise ValueError(f"GANConfig: paper_families adds a paper term to the whole image's score: it needs "
                             f"combine='scores' (the hinge loss), got {self.combine!r}")
        if not isinstance(self.disc_stem, int) or self.disc_stem < 0:
            raise ValueError(f"GANConfig: disc_stem must be an integer >= 0, got {self.disc_stem!r}")
        if self.paper_norm and (not self.paper_families or self.layout_map):
            raise ValueError(f"GANConfig: paper_norm conditions the global generator's BatchNorms on the paper "
                             f"family: it needs paper_families > 0 and no layout_map, got paper_families="
                             f"{self.paper_families} and layout_map={self.layout_map}")
        if self.paper_pathway and (self.combine != "scores" or self.layout != "random"):
            raise ValueError(f"GANConfig: paper_pathway scores the paper between the boxes of free layouts: it "
                             f"needs combine='scores' and layout='random', got {self.combine!r} and "
                             f"{self.layout!r}")
        if self.paper_classifier and not (self.paper_pathway and self.paper_families):
            raise ValueError(f"GANConfig: paper_classifier reads the paper pathway's features to name the paper "
                             f"family: it needs paper_pathway and paper_families > 0, got {self.paper_pathway} "
                             f"and {self.paper_families}")
        if self.global_upsampling not in UPSAMPLINGS:
            raise ValueError(f"GANConfig: global_upsampling must be one of {UPSAMPLINGS}, "
                             f"got {self.global_upsampling!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"GANConfig: dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.bn_momentum < 1:
            raise ValueError(f"GANConfig: bn_momentum must be in [0, 1), got {self.bn_momentum}")

    @property
    def placement(self):
        """Where this model's objects go (:mod:`tinygan.placement`), as ``layout`` names it."""
        return placement_of(self.layout)

    @property
    def joint_discriminator_pass(self):
        """True when no discriminator layer couples the images of a pass (minibatch std) or
        draws per pass (dropout): a training step may then score real and fake in one pass of 2B."""
        return not (self.minibatch_std or self.dropout)

    def canvas(self):
        """The CanvasConfig of this model's images: a 2x2 grid, each object centred in its cell."""
        cell = self.canvas_size // 2
        return CanvasConfig(canvas_size=self.canvas_size, grid=2, digit_size=self.object_size,
                            padding=(cell - self.object_size) // 2, border=2 if cell > self.object_size else 0,
                            n_objects=self.n_objects)

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"GANConfig: unknown fields {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


PRESETS = {
    "paper": GANConfig(),
    "small": GANConfig(noise_dim=64, global_channels=(16, 16, 8, 8), local_channels=(128, 64, 32, 16),
                       disc_channels=(16, 32, 64), disc_dense=64, bn_momentum=0.9),
    "tiny": GANConfig(canvas_size=16, object_size=8, n_objects=2, noise_dim=6,
                      global_channels=(3, 3, 2, 2), local_channels=(4, 3, 3, 2),
                      disc_channels=(2, 3, 3), disc_dense=5, bn_momentum=0.9, prelu_init=0.2, merge_channels=3),
}


def preset(name, **overrides):
    """A preset's config with some fields replaced."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)
