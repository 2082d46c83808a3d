"""A run's settings: one frozen, typed object, validated once, saved in every checkpoint.

:class:`RunSettings` holds every choice that defines a training run: the model size
(``preset``), the data, and the recipe's ingredients. Each ingredient is a field that
names its value in both recipes, ``paper`` (the original) and ``tinygan`` (the measured
best, the default); a field left as None takes the value of the chosen recipe (and, for
the optimiser, of the preset). ``python -m tinygan.train`` generates one flag per field
(:func:`add_flags`), so a new ingredient is one field here and the lines that use it.

    settings = RunSettings(preset="tiny", recipe="paper", lr_g=1e-3)   # the rest from the recipe
    settings.model_config()                                          # its GANConfig

Why each ingredient has the value it has: the README's "Recipes" and "Ablation".
"""
import argparse
from dataclasses import asdict, dataclass, field, fields

from .data import LabelOrderHoldout
from .data.textures import BACKGROUNDS, INK_HIGH, families_of
from .ema import check_decay
from .models import COMBINE_MODES, COMPOSITINGS, NOISE_KINDS, PRESETS, UPSAMPLINGS, GANConfig, preset as model_preset
from .placement import LAYOUTS, placement_of
from .placement.free import DEFAULT_REGION

RECIPE_NAMES = ("paper", "tinygan")
DEFAULT_RECIPE = "tinygan"
PAPER_GLOBAL_WEIGHT = 0.5  # --global-weight with the paper families as a condition (docs/textures.md)
PAPER_ALPHA_FLOOR = 0.05  # --alpha-floor with alpha on paper: no veil of ink over the boxes (docs/textures.md)
LOSSES = ("paper", "hinge")


def ingredient(paper, tinygan, help, **flag):
    """A recipe ingredient: its value in the 'paper' and the 'tinygan' recipe, and its flag's help."""
    return field(default=None, metadata={"recipes": {"paper": paper, "tinygan": tinygan}, "help": help, **flag})


def setting(default, help, **flag):
    """A setting that no recipe changes."""
    return field(default=default, metadata={"help": help, **flag})


def optimiser(help, **flag):
    """An optimiser setting: its value depends on the recipe and the preset (OPTIMISERS)."""
    return field(default=None, metadata={"optimiser": True, "help": help, **flag})


