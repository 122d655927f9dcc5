"""Side-by-side runs of bnlib and PyTorch on the same inputs.

Run by hand to (re)write the golden fixtures the tests compare against::

    .venv/bin/pip install torch==2.13.0
    .venv/bin/python tests/torch_reference.py

The tests never need torch: they load ``tests/data/torch_golden.npz``. Where
torch is installed, ``test_torch_parity.py`` also compares live on new inputs.
Every array is float64. Each case returns a dict ``name -> array``; bnlib and
torch produce the same names so the comparison is one loop.
"""

import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import bnlib  # noqa: E402

DATA = pathlib.Path(__file__).resolve().parent / "data"


def make_inputs(seed):
    """Random inputs for every case, keyed by name."""
    rng = np.random.default_rng(seed)

    def r(*shape, loc=0.0, scale=1.0):
        return rng.normal(loc, scale, size=shape)

    return {
        "bn1d_x": [r(8, 5, loc=3.0, scale=2.0) for _ in range(5)],  # 5 training steps
        "bn1d_eval_x": r(3, 5, loc=3.0, scale=2.0),
        "bn1d_gamma": r(5, loc=1.0, scale=0.5), "bn1d_beta": r(5),
        "bn1d_dy": r(8, 5), "bn1d_eval_dy": r(3, 5),
        "bn1d_3d_x": r(4, 3, 7, loc=-1.0), "bn1d_3d_dy": r(4, 3, 7),
        "bn2d_x": [r(4, 3, 5, 6, loc=2.0, scale=3.0) for _ in range(3)],
        "bn2d_eval_x": r(1, 3, 5, 6), "bn2d_dy": r(4, 3, 5, 6),
        "bn2d_gamma": r(3, loc=1.0, scale=0.5), "bn2d_beta": r(3),
        "fold_w": r(5, 6), "fold_b": r(5), "fold_x": r(7, 6),
        "ln_x": r(6, 10, loc=1.0, scale=2.0), "ln_gamma": r(10), "ln_beta": r(10),
        "ln_dy": r(6, 10),
        "gn_x": r(3, 6, 4, 4, scale=2.0), "gn_gamma": r(6), "gn_beta": r(6), "gn_dy": r(3, 6, 4, 4),
        "rms_x": r(6, 10, scale=2.0), "rms_gamma": r(10), "rms_dy": r(6, 10),
    }


