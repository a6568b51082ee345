"""Dev script (GPU machine with torch and fastspectral): do torch's CPU and CUDA FFTs give the
same gradients for neuraloperator's spectral convolution?  The GPU spectral bench saw grad-x differences of 0.1 between
fastspectral-on-cupy (which matches the CPU path) and torch-CUDA on two of four shapes.  This
compares torch CPU vs torch CUDA on the same inputs, and shows the imaginary part torch leaves at
the zero frequency of the gradient spectrum (which a C2R transform is free to treat either way)."""
import numpy as np
import torch

from fastspectral.bench.spectral_suite import torch_neuraloperator


def conv(x, w, modes):
    """neuraloperator's algorithm, the very code the spectral bench times."""
    return torch_neuraloperator(torch, x, w, modes)


for B, C, shape, modes in [(32, 64, (1024,), (16,)), (8, 32, (64, 64), (12, 12)),
                           (8, 64, (128, 128), (32, 32))]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, C, *shape), dtype=np.float32)
    ws = (C, C) + tuple(modes[:-1]) + (modes[-1] // 2 + 1,)
    w = ((rng.standard_normal(ws) + 1j * rng.standard_normal(ws)) / C).astype(np.complex64)
    g = rng.standard_normal((B, C, *shape), dtype=np.float32)
    res = {}
    for dev in ("cpu", "cuda"):
        for dt in (torch.float32, torch.float64):
            xt = torch.tensor(x, device=dev, dtype=dt, requires_grad=True)
            cdt = torch.complex64 if dt == torch.float32 else torch.complex128
            wt = torch.tensor(w, device=dev, dtype=cdt, requires_grad=True)
            y = conv(xt, wt, modes)
            y.backward(torch.tensor(g, device=dev, dtype=dt))
            res[(dev, str(dt))] = (y.detach().cpu().double().numpy(), xt.grad.cpu().double().numpy(),
                                   wt.grad.cpu().numpy())
    ref = res[("cpu", "torch.float64")]
    for k, (y, gx, gw) in res.items():
        rel = lambda a, b: float(np.abs(a - b).max() / np.abs(b).max())
        print(f"{shape} m{modes} {k}: y {rel(y, ref[0]):.1e}  grad_x {rel(gx, ref[1]):.1e}  "
              f"grad_w {rel(gw, ref[2]):.1e}")