# Adam and its step schedule per recipe and preset. The paper recipe on the 'paper' preset runs
# the original code's schedule (G 1e-4 / D 1e-3, then /10 at 50% and at 75% of the steps); on
# 'small' and 'tiny' it uses higher rates, DCGAN's beta1 and a gentler decay. The tinygan recipe
# uses beta1 = 0 (as SNGAN and BigGAN) and high rates (measurements: bench/results/experiments.md).
_PAPER_SMALL = {"lr_g": 5e-4, "lr_d": 5e-4, "beta1": 0.5, "beta2": 0.999, "lr_decay_at": (0.5, 0.75), "lr_decay": 0.3}
_TINYGAN = {"lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.0, "beta2": 0.99, "lr_decay_at": (0.75,), "lr_decay": 0.3}
OPTIMISERS = {
    "paper": {"paper": {"lr_g": 1e-4, "lr_d": 1e-3, "beta1": 0.9, "beta2": 0.999, "lr_decay_at": (0.5, 0.75),
                        "lr_decay": 0.1},
              "small": _PAPER_SMALL, "tiny": _PAPER_SMALL},
    "tinygan": {"paper": _TINYGAN, "small": _TINYGAN, "tiny": _TINYGAN},
}


@dataclass(frozen=True)
class RunSettings:
    """Everything that defines a training run (not how long it runs or where it writes).
    Construct with any subset of fields: the rest come from ``recipe`` and ``preset``.
    Raises one ValueError listing every problem (named by its flag) when invalid."""

    preset: str = setting("small", "model size: paper (Table 1), small (trains on a CPU), tiny (tests)",
                          choices=tuple(PRESETS))
    recipe: str = setting(DEFAULT_RECIPE, "training recipe: tinygan (measured best) or paper (the original); "
                                          "every ingredient below can also be set alone", choices=RECIPE_NAMES)
    batch_size: int = setting(32, "images per batch")
    seed: int = setting(0, "seed of the weights, the data and every random draw of training")
    holdout: str = setting(None, "label orders never shown in training: a fraction of all orders "
                                 "(e.g. 0.1, chosen by --seed) or a comma list like 1986,3258,5274")
    background: str = setting("white", "the paper under the whole canvas: white, textured (every family, drawn per "
                                       "image) or one family: clouds, ruled, grain, stains", choices=BACKGROUNDS)
    layout: str = setting("grid", "grid: the paper's data set, four digits in the cells of a 2x2 grid; random: 1 to "
                                  "--max-objects digits at random places and sizes",
                          choices=LAYOUTS)
    max_objects: int = setting(6, "--layout random: the most digits on a training canvas (a trained model draws any "
                                  "count)")
    holdout_region: str = setting(None, "--layout random: a region T,L,B,R that no training box touches, to measure "
                                        "drawing where no digit stood (default: the bottom-right corner, "
                                        f"{','.join(map(str, DEFAULT_REGION))} on a 128-pixel canvas; none: no region)")
    overlap: float = setting(0.0, "--layout random: the largest IoU two training boxes may have (0: none touch)")
    layout_map: bool = setting(None, "--layout random: the global generator and discriminator also see the layout, "
                                     "one channel per class (default on for white paper, off on textured paper)")
    compositing: str = setting(None, "how objects meet the background: min (the paper's, dark strokes win) or alpha "
                                     "(each object with a learned alpha mask) (default: min on white, alpha on "
                                     "textured paper)", choices=tuple(COMPOSITINGS))
    merge_convs: int = setting(0, "3x3 convolutions at full resolution after the objects meet the background "
                                  "(0: none)")
    merge_channels: int = setting(None, "--merge-convs: their width (default: the preset's, 8; tiny 3)")
    mask_prior: float = setting(None, "--compositing alpha: weight of the mask-size prior, a hinge on each object's "
                                      "mean alpha outside the share real digits cover (0: off) (default: 1 with "
                                      "alpha, else 0)")
    ink_ceiling: float = setting(None, "--compositing alpha: the lightest colour an object may have (1: any grey; "
                                       "0.15: real ink, darker than any paper, so a digit's shape is its alpha "
                                       "mask) (default: 0.15 with alpha on textured paper, else 1)")
    alpha_floor: float = setting(None, "--compositing alpha: the objects' masks are exactly 0 where the local "
                                       "generator's alpha is at most this floor (a sigmoid never reaches 0); above "
                                       "it they rise from 0 to 1 (0: no floor) (default: 0.05 with alpha on "
                                       "textured paper, else 0)")
    global_channels: tuple = setting(None, "the global generator's widths c0 c1 c2 c3 (Dense to canvas/4 with c0, then "
                                           "a conv of each width at canvas/4, /2 and full size) (default: the "
                                           "preset's; small: 16 16 8 8)", nargs=4, type=int)
    global_pool: bool = setting(False, "the discriminator's global pathway averages its conv features over the image "
                                       "(judges texture, not places) instead of a dense layer over all of them")
    disc_stem: int = setting(0, "width of a 3x3 stride-1 conv that reads the whole image at full resolution first "
                                "in the discriminator's global pathway (0: none, it starts at stride 2)")
    global_upsampling: str = setting(None, "how the global generator doubles its maps: nearest (the paper's) or "
                                           "bilinear (smooth paper stays smooth) (default: nearest on white, bilinear "
                                           "on textured paper)", choices=UPSAMPLINGS)
    global_noise: bool = setting(False, "the global generator's two upsampled convs get per-pixel noise with learned "
                                        "weights (fine detail such as paper grain; per paper family with "
                                        "--paper-norm)")
    global_waves: bool = setting(False, "the global generator's last maps are joined by straight waves across the "
                                        "canvas (periods of 4-16 pixels along rows and columns), each image's "
                                        "strengths and phases drawn from its noise (ruled lines)")
    paper_conditioned: bool = setting(None, "--background textured: the global generator draws the paper family its "
                                            "noise names, and the discriminator judges the whole image as paper of "
                                            "that family (default: on for --background textured with --combine "
                                            "scores)")
    paper_norm: bool = setting(None, "--paper-conditioned: the global generator's BatchNorms also take their scale and "
                                     "shift from the paper family (default: on with --paper-conditioned and no "
                                     "--layout-map)")
    paper_weight: float = setting(0.0, "--layout random: weight in the hinge loss of a discriminator pathway that "
                                       "judges the paper alone, averaged over the places between the boxes "
                                       "(0: no such pathway)")
    family_weight: float = setting(0.0, "--paper-weight with --paper-conditioned: the paper pathway also names the "
                                        "paper family (an auxiliary classifier trained on real canvases), and the "
                                        "generator's paper is pushed to be named as the family it was asked for, "
                                        "with this weight (0: no classifier)")
    # The optimiser: Adam and a step schedule, per recipe and preset (OPTIMISERS).
    lr_g: float = optimiser("generator learning rate")
    lr_d: float = optimiser("discriminator learning rate")
    lr_decay_at: tuple = optimiser("fractions of --steps where both learning rates are multiplied by --lr-decay",
                                   nargs="*")
    lr_decay: float = optimiser("learning-rate factor at each --lr-decay-at")
    beta1: float = optimiser("Adam's first-moment decay")
    beta2: float = optimiser("Adam's second-moment decay")
    # The ingredients: (paper, tinygan).
    loss: str = ingredient("paper", "hinge", "paper: softmax cross-entropy on the paper's soft noisy targets; hinge",
                           choices=LOSSES)
    combine: str = ingredient("decisions", "scores", "discriminator output: a final layer over decisions (paper) or "
                              "features (code), or one score per pathway (scores, for the hinge loss)",
                              choices=COMBINE_MODES)
    global_weight: float = ingredient(0.0, 0.2, "hinge loss: weight of the whole image's score; the objects' "
                                                "scores share the rest (with --paper-conditioned: 0.5)")
    spectral_norm: bool = ingredient(False, True, "spectral normalisation of the discriminator's weights")
    projection: bool = ingredient(False, True, "projection discriminator (class embedding . features) per object")
    conditional_bn: bool = ingredient(False, True, "class-conditional BatchNorm in the local generator")
    noise: str = ingredient("uniform", "normal", "noise distribution", choices=NOISE_KINDS)
    per_object_noise: bool = ingredient(False, True, "a separate z per object")
    minibatch_std: bool = ingredient(False, False, "give the discriminator each batch's spread, against mode collapse")
    dropout: float = ingredient(0.2, 0.0, "discriminator dropout rate")
    ema: float = ingredient(0.0, 0.995, "decay of the generator's weight average used for samples and evaluation "
                                        "(0: none)")
    ema_start: int = ingredient(0, 250, "steps before the weight average starts (a copy until then)")
    mode_seeking: float = ingredient(0.0, 0.0, "weight of the mode-seeking term (different noise, different "
                                               "digits; 0: off)")

    def __post_init__(self):
        if self.recipe not in RECIPE_NAMES:
            raise ValueError(f"--recipe: unknown recipe {self.recipe!r}; choose from {list(RECIPE_NAMES)}")
        if self.preset not in PRESETS:
            raise ValueError(f"--preset: unknown preset {self.preset!r}; choose from {sorted(PRESETS)}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"--layout: unknown layout {self.layout!r}; choose from {list(LAYOUTS)}")
        paper = self.paper_defaults()
        for f in fields(self):
            if getattr(self, f.name) is None and f.metadata.get("optimiser"):
                object.__setattr__(self, f.name, OPTIMISERS[self.recipe][self.preset][f.name])
            elif getattr(self, f.name) is None and f.name in paper:
                object.__setattr__(self, f.name, paper[f.name])
            elif getattr(self, f.name) is None and "recipes" in f.metadata:
                object.__setattr__(self, f.name, f.metadata["recipes"][self.recipe])
        object.__setattr__(self, "lr_decay_at", tuple(self.lr_decay_at))
        if self.global_channels is not None:
            object.__setattr__(self, "global_channels", tuple(self.global_channels))
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def paper_defaults(self):
        """The defaults that depend on the paper: today's model (min compositing; the layout map on free
        layouts) on white; on textured paper learned alpha masks with the mask-size prior, the ink
        ceiling and the alpha floor, no layout map for the global pathways and a bilinear global generator; on several
        families (with the hinge loss's scores) the family as a condition (at the global generator's
        input and, without a layout map, in its BatchNorms), and half the loss on the whole image's
        score, where the family's term lives (why: docs/textures.md)."""
        compositing = self.compositing or ("min" if self.background == "white" else "alpha")
        alpha = compositing == "alpha"
        on_paper = self.background != "white"
        scores = (self.combine or self.recipe_value("combine")) == "scores"
        conditioned = self.paper_conditioned
        if conditioned is None:
            conditioned = self.background == "textured" and scores
        layout_map = self.layout_map
        if layout_map is None:
            layout_map = not self.placement.fixed_count and not on_paper
        return {"compositing": compositing, "mask_prior": 1.0 if alpha else 0.0, "paper_conditioned": conditioned,
                "paper_norm": conditioned and not layout_map,
                "ink_ceiling": INK_HIGH if alpha and on_paper else 1.0,
                "alpha_floor": PAPER_ALPHA_FLOOR if alpha and on_paper else 0.0,
                "layout_map": layout_map,
                "global_upsampling": "bilinear" if on_paper else "nearest",
                "global_weight": PAPER_GLOBAL_WEIGHT if conditioned else self.recipe_value("global_weight")}

    def recipe_value(self, name):
        """The recipe's value of the ingredient ``name``."""
        return next(f for f in fields(self) if f.name == name).metadata["recipes"][self.recipe]

    def problems(self):
        """What is wrong with these settings, as messages naming the flags (empty if nothing)."""
        problems = [f"--{flag(name)} must be positive, got {getattr(self, name)}"
                    for name in ("batch_size", "lr_g", "lr_d", "lr_decay") if not getattr(self, name) > 0]
        problems += [f"--{flag(name)} must be in [0, 1), got {getattr(self, name)}"
                     for name in ("beta1", "beta2") if not 0 <= getattr(self, name) < 1]
        problems += [f"--lr-decay-at values must be in (0, 1), got {at}" for at in self.lr_decay_at if not 0 < at < 1]
        if self.ema_start < 0:
            problems.append(f"--ema-start must be >= 0, got {self.ema_start}")
        scores = self.combine == "scores"
        if self.loss == "paper" and scores:
            problems.append("--combine scores gives raw scores, which the paper loss (softmax over 2 logits) "
                            "cannot use; choose --combine decisions or features, or --loss hinge")
        if self.loss == "hinge" and not scores:
            problems.append(f"--loss hinge needs one score per pathway (--combine scores), got --combine "
                            f"{self.combine}")
        if self.loss == "hinge" and not 0 < self.global_weight < 1:
            problems.append(f"--global-weight must be in (0, 1) for the hinge loss, got {self.global_weight}")
        if self.loss == "paper" and self.global_weight:
            problems.append("--global-weight weighs the hinge loss's scores; the paper loss learns its combination")
        if self.mask_prior < 0 or (self.mask_prior and self.compositing != "alpha"):
            problems.append(f"--mask-prior must be >= 0 and needs --compositing alpha, got {self.mask_prior} with "
                            f"--compositing {self.compositing}")
        ink_ok = 0 < self.ink_ceiling <= 1 and (self.ink_ceiling == 1 or self.compositing == "alpha")
        if not ink_ok:
            problems.append(f"--ink-ceiling must be in (0, 1] and, below 1, needs --compositing alpha, got "
                            f"{self.ink_ceiling} with --compositing {self.compositing}")
        floor_ok = 0 <= self.alpha_floor < 0.5 and (not self.alpha_floor or self.compositing == "alpha")
        if not floor_ok:
            problems.append(f"--alpha-floor must be in [0, 0.5) and, above 0, needs --compositing alpha, got "
                            f"{self.alpha_floor} with --compositing {self.compositing}")
        paper_ok = not self.paper_conditioned or (self.background == "textured" and scores)
        if not paper_ok:
            problems.append(f"--paper-conditioned needs several paper families (--background textured) and one score "
                            f"per pathway (--combine scores), got --background {self.background} and --combine "
                            f"{self.combine}")
        if self.paper_norm and not (self.paper_conditioned and paper_ok):
            problems.append("--paper-norm conditions the global generator on the paper family: it needs "
                            "--paper-conditioned")
            paper_ok = False
        paper_weight_ok = self.paper_weight == 0 or (self.paper_weight > 0 and self.loss == "hinge"
                                                     and self.layout == "random")
        if not paper_weight_ok:
            problems.append(f"--paper-weight must be >= 0 and, above 0, needs --loss hinge and --layout random, got "
                            f"{self.paper_weight} with --loss {self.loss} and --layout {self.layout}")
        if self.family_weight < 0 or (self.family_weight and not (self.paper_weight > 0 and self.paper_conditioned)):
            problems.append(f"--family-weight must be >= 0 and, above 0, needs --paper-weight above 0 and "
                            f"--paper-conditioned, got {self.family_weight} with --paper-weight {self.paper_weight} "
                            f"and --paper-conditioned {self.paper_conditioned}")
            paper_weight_ok = False
        if self.mode_seeking and self.batch_size % 2:
            problems.append(f"--mode-seeking compares the two halves of a batch: --batch-size must be even, "
                            f"got {self.batch_size}")
        problems += self.placement.settings_problems(self)
        rules = ((self.model_config,) if ink_ok and floor_ok and paper_ok and paper_weight_ok else ()) + (
            self.label_holdout, self._check_ema, self.held_out_region, self.families)
        for check in rules:  # rules kept by their own modules
            try:
                check()
            except ValueError as err:
                problems.append(str(err))
        return problems

    @property
    def placement(self):
        """Where the objects go (:mod:`tinygan.placement`), as --layout names it."""
        return placement_of(self.layout)

    def held_out_region(self):
        """(top, left, bottom, right) of the region training layouts keep empty, or None."""
        return self.placement.held_out_region(self.holdout_region, PRESETS[self.preset].canvas_size)

    def families(self):
        """The paper families of --background (:func:`tinygan.data.textures.families_of`; () for white)."""
        return families_of(self.background)

    def _check_ema(self):
        if self.ema:
            check_decay(self.ema, "--ema", "(or 0 for none)")

    def model_config(self):
        """The GANConfig of this run: the preset's sizes with the ingredients that are model fields."""
        model_fields = {f.name for f in fields(GANConfig)}
        values = {name: value for name, value in asdict(self).items()
                  if name in model_fields and name != "preset" and value is not None}  # None: the preset's
        papers = len(self.families()) if self.paper_conditioned else 0
        return model_preset(self.preset, **values, paper_families=papers, paper_pathway=self.paper_weight > 0,
                            paper_classifier=self.family_weight > 0,
                            **self.placement.model_fields(self))

    def label_holdout(self):
        """The LabelOrderHoldout of ``holdout`` (empty when None): a fraction of all orders, chosen
        by the seed, or a comma list of orders."""
        n_objects = self.placement.model_fields(self).get("n_objects", PRESETS[self.preset].n_objects)
        if self.holdout is None:
            return LabelOrderHoldout([], n_objects)
        text = str(self.holdout)
        try:
            if "," in text or (text.isdigit() and len(text) == n_objects > 1):  # label orders
                return LabelOrderHoldout.from_orders(text.split(","), n_objects)
            return LabelOrderHoldout.from_fraction(float(text), n_objects, self.seed)
        except ValueError as err:
            raise ValueError(f"--holdout: a fraction of all label orders (e.g. 0.1) or comma-separated orders of "
                             f"{n_objects} digits each, got {text!r} ({err})") from None

    def to_dict(self):
        return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values):
        """Settings saved by :meth:`to_dict`. Saved settings that predate an ingredient lack it (or
        hold None) and take the recipe's value; those that predate recipes were paper runs. The old
        ``texture`` (before --background) reads as background 'clouds' when it was on."""
        values = dict(values)
        if values.pop("texture", False):
            values.setdefault("background", "clouds")
        if values.get("background", "white") != "white" and "ink_ceiling" not in values:
            values["ink_ceiling"] = 1.0  # saved before the ink ceiling: objects of any grey
        values.setdefault("paper_conditioned", False)  # saved before the paper families
        values.setdefault("global_upsampling", "nearest")  # saved before bilinear upsampling
        values.setdefault("paper_norm", False)  # saved before the paper's BatchNorms
        values.setdefault("alpha_floor", 0.0)  # saved before the masks' floor
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown run settings {unknown}: written by a newer tinygan?")
        return cls(**{"recipe": "paper", **values})

    def differences(self, other):
        """[(name, ours, theirs)] of the fields where ``other`` differs."""
        return [(f.name, getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
                if getattr(self, f.name) != getattr(other, f.name)]


def flag(name):
    """The flag of a setting, without its dashes: 'lr_decay_at' -> 'lr-decay-at'."""
    return name.replace("_", "-")


def add_flags(parser):
    """One flag per RunSettings field, each defaulting to None ('not given': the recipe's, or
    the field's default). Booleans get --name and --no-name."""
    groups = {True: parser.add_argument_group("recipe ingredients (default: from --recipe)"), False: parser}
    for f in fields(RunSettings):
        meta = f.metadata
        shown = "" if f.default is None or f.type is bool else f" (default {f.default})"
        options = {"default": None, "help": meta["help"] + shown}
        if f.type is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif f.type is tuple:
            options.update(type=meta.get("type", float), nargs=meta["nargs"])
        else:
            options["type"] = f.type
        if "choices" in meta:
            options["choices"] = meta["choices"]
        group = groups["recipes" in meta or bool(meta.get("optimiser"))]
        group.add_argument(f"--{flag(f.name)}", **options)


def given_settings(args):
    """The settings given as flags in parsed ``args`` (those not None)."""
    return {f.name: getattr(args, f.name) for f in fields(RunSettings) if getattr(args, f.name) is not None}

