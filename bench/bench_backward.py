"""Benchmark: compact vs staged backward, and bnlib vs PyTorch (CPU).

Prints times measured side by side in one run, with the same thread count for
numpy and torch, and their ratios. Not a test: speed is reported, not asserted.

    make bench                      # or: .venv/bin/python bench/bench_backward.py
    .venv/bin/python bench/bench_backward.py --threads 2 --n 4096 --d 1024

The torch comparison runs only when torch is installed
(``.venv/bin/pip install torch==2.13.0``).
"""

import argparse
import os
import sys
import timeit


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--d", type=int, default=1024)
    p.add_argument("--threads", type=int, default=1, help="threads for numpy and torch")
    p.add_argument("--repeat", type=int, default=7)
    return p.parse_args()


def best(fn, repeat):
    """Median of ``repeat`` timings of one call (after a warm-up), in seconds."""
    fn()
    times = sorted(timeit.repeat(fn, number=1, repeat=repeat))
    return times[len(times) // 2]


def main():
    args = parse()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy is imported
    import numpy as np

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    import bnlib
    from bnlib.staged import forward_nodes

    rng = np.random.default_rng(0)
    print(f"shape ({args.n}, {args.d}), threads {args.threads}, median of {args.repeat}")
    print(f"{'what':44s} {'float32 ms':>11s} {'float64 ms':>11s}")
    rows = {}
    for dtype in (np.float32, np.float64):
        x = rng.normal(size=(args.n, args.d)).astype(dtype)
        dy = rng.normal(size=(args.n, args.d)).astype(dtype)
        gamma, beta = np.ones(args.d, dtype), np.zeros(args.d, dtype)
        _, cache = bnlib.batchnorm_forward(x, gamma, beta)

        def fwd_bwd(x=x, dy=dy, gamma=gamma, beta=beta):
            _, c = bnlib.batchnorm_forward(x, gamma, beta)
            bnlib.batchnorm_backward(dy, c)

        rows.setdefault("bnlib compact backward", []).append(
            best(lambda c=cache, dy=dy: bnlib.batchnorm_backward(dy, c), args.repeat))
        # Like for like: the staged pass reads its forward nodes, computed outside the timing.
        nodes = forward_nodes(cache)
        rows.setdefault("bnlib staged backward", []).append(
            best(lambda c=cache, dy=dy, n=nodes: bnlib.batchnorm_backward_staged(dy, c, nodes=n),
                 args.repeat))
        rows.setdefault("bnlib forward + compact backward", []).append(best(fwd_bwd, args.repeat))
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        for dtype in (torch.float32, torch.float64):
            x = torch.randn(args.n, args.d, dtype=dtype)
            dy = torch.randn(args.n, args.d, dtype=dtype)
            w = torch.ones(args.d, dtype=dtype, requires_grad=True)
            b = torch.zeros(args.d, dtype=dtype, requires_grad=True)
            xg = x.clone().requires_grad_(True)

            def torch_fwd_bwd(xg=xg, dy=dy, w=w, b=b):
                y = torch.nn.functional.batch_norm(xg, None, None, w, b, training=True)
                y.backward(dy)

            rows.setdefault(f"torch {torch.__version__} forward + backward", []).append(
                best(torch_fwd_bwd, args.repeat))
    for name, (t32, t64) in rows.items():
        print(f"{name:44s} {t32 * 1e3:11.2f} {t64 * 1e3:11.2f}")
    print()
    for i, label in enumerate(("float32", "float64")):
        staged = rows["bnlib staged backward"][i] / rows["bnlib compact backward"][i]
        print(f"{label}: staged / compact backward time = {staged:.2f}x (target >= 2)")
        if torch is not None:
            key = next(k for k in rows if k.startswith("torch"))
            ratio = rows["bnlib forward + compact backward"][i] / rows[key][i]
            print(f"{label}: bnlib / torch forward+backward time = {ratio:.2f}x (target <= 2)")
    if torch is None:
        print("torch not installed: no torch comparison (pip install torch==2.13.0)")


if __name__ == "__main__":
    main()
