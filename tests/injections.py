"""Mistakes injected into the solution notebooks, one per named mistake of each checker.

Each entry edits the solution's answer cells (text replacements, each target
occurring once) and names the mistake the checker must report. The unit tests
run the edited code in-process; the nbgrader tests submit it and read the
feedback.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Injection:
    assignment: str
    grade_id: str
    mistake: str  # the Outcome.mistake the checker must give
    edits: tuple  # ((old, new), ...)

    @property
    def name(self):
        return f"{self.grade_id}-{self.mistake}"


def _many(assignment, grade_id, table):
    return [Injection(assignment, grade_id, mistake, tuple(edits)) for mistake, *edits in table]


FORWARD = "ps1-forward"
PS1 = _many(FORWARD, "ps1_train_forward", [
    ("unbiased_variance", ("var = x.var(axis=0)  #", "var = x.var(axis=0, ddof=1)  #")),
    ("eps_outside_sqrt", ("x_hat = (x - mu) / np.sqrt(var + eps)",
                          "x_hat = (x - mu) / (np.sqrt(var) + eps)")),
    ("eps_missing", ("x_hat = (x - mu) / np.sqrt(var + eps)", "x_hat = (x - mu) / np.sqrt(var)")),
    ("wrong_axis", ("mu = x.mean(axis=0)\n    var = x.var(axis=0)",
                    "mu = x.mean(axis=1, keepdims=True)\n    var = x.var(axis=1, keepdims=True)")),
    ("transposed_layout", ("mu = x.mean(axis=0)\n    var = x.var(axis=0)  # biased: divide by N\n"
                           "    x_hat = (x - mu) / np.sqrt(var + eps)\n"
                           "    y = gamma * x_hat + beta\n",
                           "x = x.T  # work in (features, batch)\n"
                           "    mu = x.mean(axis=1, keepdims=True)\n"
                           "    var = x.var(axis=1, keepdims=True)\n"
                           "    x_hat = (x - mu) / np.sqrt(var + eps)\n"
                           "    y = gamma[:, None] * x_hat + beta[:, None]\n")),
    ("gamma_beta_swapped", ("y = gamma * x_hat + beta", "y = beta * x_hat + gamma")),
    ("gamma_beta_missing", ("y = gamma * x_hat + beta", "y = x_hat")),
    ("beta_missing", ("y = gamma * x_hat + beta", "y = gamma * x_hat")),
    ("sqrt_missing", ("x_hat = (x - mu) / np.sqrt(var + eps)", "x_hat = (x - mu) / (var + eps)")),
    ("whole_array", ("mu = x.mean(axis=0)\n    var = x.var(axis=0)",
                     "mu = x.mean()\n    var = x.var()")),
    ("raised", ("y = gamma * x_hat + beta", "y = gamma * x_hat + beta[:, 0]")),
    ("mutates_input", ("x_hat = (x - mu) / np.sqrt(var + eps)",
                       "x -= mu\n    x_hat = x / np.sqrt(var + eps)")),
]) + _many(FORWARD, "ps1_worked_examples", [
    ("unbiased_variance", ("np.sqrt(x_A.var())", "np.sqrt(x_A.var(ddof=1))")),
    ("output_variance_gamma", ("var_y_B = y_B.var()", "var_y_B = 2.0")),
    ("output_mean_zero", ("mean_y_B = y_B.mean()", "mean_y_B = 0.0")),
]) + _many(FORWARD, "ps1_inference_forward", [
    ("batch_stats_in_eval", ("(x - running_mean) / np.sqrt(running_var + eps)",
                             "(x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)")),
    ("eps_outside_sqrt", ("np.sqrt(running_var + eps)", "(np.sqrt(running_var) + eps)")),
    ("eps_missing", ("np.sqrt(running_var + eps)", "np.sqrt(running_var)")),
    ("variance_as_std", ("np.sqrt(running_var + eps)", "(running_var + eps)")),
    ("gamma_beta_missing", ("return gamma * x_hat + beta", "return x_hat")),
    ("beta_missing", ("return gamma * x_hat + beta", "return gamma * x_hat")),
])

BACKWARD = "ps2-backward"
STAGED_RETURN = "dx = dxc + dmu / m  # the path through the mean\n    return dx, dgamma, dbeta"
COMPACT_RETURN = "x_hat * dgamma)\n    return dx, dgamma, dbeta"
PS2 = _many(BACKWARD, "ps2_param_grads", [
    ("dgamma_from_x", ('dgamma = (dy * cache["x_hat"]).sum(axis=0)',
                       'dgamma = (dy * cache["x"]).sum(axis=0)')),
    ("mean_not_sum", ('dgamma = (dy * cache["x_hat"]).sum(axis=0)\n    dbeta = dy.sum(axis=0)',
                      'dgamma = (dy * cache["x_hat"]).mean(axis=0)\n    dbeta = dy.mean(axis=0)')),
    ("swapped", ("return dgamma, dbeta\n", "return dbeta, dgamma\n")),
    ("mutates_input", ("dbeta = dy.sum(axis=0)\n    return dgamma, dbeta",
                       "dbeta = dy.sum(axis=0)\n    dy *= 0\n    return dgamma, dbeta")),
]) + _many(BACKWARD, "ps2_staged_backward", [
    ("missing_mean_path", ("dx = dxc + dmu / m  #", "dx = dxc  #")),
    ("missing_var_path", ("dxc = dxc + dvar * 2.0 * xc / m  #", "dxc = dxc  #")),
    ("stats_as_constants", ("dxc = dxc + dvar * 2.0 * xc / m  #", "dxc = dxc  #"),
     ("dx = dxc + dmu / m  #", "dx = dxc  #")),
    ("missing_gamma", ("dx_hat = dy * gamma", "dx_hat = dy")),
    ("dgamma_from_x", ("dgamma = (dy * x_hat).sum(axis=0)\n    dx_hat",
                       "dgamma = (dy * x).sum(axis=0)\n    dx_hat")),
    ("mean_not_sum", ("dbeta = dy.sum(axis=0)\n    dgamma = (dy * x_hat).sum(axis=0)\n    dx_hat",
                      "dbeta = dy.mean(axis=0)\n    dgamma = (dy * x_hat).mean(axis=0)\n"
                      "    dx_hat")),
    ("missing_one_over_m", ("dx = dxc + dmu / m  #", "dx = m * (dxc + dmu / m)  #")),
    ("m_minus_one", ("dxc = dxc + dvar * 2.0 * xc / m  #",
                     "dxc = dxc + dvar * 2.0 * xc / (m - 1)  #")),
    ("tuple_order", (STAGED_RETURN,
                     STAGED_RETURN.replace("dx, dgamma, dbeta", "dgamma, dbeta, dx"))),
    ("only_dx", (STAGED_RETURN, STAGED_RETURN.replace("dx, dgamma, dbeta", "dx"))),
]) + _many(BACKWARD, "ps2_compact_backward", [
    ("missing_mean_path", ("(m * dy - dbeta - x_hat * dgamma)", "(m * dy - x_hat * dgamma)")),
    ("missing_var_path", ("(m * dy - dbeta - x_hat * dgamma)", "(m * dy - dbeta)")),
    ("stats_as_constants", ("(m * dy - dbeta - x_hat * dgamma)", "(m * dy)")),
    ("missing_gamma", ("dx = gamma / (m *", "dx = 1.0 / (m *")),
    ("dgamma_from_x", ("dgamma = (dy * x_hat).sum(axis=0)\n    dx = gamma",
                       "dgamma = (dy * cache['x']).sum(axis=0)\n    dx = gamma")),
    ("missing_one_over_m", ("dx = gamma / (m * np.sqrt(var + eps))",
                            "dx = gamma / np.sqrt(var + eps)")),
    ("m_minus_one", ("dx = gamma / (m * np.sqrt(var + eps))",
                     "dx = gamma / ((m - 1) * np.sqrt(var + eps))")),
    ("tuple_order", (COMPACT_RETURN,
                     COMPACT_RETURN.replace("dx, dgamma, dbeta", "dx, dbeta, dgamma"))),
    ("only_dx", (COMPACT_RETURN, COMPACT_RETURN.replace("dx, dgamma, dbeta", "dx"))),
    ("mutates_input", ("m = dy.shape[0]\n    dbeta",
                       "m = dy.shape[0]\n    dy -= dy.mean(axis=0)\n    dbeta")),
]) + _many(BACKWARD, "ps2_numerical_gradient", [
    ("forward_difference", ("x[i] = old - h\n", "x[i] = old\n"),
     ("(plus - minus) / (2 * h)", "(plus - minus) / h")),
    ("not_halved", ("(plus - minus) / (2 * h)", "(plus - minus) / h")),
    ("sign_flipped", ("(plus - minus) / (2 * h)", "(minus - plus) / (2 * h)")),
    ("x_not_restored", ("        x[i] = old\n        grad[i]", "        grad[i]")),
]) + _many(BACKWARD, "ps2_rel_error", [
    ("elementwise", ("return float(np.linalg.norm(a - b) / scale)",
                     "return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))")),
    ("one_sided", ("return float(np.linalg.norm(a - b) / scale)",
                   "return float(np.linalg.norm(a - b) / np.linalg.norm(b))")),
    ("zero_not_guarded", ("    if scale == 0:\n        return 0.0\n", "")),
])

INFERENCE = "ps3-inference"
KERAS = tuple((f"(1 - factor) * running_{s} + factor * x.{s}(axis=0)",
               f"factor * running_{s} + (1 - factor) * x.{s}(axis=0)") for s in ("mean", "var"))
BIASED = ("x.var(axis=0) * m / (m - 1)", "x.var(axis=0)")
MOMENTUM_NONE = ("1.0 / num_batches_tracked if momentum", "0.1 if momentum")
REFUSE_ONE = ("            if x.shape[0] < 2:\n"
              '                raise ValueError("Expected more than 1 value per channel when '
              'training")\n')
EVAL_BRANCH = "        else:\n            mean, var = self.running_mean, self.running_var\n"
PS3 = _many(INFERENCE, "ps3_running_update", [
    ("keras_momentum", *KERAS),
    ("biased_running_var", BIASED),
    ("ignores_momentum_none", MOMENTUM_NONE),
    ("mutates_input", ("new_mean = (1 - factor) * running_mean +",
                       "running_mean *= 1 - factor\n    new_mean = running_mean +")),
]) + _many(INFERENCE, "ps3_batchnorm1d", [
    ("updates_in_eval", (EVAL_BRANCH, EVAL_BRANCH + "            self.num_batches_tracked += 1\n"
                         "            self.running_mean, self.running_var = update_running_stats("
                         "self.running_mean, self.running_var, x, self.momentum, "
                         "self.num_batches_tracked)\n")),
    ("batch_stats_in_eval", (EVAL_BRANCH, EVAL_BRANCH.replace(
        "self.running_mean, self.running_var", "x.mean(axis=0), x.var(axis=0)"))),
    ("keras_momentum", *KERAS),
    ("biased_running_var", BIASED),
    ("ignores_momentum_none", MOMENTUM_NONE),
    ("var_starts_at_zero", ("self.running_var = np.ones(num_features)",
                            "self.running_var = np.zeros(num_features)")),
    ("no_return_self", ("return self.train(False)", "self.train(False)")),
    ("mutates_input", ("return self.gamma * (x - mean) /",
                       "x -= mean\n        return self.gamma * x /")),
]) + _many(INFERENCE, "ps3_batch_of_one", [
    ("missing_error", (REFUSE_ONE, "")),
    ("wrong_exception", ('raise ValueError("Expected more', 'raise RuntimeError("Expected more')),
    ("raised", ("        if self.training:\n" + REFUSE_ONE,
                REFUSE_ONE.replace("    ", "", 1).replace("            raise", "        raise")
                + "        if self.training:\n")),
])

CONV = "ps4-conv-and-folding"
MEAN4, VAR4 = "x.mean(axis=(0, 2, 3), keepdims=True)", "x.var(axis=(0, 2, 3), keepdims=True)"
SPATIAL = [(MEAN4, MEAN4.replace("(0, 2, 3)", "{0}")), (VAR4, VAR4.replace("(0, 2, 3)", "{0}"))]
EVAL_Y = ("y = (x - self.running_mean.reshape(1, -1, 1, 1)) * scale + "
          "self.beta.reshape(1, -1, 1, 1)")
WITH, WITHOUT = ("y_with = batchnorm_forward(x @ weight.T + bias, gamma, beta, eps)[0]",
                 "y_without = batchnorm_forward(x @ weight.T, gamma, beta, eps)[0]")
PS4 = _many(CONV, "ps4_spatial_forward", [
    ("per_location_stats", *[(old, new.format("0")) for old, new in SPATIAL]),
    ("instance_norm", *[(old, new.format("(2, 3)")) for old, new in SPATIAL]),
    ("layer_norm", *[(old, new.format("(1, 2, 3)")) for old, new in SPATIAL]),
    ("unbiased_variance", (VAR4, VAR4.replace("keepdims=True", "keepdims=True, ddof=1"))),
    ("gamma_last_axis", ("gamma.reshape(1, -1, 1, 1) * x_hat + beta.reshape(1, -1, 1, 1)",
                         "gamma * x_hat + beta")),
    ("mutates_input", ("x_hat = (x - mu) / np.sqrt(var + eps)",
                       "x -= mu\n    x_hat = x / np.sqrt(var + eps)")),
]) + _many(CONV, "ps4_batchnorm2d", [
    ("batch_count_only", ("m = x.size // x.shape[1]", "m = x.shape[0]")),
    ("biased_running_var", ('cache["var"] * m / (m - 1)', 'cache["var"]')),
    ("keras_momentum", *[(f'(1 - f) * self.running_{s} + f * cache["{k}"]',
                          f'f * self.running_{s} + (1 - f) * cache["{k}"]')
                         for s, k in (("mean", "mu"), ("var", "var"))]),
    ("updates_in_eval", ("            return y\n        y, cache",
                         "            self.track(x, batchnorm2d_forward(x, self.gamma, self.beta, "
                         "self.eps)[1])\n            return y\n        y, cache")),
    ("batch_stats_in_eval", (EVAL_Y, "y = batchnorm2d_forward(x, self.gamma, self.beta, "
                             "self.eps)[0]")),
    ("mutates_input", ("        y, cache = batchnorm2d_forward(x,",
                       "        x -= 0.5\n        y, cache = batchnorm2d_forward(x + 0.5,")),
]) + _many(CONV, "ps4_fold", [
    ("scale_columns", ("weight * s[:, None]", "weight * s[None, :]")),
    ("mean_not_scaled", ("(b - running_mean) * s + beta", "b * s - running_mean + beta")),
    ("sqrt_missing", ("s = gamma / np.sqrt(running_var + eps)", "s = gamma / (running_var + eps)")),
    ("bias_dropped", ("b = np.zeros(len(gamma)) if bias is None else bias",
                      "b = np.zeros(len(gamma))")),
    ("mutates_input", ("return weight * s[:, None],", "weight *= s[:, None]\n    return weight,")),
]) + _many(CONV, "ps4_bias_redundant", [
    ("bias_after_bn", (WITH, WITHOUT.replace("y_without", "y_with") + " + bias")),
    ("eval_mode", (WITH, "y_with = gamma * (x @ weight.T + bias) / np.sqrt(1 + eps) + beta"),
     (WITHOUT, "y_without = gamma * (x @ weight.T) / np.sqrt(1 + eps) + beta")),
]) + _many(CONV, "ps4_train_with_without_bn", [
    ("validated_in_train_mode", ("    model.eval()\n", "")),
])

CONCEPTS = "ps5-concepts"
ANSWERS = {"output_stats": "a", "eval_batch": "c", "noise": "b", "uniform_grad": "d",
           "bias_grad": "b"}
PS5 = [Injection(CONCEPTS, f"ps5_q_{q}", f"option_{wrong}",
                 ((f'answer_{q} = "{right}"', f'answer_{q} = "{wrong}"'),))
       for q, right in ANSWERS.items() for wrong in "abcd" if wrong != right] + [
    Injection(CONCEPTS, "ps5_q_output_stats", "invalid_option",
              (('answer_output_stats = "a"', 'answer_output_stats = "mean beta"'),)),
] + _many(CONCEPTS, "ps5_backward_by_hand", [
    ("dvar_sign", (" + dmu_p1 / len(x)\n", " + dmu_p1 / len(x)\ndvar_p1 = -dvar_p1\n")),
    ("dx_var_path", ("np.sum(dx_hat * (x - mu)) * -0.5", "np.sum(dx_hat * (x - mu)) * 0.5")),
    ("dx_sum_not_zero", (" + dmu_p1 / len(x)\n", "\n")),
    ("gamma_forgotten", ("dx_hat = gamma * g", "dx_hat = g")),
    ("direct_path_only", (" + dvar_p1 * 2.0 * (x - mu) / len(x) + dmu_p1 / len(x)", "")),
]) + _many(CONCEPTS, "ps5_conv_inference_ops", [
    ("bn_per_channel", ("return 4 * values,", "return 4 * c_out,")),
    ("conv_once_per_map", (", 2 * c_in * kernel * kernel * values",
                           ", 2 * c_in * kernel * kernel * c_out")),
]) + _many(CONCEPTS, "ps5_steps_to_cover", [
    ("pytorch_convention", ("math.log(keras_momentum)", "math.log(1.0 - keras_momentum)")),
    ("window_instead", ("return math.ceil(math.log(1.0 - fraction) / math.log(keras_momentum) "
                        "- 1e-9)", "return round(1.0 / (1.0 - keras_momentum))")),
    ("rounded_down", ("return math.ceil(", "return -1 + math.ceil(")),
])

PRACTICE = "ps6-in-practice"
STATS6 = ("mu = x.mean(axis=axes, keepdims=True)\n"
          "    inv_std = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)")
DX6 = "dx = g / m * (m * dy - dbeta.reshape(1, -1, 1, 1) - x_hat * dgamma.reshape(1, -1, 1, 1))"
MEAN_TERM6, VAR_TERM6 = " - dbeta.reshape(1, -1, 1, 1)", " - x_hat * dgamma.reshape(1, -1, 1, 1)"


def _stats_over(axes):
    """Spatial backward with the statistics, and the sums of dx, over ``axes``."""
    mean = f"mean(axis={axes}, keepdims=True)"
    return ((STATS6, STATS6.replace("axis=axes", f"axis={axes}")),
            (DX6, "d = gamma.reshape(1, -1, 1, 1) * dy\n"
             f"    dx = inv_std * (d - d.{mean} - x_hat * (d * x_hat).{mean})"))


FOLD_S = "s = gamma / np.sqrt(running_var + eps)"
FOLD_B = "(b - running_mean) * s + beta"
GN_MU, GN_VAR = "mu = xg.mean(axis=2, keepdims=True)", "xg.var(axis=2, keepdims=True)"
GN_GROUPS = "xg = x.reshape(n, num_groups, -1)"
GN_DX = ("(d - d.mean(axis=2, keepdims=True)\n"
         "                             - xh * (d * xh).mean(axis=2, keepdims=True))")


def _gn_stats(axes, regroup=True):
    edits = [(GN_MU, GN_MU.replace("axis=2", f"axis={axes}")),
             (GN_VAR, GN_VAR.replace("axis=2", f"axis={axes}"))]
    return edits + [(GN_GROUPS, "xg = x")] if regroup else edits


INTERLEAVE = (".reshape(n, -1, num_groups, x.shape[2] * x.shape[3]).transpose(0, 2, 1, 3)"
              ".reshape(n, num_groups, -1)")  # channel c in group c % G
UNINTERLEAVE = (".reshape(n, num_groups, -1, x.shape[2] * x.shape[3]).transpose(0, 2, 1, 3)"
                ".reshape(x.shape)")
GN_INTERLEAVED = ((GN_GROUPS, "xg = x" + INTERLEAVE),
                  ("x_hat = ((xg - mu) * inv_std).reshape(x.shape)",
                   "x_hat = ((xg - mu) * inv_std)" + UNINTERLEAVE))

ADA_MEAN, ADA_VAR = "means[i] = means[i] + mu / n_batches", \
    "variances[i] = variances[i] + var * m / (m - 1) / n_batches"
ADA_EMA = ((ADA_MEAN, "means[i] = 0.9 * means[i] + 0.1 * mu"),
           (ADA_VAR, "variances[i] = 0.9 * variances[i] + 0.1 * var * m / (m - 1)"))
ADA_BATCHES = "n_batches = len(x) // batch_size"
PS6 = _many(PRACTICE, "ps6_spatial_backward", [
    ("per_location_stats", *_stats_over("0")),
    ("over_channels", *_stats_over("(1, 2, 3)")),
    ("instance_norm", *_stats_over("(2, 3)")),
    ("stats_as_constants", (DX6, "dx = g * dy")),
    ("missing_mean_path", (MEAN_TERM6, "")),
    ("missing_var_path", (VAR_TERM6, "")),
    ("unbiased_variance", ("x.var(axis=axes, keepdims=True)",
                           "x.var(axis=axes, keepdims=True, ddof=1)"),
     (DX6, "dx = g * (dy - dbeta.reshape(1, -1, 1, 1) / m - x_hat * dgamma.reshape(1, -1, 1, 1)"
      " / (m - 1))")),
    ("params_over_batch_only", ("dgamma = (dy * x_hat).sum(axis=axes)\n"
                                "    dbeta = dy.sum(axis=axes)",
                                "dgamma = (dy * x_hat).sum(axis=0)\n    dbeta = dy.sum(axis=0)"),
     (DX6, "dx = g / m * (m * dy - dy.sum(axis=axes, keepdims=True) - x_hat * "
      "(dy * x_hat).sum(axis=axes, keepdims=True))")),
    ("mutates_input", ("x_hat = (x - mu) * inv_std", "x -= mu\n    x_hat = x * inv_std")),
]) + _many(PRACTICE, "ps6_fold_conv", [
    ("scale_input_channels", ("weight * s[:, None, None, None]",
                              "weight * s[None, :, None, None]")),
    ("eps_missing", (FOLD_S, "s = gamma / np.sqrt(running_var)")),
    ("sqrt_missing", (FOLD_S, "s = gamma / (running_var + eps)")),
    ("sqrt_twice", (FOLD_S, "s = gamma / np.sqrt(np.sqrt(running_var + eps))")),
    ("mean_sign", (FOLD_B, "(b + running_mean) * s + beta")),
    ("mean_not_scaled", (FOLD_B, "b * s - running_mean + beta")),
    ("bias_dropped", ("b = np.zeros(len(gamma)) if bias is None else bias",
                      "b = np.zeros(len(gamma))")),
    ("beta_dropped", (FOLD_B, "(b - running_mean) * s")),
    ("mutates_input", ("return weight * s[:, None, None, None],",
                       "weight *= s[:, None, None, None]\n    return weight,")),
]) + _many(PRACTICE, "ps6_groupnorm_forward", [
    ("batch_statistics", *_gn_stats("(0, 2, 3)")),
    ("group_over_batch", *_gn_stats("(0, 2)", regroup=False)),
    ("instance_norm", *_gn_stats("(2, 3)")),
    ("interleaved_groups", *GN_INTERLEAVED),
    ("unbiased_variance", (GN_VAR, "xg.var(axis=2, keepdims=True, ddof=1)")),
    ("gamma_last_axis", ("y = gamma.reshape(1, -1, 1, 1) * x_hat + beta.reshape(1, -1, 1, 1)\n"
                         "    return y, {", "y = gamma * x_hat + beta\n    return y, {")),
]) + _many(PRACTICE, "ps6_groupnorm_backward", [
    ("stats_as_constants", (GN_DX, "d")),
    ("missing_mean_path", ("(d - d.mean(axis=2, keepdims=True)\n", "(d\n")),
    ("missing_var_path", (GN_DX.split("True)", 1)[1], ")")),
    ("sums_per_channel", ('dx = cache["inv_std"] * ' + GN_DX,
                          "inv = np.broadcast_to(cache[\"inv_std\"], xh.shape).reshape(x.shape)\n"
                          "    dl = gamma.reshape(1, -1, 1, 1) * dy\n"
                          "    dx = inv * (dl - dl.mean(axis=(2, 3), keepdims=True) - x_hat * "
                          "(dl * x_hat).mean(axis=(2, 3), keepdims=True))")),
    ("interleaved_groups", *GN_INTERLEAVED,  # forward and backward, consistently
     ("d = (gamma.reshape(1, -1, 1, 1) * dy).reshape(n, num_groups, -1)",
      "d = (gamma.reshape(1, -1, 1, 1) * dy)" + INTERLEAVE),
     ("xh = x_hat.reshape(n, num_groups, -1)", "xh = x_hat" + INTERLEAVE),
     ("return dx.reshape(x.shape), dgamma, dbeta", "return dx" + UNINTERLEAVE + ", dgamma, dbeta")),
    ("params_per_example", ("dgamma = (dy * x_hat).sum(axis=(0, 2, 3))\n"
                            "    dbeta = dy.sum(axis=(0, 2, 3))",
                            "dgamma = (dy * x_hat).sum(axis=(2, 3))\n"
                            "    dbeta = dy.sum(axis=(2, 3))")),
]) + _many(PRACTICE, "ps6_adabn", [
    ("ema_from_old", *ADA_EMA, ("means = [0.0] * len(blocks)",
                                'means = [b["running_mean"] for b in blocks]'),
     ("variances = [0.0] * len(blocks)", 'variances = [b["running_var"] for b in blocks]')),
    ("ema_from_reset", *ADA_EMA, ("variances = [0.0] * len(blocks)",
                                  "variances = [1.0] * len(blocks)")),
    ("last_batch_only", (ADA_MEAN, "means[i] = mu"), (ADA_VAR, "variances[i] = var * m / (m - 1)")),
    ("biased_variance", (ADA_VAR, "variances[i] = variances[i] + var / n_batches")),
    ("old_statistics_upstream", ("z_hat = (z - mu.reshape(1, -1, 1, 1)) / np.sqrt(var.reshape(",
                                 'z_hat = (z - block["running_mean"].reshape(1, -1, 1, 1)) / '
                                 'np.sqrt(block["running_var"].reshape(')),
    ("incomplete_batch", (ADA_BATCHES, "n_batches = -(-len(x) // batch_size)")),
    ("one_batch", (ADA_BATCHES, "n_batches, batch_size = 1, len(x)")),
])


# -- slips added for issue 18 (eps placement, gamma, counts, axes, reshapes, signs,
# factors, conventions), one per named mistake ----------------------------------------------
STD2 = "std = np.sqrt(var + eps)"
DVAR = "dvar = dstd * 0.5 / std"
NEW = _many(FORWARD, "ps1_train_forward", [
    ("gamma_missing", ("y = gamma * x_hat + beta", "y = x_hat + beta")),
    ("mean_not_subtracted", ("x_hat = (x - mu) / np.sqrt(var + eps)",
                             "x_hat = x / np.sqrt(var + eps)")),
]) + _many(FORWARD, "ps1_worked_examples", [
    ("two_decimals", ("var_y_B = y_B.var()", "var_y_B = y_B.var()\nx_hat_A = np.round(x_hat_A, 2)"
                      "\ny_B = np.round(y_B, 2)")),
    ("x_hat_not_standardised", ("x_hat_A = (x_A - x_A.mean()) / np.sqrt(x_A.var())",
                                "x_hat_A = (x_A - x_A.mean()) / x_A.var()")),
    ("y_not_normalised", ("y_B = 2.0 * x_hat_A + 1.0", "y_B = 2.0 * x_A + 1.0")),
    ("y_not_affine", ("y_B = 2.0 * x_hat_A + 1.0", "y_B = 2.0 * x_hat_A")),
    ("mean_not_of_y", ("mean_y_B = y_B.mean()", "mean_y_B = y_B.sum()")),
    ("var_not_of_y", ("var_y_B = y_B.var()", "var_y_B = y_B.var(ddof=1)")),
]) + _many(FORWARD, "ps1_inference_forward", [
    ("gamma_missing", ("return gamma * x_hat + beta", "return x_hat + beta")),
    ("batch_mean_in_eval", ("(x - running_mean) / np.sqrt", "(x - x.mean(axis=0)) / np.sqrt")),
]) + _many(BACKWARD, "ps2_param_grads", [
    ("params_wrong_axis", ('dgamma = (dy * cache["x_hat"]).sum(axis=0)\n    dbeta = dy.sum(axis=0)',
                           'dgamma = (dy * cache["x_hat"]).sum(axis=1)\n'
                           '    dbeta = dy.sum(axis=1)')),
]) + _many(BACKWARD, "ps2_staged_backward", [
    ("eps_outside_sqrt", (STD2, "std = np.sqrt(var) + eps")),
    ("dvar_half_dropped", (DVAR, "dvar = dstd / std")),
    ("dvar_two_dropped", ("dxc = dxc + dvar * 2.0 * xc / m  #", "dxc = dxc + dvar * xc / m  #")),
    ("var_path_sign", ("dstd = -dinv / std**2", "dstd = dinv / std**2")),
    ("mean_path_sign", ("dmu = -dxc.sum(axis=0)", "dmu = dxc.sum(axis=0)")),
    ("wrong_count", ("m = x.shape[0]", "m = x.shape[1]")),
    ("params_wrong_axis", ("dbeta = dy.sum(axis=0)\n    dgamma = (dy * x_hat).sum(axis=0)\n"
                           "    dx_hat",
                           "dbeta = dy.sum(axis=1)\n    dgamma = (dy * x_hat).sum(axis=1)\n"
                           "    dx_hat")),
]) + _many(BACKWARD, "ps2_compact_backward", [
    ("eps_outside_sqrt", ("dx = gamma / (m * np.sqrt(var + eps))",
                          "dx = gamma / (m * (np.sqrt(var) + eps))")),
    ("var_path_sign", ("(m * dy - dbeta - x_hat * dgamma)", "(m * dy - dbeta + x_hat * dgamma)")),
    ("mean_path_sign", ("(m * dy - dbeta - x_hat * dgamma)", "(m * dy + dbeta - x_hat * dgamma)")),
    ("wrong_count", ("m = dy.shape[0]\n    dbeta", "m = dy.shape[1]\n    dbeta")),
]) + _many(BACKWARD, "ps2_rel_error", [
    ("norm_of_sum", ("scale = np.linalg.norm(a) + np.linalg.norm(b)",
                     "scale = np.linalg.norm(a + b)")),
    ("absolute_error", ("return float(np.linalg.norm(a - b) / scale)",
                        "return float(np.linalg.norm(a - b))")),
]) + _many(INFERENCE, "ps3_running_update", [
    ("cumulative_count", ("factor = 1.0 / num_batches_tracked if",
                          "factor = 1.0 / (num_batches_tracked + 1) if")),
]) + _many(INFERENCE, "ps3_batchnorm1d", [
    ("count_not_incremented", ("            self.num_batches_tracked += 1\n", "")),
    ("batch_mean_in_eval", (EVAL_BRANCH, EVAL_BRANCH.replace("self.running_mean, self.running_var",
                                                             "x.mean(axis=0), self.running_var"))),
]) + _many(CONV, "ps4_spatial_forward", [
    ("eps_outside_sqrt", ("x_hat = (x - mu) / np.sqrt(var + eps)",
                          "x_hat = (x - mu) / (np.sqrt(var) + eps)")),
    ("sqrt_missing", ("x_hat = (x - mu) / np.sqrt(var + eps)", "x_hat = (x - mu) / (var + eps)")),
    ("gamma_missing", ("y = gamma.reshape(1, -1, 1, 1) * x_hat + beta.reshape(1, -1, 1, 1)",
                       "y = x_hat + beta.reshape(1, -1, 1, 1)")),
    ("beta_missing", ("y = gamma.reshape(1, -1, 1, 1) * x_hat + beta.reshape(1, -1, 1, 1)",
                      "y = gamma.reshape(1, -1, 1, 1) * x_hat")),
    ("channels_last_reshape", ("mu = " + MEAN4 + "\n    var = " + VAR4 + "\n"
                               "    x_hat = (x - mu) / np.sqrt(var + eps)\n",
                               "xf = x.reshape(-1, x.shape[1])\n"
                               "    mu = xf.mean(axis=0)\n    var = xf.var(axis=0)\n"
                               "    x_hat = ((xf - mu) / np.sqrt(var + eps)).reshape(x.shape)\n")),
]) + _many(CONV, "ps4_batchnorm2d", [
    ("count_not_incremented", ("        self.num_batches_tracked += 1\n        f =",
                               "        f =")),
    ("batch_mean_in_eval", (EVAL_Y, EVAL_Y.replace("self.running_mean.reshape(1, -1, 1, 1)",
                                                   "x.mean(axis=(0, 2, 3), keepdims=True)"))),
]) + _many(CONV, "ps4_fold", [
    ("eps_missing", (FOLD_S, "s = gamma / np.sqrt(running_var)")),
    ("eps_outside_sqrt", (FOLD_S, "s = gamma / (np.sqrt(running_var) + eps)")),
    ("sqrt_twice", (FOLD_S, "s = gamma / np.sqrt(np.sqrt(running_var + eps))")),
    ("gamma_missing", (FOLD_S, "s = 1.0 / np.sqrt(running_var + eps)")),
    ("weight_unscaled", ("return weight * s[:, None],", "return weight,")),
    ("mean_sign", (FOLD_B, "(b + running_mean) * s + beta")),
    ("beta_dropped", (FOLD_B, "(b - running_mean) * s")),
]) + _many(PRACTICE, "ps6_fold_conv", [
    ("eps_outside_sqrt", (FOLD_S, "s = gamma / (np.sqrt(running_var) + eps)")),
    ("gamma_missing", (FOLD_S, "s = 1.0 / np.sqrt(running_var + eps)")),
    ("weight_unscaled", ("return weight * s[:, None, None, None],", "return weight,")),
]) + _many(PRACTICE, "ps6_spatial_backward", [
    ("eps_outside_sqrt", ("1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)",
                          "1.0 / (np.sqrt(x.var(axis=axes, keepdims=True)) + eps)")),
    ("missing_gamma", ("g = gamma.reshape(1, -1, 1, 1) * inv_std", "g = inv_std")),
    ("batch_count_only", ("m = x.size // x.shape[1]", "m = x.shape[0]")),
    ("channels_last_reshape", (STATS6 + "\n    x_hat = (x - mu) * inv_std\n",
                               "xf, dyf = x.reshape(-1, x.shape[1]), dy.reshape(-1, x.shape[1])\n"
                               "    mu = xf.mean(axis=0)\n"
                               "    inv_std = 1.0 / np.sqrt(xf.var(axis=0) + eps)\n"
                               "    x_hat = (xf - mu) * inv_std\n"
                               "    dgamma = (dyf * x_hat).sum(axis=0)\n"
                               "    dbeta = dyf.sum(axis=0)\n"
                               "    dx = gamma * inv_std / m * (m * dyf - dbeta - x_hat * dgamma)\n"
                               "    return dx.reshape(x.shape), dgamma, dbeta\n")),
]) + _many(PRACTICE, "ps6_groupnorm_forward", [
    ("eps_outside_sqrt", ("inv_std = 1.0 / np.sqrt(" + GN_VAR + " + eps)",
                          "inv_std = 1.0 / (np.sqrt(" + GN_VAR + ") + eps)")),
    ("groups_ignored", (GN_GROUPS, "xg = x.reshape(n, 1, -1)")),
    ("gamma_missing", ("y = gamma.reshape(1, -1, 1, 1) * x_hat + beta.reshape(1, -1, 1, 1)\n"
                       "    return y, {", "y = x_hat + beta.reshape(1, -1, 1, 1)\n"
                       "    return y, {")),
]) + _many(PRACTICE, "ps6_groupnorm_backward", [
    ("eps_outside_sqrt", ("inv_std = 1.0 / np.sqrt(" + GN_VAR + " + eps)",
                          "inv_std = 1.0 / (np.sqrt(" + GN_VAR + ") + eps)")),
    ("missing_gamma", ("d = (gamma.reshape(1, -1, 1, 1) * dy).reshape(n, num_groups, -1)",
                       "d = dy.reshape(n, num_groups, -1)")),
    ("wrong_count", ('dx = cache["inv_std"] * ' + GN_DX,
                     'm = x[0].size\n    dx = cache["inv_std"] / m * (m * d - d.sum(axis=2, '
                     'keepdims=True) - xh * (d * xh).sum(axis=2, keepdims=True))')),
    ("groups_ignored", ("_, cache = groupnorm_forward(x, gamma, np.zeros_like(gamma), "
                        "num_groups, eps)",
                        "num_groups = 1\n    _, cache = groupnorm_forward(x, gamma, "
                        "np.zeros_like(gamma), num_groups, eps)")),
]) + _many(PRACTICE, "ps6_adabn", [
    ("conv_bias_dropped", ('conv_forward(h, block["weight"], block["bias"], pad=1)',
                           'conv_forward(h, block["weight"], np.zeros(len(block["bias"])), '
                           'pad=1)')),
    ("batch_count_only", ("m = z.size // z.shape[1]", "m = z.shape[0]")),
    ("eps_ignored", ('np.sqrt(var.reshape(1, -1, 1, 1) + block["eps"])',
                     "np.sqrt(var.reshape(1, -1, 1, 1) + 1e-5)")),
    ("relu_missing", ('h = np.maximum(block["gamma"].reshape(1, -1, 1, 1) * z_hat\n'
                      '                           + block["beta"].reshape(1, -1, 1, 1), 0.0)',
                      'h = block["gamma"].reshape(1, -1, 1, 1) * z_hat + '
                      'block["beta"].reshape(1, -1, 1, 1)')),
    ("affine_missing", ('h = np.maximum(block["gamma"].reshape(1, -1, 1, 1) * z_hat\n'
                        '                           + block["beta"].reshape(1, -1, 1, 1), 0.0)',
                        "h = np.maximum(z_hat, 0.0)")),
])
QUIZ = {"spatial_count": "b", "warmup": "c", "padding": "d", "sync": "a"}  # ps6's quiz
PS6 += [Injection(PRACTICE, f"ps6_q_{q}", f"option_{wrong}",
                  ((f'answer_{q} = "{right}"', f'answer_{q} = "{wrong}"'),))
        for q, right in QUIZ.items() for wrong in "abcd" if wrong != right]

ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW

# Graded through nbgrader too (tests/test_nbgrader.py): each mistake the issue names,
# once, spread over the parts, one mistake of ps4 and ps5 and one per part of ps6 so that every
# assignment's feedback is seen failing.
NAMED = [
    ("ps1_train_forward", "unbiased_variance"), ("ps1_inference_forward", "eps_outside_sqrt"),
    ("ps1_inference_forward", "eps_missing"), ("ps1_train_forward", "wrong_axis"),
    ("ps1_train_forward", "transposed_layout"), ("ps1_train_forward", "mutates_input"),
    ("ps1_inference_forward", "batch_stats_in_eval"),
    ("ps4_batchnorm2d", "keras_momentum"), ("ps4_batchnorm2d", "biased_running_var"),
    ("ps3_batchnorm1d", "updates_in_eval"), ("ps3_batchnorm1d", "batch_stats_in_eval"),
    ("ps2_staged_backward", "missing_mean_path"), ("ps2_compact_backward", "missing_var_path"),
    ("ps2_param_grads", "dgamma_from_x"),
    ("ps4_fold", "mean_not_scaled"), ("ps5_q_bias_grad", "option_c"),
    ("ps6_spatial_backward", "per_location_stats"), ("ps6_fold_conv", "scale_input_channels"),
    ("ps6_groupnorm_forward", "interleaved_groups"), ("ps6_groupnorm_backward", "missing_var_path"),
    ("ps6_adabn", "ema_from_old"),
]
GRADED = [next(i for i in ALL if (i.grade_id, i.mistake) == key) for key in NAMED]

NEW += _many(FORWARD, "ps1_train_forward", [
    ("std_as_variance", ("var = x.var(axis=0)  #", "var = x.std(axis=0)  #")),
    ("beta_scaled", ("y = gamma * x_hat + beta", "y = gamma * (x_hat + beta)")),
]) + _many(FORWARD, "ps1_inference_forward", [
    ("beta_scaled", ("return gamma * x_hat + beta", "return gamma * (x_hat + beta)")),
]) + _many(INFERENCE, "ps3_running_update", [
    ("corrected_twice", ("x.var(axis=0) * m / (m - 1)", "x.var(axis=0, ddof=1) * m / (m - 1)")),
]) + _many(CONV, "ps4_spatial_forward", [
    ("std_as_variance", (VAR4, VAR4.replace("var(", "std("))),
    ("beta_scaled", ("y = gamma.reshape(1, -1, 1, 1) * x_hat + beta.reshape(1, -1, 1, 1)",
                     "y = gamma.reshape(1, -1, 1, 1) * (x_hat + beta.reshape(1, -1, 1, 1))")),
]) + _many(CONV, "ps4_fold", [
    ("bias_not_scaled", (FOLD_B, "b - running_mean * s + beta")),
    ("scale_inverted", (FOLD_S, "s = gamma * np.sqrt(running_var + eps)")),
]) + _many(PRACTICE, "ps6_fold_conv", [
    ("bias_not_scaled", (FOLD_B, "b - running_mean * s + beta")),
    ("scale_inverted", (FOLD_S, "s = gamma * np.sqrt(running_var + eps)")),
]) + _many(PRACTICE, "ps6_groupnorm_forward", [
    ("group_axis_last", (GN_GROUPS, "xg = x.reshape(n, -1, num_groups)")),
])
ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW

NEW += _many(FORWARD, "ps1_train_forward", [
    ("beta_sign", ("y = gamma * x_hat + beta", "y = gamma * x_hat - beta")),
]) + _many(FORWARD, "ps1_inference_forward", [
    ("beta_sign", ("return gamma * x_hat + beta", "return gamma * x_hat - beta")),
    ("mean_sign", ("(x - running_mean) / np.sqrt", "(x + running_mean) / np.sqrt")),
]) + _many(BACKWARD, "ps2_staged_backward", [
    ("eps_missing", (STD2, "std = np.sqrt(var)")),
]) + _many(BACKWARD, "ps2_compact_backward", [
    ("eps_missing", ("dx = gamma / (m * np.sqrt(var + eps))", "dx = gamma / (m * np.sqrt(var))")),
    ("sqrt_missing", ("dx = gamma / (m * np.sqrt(var + eps))", "dx = gamma / (m * (var + eps))")),
]) + _many(CONV, "ps4_spatial_forward", [
    ("eps_missing", ("x_hat = (x - mu) / np.sqrt(var + eps)", "x_hat = (x - mu) / np.sqrt(var)")),
]) + _many(PRACTICE, "ps6_spatial_backward", [
    ("eps_missing", ("1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)",
                     "1.0 / np.sqrt(x.var(axis=axes, keepdims=True))")),
]) + _many(PRACTICE, "ps6_groupnorm_forward", [
    ("eps_missing", ("inv_std = 1.0 / np.sqrt(" + GN_VAR + " + eps)",
                     "inv_std = 1.0 / np.sqrt(" + GN_VAR + ")")),
    ("sqrt_missing", ("inv_std = 1.0 / np.sqrt(" + GN_VAR + " + eps)",
                      "inv_std = 1.0 / (" + GN_VAR + " + eps)")),
]) + _many(PRACTICE, "ps6_groupnorm_backward", [
    ("eps_missing", ("inv_std = 1.0 / np.sqrt(" + GN_VAR + " + eps)",
                     "inv_std = 1.0 / np.sqrt(" + GN_VAR + ")")),
])
ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW

NEW += _many(INFERENCE, "ps3_batchnorm1d", [
    ("unbiased_in_forward", ("mean, var = x.mean(axis=0), x.var(axis=0)",
                             "mean, var = x.mean(axis=0), x.var(axis=0, ddof=1)")),
    ("eps_missing_in_eval", ("return self.gamma * (x - mean) / np.sqrt(var + self.eps)",
                             "return self.gamma * (x - mean) / np.sqrt(var + self.eps * "
                             "self.training)")),
]) + _many(CONV, "ps4_batchnorm2d", [
    ("eps_missing_in_eval", ("scale = (self.gamma / np.sqrt(self.running_var + self.eps))",
                             "scale = (self.gamma / np.sqrt(self.running_var))")),
]) + _many(PRACTICE, "ps6_adabn", [
    ("not_shuffled", ("order = np.random.default_rng(seed).permutation(len(x))",
                      "order = np.arange(len(x))")),
])
ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW

# -- named for the fresh held-out slips (tests/slip_list.py), each written anew here ----------
RELERR = "return float(np.linalg.norm(a - b) / scale)"
SCALE = "scale = np.linalg.norm(a) + np.linalg.norm(b)"
NEW += _many(BACKWARD, "ps2_numerical_gradient", [
    ("perturbs_every_entry", ("x[i] = old + h\n        plus = f(x)", "plus = f(x + h)"),
     ("x[i] = old - h\n        minus = f(x)", "minus = f(x - h)")),
    ("sum_not_difference", ("(plus - minus) / (2 * h)", "(minus + plus) / (2 * h)")),
    ("abs_difference", ("(plus - minus) / (2 * h)", "np.abs(plus - minus) / (2 * h)")),
    ("integer_gradient", ("grad = np.zeros_like(x, dtype=float)", "grad = np.zeros(x.shape, int)")),
]) + _many(BACKWARD, "ps2_rel_error", [
    ("product_scale", (SCALE, "scale = np.linalg.norm(b) * np.linalg.norm(a)")),
    ("max_scale", (SCALE, "scale = np.max([np.linalg.norm(a), np.linalg.norm(b)])")),
    ("l1_norms", (SCALE, "scale = np.sum(np.abs(a)) + np.sum(np.abs(b))")),
    ("squared_error", (RELERR, "return float(np.sum((a - b) ** 2) / scale)")),
    ("divided_by_size", (RELERR, "return float(np.linalg.norm(a - b) / scale / np.size(a))")),
    ("tiny_added", (SCALE, "scale = np.linalg.norm(a) + np.linalg.norm(b) + 1e-8")),
    ("norm_of_abs_sum", (SCALE, "scale = np.linalg.norm(abs(a) + abs(b))")),
    ("scale_from_difference", (SCALE, "scale = np.linalg.norm(b) + np.linalg.norm(b - a)")),
])
ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW

for _assignment, _grade_id in ((CONV, "ps4_fold"), (PRACTICE, "ps6_fold_conv")):
    NEW += _many(_assignment, _grade_id, [
        ("bias_divided", (FOLD_B, "(b - running_mean) / s + beta")),
        ("beta_scaled", (FOLD_B, "(b - running_mean + beta) * s")),
        ("beta_sign", (FOLD_B, "(b - running_mean) * s - beta")),
        ("subtraction_reversed", (FOLD_B, "(running_mean - b) * s + beta")),
        ("none_argument", ("b = np.zeros(len(gamma)) if bias is None else bias",
                           "b = np.ones(len(gamma)) if bias is None else bias")),
    ])
# the generic diagnoses (bnlib/checks/diagnose.py), each on a slip no named mistake explains
NEW += _many(FORWARD, "ps1_train_forward", [
    ("eps_squared", ("x_hat = (x - mu) / np.sqrt(var + eps)",
                     "x_hat = (x - mu) / np.sqrt(var + eps ** 2)")),
    ("channel_shift", ("mu = x.mean(axis=0)", "mu = x.sum(axis=0) / (x.shape[0] - 1)")),
]) + _many(FORWARD, "ps1_inference_forward", [
    ("gamma_beta_swapped", ("return gamma * x_hat + beta", "return beta * x_hat + gamma")),
]) + _many(BACKWARD, "ps2_staged_backward", [
    ("var_path_term", ("dvar = dstd * 0.5 / std", "dvar = dstd * 0.5 * std")),
    ("mean_path_term", ("dmu = -dxc.sum(axis=0)", "dmu = -dx_hat.sum(axis=0)")),
    ("channel_factor", ("dx_hat = dy * gamma", "dx_hat = dy * gamma * inv")),
]) + _many(BACKWARD, "ps2_compact_backward", [
    ("direct_term", ("(m * dy - dbeta - x_hat * dgamma)", "(dy - dbeta - x_hat * dgamma)")),
    ("path_terms", ("(m * dy - dbeta - x_hat * dgamma)", "(m * dy - dgamma - x_hat * dbeta)")),
]) + _many(BACKWARD, "ps2_param_grads", [
    ("constant_factor", ("dbeta = dy.sum(axis=0)\n    return", "dbeta = dy.sum(axis=0) / 2\n"
                         "    return")),
]) + _many(CONCEPTS, "ps5_conv_inference_ops", [
    ("constant_factor", ("return 4 * values,", "return 2 * values,")),
    ("wrong_order", ("return 4 * values, 2 * c_in * kernel * kernel * values",
                     "return 2 * c_in * kernel * kernel * values, 4 * values")),
]) + _many(PRACTICE, "ps6_groupnorm_forward", [
    ("beta_ignored", ("y = gamma.reshape(1, -1, 1, 1) * x_hat + beta.reshape(1, -1, 1, 1)\n"
                      "    return y, {", "y = gamma.reshape(1, -1, 1, 1) * x_hat\n"
                      "    return y, {")),
]) + _many(PRACTICE, "ps6_groupnorm_backward", [
    ("eps_default", ("np.zeros_like(gamma), num_groups, eps)",
                     "np.zeros_like(gamma), num_groups)")),
]) + _many(BACKWARD, "ps2_param_grads", [
    ("wrong_shape", ("dbeta = dy.sum(axis=0)\n    return", "dbeta = dy.sum()\n    return")),
])
ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW
NEW += _many(FORWARD, "ps1_train_forward", [
    ("scale_per_channel", ("x_hat = (x - mu) / np.sqrt(var + eps)",
                           "x_hat = (x - mu) * np.sqrt(var + eps)")),
]) + _many(FORWARD, "ps1_inference_forward", [
    ("eps_default", ("np.sqrt(running_var + eps)", "np.sqrt(running_var + 1e-5)")),
])
ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW
UPD_VAR = "new_var = (1 - factor) * running_var + factor * x.var(axis=0) * m / (m - 1)"
NEW += _many(INFERENCE, "ps3_running_update", [
    ("old_not_decayed", ("new_mean = (1 - factor) * running_mean +", "new_mean = running_mean +"),
     (UPD_VAR, "new_var = running_var + factor * x.var(axis=0) * m / (m - 1)")),
    ("correction_inverted", ("x.var(axis=0) * m / (m - 1)", "x.var(axis=0) / m * (m - 1)")),
    ("std_not_var", ("x.var(axis=0) * m / (m - 1)", "np.std(x, axis=0) * m / (m - 1)")),
    ("features_as_count", ("m = x.shape[0]\n    factor", "m = len(x[0])\n    factor")),
    ("var_about_running_mean", ("factor * x.var(axis=0) * m / (m - 1)",
                                "factor * np.sum((x - new_mean) ** 2, axis=0) / (m - 1)")),
    ("running_var_squared", ("new_var = (1 - factor) * running_var +",
                             "new_var = (1 - factor) * running_var * running_var +")),
])
ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW
BN1D_OUT = "return self.gamma * (x - mean) / np.sqrt(var + self.eps) + self.beta"
NEW += _many(INFERENCE, "ps3_batchnorm1d", [
    ("eps_outside_sqrt", (BN1D_OUT, "return self.gamma * (x - mean) / (var ** 0.5 + self.eps) "
                          "+ self.beta")),
    ("beta_scaled", (BN1D_OUT, "return self.gamma * ((x - mean) / np.sqrt(var + self.eps) "
                     "+ self.beta)")),
    ("running_stats_in_training", (BN1D_OUT, "mean, var = self.running_mean, self.running_var\n"
                                   "        " + BN1D_OUT)),
    ("eps_default", ("self.eps, self.momentum = eps, momentum",
                     "self.eps, self.momentum = 0.00001, momentum")),
    ("mean_starts_at_one", ("self.running_mean = np.zeros(num_features)",
                            "self.running_mean = np.ones(num_features) * 1.0")),
    ("params_start_swapped", ("self.gamma = np.ones(num_features)\n"
                              "        self.beta = np.zeros(num_features)",
                              "self.beta = np.ones(num_features)\n"
                              "        self.gamma = np.zeros(num_features)")),
    ("mode_ignored", ("self.training = mode\n", "self.training = bool(1)\n")),
]) + _many(CONV, "ps4_batchnorm2d", [
    ("ignores_momentum_none", ("f = 1.0 / self.num_batches_tracked if self.momentum is None "
                               "else self.momentum", "f = 0.1 if self.momentum is None "
                               "else self.momentum")),
    ("var_starts_at_zero", ("np.zeros(num_features), np.ones(num_features)",
                            "np.zeros(num_features), np.zeros(num_features)")),
    ("mean_starts_at_one", ("np.zeros(num_features), np.ones(num_features)",
                            "np.ones(num_features), np.ones(num_features)")),
    ("params_start_swapped", ("self.gamma, self.beta = np.ones(num_features), "
                              "np.zeros(num_features)", "self.gamma, self.beta = "
                              "np.zeros(num_features), np.ones(num_features)")),
    ("mode_ignored", ("self.training = mode\n", "self.training = True or mode\n")),
    ("eps_outside_sqrt_in_eval", ("scale = (self.gamma / np.sqrt(self.running_var + self.eps))",
                                  "scale = (self.gamma / (self.running_var ** 0.5 + self.eps))")),
    ("beta_missing_in_eval", (" * scale + self.beta.reshape(1, -1, 1, 1)", " * scale + 0.0")),
    ("correction_inverted", ('cache["var"] * m / (m - 1)', 'cache["var"] / m * (m - 1)')),
    ("all_values_count", ("m = x.size // x.shape[1]  # values per channel",
                          "m = np.size(x)  # values per channel")),
    ("var_from_mean", ('cache["var"] * m / (m - 1)', 'cache["mu"] / (m - 1) * m')),
])
ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW
STEPS = "return math.ceil(math.log(1.0 - fraction) / math.log(keras_momentum) - 1e-9)"
OPS = "return 4 * values, 2 * c_in * kernel * kernel * values"
BIAS_WITH = "y_with = batchnorm_forward(x @ weight.T + bias, gamma, beta, eps)[0]"
NEW += _many(CONCEPTS, "ps5_steps_to_cover", [
    ("fraction_not_remaining", (STEPS, STEPS.replace("math.log(1.0 - fraction)",
                                                     "math.log(fraction)"))),
    ("rounded_to_nearest", (STEPS, "return int(round(math.log(1.0 - fraction) / "
                            "math.log(keras_momentum)))")),
    ("mixed_logs", (STEPS, STEPS.replace("math.log(keras_momentum)",
                                         "np.log10(keras_momentum)"))),
    ("one_step_too_many", (STEPS, STEPS + " + 1")),
    ("exact_power_rounding", (STEPS, STEPS.replace(" - 1e-9", ""))),
]) + _many(CONCEPTS, "ps5_conv_inference_ops", [
    ("values_of_input", (OPS, "return 4 * c_in * height * width, "
                         "2 * c_in * kernel * kernel * values")),
    ("kernel_not_squared", (OPS, "return 4 * values, 2 * c_in * kernel * values")),
    ("valid_output_size", ("values = c_out * height * width",
                           "values = c_out * (height - kernel + 1) * (width + 1 - kernel)")),
    ("c_out_twice", (OPS, "return 4 * values, 2 * c_in * kernel * kernel * values * c_out")),
]) + _many(BACKWARD, "ps2_numerical_gradient", [
    ("unequal_steps", ("x[i] = old - h\n", "x[i] = old - 2 * h\n")),
]) + _many(BACKWARD, "ps2_param_grads", [
    ("dgamma_times_gamma", ('dgamma = (dy * cache["x_hat"]).sum(axis=0)',
                            'dgamma = (cache["gamma"] * dy * cache["x_hat"]).sum(axis=0)')),
    ("dbeta_times_gamma", ("dbeta = dy.sum(axis=0)\n    return",
                           'dbeta = (dy * cache["gamma"]).sum(axis=0)\n    return')),
    ("dgamma_not_normalised", ('dgamma = (dy * cache["x_hat"]).sum(axis=0)',
                               'dgamma = (dy * (cache["x"] - cache["x"].mean(axis=0)))'
                               '.sum(axis=0)')),
]) + _many(CONV, "ps4_bias_redundant", [
    ("bn_left_out", (BIAS_WITH, "y_with = x @ weight.T + bias")),
    ("gamma_beta_swapped", (BIAS_WITH, BIAS_WITH.replace("gamma, beta", "beta, gamma"))),
    ("affine_left_out", ("y_without = batchnorm_forward(x @ weight.T, gamma, beta, eps)[0]",
                         "y_without = batchnorm_forward(x @ weight.T, gamma * 0 + 1, beta * 0, "
                         "eps)[0]")),
])
ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW
GN_INV = 'dx = cache["inv_std"] * (d'
NEW += _many(PRACTICE, "ps6_adabn", [
    ("eps_outside_sqrt", ('np.sqrt(var.reshape(1, -1, 1, 1) + block["eps"])',
                          '(var.reshape(1, -1, 1, 1) ** 0.5 + block["eps"])')),
    ("last_batch_left_out", ("for k in range(n_batches):", "for k in range(0, n_batches - 1):")),
]) + _many(PRACTICE, "ps6_spatial_backward", [
    ("dgamma_from_x", ("dgamma = (dy * x_hat).sum(axis=axes)", "dgamma = (x * dy).sum(axis=axes)")),
    ("unbiased_variance", ("x.var(axis=axes, keepdims=True) + eps",
                           "np.var(x, axis=axes, keepdims=True, ddof=1) + eps")),
]) + _many(PRACTICE, "ps6_groupnorm_forward", [
    ("mean_axis_wrong", (GN_MU, "mu = np.mean(xg, axis=1, keepdims=True)")),
    ("std_multiplied", ("((xg - mu) * inv_std)", "((xg - mu) / inv_std)")),
    ("groups_by_position", (GN_GROUPS, "xg = np.swapaxes(x.reshape(n, -1, num_groups), 1, 2)")),
]) + _many(PRACTICE, "ps6_groupnorm_backward", [
    ("dgamma_from_x", ("dgamma = (dy * x_hat).sum(axis=(0, 2, 3))",
                       "dgamma = (x * dy).sum(axis=(0, 2, 3))")),
    ("inv_std_missing", (GN_INV, "dx = (d")),
    ("inv_std_squared", (GN_INV, 'dx = cache["inv_std"] * cache["inv_std"] * (d')),
]) + _many(CONV, "ps4_spatial_forward", [
    ("mean_axes_differ", (MEAN4, "x.mean(axis=(2, 3), keepdims=True)")),
    ("var_axes_differ", (VAR4, "np.var(x, axis=(0, 1), keepdims=True)")),
])
ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW
NEW += _many(CONV, "ps4_train_with_without_bn", [
    ("gradient_ascent", ("model.sgd_step(lr)", "model.sgd_step(lr * -1)")),
    ("with_replacement", ("size=batch_size, replace=False)", "size=batch_size, replace=True)")),
    ("norm_ignored", ("norm=norm, seed=seed)", "seed=seed)")),
    ("accuracy_on_training_set", ("(model(x_val).argmax(axis=1) == y_val)",
                                  "(model(x).argmax(axis=1) == y)")),
])
ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW
NEW += _many(BACKWARD, "ps2_rel_error", [
    ("scale_squared", (RELERR, "return float(np.linalg.norm(a - b) / (scale * scale))")),
]) + _many(INFERENCE, "ps3_running_update", [
    ("mean_from_running_var", ("new_mean = (1 - factor) * running_mean",
                               "new_mean = (1.0 - factor) * running_var")),
]) + _many(PRACTICE, "ps6_spatial_backward", [
    ("x_hat_not_centred", ("x_hat = (x - mu) * inv_std", "x_hat = inv_std * x")),
]) + _many(BACKWARD, "ps2_staged_backward", [
    ("direct_and_mean_terms", ("dxc = dx_hat * inv  #", "dxc = dx_hat * 1.0  #")),
])
ALL = PS1 + PS2 + PS3 + PS4 + PS5 + PS6 + NEW
