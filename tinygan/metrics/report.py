"""What ``python -m tinygan.evaluate`` measures, by placement: the generator draws canvases for
each group of layouts, the judge looks at each object (:class:`~tinygan.metrics.judged.Judged`),
and the placement's measures (:data:`tinygan.metrics.measures.REPORTED`) make the report and
its table. Each driver returns (report, failures, table): report a JSON-ready dict, failures a
list of (group, Judged) of the generated canvases, table Markdown."""
from dataclasses import asdict

import numpy as np

from ..data import CanvasDataset
from ..data.layouts import LayoutDataset
from ..data.textures import families_of
from ..judge_model import judge_features
from .judged import Judged, draw_and_judge
from .measures import markdown_table, report
from .paper_report import PAPER_MEASURES, PAPER_NOTE, paper_section


def _reference(generator, judge, test_digits, region, n_samples, rng):
    config = generator.config
    frames, labels = config.placement.reference_frames(config, test_digits, region, n_samples, rng)
    return judge_features(judge, frames), labels


def with_paper(names):
    """The measure names ``names`` and then the paper's own (:data:`PAPER_MEASURES`), each once."""
    return tuple(dict.fromkeys(tuple(names) + PAPER_MEASURES))


def on_paper(generator, judge, dataset, labels, boxes, rng, reference, names):
    """Digits on textured paper (issue 25): the generator's canvases for host labels and boxes (with
    its masks and paper) and real digits on real paper in the same boxes (``dataset.draw_real``),
    judged and measured by ``names`` and the paper's own measures. Returns ({'generated', 'real'}
    reports, the generated OnPaper)."""
    config = generator.config
    generated = generator.draw(labels, boxes, np.random.default_rng(int(rng.integers(2**31))), parts=True)
    real = dataset.draw_real(labels, boxes, rng)
    results, _, judged = paper_section(judge, config.placement, config, labels, boxes, generated, real,
                                       dataset.families, names=with_paper(names),
                                       digit_reference=reference)
    return results, judged


def evaluate_orders(generator, judge, test_digits, holdout, n_samples=1000, seed=0, background="white"):
    """Grid: n_samples canvases of label orders seen in training and of orders held out from it
    (``holdout``, a LabelOrderHoldout; when it holds some), and real canvases of test digits, the
    ceiling the judge allows. The Fréchet distance compares with the test digits themselves. On a
    textured ``background`` the real canvases are real digits on real paper in the seen group's
    boxes, and every group also gets the paper's measures (:func:`on_paper`)."""
    config, placement = generator.config, generator.config.placement
    dataset = CanvasDataset(test_digits.resized(config.object_size), config.canvas(), holdout, background=background)
    rng = np.random.default_rng(seed)
    reference = _reference(generator, judge, test_digits, None, n_samples, rng)
    names = placement.report_measures
    results = {"n_samples": n_samples, "seed": seed, "held_out_orders": len(holdout)}
    failures = []
    for group, draw in placement.evaluation_layouts(config, dataset, None).items():
        if dataset.families:
            both, judged = on_paper(generator, judge, dataset, *draw(n_samples, rng), rng, reference, names)
            results[group] = both["generated"]
            results.setdefault("real", both["real"])
        else:
            judged = draw_and_judge(generator, judge, *draw(n_samples, rng), rng, reference)
            results[group] = report(judged, names)
        failures.append((group, judged))
    if not dataset.families:
        real = dataset.sample(n_samples, rng, orders="any")
        results["real"] = report(Judged(judge, placement, config, *real, reference, placement.blank(config)), names)
    columns = [(f"{group} orders", results[group]) for group, _ in failures] + [("real canvases", results["real"])]
    table = (markdown_table(columns, with_paper(names) if dataset.families else names)
             + f"\n\n{n_samples} images per group, 95% Wilson intervals in brackets; "
             f"{len(holdout)} label orders held out from training."
             + (f" Background {background}. " + PAPER_NOTE if dataset.families else ""))
    if "unseen" in results:
        table += "\n" + compare_seen_unseen(results)
    return results, failures, table


