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
])

BACKWARD = "ps2-backward"
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
]) + _many(BACKWARD, "ps2_compact_backward", [
    ("missing_mean_path", ("(m * dy - dbeta - x_hat * dgamma)", "(m * dy - x_hat * dgamma)")),
    ("missing_var_path", ("(m * dy - dbeta - x_hat * dgamma)", "(m * dy - dbeta)")),
    ("stats_as_constants", ("(m * dy - dbeta - x_hat * dgamma)", "(m * dy)")),
    ("missing_gamma", ("dx = gamma / (m *", "dx = 1.0 / (m *")),
    ("dgamma_from_x", ("dgamma = (dy * x_hat).sum(axis=0)\n    dx = gamma",
                       "dgamma = (dy * cache['x']).sum(axis=0)\n    dx = gamma")),
    ("missing_one_over_m", ("dx = gamma / (m * np.sqrt(var + eps))",
                            "dx = gamma / np.sqrt(var + eps)")),
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

ALL = PS1 + PS2
