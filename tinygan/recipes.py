"""Training recipes: the paper's, and tinygan's measured best (the default).

A recipe fixes every choice that is not a size: the loss, how the discriminator combines
its pathways and how it is stabilised, how the generator is conditioned and what noise
it gets, the weight average, the diversity term and the optimiser. Every ingredient is
also a flag of ``python -m tinygan.train``, so an ablation adds or removes one at a time;
a flag given on the command line wins over the recipe.
"""

# Each ingredient: its value in the 'paper' and the 'tinygan' recipe.
INGREDIENTS = {
    "loss": ("paper", "hinge"),            # paper: softmax CE on soft noisy targets; hinge (needs scores)
    "combine": ("decisions", "scores"),    # final Dense over decisions / features, or per-pathway scores
    "global_weight": (0.0, 0.2),           # hinge loss: weight of the whole image's score (objects share the rest)
    "spectral_norm": (False, True),        # spectral normalisation of every discriminator weight
    "projection": (False, True),           # projection discriminator for the local pathway
    "conditional_bn": (False, True),       # class-conditional BatchNorm in the local generator
    "noise": ("uniform", "normal"),        # U(0, 1) or N(0, 1)
    "per_object_noise": (False, True),     # one z per object (else all share the global z)
    "minibatch_std": (False, False),       # batch spread as a discriminator feature
    "dropout": (0.2, 0.0),                 # discriminator dropout
    "ema": (0.0, 0.995),                   # generator weight average decay (0: none)
    "ema_start": (0, 250),                 # steps before the average starts (a copy until then)
    "mode_seeking": (0.0, 0.0),            # weight of the mode-seeking term (0: off)
}
RECIPES = {name: {key: values[index] for key, values in INGREDIENTS.items()}
           for index, name in enumerate(("paper", "tinygan"))}
DEFAULT_RECIPE = "tinygan"

# Optimiser per recipe and preset. The paper recipe on the 'paper' preset runs the original
# code's schedule (10000 steps at G 1e-4 / D 1e-3, then 1e-5 / 1e-4, then 1e-6 / 1e-5: decay
# 0.1 at 50% and 75% of the steps). At those rates the 'small' preset barely leaves its
# initial grey in a CPU hour (300 steps: mean pixel 0.42), so on 'small' and 'tiny' the paper
# recipe uses higher rates with DCGAN's beta1 and a gentler decay. The tinygan recipe uses
# beta1 = 0 (as SNGAN and BigGAN do) and high rates: at G 2e-4 / D 4e-4 the small preset's
# global generator had not learnt its white background after 1500 steps (its sigmoid output
# needs large logits), at 1e-3 / 1e-3 it had by step 500 (bench/results/experiments.md).
_PAPER_SMALL = {"lr_g": 5e-4, "lr_d": 5e-4, "beta1": 0.5, "beta2": 0.999, "lr_decay_at": [0.5, 0.75], "lr_decay": 0.3}
_TINYGAN = {"lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.0, "beta2": 0.99, "lr_decay_at": [0.75], "lr_decay": 0.3}
OPTIMISER_DEFAULTS = {
    "paper": {"paper": {"lr_g": 1e-4, "lr_d": 1e-3, "beta1": 0.9, "beta2": 0.999, "lr_decay_at": [0.5, 0.75],
                        "lr_decay": 0.1},
              "small": _PAPER_SMALL, "tiny": _PAPER_SMALL},
    "tinygan": {"paper": _TINYGAN, "small": _TINYGAN, "tiny": _TINYGAN},
}


def recipe_settings(recipe, preset):
    """Every recipe-controlled setting (ingredients and optimiser) for this preset."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose from {sorted(RECIPES)}")
    return {**RECIPES[recipe], **OPTIMISER_DEFAULTS[recipe][preset]}


def conflicts(settings):
    """What a combination of settings cannot do, as a list of messages (empty if fine)."""
    problems = []
    scores = settings["combine"] == "scores"
    if settings["loss"] == "paper" and scores:
        problems.append("--combine scores gives raw scores, which the paper loss (softmax over 2 logits) "
                        "cannot use; choose --combine decisions or features, or --loss hinge")
    if settings["loss"] == "hinge" and not scores:
        problems.append(f"--loss hinge needs one score per pathway (--combine scores), got --combine "
                        f"{settings['combine']}")
    if settings["loss"] == "hinge" and not 0 < settings["global_weight"] < 1:
        problems.append(f"--global-weight must be in (0, 1) for the hinge loss, got {settings['global_weight']}")
    if settings["loss"] == "paper" and settings["global_weight"]:
        problems.append("--global-weight weighs the hinge loss's scores; the paper loss learns its combination")
    if settings["projection"] and not scores:
        problems.append("--projection adds a class term to each object's score: it needs --loss hinge "
                        "(--combine scores)")
    if settings["mode_seeking"] and settings["batch_size"] % 2:
        problems.append(f"--mode-seeking compares the two halves of a batch: --batch-size must be even, "
                        f"got {settings['batch_size']}")
    if settings["ema"] and not 0 < settings["ema"] < 1:
        problems.append(f"--ema must be in (0, 1) (or 0 for none), got {settings['ema']}")
    if not 0 <= settings["dropout"] < 1:
        problems.append(f"--dropout must be in [0, 1), got {settings['dropout']}")
    return problems
