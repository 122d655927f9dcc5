"""Small data sets (made on the spot or shipped in a package: no download) and a trainer.

The experiments of ``chapters/01-motivation.md``, ``chapters/04-train-vs-inference.md``
and ``chapters/05-placement-and-family.md`` train ``bnlib.nn.MLP`` networks on
:func:`spirals` with :func:`train`; ``chapters/06-conv-on-digits.md`` trains
``bnlib.convnet`` networks on :func:`digits` with the same trainer.
"""

import numpy as np


def spirals(n_per_class=200, classes=3, noise=0.2, extra_dims=0, seed=0):
    """Interleaved 2-D spirals, optionally embedded in more dimensions.

    Parameters
    ----------
    n_per_class : int
    classes : int
    noise : float
        Standard deviation of the angular jitter.
    extra_dims : int
        Pad with this many pure-noise features (harder, more like real data).
    seed : int
        Shifted by :data:`bnlib.seeds.SEED_SHIFT` (0 unless ``BN_SEED_SHIFT`` is set).

    Returns
    -------
    x : ndarray, shape (classes * n_per_class, 2 + extra_dims)
    y : ndarray of int, shape (classes * n_per_class,)
    """
    from .seeds import SEED_SHIFT

    rng = np.random.default_rng(seed + SEED_SHIFT)
    xs, ys = [], []
    for k in range(classes):
        r = np.linspace(0.05, 1.0, n_per_class)
        t = np.linspace(k * 4.0, (k + 1) * 4.0, n_per_class) + rng.normal(0, noise, n_per_class)
        xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        ys.append(np.full(n_per_class, k))
    x = np.concatenate(xs)
    if extra_dims:
        x = np.hstack([x, rng.normal(0, 0.5, size=(len(x), extra_dims))])
    y = np.concatenate(ys)
    order = rng.permutation(len(y))
    return x[order], y[order]


def digits(val_fraction=0.25, seed=0):
    """The handwritten digits shipped with scikit-learn: 1,797 images of 8 x 8 pixels, 10 classes.

    Pixels (0 to 16 in the source) are standardised with the mean and standard
    deviation of the training split's pixels (two numbers), so that a network
    without normalisation starts from inputs of mean 0 and variance 1.

    Parameters
    ----------
    val_fraction : float
        Share of the images held out for validation (a random split).
    seed : int
        Seed of the split (shifted by :data:`bnlib.seeds.SEED_SHIFT`, 0 unless
        ``BN_SEED_SHIFT`` is set).

    Returns
    -------
    x_train : ndarray, shape (N_train, 1, 8, 8)
    y_train : ndarray of int, shape (N_train,)
    x_val : ndarray, shape (N_val, 1, 8, 8)
    y_val : ndarray of int, shape (N_val,)
    """
    from sklearn.datasets import load_digits  # read from the package: no download

    data = load_digits()
    x = data.images.astype(np.float64)[:, None, :, :]
    y = data.target.astype(np.int64)
    from .seeds import SEED_SHIFT

    order = np.random.default_rng(seed + SEED_SHIFT).permutation(len(y))
    n_val = int(round(val_fraction * len(y)))
    val, tr = order[:n_val], order[n_val:]
    mean, std = x[tr].mean(), x[tr].std()
    return (x[tr] - mean) / std, y[tr], (x[val] - mean) / std, y[val]


