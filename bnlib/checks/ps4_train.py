"""Checks for ps4-conv-and-folding: a small network trained with and without batch norm
(``chapters/01-motivation.md``). The student writes the training loop around
:class:`bnlib.nn.MLP`; the reference is :func:`bnlib.data.train` on the same model."""

import numpy as np

from ..data import spirals, train
from ..nn import MLP, softmax_cross_entropy
from .core import Mistake, Part, register
from .ps4 import ASSIGNMENT

HIDDEN = [32, 32]  # hidden widths of the network the statement prescribes


def model_for(norm, x, y, seed):
    """The MLP the statement prescribes: [D, 32, 32, K], norm after each hidden Linear."""
    return MLP([x.shape[1], *HIDDEN, int(y.max()) + 1], norm=norm, seed=seed)


def trained(norm, x, y, x_val, y_val, lr, steps, batch_size, seed, validate_in_eval=True):
    """(training losses, validation accuracy) from bnlib's training loop."""
    model = model_for(norm, x, y, seed)
    hist = train(model, x, y, lr, steps, batch_size, seed=seed)
    model.train(not validate_in_eval)
    with np.errstate(all="ignore"):
        accuracy = float((model(x_val).argmax(axis=1) == y_val).mean())
    return [float(v) for v in hist["loss"]], accuracy


def _written(norm, x, y, x_val, y_val, lr, steps, batch_size, seed, sign=1.0, replace=False,
             no_norm=False, on_training_set=False):
    """The statement's loop written out (as the notebook does), with one slip."""
    model = model_for(None if no_norm else norm, x, y, seed)
    rng = np.random.default_rng(seed)
    losses = []
    with np.errstate(all="ignore"):
        for _ in range(steps):
            idx = rng.choice(len(y), size=batch_size, replace=replace)
            model.train()
            loss, dscores = softmax_cross_entropy(model(x[idx]), y[idx])
            model.backward(dscores)
            model.sgd_step(sign * lr)
            losses.append(float(loss))
        model.eval()
        xs, ys = (x, y) if on_training_set else (x_val, y_val)
        accuracy = float((model(xs).argmax(axis=1) == ys).mean())
    return losses, accuracy


def as_lists(out):
    """Accept the losses as a list or a 1-D array of numbers (plain data, safe to read)."""
    if isinstance(out, (tuple, list)) and len(out) == 2:
        losses, accuracy = out
        try:
            losses = [float(v) for v in np.asarray(losses, dtype=float).ravel()]
        except (TypeError, ValueError):
            pass
        return losses, accuracy
    return out


def _cases(rng, hidden):
    settings = [("batch", 2.0, 40, 16), (None, 0.3, 30, 32)] if hidden else \
        [("batch", 0.5, 60, 32), (None, 0.5, 60, 32)]
    cases = []
    for norm, lr, steps, batch_size in settings:
        seed = int(rng.integers(1000))
        x, y = spirals(n_per_class=60, noise=0.2, extra_dims=2, seed=seed)
        cut = len(y) * 2 // 3
        cases.append((norm, x[:cut], y[:cut], x[cut:], y[cut:], lr, steps, batch_size, seed))
    return cases


register(Part(
    grade_id="ps4_train_with_without_bn",
    assignment=ASSIGNMENT,
    target="train_and_validate",
    description="a small network trained with and without batch norm",
    points=3,
    make_cases=_cases,
    reference=trained,
    select=as_lists,
    outputs=("losses", "accuracy"),
    allowed_reference=("bnlib.nn.MLP", "bnlib.nn.MLP.__init__", "bnlib.nn.MLP.train",
                       "bnlib.nn.MLP.eval", "bnlib.nn.MLP.forward", "bnlib.nn.MLP.backward",
                       "bnlib.nn.MLP.sgd_step", "bnlib.nn.softmax_cross_entropy"),
    rtol=1e-7, atol=1e-9,
    mistakes=[
        Mistake("validated_in_train_mode",
                "The validation accuracy was measured in training mode: call model.eval() "
                "before validating, so that batch norm uses its running statistics (without "
                "it, each prediction depends on the rest of the validation batch).",
                lambda *case: trained(*case, validate_in_eval=False)),
        Mistake("gradient_ascent",
                "The loss grows: the step goes up the gradient. SGD moves against it, "
                "params -= lr * grad: model.sgd_step(lr) with lr > 0.",
                lambda *case: _written(*case, sign=-1.0)),
        Mistake("with_replacement",
                "A batch must hold batch_size different examples: "
                "rng.choice(len(y), size=batch_size, replace=False).",
                lambda *case: _written(*case, replace=True)),
        Mistake("norm_ignored",
                "The network is built without normalisation whatever `norm` says: pass "
                "norm=norm to MLP, so that norm=\"batch\" adds batch norm.",
                lambda *case: _written(*case, no_norm=True)),
        Mistake("accuracy_on_training_set",
                "The accuracy is measured on the training data: measure it on (x_val, y_val), "
                "which the network has not seen.",
                lambda *case: _written(*case, on_training_set=True)),
    ],
))
