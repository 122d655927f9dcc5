"""Convolution, pooling and ReLU as functions: ``(out, cache)`` forward, ``(dx, ...)`` backward.

The convolutional networks of ``chapters/06-conv-on-digits.md`` are built from
these. Images are ``(N, C, H, W)`` (PyTorch's layout) and filters
``(F, C, KH, KW)``. The convolution is computed as one matrix product
("im2col"): every receptive field becomes a row of a matrix, the filters the
columns of another. :func:`conv_forward_naive` computes the same thing the
way the formula reads, as a check.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._validate import check_ndim


def conv_output_size(size, kernel, stride=1, pad=0):
    """Output height (or width) of a convolution: ``(size + 2*pad - kernel) // stride + 1``."""
    out = (size + 2 * pad - kernel) // stride + 1
    if out < 1 or (size + 2 * pad - kernel) % stride:
        raise ValueError(f"a kernel of {kernel} with stride {stride} and padding {pad} does "
                         f"not tile an input of size {size}")
    return out


def _check_conv(x, w, b):
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    check_ndim(x, (4,), "(N, C, H, W)")
    check_ndim(w, (4,), "(F, C, KH, KW)", name="w")
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w has {w.shape[1]} input channels (axis 1) but x has "
                         f"{x.shape[1]} channels")
    if b is not None:
        b = np.asarray(b, dtype=float)
        if b.shape != (w.shape[0],):
            raise ValueError(f"b must have shape ({w.shape[0]},), one per filter, got {b.shape}")
    return x, w, b


def im2col(x, kh, kw, stride=1, pad=0):
    """Every receptive field of ``x`` as one row.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kh, kw : int
        Kernel height and width.
    stride, pad : int
        Zero padding on each side of H and W.

    Returns
    -------
    cols : ndarray, shape (N * H' * W', C * kh * kw)
        Row ``(n, i, j)`` holds the ``C x kh x kw`` patch that output position
        ``(i, j)`` of example ``n`` sees, in the order of a filter's entries.
    """
    n, c, h, w = x.shape
    ho, wo = conv_output_size(h, kh, stride, pad), conv_output_size(w, kw, stride, pad)
    xp = _pad(x, pad)
    s0, s1, s2, s3 = xp.strides  # a view: window (i, j) starts at pixel (i*stride, j*stride)
    windows = as_strided(xp, shape=(n, ho, wo, c, kh, kw),
                         strides=(s0, s2 * stride, s3 * stride, s1, s2, s3), writeable=False)
    return windows.reshape(n * ho * wo, c * kh * kw)  # the one copy


def _pad(x, pad):
    """``x`` with ``pad`` zeros on each side of H and W (``np.pad``, without its overhead)."""
    if not pad:
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    xp[:, :, pad:pad + h, pad:pad + w] = x
    return xp


def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    """The adjoint of :func:`im2col`: add each row back onto the pixels it came from.

    Parameters
    ----------
    cols : ndarray, shape (N * H' * W', C * kh * kw)
    x_shape : tuple, (N, C, H, W)

    Returns
    -------
    x : ndarray, shape (N, C, H, W)
        A pixel that lies in several receptive fields receives the sum of its
        entries (this is the gradient of :func:`im2col`).
    """
    n, c, h, w = x_shape
    ho, wo = conv_output_size(h, kh, stride, pad), conv_output_size(w, kw, stride, pad)
    # Channels first, then the kernel offset, then (N, H', W'): each offset's slice is
    # contiguous (free when ``cols`` is the transpose of a C-ordered product).
    patches = cols.T.reshape(c, kh, kw, n, ho, wo)
    xp = np.zeros((c, n, h + 2 * pad, w + 2 * pad))
    for i in range(kh):  # one slice per kernel offset: kh * kw vectorised additions
        for j in range(kw):
            xp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += patches[:, i, j]
    return xp[:, :, pad:pad + h, pad:pad + w].transpose(1, 0, 2, 3)


def conv_forward(x, w, b=None, stride=1, pad=0):
    """Convolution (cross-correlation, as in every framework) by im2col.

    ``out[n, f, i, j] = b[f] + sum over c, p, q of
    w[f, c, p, q] * x_pad[n, c, i*stride + p, j*stride + q]``.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
    w : array_like, shape (F, C, KH, KW)
    b : array_like, shape (F,), or None (no bias: the layer before a batch norm)
    stride, pad : int

    Returns
    -------
    out : ndarray, shape (N, F, H', W')
        ``H' = (H + 2*pad - KH) // stride + 1`` and likewise ``W'``.
    cache : tuple
        What :func:`conv_backward` needs.
    """
    x, w, b = _check_conv(x, w, b)
    n, f = x.shape[0], w.shape[0]
    kh, kw = w.shape[2:]
    cols = im2col(x, kh, kw, stride, pad)        # (N*H'*W', C*KH*KW)
    out = cols @ w.reshape(f, -1).T              # every patch against every filter
    if b is not None:
        out += b
    ho = conv_output_size(x.shape[2], kh, stride, pad)
    out = out.reshape(n, ho, -1, f).transpose(0, 3, 1, 2)
    return out, (x.shape, out.shape, cols, w, b is not None, stride, pad)


