"""How the checkers judge plausible slips: named, "values differ", missed, or passing the
visible test only. Re-run with

    .venv/bin/python tests/slip_counts.py            # the checkers of this tree
    .venv/bin/python tests/slip_counts.py --bnlib DIR  # e.g. an older bnlib, for a before/after

Each slip is a one-place edit of a solution notebook, as a student would make it: every
injection of ``tests/injections.py``, the further variants of ``EXTRA`` and ``HELD_OUT``
below, and the broader held-out list ``FRESH`` of ``tests/slip_list.py`` (written
differently from the injections, and without an expected name). Each is judged as the
engine judges a submission: the visible test, then the hidden one with the notebook's seed.
"""

import argparse
import contextlib
import io
import sys
import warnings
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENERIC = {"wrong_value", "wrong_state", "wrong_form"}  # "values differ": no slip named

# (assignment, grade_id, (old, new), ...): further plausible slips, one edit each.
# EXTRA was written first and used to find patterns the checkers missed; HELD_OUT was
# written after those were named, to measure how the naming generalises.
EXTRA = [
    ("ps1-forward", "ps1_train_forward", ("x_hat = (x - mu) / np.sqrt(var + eps)",
                                          "x_hat = (x - mu) / np.sqrt(var) + eps")),
    ("ps1-forward", "ps1_train_forward", ("var = x.var(axis=0)  #", "var = x.std(axis=0)  #")),
    ("ps1-forward", "ps1_train_forward", ("y = gamma * x_hat + beta",
                                          "y = gamma * (x_hat + beta)")),
    ("ps1-forward", "ps1_inference_forward", ("np.sqrt(running_var + eps)",
                                              "np.sqrt(running_var) + eps")),
    ("ps2-backward", "ps2_staged_backward", ("dx_hat = dy * gamma", "dx_hat = dy * 1.0")),
    ("ps2-backward", "ps2_staged_backward", ("dvar = dstd * 0.5 / std", "dvar = dstd * 2.0 / std")),
    ("ps2-backward", "ps2_staged_backward", ("dx = dxc + dmu / m  #", "dx = dxc - dmu / m  #")),
    ("ps2-backward", "ps2_compact_backward", ("x_hat * dgamma)\n", "x_hat * dbeta)\n")),
    ("ps2-backward", "ps2_compact_backward", ("m = dy.shape[0]\n    dbeta",
                                              "m = dy.size\n    dbeta")),
    ("ps2-backward", "ps2_param_grads", ("dbeta = dy.sum(axis=0)\n    return",
                                         "dbeta = dy.mean(axis=0) * len(dy) / 2\n    return")),
    ("ps2-backward", "ps2_rel_error", ("scale = np.linalg.norm(a) + np.linalg.norm(b)",
                                       "scale = np.linalg.norm(np.abs(a + b))")),
    ("ps2-backward", "ps2_numerical_gradient", ("(plus - minus) / (2 * h)",
                                                "(minus - plus) / h")),
    ("ps3-inference", "ps3_running_update", ("x.var(axis=0) * m / (m - 1)",
                                             "x.var(axis=0, ddof=1) * m / (m - 1)")),
    ("ps3-inference", "ps3_batchnorm1d", ("self.running_var = np.ones(num_features)",
                                          "self.running_var = np.zeros(num_features) + 0.0")),
    ("ps4-conv-and-folding", "ps4_spatial_forward", (
        "var = x.var(axis=(0, 2, 3), keepdims=True)",
        "var = x.var(axis=(0, 2, 3), keepdims=True, ddof=1)")),
    ("ps4-conv-and-folding", "ps4_spatial_forward", (
        "x_hat = (x - mu) / np.sqrt(var + eps)", "x_hat = (x - mu) / np.sqrt(var) + eps")),
    ("ps4-conv-and-folding", "ps4_batchnorm2d", ("m = x.size // x.shape[1]", "m = x.shape[0]")),
    ("ps4-conv-and-folding", "ps4_fold", ("(b - running_mean) * s + beta",
                                          "b - running_mean * s + beta")),
    ("ps4-conv-and-folding", "ps4_fold", ("s = gamma / np.sqrt(running_var + eps)",
                                          "s = gamma * np.sqrt(running_var + eps)")),
    ("ps6-in-practice", "ps6_fold_conv", ("s = gamma / np.sqrt(running_var + eps)",
                                          "s = gamma * np.sqrt(running_var + eps)")),
    ("ps6-in-practice", "ps6_fold_conv", ("(b - running_mean) * s + beta",
                                          "b - running_mean * s + beta")),
    ("ps6-in-practice", "ps6_spatial_backward", ("m = x.size // x.shape[1]",
                                                 "m = x.shape[0] * x.shape[1]")),
    ("ps6-in-practice", "ps6_groupnorm_forward", ("xg = x.reshape(n, num_groups, -1)",
                                                  "xg = x.reshape(n, -1, num_groups)")),
    ("ps6-in-practice", "ps6_groupnorm_backward", ("dbeta = dy.sum(axis=(0, 2, 3))",
                                                   "dbeta = dy.sum(axis=(0, 2))")),
    ("ps6-in-practice", "ps6_adabn", ("variances[i] = variances[i] + var * m / (m - 1) / n_batches",
                                      "variances[i] = variances[i] + var / n_batches")),
    ("ps6-in-practice", "ps6_adabn", ("means[i] = means[i] + mu / n_batches",
                                      "means[i] = means[i] + mu / len(x)")),
]


