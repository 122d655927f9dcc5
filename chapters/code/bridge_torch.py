"""Chapter 6's network in PyTorch, beside bnlib's ``conv_net``.

Shown on the page of chapter 7 (chapters/07-in-the-wild.md); the course
never imports it. ``tests/test_bridge.py`` loads bnlib's weights into it and
compares the outputs, where torch is installed.
"""

import torch
from torch import nn

from bnlib.convnet import parameter_names


def conv_net_torch(channels=(8, 16), classes=10, image_size=8):
    """conv -> BN -> ReLU -> max pool per stage, then a linear layer."""
    layers, c_in, size = [], 1, image_size
    for width in channels:
        layers += [
            nn.Conv2d(c_in, width, 3, padding=1, bias=False),  # no bias
            nn.BatchNorm2d(width, eps=1e-5, momentum=0.1),  # the defaults
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        c_in, size = width, size // 2
    layers += [nn.Flatten(), nn.Linear(c_in * size * size, classes)]
    return nn.Sequential(*layers).double()


@torch.no_grad()
def load_from_bnlib(model, net):
    """Copy a bnlib ConvNet's weights and statistics into ``model``."""
    kinds = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
    theirs = [m for m in model if isinstance(m, kinds)]
    ours = [m for m in net.leaves() if parameter_names(m)]
    for mine, m in zip(ours, theirs, strict=True):
        if isinstance(m, nn.BatchNorm2d):  # every array as it is
            m.weight.copy_(torch.from_numpy(mine.gamma))
            m.bias.copy_(torch.from_numpy(mine.beta))
            m.running_mean.copy_(torch.from_numpy(mine.running_mean))
            m.running_var.copy_(torch.from_numpy(mine.running_var))
            m.num_batches_tracked.fill_(mine.num_batches_tracked)
        elif isinstance(m, nn.Linear):  # bnlib's w is (D_in, D_out)
            m.weight.copy_(torch.from_numpy(mine.w.T))
            m.bias.copy_(torch.from_numpy(mine.b))
        else:  # (C_out, C_in, 3, 3) in both
            m.weight.copy_(torch.from_numpy(mine.w))
    return model


def recompute_statistics(model, batches):
    """Precise BN / AdaBN: every BN reset, then one pass (no labels)."""
    torch.optim.swa_utils.update_bn(batches, model)  # momentum=None
    return model.eval()


def folded_for_inference(model):
    """Each Conv2d -> BatchNorm2d pair fused into one convolution."""
    layers = list(model.eval())
    for i, m in enumerate(layers):
        if isinstance(m, nn.BatchNorm2d):
            conv = layers[i - 1]
            fused = torch.nn.utils.fusion.fuse_conv_bn_eval(conv, m)
            layers[i - 1] = fused
            layers[i] = nn.Identity()
    return nn.Sequential(*layers).eval()


def for_several_gpus(model):
    """Every BatchNorm2d becomes a SyncBatchNorm (statistics over all
    processes' batches when training runs on several GPUs)."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def batch_statistics_always(channels):
    """A BN with no running statistics: batch statistics in eval mode."""
    return nn.BatchNorm2d(channels, track_running_stats=False)
