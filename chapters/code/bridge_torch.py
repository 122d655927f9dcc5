"""Chapter 6's network in PyTorch, beside bnlib's ``conv_net`` (chapters/07-in-the-wild.md).

Shown on the page of chapter 7; the course never imports it. ``tests/test_bridge.py``
loads bnlib's weights into it and compares the outputs, where torch is installed.
"""

import torch
from torch import nn


def conv_net_torch(channels=(8, 16), classes=10, image_size=8):
    """conv -> BN -> ReLU -> max pool per stage, then a linear layer (as bnlib.convnet.conv_net)."""
    layers, c_in, size = [], 1, image_size
    for width in channels:
        layers += [nn.Conv2d(c_in, width, 3, padding=1, bias=False),  # BN removes a bias
                   nn.BatchNorm2d(width, eps=1e-5, momentum=0.1),     # PyTorch's defaults
                   nn.ReLU(), nn.MaxPool2d(2)]
        c_in, size = width, size // 2
    layers += [nn.Flatten(), nn.Linear(c_in * size * size, classes)]
    return nn.Sequential(*layers).double()


@torch.no_grad()
def load_from_bnlib(model, net):
    """Copy a bnlib ConvNet's weights and batch-norm state into ``model``, unchanged."""
    ours = [layer for layer in net.leaves() if hasattr(layer, "w") or hasattr(layer, "gamma")]
    theirs = [m for m in model if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
    for mine, m in zip(ours, theirs, strict=True):
        if isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(torch.from_numpy(mine.gamma))       # gamma
            m.bias.copy_(torch.from_numpy(mine.beta))          # beta
            m.running_mean.copy_(torch.from_numpy(mine.running_mean))
            m.running_var.copy_(torch.from_numpy(mine.running_var))  # unbiased in both
            m.num_batches_tracked.fill_(mine.num_batches_tracked)
        elif isinstance(m, nn.Linear):
            m.weight.copy_(torch.from_numpy(mine.w.T))         # bnlib keeps (D_in, D_out)
            m.bias.copy_(torch.from_numpy(mine.b))
        else:
            m.weight.copy_(torch.from_numpy(mine.w))           # (C_out, C_in, 3, 3) in both
    return model


def recompute_statistics(model, batches):
    """Precise BN / AdaBN: reset every BN and average one pass over ``batches`` (no labels)."""
    torch.optim.swa_utils.update_bn(batches, model)  # momentum=None while it runs
    return model.eval()


def folded_for_inference(model):
    """Each Conv2d -> BatchNorm2d pair fused into one convolution (eval mode only)."""
    model = model.eval()
    layers = list(model)
    for i, m in enumerate(layers):
        if isinstance(m, nn.BatchNorm2d):
            layers[i - 1] = torch.nn.utils.fusion.fuse_conv_bn_eval(layers[i - 1], m)
            layers[i] = nn.Identity()
    return nn.Sequential(*layers).eval()


def for_several_gpus(model):
    """Every BatchNorm2d becomes a SyncBatchNorm: statistics over all processes' batches."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def batch_statistics_always(channels):
    """A BN that keeps no running statistics: batch statistics in eval mode too."""
    return nn.BatchNorm2d(channels, track_running_stats=False)
