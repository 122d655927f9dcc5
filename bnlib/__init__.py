"""bnlib: the reference implementation for *Batch Normalization, from first principles*.

Small numpy functions, each with its chapter:

* forward and backward of batch norm: :mod:`bnlib.batchnorm`, :mod:`bnlib.staged`;
* layers with running statistics (PyTorch's conventions, stricter input checks):
  :mod:`bnlib.layers`;
* folding into a linear layer or a convolution: :mod:`bnlib.folding`;
* convolution, pooling and a small conv net: :mod:`bnlib.conv`, :mod:`bnlib.convnet`;
* momentum conventions and inference cost: :mod:`bnlib.conventions`;
* layer, group and RMS norm: :mod:`bnlib.norms`;
* gradient checking: :mod:`bnlib.gradcheck`;
* the symbolic derivation: :mod:`bnlib.symbolic` (imported on demand: needs SymPy).
"""

from .batchnorm import batchnorm_backward, batchnorm_forward, batchnorm_inference
from .conventions import (
    averaging_window,
    inference_ops,
    keras_to_pytorch_momentum,
    pytorch_to_keras_momentum,
)
from .folding import fold_batchnorm, fold_batchnorm_conv
from .gradcheck import numerical_gradient, rel_error
from .layers import BatchNorm1d, BatchNorm2d
from .norms import (
    groupnorm_backward,
    groupnorm_forward,
    layernorm_backward,
    layernorm_forward,
    rmsnorm_backward,
    rmsnorm_forward,
)
from .staged import batchnorm_backward_staged

__version__ = "0.2.0"

__all__ = [
    "averaging_window",
    "inference_ops",
    "keras_to_pytorch_momentum",
    "pytorch_to_keras_momentum",
    "BatchNorm1d",
    "BatchNorm2d",
    "batchnorm_backward",
    "batchnorm_backward_staged",
    "batchnorm_forward",
    "batchnorm_inference",
    "fold_batchnorm",
    "fold_batchnorm_conv",
    "groupnorm_backward",
    "groupnorm_forward",
    "layernorm_backward",
    "layernorm_forward",
    "numerical_gradient",
    "rel_error",
    "rmsnorm_backward",
    "rmsnorm_forward",
]