def compare_seen_unseen(results):
    """One sentence on the seen/unseen gap in per-object accuracy, saying whether the
    95% intervals separate it from noise."""
    seen, unseen = results["seen"]["per_object"], results["unseen"]["per_object"]
    gap = 100 * (seen["value"] - unseen["value"])
    if unseen["ci95"][1] < seen["ci95"][0]:
        return (f"Unseen label orders are drawn less accurately than seen ones ({gap:.1f} points, outside "
                f"the 95% intervals): the paper's open problem.")
    if seen["ci95"][1] < unseen["ci95"][0]:
        return f"Unseen label orders are drawn more accurately than seen ones ({-gap:.1f} points)."
    return (f"Seen and unseen orders differ by {gap:.1f} points, within the 95% intervals: "
            f"no measurable gap at this sample size.")


def evaluate_splits(generator, judge, test_digits, region, n_samples=500, seed=0, log=print, background="white"):
    """Free placement: each split of layouts (``placement.evaluation_splits``: the training
    distribution and five ways out of it), n_samples layouts drawn with real test digits (whose
    ink shapes give the boxes); the real canvases (the judge's ceiling) and the generator's for the
    same labels and boxes are both measured. The Fréchet distance and spread compare with the
    frames of a separate draw of real in-distribution canvases. region: held out of training, or None.
    On a textured ``background`` the real canvases are real digits on real paper in the same boxes
    and both get the paper's measures too (:func:`on_paper`).
    The report: {'n_samples', 'seed', 'held_out_region', 'splits': {split: {'rules', 'canvases',
    'mean_count', 'generated', 'real'}}} (only the first two where no layout was drawable)."""
    config, placement = generator.config, generator.config.placement
    rng = np.random.default_rng(seed)
    splits, families = placement.evaluation_splits(config, region), families_of(background)
    reference = _reference(generator, judge, test_digits, region, n_samples, rng)
    names = placement.report_measures
    results = {"n_samples": n_samples, "seed": seed, "held_out_region": None if region is None else list(region),
               "splits": {}}
    failures, columns = [], []
    for name, rules in splits.items():
        real, labels, boxes = LayoutDataset(test_digits, rules).sample_occupied(n_samples, rng)
        result = results["splits"][name] = {"rules": asdict(rules), "canvases": len(labels)}
        if not len(labels):
            log(f"{name}: no digit found a place in any layout: not measured")
            continue
        result["mean_count"] = float((labels >= 0).sum(axis=1).mean())
        if families:
            paper = LayoutDataset(test_digits, rules, background=background)
            both, judged = on_paper(generator, judge, paper, labels, boxes, rng, reference, names)
            result.update(both)
        else:
            judged = draw_and_judge(generator, judge, labels, boxes, rng, reference)
            result.update(generated=report(judged, names),
                          real=report(Judged(judge, placement, config, real, labels, boxes, reference), names))
        failures.append((name, judged))
        columns += [(f"{name} ({len(labels)} canvases, {result['mean_count']:.2f} digits): {kind}", result[kind])
                    for kind in ("generated", "real")]
        log(f"{name}: {len(labels)} canvases, {result['mean_count']:.2f} digits each; boxes judged "
            f"correct {100 * result['generated']['per_object']['value']:.1f}% generated, "
            f"{100 * result['real']['per_object']['value']:.1f}% real")
    table = (markdown_table(columns, with_paper(names) if families else names) + f"\n\n{n_samples} layouts drawn per split (fewer canvases where no "
             f"box could be placed); real: test digits in the same boxes, the judge's ceiling. 95% Wilson intervals "
             f"in brackets. IoU: the requested box against the bounding box of the ink nearest it; ink outside every "
             f"box: pixels at least 25% dark; darkness: 0 is white. Fréchet distance and spread (within-class, over "
             f"real digits') of judge features against real in-distribution canvases. Held-out region: "
             f"{tuple(region) if region else 'none'}." + (f" Background {background}. " + PAPER_NOTE if families else ""))
    return results, failures, table