HELD_OUT = [
    ("ps1-forward", "ps1_train_forward", ("mu = x.mean(axis=0)", "mu = x.mean(axis=0) * 0")),
    ("ps1-forward", "ps1_train_forward", ("x_hat = (x - mu) / np.sqrt(var + eps)",
                                          "x_hat = (x - mu) / np.sqrt(var + eps**2)")),
    ("ps1-forward", "ps1_train_forward", ("y = gamma * x_hat + beta", "y = gamma * x_hat - beta")),
    ("ps1-forward", "ps1_inference_forward", ("(x - running_mean) / np.sqrt",
                                              "(x + running_mean) / np.sqrt")),
    ("ps1-forward", "ps1_inference_forward", ("np.sqrt(running_var + eps)",
                                              "np.sqrt(running_var * running_var + eps)")),
    ("ps2-backward", "ps2_staged_backward", ("dxc = dx_hat * inv  #", "dxc = dx_hat  #")),
    ("ps2-backward", "ps2_staged_backward", ("dstd = -dinv / std**2", "dstd = -dinv / std")),
    ("ps2-backward", "ps2_staged_backward", ("dx = dxc + dmu / m  #", "dx = dxc + dmu  #")),
    ("ps2-backward", "ps2_compact_backward", ("dx = gamma / (m * np.sqrt(var + eps))",
                                              "dx = gamma / (m * (var + eps))")),
    ("ps2-backward", "ps2_compact_backward", ("(m * dy - dbeta - x_hat * dgamma)",
                                              "(m * dy - dbeta - x_hat * dgamma / m)")),
    ("ps2-backward", "ps2_param_grads", ('dgamma = (dy * cache["x_hat"]).sum(axis=0)',
                                         'dgamma = (dy * cache["x_hat"]).sum()')),
    ("ps2-backward", "ps2_numerical_gradient", ("x[i] = old - h\n", "x[i] = old - 2 * h\n")),
    ("ps2-backward", "ps2_rel_error", ("return float(np.linalg.norm(a - b) / scale)",
                                       "return float(np.linalg.norm(a - b) / scale ** 2)")),
    ("ps3-inference", "ps3_running_update", ("new_mean = (1 - factor) * running_mean",
                                             "new_mean = (1 - factor) * running_var")),
    ("ps3-inference", "ps3_batchnorm1d", ("mean, var = x.mean(axis=0), x.var(axis=0)",
                                          "mean, var = x.mean(axis=0), x.var(axis=0, ddof=1)")),
    ("ps4-conv-and-folding", "ps4_spatial_forward", ("x_hat = (x - mu) / np.sqrt(var + eps)",
                                                     "x_hat = (x - mu) / np.sqrt(var)")),
    ("ps4-conv-and-folding", "ps4_batchnorm2d", (
        "scale = (self.gamma / np.sqrt(self.running_var + self.eps))",
        "scale = (self.gamma / np.sqrt(self.running_var))")),
    ("ps4-conv-and-folding", "ps4_fold", ("return weight * s[:, None],",
                                          "return weight / s[:, None],")),
    ("ps6-in-practice", "ps6_spatial_backward", ("dbeta = dy.sum(axis=axes)",
                                                 "dbeta = dy.sum(axis=axes) * 0.5")),
    ("ps6-in-practice", "ps6_spatial_backward", ("x_hat = (x - mu) * inv_std",
                                                 "x_hat = x * inv_std")),
    ("ps6-in-practice", "ps6_fold_conv", ("return weight * s[:, None, None, None],",
                                          "return weight * s[:, None, None, None] ** 2,")),
    ("ps6-in-practice", "ps6_groupnorm_forward", (
        "inv_std = 1.0 / np.sqrt(xg.var(axis=2, keepdims=True) + eps)",
        "inv_std = 1.0 / (xg.var(axis=2, keepdims=True) + eps)")),
    ("ps6-in-practice", "ps6_groupnorm_backward", (
        "dx = cache[\"inv_std\"] * (d - d.mean(axis=2, keepdims=True)",
        "dx = cache[\"inv_std\"] * (d - d.mean(axis=2, keepdims=True) / 2")),
    ("ps6-in-practice", "ps6_adabn", ("block[\"bias\"], pad=1)", "block[\"bias\"], pad=0)")),
    ("ps6-in-practice", "ps6_adabn", ("order = np.random.default_rng(seed).permutation(len(x))",
                                      "order = np.arange(len(x))")),
]


