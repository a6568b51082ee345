"""fastspectral.torch: second derivatives are refused (never silently dropped), and the
modules check their constructor arguments."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
FT = pytest.importorskip("fastspectral.torch")

MODES = (5, 6)


def _inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64, generator=g, requires_grad=True)
    return x, g


def _dense(x, g):
    w = torch.randn(3, 2, 5, 4, dtype=torch.complex128, generator=g, requires_grad=True)
    return FT.spectral_conv(x, w, MODES)


def _separable(x, g):
    w = torch.randn(3, 5, 4, dtype=torch.complex128, generator=g, requires_grad=True)
    return FT.spectral_conv_separable(x, w, MODES)


def _cp(x, g):
    rank = 2
    lam = torch.randn(rank, dtype=torch.complex128, generator=g, requires_grad=True)
    shapes = [(3, rank), (2, rank), (5, rank), (4, rank)]
    factors = [torch.randn(s, dtype=torch.complex128, generator=g, requires_grad=True)
               for s in shapes]
    return FT.spectral_conv_cp(x, lam, factors, MODES)


@pytest.mark.parametrize("layer", [_dense, _separable, _cp], ids=["dense", "separable", "cp"])
def test_double_backward_raises(layer):
    # a gradient penalty needs d(grad)/d(params); the backward passes are numpy code, so the
    # second derivative must raise rather than come back as zero (it used to: grad_x had no
    # grad_fn and the penalty term vanished from the parameters' gradients)
    x, g = _inputs()
    y = layer(x, g)
    (gx,) = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        gx.pow(2).sum().backward()


@pytest.mark.parametrize("layer", [_dense, _separable, _cp], ids=["dense", "separable", "cp"])
def test_first_derivative_still_works_under_create_graph(layer):
    x, g = _inputs()
    y = layer(x, g)
    (gx,) = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)
    x2, g2 = _inputs()
    (ref,) = torch.autograd.grad(layer(x2, g2).pow(2).sum(), x2)
    assert torch.allclose(gx.detach(), ref, rtol=1e-13, atol=0)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(dtype=torch.float16), TypeError, "dtype must be torch.float32 or torch.float64"),
    (dict(n_modes=(0, 6)), ValueError, "n_modes"),
    (dict(n_modes=(4, 4, 4, 4)), ValueError, "n_modes"),
    (dict(n_modes=2.5), ValueError, "n_modes"),
    (dict(n_modes=(True, 4)), ValueError, "n_modes"),
    (dict(fft_norm="bogus"), ValueError, "norm must be one of"),
    (dict(in_channels=0), ValueError, "channel counts"),
    (dict(out_channels=-2), ValueError, "channel counts"),
])
def test_spectral_conv_module_rejects_bad_arguments(kwargs, exc, match):
    args = dict(in_channels=3, out_channels=3, n_modes=(4, 6))
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        FT.SpectralConv(**args)


def test_spectral_conv_module_accepts_numpy_ints():
    layer = FT.SpectralConv(np.int64(3), np.int32(2), (np.int64(4), 6), dtype=torch.float64)
    assert layer.n_modes == (4, 6) and type(layer.n_modes[0]) is int
    assert layer.in_channels == 3 and layer.out_channels == 2
    assert layer(torch.randn(1, 3, 8, 8, dtype=torch.float64)).shape == (1, 2, 8, 8)
