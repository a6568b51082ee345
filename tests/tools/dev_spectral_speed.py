"""Dev timing: fastspectral.spectral vs the torch neuraloperator pipeline, 1 thread, medians.

usage: PYTHONPATH=python python3 tests/tools/dev_spectral_speed.py [shape labels...] [--parts]
"""
import sys
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from fastspectral import spectral as S
from fastspectral.bench.spectral_suite import SHAPES, _inputs, torch_neuraloperator


def med(f, reps=15, warm=3):
    for _ in range(warm):
        f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ts))


def main():
    torch.set_num_threads(1)
    labels = [a for a in sys.argv[1:] if not a.startswith("--")] or ["1d", "2d-64"]
    with threadpool_limits(1):
        for label, full, _ in SHAPES:
            if label not in labels:
                continue
            B, C, shape, modes = full
            x, w, g = _inputs(B, C, shape, modes, 0)
            xt = torch.from_numpy(x).requires_grad_(True)
            wt = torch.from_numpy(w).requires_grad_(True)
            gt = torch.from_numpy(g)

            def t_fwd():
                with torch.no_grad():
                    return torch_neuraloperator(torch, xt, wt, modes)

            def t_bwd():
                xt.grad = wt.grad = None
                y = torch_neuraloperator(torch, xt, wt, modes)
                y.backward(gt)

            def o_fwd():
                return S.spectral_conv(x, w, modes)

            def o_bwd():
                xx, ww, p = S._prepare(x, w, modes, None, "forward")
                y, X = S._forward(xx, ww, p)
                return S._backward(g, X, ww, p)

            # interleave rounds so drift on the shared machine hits both sides alike
            r = {k: [] for k in ("tf", "of", "tb", "ob")}
            for _ in range(3):
                r["tf"].append(med(t_fwd)); r["of"].append(med(o_fwd))
                r["tb"].append(med(t_bwd)); r["ob"].append(med(o_bwd))
            m = {k: float(np.median(v)) for k, v in r.items()}
            print(f"{label}: fwd ours {m['of']:.2f} torch {m['tf']:.2f} ratio {m['tf']/m['of']:.2f}"
                  f" | fwd+bwd ours {m['ob']:.2f} torch {m['tb']:.2f} ratio {m['tb']/m['ob']:.2f}",
                  flush=True)
            # correctness vs torch
            y = o_fwd(); yt = t_fwd().numpy()
            gx, gw = o_bwd()
            t_bwd()
            rel = lambda a, b: float(np.abs(a - b).max() / np.abs(b).max())
            print(f"   rel y {rel(y, yt):.1e} gx {rel(gx, xt.grad.numpy()):.1e} "
                  f"gw {rel(gw, wt.grad.numpy()):.1e}")


if __name__ == "__main__":
    main()
