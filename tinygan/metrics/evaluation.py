"""The evaluations during training: the generator draws canvases for each of its placement's
groups ('seen', 'unseen'), the judge looks at each object, and every entry of
:data:`tinygan.metrics.measures.LOGGED` is measured on its group."""
import numpy as np

from ..judge_model import judge_features
from .judged import draw_and_judge
from .measures import LOGGED


def reference_features(judge, placement, config, test_digits, region):
    """(features (R, D), labels (R,)) of real test digits, framed as the evaluation frames the
    generated ones (``placement.reference_frames``): what the Fréchet distance compares with."""
    frames, labels = placement.reference_frames(config, test_digits, region)
    return judge_features(judge, frames), labels


def logged_measures(generator, groups, judge, n_samples, seed, reference=None):
    """{column: value} of LOGGED for ``groups`` ({group: draw(n, rng) -> labels, boxes}, as
    ``placement.evaluation_layouts`` gives them): n_samples layouts per group drawn from the NumPy
    generator seeded ``seed``, each group's images from a seed drawn after its layouts. A group
    that is not evaluated (no held-out orders, say) leaves its columns out."""
    rng = np.random.default_rng(seed)
    judged = {group: draw_and_judge(generator, judge, *draw(n_samples, rng), rng, reference)
              for group, draw in groups.items()}
    values = {logged.column: logged.measure(judged[logged.group]) for logged in LOGGED if logged.group in judged}
    return {column: value for column, value in values.items() if value is not None}