def train(model, x, y, lr, steps, batch_size, seed=0, x_val=None, y_val=None, every=50,
          diverge_at=1e4, callback=None, callback_every=None, on_step=None, weight_decay=0.0):
    """Mini-batch SGD with softmax cross-entropy.

    Returns a dict of lists: ``step``, ``loss`` (training batch loss, every
    step), and with validation data ``val_step``, ``val_loss``, ``val_acc``
    (every ``every`` steps, measured in eval mode). ``diverged`` is True when a
    training loss became non-finite or exceeded ``diverge_at`` (training stops
    there; a cross-entropy starts near log(K), so 1e4 means it blew up).
    ``callback(step, model)``, if given, runs at the same steps as the
    validation (or every ``callback_every`` steps), after the update (set the
    mode it needs: validation leaves the model in eval mode).
    ``on_step(step, model)``, if given, runs after every update, while the
    model still holds this training batch's forward and backward values.
    ``weight_decay`` is passed to ``model.sgd_step`` (only when it is not zero).

    ``model`` may be a :class:`bnlib.nn.MLPStack`: network ``r`` then draws the
    batches ``seed=model.seeds[r]`` would draw (``seed`` is not used) and ``lr``
    may give one learning rate per network. Every entry of the lists is then an
    array with one value per network, ``diverged`` is a boolean array, and a
    network that diverges is reset (:meth:`~bnlib.nn.MLPStack.reset`) and
    reports NaN from then on while the others train on (``on_step`` and
    ``weight_decay`` are not supported there).
    """
    from .nn import MLPStack

    if isinstance(model, MLPStack):
        if on_step is not None or weight_decay:
            raise ValueError("on_step and weight_decay are not supported for an MLPStack")
        return _train_stack(model, x, y, lr, steps, batch_size, x_val, y_val, every,
                            diverge_at, callback, callback_every)
    from .nn import softmax_cross_entropy

    callback_every = every if callback_every is None else callback_every
    rng = np.random.default_rng(seed)
    hist = {"step": [], "loss": [], "val_step": [], "val_loss": [], "val_acc": [],
            "diverged": False}
    for step in range(steps):
        idx = rng.choice(len(y), size=batch_size, replace=False)
        model.train()
        with np.errstate(all="ignore"):
            scores = model(x[idx])
            loss, dscores = softmax_cross_entropy(scores, y[idx])
        if not np.isfinite(loss) or loss > diverge_at:
            hist["diverged"] = True
            break
        hist["step"].append(step)
        hist["loss"].append(loss)
        model.backward(dscores)
        if weight_decay:
            model.sgd_step(lr, weight_decay=weight_decay)
        else:
            model.sgd_step(lr)
        if on_step is not None:
            on_step(step, model)
        last = step == steps - 1
        if x_val is not None and (last or step % every == 0):
            model.eval()
            with np.errstate(all="ignore"):
                s = model(x_val)
                vloss, _ = softmax_cross_entropy(s, y_val)
            hist["val_step"].append(step)
            hist["val_loss"].append(vloss)
            hist["val_acc"].append(float((s.argmax(axis=1) == y_val).mean()))
        if callback is not None and (last or step % callback_every == 0):
            callback(step, model)
    return hist


def _train_stack(model, x, y, lr, steps, batch_size, x_val, y_val, every, diverge_at,
                 callback, callback_every):
    """:func:`train` for an :class:`bnlib.nn.MLPStack` (one batch per network)."""
    from .nn import stacked_cross_entropy

    callback_every = every if callback_every is None else callback_every
    rngs = [np.random.default_rng(s) for s in model.seeds]
    diverged = np.zeros(model.size, dtype=bool)
    hist = {"step": [], "loss": [], "val_step": [], "val_loss": [], "val_acc": [],
            "diverged": diverged}
    for step in range(steps):
        idx = np.stack([r.choice(len(y), size=batch_size, replace=False) for r in rngs], axis=1)
        model.train()
        with np.errstate(all="ignore"):
            scores = model(x[idx])                            # idx (N, S): x[idx] (N, S, D)
            loss, dscores = stacked_cross_entropy(scores, y[idx])
            new = ~diverged & ~(np.isfinite(loss) & (loss <= diverge_at))
        if new.any():
            diverged |= new
            dscores = np.where(diverged[None, :, None], 0.0, dscores)
        hist["step"].append(step)
        hist["loss"].append(np.where(diverged, np.nan, loss))
        with np.errstate(all="ignore"):
            model.backward(dscores)
            model.sgd_step(np.where(diverged, 0.0, lr))
        broken = ~diverged & ~np.array([np.isfinite(w.reshape(model.size, -1)).all(axis=1)
                                        for w in model.w]).all(axis=0)
        diverged |= broken
        if new.any() or broken.any():
            model.reset(diverged)
        last = step == steps - 1
        if x_val is not None and (last or step % every == 0):
            model.eval()
            with np.errstate(all="ignore"):
                s = model(x_val)
                vloss, _ = stacked_cross_entropy(s, np.broadcast_to(y_val[:, None], s.shape[:2]))
            acc = (s.argmax(axis=2) == y_val[:, None]).mean(axis=0)
            hist["val_step"].append(step)
            hist["val_loss"].append(np.where(diverged, np.nan, vloss))
            hist["val_acc"].append(np.where(diverged, np.nan, acc))
        if callback is not None and (last or step % callback_every == 0):
            callback(step, model)
    return hist