def judge(assignment, grade_id, edits, tools):
    """(category, mistake id) of one slip."""
    nb = tools.notebook("solutions", assignment)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the notebook's own prints
            ns = tools.namespace_of(tools.inject(nb, edits))
    except Exception as exc:  # the edit does not apply, or the cell itself fails
        return "broken", type(exc).__name__
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        visible, hidden = tools.outcomes(grade_id, ns, tools.hidden_seed(nb, grade_id))
    if visible.passed and hidden.passed:
        return "missed", None
    if visible.passed:
        return "passes visible, fails hidden", hidden.mistake
    if visible.mistake in GENERIC:
        return "values differ", visible.mistake
    if visible.mistake == "raised":
        return "raised (their line shown)", visible.mistake
    return "named", visible.mistake


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bnlib", help="a directory holding another bnlib/ to judge with")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per slip")
    parser.add_argument("--only", help="one list: injections, extra, held out or fresh")
    args = parser.parse_args(argv)
    if args.bnlib:
        sys.path.insert(0, str(Path(args.bnlib).resolve()))
    sys.path.insert(1, str(HERE))
    import exercise_tools as tools
    from injections import ALL
    from slip_list import FRESH

    from bngrade.worker import keys

    keys.install()
    from bnlib.checks import REGISTRY
    from bnlib.checks.kinds import ChoicePart

    lists = {"injections": [(i.assignment, i.grade_id, i.edits, i.mistake) for i in ALL
                            if i.mistake not in ("raised", "mutates_input", "no_return_self")
                            and not isinstance(REGISTRY[i.grade_id], ChoicePart)],
             "extra": [(a, g, tuple(edits), None) for a, g, *edits in EXTRA],
             "held out": [(a, g, tuple(edits), None) for a, g, *edits in HELD_OUT],
             "fresh": [(a, g, tuple(edits), None) for a, g, *edits in FRESH]}
    for title, slips in lists.items():
        if args.only and title != args.only:
            continue
        report(title, slips, judge, tools, args.verbose)


def report(title, slips, judge, tools, verbose):
    """Judge each slip of one list; print the counts per part and in all."""
    per_part, total = {}, Counter()
    for assignment, grade_id, edits, expected in slips:
        category, mistake = judge(assignment, grade_id, edits, tools)
        if category == "named" and expected is not None and mistake != expected:
            category = "named, but not its own"
        per_part.setdefault(grade_id, Counter())[category] += 1
        total[category] += 1
        if verbose:
            edit = (edits[0][1].strip().splitlines() or ["(deleted)"])[0][:60]
            print(f"{grade_id:28} {expected or '(extra)':26} {category}: {mistake}  [{edit}]")
    for grade_id, counts in per_part.items():
        if verbose or set(counts) != {"named"}:
            print(f"  {grade_id:28} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    n = sum(total.values())
    print(f"{title}, {n} slips: " + ", ".join(f"{k} {v} ({100 * v / n:.0f} %)"
                                      for k, v in sorted(total.items())))


if __name__ == "__main__":
    main()