def bnlib_outputs(inp):
    """Outputs of bnlib for :func:`make_inputs`."""
    out = {}
    # BatchNorm1d: training forward/backward, momentum 0.1 over 5 steps, eval.
    for momentum, tag in ((0.1, "m01"), (None, "cum")):
        bn = bnlib.BatchNorm1d(5, momentum=momentum)
        bn.gamma, bn.beta = inp["bn1d_gamma"].copy(), inp["bn1d_beta"].copy()
        for step, x in enumerate(inp["bn1d_x"]):
            y = bn(x)
            out[f"{tag}_rm_{step}"], out[f"{tag}_rv_{step}"] = bn.running_mean, bn.running_var
        out[f"{tag}_nbt"] = np.array(bn.num_batches_tracked, dtype=np.float64)
        out[f"{tag}_y_train"] = y
        out[f"{tag}_dx_train"] = bn.backward(inp["bn1d_dy"])
        out[f"{tag}_dgamma"], out[f"{tag}_dbeta"] = bn.grad_gamma, bn.grad_beta
        bn.eval()
        out[f"{tag}_y_eval"] = bn(inp["bn1d_eval_x"])
        out[f"{tag}_dx_eval"] = bn.backward(inp["bn1d_eval_dy"])
        out[f"{tag}_rm_after_eval"] = bn.running_mean
    # track_running_stats=False: batch statistics in eval mode too.
    bn = bnlib.BatchNorm1d(5, track_running_stats=False).eval()
    out["untracked_y_eval"] = bn(inp["bn1d_x"][0])
    # (N, C, L) input to BatchNorm1d.
    bn = bnlib.BatchNorm1d(3)
    out["bn1d_3d_y"] = bn(inp["bn1d_3d_x"])
    out["bn1d_3d_dx"] = bn.backward(inp["bn1d_3d_dy"])
    out["bn1d_3d_rv"] = bn.running_var
    # BatchNorm2d: 3 steps, backward, eval with a batch of one.
    bn = bnlib.BatchNorm2d(3)
    bn.gamma, bn.beta = inp["bn2d_gamma"].copy(), inp["bn2d_beta"].copy()
    for x in inp["bn2d_x"]:
        y = bn(x)
    out["bn2d_y"], out["bn2d_dx"] = y, bn.backward(inp["bn2d_dy"])
    out["bn2d_dgamma"], out["bn2d_dbeta"] = bn.grad_gamma, bn.grad_beta
    out["bn2d_rm"], out["bn2d_rv"] = bn.running_mean, bn.running_var
    out["bn2d_y_eval"] = bn.eval()(inp["bn2d_eval_x"])
    # Folding: BN after a linear layer, trained for two steps, then folded.
    bn = bnlib.BatchNorm1d(5)
    bn.gamma, bn.beta = inp["bn1d_gamma"].copy(), inp["bn1d_beta"].copy()
    for x in inp["bn1d_x"][:2]:
        bn(x)
    bn.eval()
    out["fold_w"], out["fold_b"] = bnlib.fold_batchnorm(inp["fold_w"], inp["fold_b"], bn)
    out["fold_y"] = bn(inp["fold_x"] @ inp["fold_w"].T + inp["fold_b"])
    # The rest of the family.
    for name, fwd, bwd, args in (
        ("ln", bnlib.layernorm_forward, bnlib.layernorm_backward, ("ln_gamma", "ln_beta")),
        ("gn", bnlib.groupnorm_forward, bnlib.groupnorm_backward, ("gn_gamma", "gn_beta")),
        ("rms", bnlib.rmsnorm_forward, bnlib.rmsnorm_backward, ("rms_gamma",)),
    ):
        extra = (2,) if name == "gn" else ()
        y, cache = fwd(inp[f"{name}_x"], *(inp[a] for a in args), *extra)
        grads = bwd(inp[f"{name}_dy"], cache)
        out[f"{name}_y"] = y
        for k, g in zip(("dx", "dgamma", "dbeta"), grads):
            out[f"{name}_{k}"] = g
    return out