def conv_backward(dout, cache):
    """Backward pass of :func:`conv_forward`.

    Parameters
    ----------
    dout : array_like, shape (N, F, H', W')
    cache : tuple from :func:`conv_forward`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C, KH, KW)
    db : ndarray, shape (F,), or None when the forward pass had no bias
    """
    x_shape, out_shape, cols, w, has_bias, stride, pad = cache
    f, _, kh, kw = w.shape
    dout = np.asarray(dout, dtype=float)
    if dout.shape != out_shape:
        raise ValueError(f"dout must have the forward output's shape {out_shape}, "
                         f"got {dout.shape}")
    d = dout.transpose(0, 2, 3, 1).reshape(-1, f)  # (N*H'*W', F), rows as in cols
    dw = (d.T @ cols).reshape(w.shape)            # each filter: sum of patch * dout
    dcols = (w.reshape(f, -1).T @ d.T).T         # d @ W: each patch's share, as a view
    dx = col2im(dcols, x_shape, kh, kw, stride, pad)
    db = d.sum(axis=0) if has_bias else None
    return dx, dw, db


def conv_forward_naive(x, w, b=None, stride=1, pad=0):
    """The convolution as the formula reads, one output position at a time.

    Same arguments and output as :func:`conv_forward` (without the cache);
    slow, for checking the im2col version.

    Returns
    -------
    out : ndarray, shape (N, F, H', W')
    """
    x, w, b = _check_conv(x, w, b)
    kh, kw = w.shape[2:]
    ho = conv_output_size(x.shape[2], kh, stride, pad)
    wo = conv_output_size(x.shape[3], kw, stride, pad)
    xp = _pad(x, pad)
    out = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("ncpq,fcpq->nf", patch, w)  # sum over c, p, q
    if b is not None:
        out += b[None, :, None, None]
    return out


def _windows(x, size):
    """``(N, C, H, W)`` as ``(N, C, H/size, W/size, size*size)``: one row per pooling window."""
    x = np.asarray(x, dtype=float)
    check_ndim(x, (4,), "(N, C, H, W)")
    n, c, h, w = x.shape
    if size < 1 or h % size or w % size:
        raise ValueError(f"pooling windows of {size} x {size} must tile the input: "
                         f"H = {h} and W = {w} must be multiples of {size}")
    win = x.reshape(n, c, h // size, size, w // size, size).transpose(0, 1, 2, 4, 3, 5)
    return win.reshape(n, c, h // size, w // size, size * size)


def _unwindows(win, size):
    """The inverse of :func:`_windows`."""
    n, c, ho, wo, _ = win.shape
    x = win.reshape(n, c, ho, wo, size, size).transpose(0, 1, 2, 4, 3, 5)
    return x.reshape(n, c, ho * size, wo * size)


def maxpool_forward(x, size=2):
    """Max pooling over non-overlapping ``size x size`` windows (stride = size).

    Parameters
    ----------
    x : array_like, shape (N, C, H, W), H and W multiples of ``size``
    size : int

    Returns
    -------
    out : ndarray, shape (N, C, H / size, W / size)
    cache : tuple
        The position of each window's maximum (the first one, on ties).
    """
    win = _windows(x, size)
    arg = win.argmax(axis=-1)
    out = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
    return out, (arg, win.shape, size)


def maxpool_backward(dout, cache):
    """Backward pass of :func:`maxpool_forward`: each window's gradient goes to its maximum.

    Parameters
    ----------
    dout : array_like, shape (N, C, H / size, W / size)

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    """
    arg, shape, size = cache
    dwin = np.zeros(shape)
    np.put_along_axis(dwin, arg[..., None], np.asarray(dout, dtype=float)[..., None], axis=-1)
    return _unwindows(dwin, size)


def avgpool_forward(x, size=2):
    """Average pooling over non-overlapping ``size x size`` windows.

    ``size = H = W`` is global average pooling (one value per channel).

    Parameters
    ----------
    x : array_like, shape (N, C, H, W), H and W multiples of ``size``

    Returns
    -------
    out : ndarray, shape (N, C, H / size, W / size)
    cache : tuple
    """
    win = _windows(x, size)
    return win.mean(axis=-1), (win.shape, size)


def avgpool_backward(dout, cache):
    """Backward pass of :func:`avgpool_forward`: each input gets ``1 / size**2`` of its window's.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    """
    shape, size = cache
    dwin = np.broadcast_to(np.asarray(dout, dtype=float)[..., None] / (size * size), shape)
    return _unwindows(dwin, size)


def relu_forward(x):
    """``max(x, 0)``; returns ``(out, cache)`` (the cache is the mask ``x > 0``)."""
    mask = x > 0
    return x * mask, mask


def relu_backward(dout, cache):
    """Backward pass of :func:`relu_forward`: ``dout`` where the input was positive, else 0."""
    return dout * cache
