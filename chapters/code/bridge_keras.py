"""Chapter 6's network in Keras 3, beside bnlib's ``conv_net``.

Shown on the page of chapter 7 (chapters/07-in-the-wild.md); the course
never imports it. ``tests/test_bridge.py`` runs it with the torch backend
(``KERAS_BACKEND=torch``), where Keras is installed.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before importing keras
import keras  # noqa: E402
from keras import layers  # noqa: E402

from bnlib.convnet import parameter_names  # noqa: E402


def conv_net_keras(channels=(8, 16), classes=10, image_size=8):
    """conv -> BN -> ReLU -> max pool per stage, then a dense layer."""
    inputs = keras.Input((image_size, image_size, 1))  # channels last
    h = inputs
    for width in channels:
        h = layers.Conv2D(width, 3, padding="same", use_bias=False)(h)
        # momentum: the weight of the OLD average (PyTorch's 0.1 is 0.9)
        h = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(h)
        h = layers.ReLU()(h)
        h = layers.MaxPooling2D(2)(h)
    h = layers.Flatten()(h)
    return keras.Model(inputs, layers.Dense(classes)(h))


def load_from_bnlib(model, net):
    """Copy a bnlib ConvNet's weights and statistics into ``model``."""
    kinds = (layers.Conv2D, layers.BatchNormalization, layers.Dense)
    theirs = [m for m in model.layers if isinstance(m, kinds)]
    ours = [m for m in net.leaves() if parameter_names(m)]
    flat = next(m for m in model.layers if isinstance(m, layers.Flatten))
    for mine, m in zip(ours, theirs, strict=True):
        if isinstance(m, layers.BatchNormalization):  # as they are
            m.set_weights([mine.gamma, mine.beta,
                           mine.running_mean, mine.running_var])
        elif isinstance(m, layers.Dense):  # rows (C, H, W) -> (H, W, C)
            _, height, width, c = flat.input.shape
            w = mine.w.reshape(c, height, width, -1).transpose(1, 2, 0, 3)
            m.set_weights([w.reshape(mine.w.shape), mine.b])
        else:  # (C_out, C_in, KH, KW) -> (KH, KW, C_in, C_out)
            m.set_weights([mine.w.transpose(2, 3, 1, 0)])
    return model


def fine_tune_last_layer(model):
    """Fine-tuning the dense layer only: every layer before it frozen."""
    for layer in model.layers[:-1]:
        # freezes gamma and beta AND runs a BN layer in inference mode
        layer.trainable = False
    return model