def torch_outputs(inp):
    """The same computations in PyTorch (float64, CPU)."""
    import torch

    torch.set_default_dtype(torch.float64)
    T = torch.as_tensor
    out = {}

    def grads(bn):
        return bn.weight.grad.numpy().copy(), bn.bias.grad.numpy().copy()

    def set_affine(bn, gamma, beta):
        with torch.no_grad():
            bn.weight.copy_(T(gamma))
            bn.bias.copy_(T(beta))

    def fwd_bwd(module, x, dy):
        x = T(x).clone().requires_grad_(True)
        y = module(x)
        y.backward(T(dy))
        return y.detach().numpy().copy(), x.grad.numpy().copy()

    for momentum, tag in ((0.1, "m01"), (None, "cum")):
        bn = torch.nn.BatchNorm1d(5, momentum=momentum)
        set_affine(bn, inp["bn1d_gamma"], inp["bn1d_beta"])
        for step, x in enumerate(inp["bn1d_x"][:-1]):
            bn(T(x))
            out[f"{tag}_rm_{step}"] = bn.running_mean.numpy().copy()
            out[f"{tag}_rv_{step}"] = bn.running_var.numpy().copy()
        y, dx = fwd_bwd(bn, inp["bn1d_x"][-1], inp["bn1d_dy"])
        last = len(inp["bn1d_x"]) - 1
        out[f"{tag}_rm_{last}"] = bn.running_mean.numpy().copy()
        out[f"{tag}_rv_{last}"] = bn.running_var.numpy().copy()
        out[f"{tag}_nbt"] = np.array(float(bn.num_batches_tracked))
        out[f"{tag}_y_train"], out[f"{tag}_dx_train"] = y, dx
        out[f"{tag}_dgamma"], out[f"{tag}_dbeta"] = grads(bn)
        bn.eval()
        out[f"{tag}_y_eval"], out[f"{tag}_dx_eval"] = fwd_bwd(
            bn, inp["bn1d_eval_x"], inp["bn1d_eval_dy"])
        out[f"{tag}_rm_after_eval"] = bn.running_mean.numpy().copy()
    bn = torch.nn.BatchNorm1d(5, track_running_stats=False).eval()
    out["untracked_y_eval"] = bn(T(inp["bn1d_x"][0])).detach().numpy()
    bn = torch.nn.BatchNorm1d(3)
    out["bn1d_3d_y"], out["bn1d_3d_dx"] = fwd_bwd(bn, inp["bn1d_3d_x"], inp["bn1d_3d_dy"])
    out["bn1d_3d_rv"] = bn.running_var.numpy().copy()
    bn = torch.nn.BatchNorm2d(3)
    set_affine(bn, inp["bn2d_gamma"], inp["bn2d_beta"])
    for x in inp["bn2d_x"][:-1]:
        bn(T(x))
    out["bn2d_y"], out["bn2d_dx"] = fwd_bwd(bn, inp["bn2d_x"][-1], inp["bn2d_dy"])
    out["bn2d_dgamma"], out["bn2d_dbeta"] = grads(bn)
    out["bn2d_rm"], out["bn2d_rv"] = bn.running_mean.numpy(), bn.running_var.numpy()
    with torch.no_grad():
        out["bn2d_y_eval"] = bn.eval()(T(inp["bn2d_eval_x"])).numpy()
    bn = torch.nn.BatchNorm1d(5)
    set_affine(bn, inp["bn1d_gamma"], inp["bn1d_beta"])
    with torch.no_grad():
        for x in inp["bn1d_x"][:2]:
            bn(T(x))
        bn.eval()
        lin = torch.nn.Linear(6, 5)
        lin.weight.copy_(T(inp["fold_w"]))
        lin.bias.copy_(T(inp["fold_b"]))
        fused = torch.nn.utils.fusion.fuse_linear_bn_eval(lin.eval(), bn)
        out["fold_w"], out["fold_b"] = fused.weight.numpy(), fused.bias.numpy()
        out["fold_y"] = bn(lin(T(inp["fold_x"]))).numpy()
    modules = {
        "ln": (torch.nn.LayerNorm(10), ("ln_gamma", "ln_beta")),
        "gn": (torch.nn.GroupNorm(2, 6), ("gn_gamma", "gn_beta")),
        "rms": (torch.nn.RMSNorm(10), ("rms_gamma",)),
    }
    for name, (module, params) in modules.items():
        with torch.no_grad():
            for p, key in zip(module.parameters(), params):
                p.copy_(T(inp[key]))
        out[f"{name}_y"], out[f"{name}_dx"] = fwd_bwd(module, inp[f"{name}_x"], inp[f"{name}_dy"])
        grads = [p.grad.numpy().copy() for p in module.parameters()]
        for k, g in zip(("dgamma", "dbeta"), grads):
            out[f"{name}_{k}"] = g
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def flatten_inputs(inp):
    """Inputs as a flat ``name -> array`` dict, for saving to .npz."""
    flat = {}
    for k, v in inp.items():
        if isinstance(v, list):
            for i, a in enumerate(v):
                flat[f"in:{k}:{i}"] = a
        else:
            flat[f"in:{k}"] = v
    return flat


def unflatten_inputs(npz):
    """Inverse of :func:`flatten_inputs` for a loaded .npz."""
    inp = {}
    for key in sorted(k for k in npz.files if k.startswith("in:")):
        parts = key.split(":")
        if len(parts) == 3:
            inp.setdefault(parts[1], []).append((int(parts[2]), npz[key]))
        else:
            inp[parts[1]] = npz[key]
    return {k: [a for _, a in sorted(v, key=lambda t: t[0])] if isinstance(v, list) else v
            for k, v in inp.items()}


def main():
    import torch

    inp = make_inputs(seed=2015)
    expected = torch_outputs(inp)
    DATA.mkdir(exist_ok=True)
    np.savez_compressed(DATA / "torch_golden.npz", **flatten_inputs(inp),
                        **{f"out:{k}": v for k, v in expected.items()})
    meta = {"torch": torch.__version__, "numpy": np.__version__, "seed": 2015,
            "dtype": "float64", "cases": sorted(expected)}
    (DATA / "torch_golden.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {len(expected)} arrays with torch {torch.__version__} to {DATA}")


if __name__ == "__main__":
    main()
