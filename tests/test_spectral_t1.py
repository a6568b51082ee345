"""Transform Once (T1) pieces and their backward passes: rfft_modes / mode_mix / irfft_modes.

Forward against NumPy references written here (rfftn, index the kept frequencies, einsum,
scatter into a zero spectrum, irfftn); every backward against coordinate-wise central finite
differences of a random linear functional of the output, against torch autograd of a torch
reference (torch.fft.rfftn + indexing + einsum + irfftn), and chained against
spectral_conv_backward; torch.autograd.gradcheck on the autograd Functions; bad input.  The GPU
branches run here with numpy standing in for cupy and the CUDA kernel source compiled for the
host (the fixtures of test_spectral.py); GPU-marked tests compare cupy with the CPU path."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy
from test_spectral import _KernelModel, _NumpyAsCupy, emulated_cuda  # noqa: F401 (fixture)

from fastspectral import spectral as S
from fastspectral.spectral import (irfft_modes, irfft_modes_backward, mode_mix,
                                   mode_mix_backward, rfft_modes, rfft_modes_backward,
                                   spectral_conv, spectral_conv_backward, weight_shape)

CASES = [
    # (batch, in, out, spatial shape, n_modes, output_shape)
    (3, 2, 3, (16,), (8,), None),
    (2, 2, 2, (15,), (15,), None),                 # odd, all modes kept
    (2, 1, 2, (16,), (16,), None),                 # even, all modes kept (Nyquist column)
    (1, 1, 1, (8,), (9,), (20,)),                  # m = n + 1 (same half-spectrum), upsample
    (2, 2, 3, (17,), (10,), (7,)),                 # output holds fewer last-dim modes
    (2, 2, 3, (12, 10), (6, 8), None),
    (2, 2, 2, (9, 11), (9, 11), None),             # odd, all modes kept
    (1, 2, 2, (8, 10), (8, 10), (12, 6)),          # all modes, larger then smaller
    (2, 1, 2, (10, 9), (7, 6), (5, 16)),           # leading modes dropped, last dim larger
    (1, 2, 2, (6, 8, 10), (4, 6, 8), None),
    (1, 1, 2, (5, 7, 6), (5, 7, 6), (7, 4, 9)),    # odd/even, all modes, mixed resampling
    (1, 2, 1, (6, 4, 8), (6, 4, 8), (4, 6, 5)),    # even at the limit, every dim resampled
]
NORMS = ("forward", "backward", "ortho")


def _norm(case):
    return NORMS[case % 3]


def _cplx(rng, shape, dtype=np.complex128):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def _setup(case, dtype=np.float64, seed=0):
    B, I, O, shape, modes, out = CASES[case]
    cd = np.complex64 if dtype == np.float32 else np.complex128
    rng = np.random.default_rng(1000 * seed + case)
    x = rng.standard_normal((B, I) + shape).astype(dtype)
    w = _cplx(rng, weight_shape(I, O, modes), cd)
    return rng, x, w, modes, (out if out is not None else shape)


def _lead_kept(m, n_out):
    """Weight indices kept along a non-last dim and their frequencies on an n_out grid."""
    f = np.arange(m) - m // 2
    keep = (f >= -(n_out // 2)) & (f <= (n_out - 1) // 2)
    return np.nonzero(keep)[0], f[keep]


def ref_rfft_modes(x, modes, norm):
    d = x.ndim - 2
    X = np.fft.rfftn(x, axes=tuple(range(2, 2 + d)), norm=norm)
    for j in range(d - 1):
        X = np.take(X, (np.arange(modes[j]) - modes[j] // 2) % x.shape[2 + j], axis=2 + j)
    return X[..., :modes[-1] // 2 + 1]


def ref_irfft_modes(X, modes, out, norm):
    d = X.ndim - 2
    dst = []
    for j in range(d - 1):
        w, f = _lead_kept(modes[j], out[j])
        X = np.take(X, w, axis=2 + j)
        dst.append(f % out[j])
    L = min(modes[-1] // 2 + 1, out[-1] // 2 + 1)
    full = np.zeros(X.shape[:2] + tuple(out[:-1]) + (out[-1] // 2 + 1,), X.dtype)
    full[(slice(None), slice(None)) + np.ix_(*dst) + (slice(0, L),)] = X[..., :L]
    return np.fft.irfftn(full, s=out, axes=tuple(range(2, 2 + d)), norm=norm)


class _Model(_KernelModel):
    """The NumPy kernel model, taking scale=None as the CUDA binding does (a unit scale)."""

    @staticmethod
    def spectral_weight_grad(x, g, gw, w0_1, r1, off1, w0_2, r2, off2, L, scale, stream):
        _KernelModel.spectral_weight_grad(x, g, gw, w0_1, r1, off1, w0_2, r2, off2, L,
                                          np.ones(L) if scale is None else scale, stream)


def _rel(a, b):
    a, b = to_numpy(a), to_numpy(b)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


# --------------------------------------------------------------------------- forward

@pytest.mark.parametrize("case", range(len(CASES)))
def test_forward_pieces_match_numpy_reference(case):
    rng, x, w, modes, out = _setup(case)
    norm = _norm(case)
    X = rfft_modes(x, modes, norm=norm)
    assert X.shape == x.shape[:2] + weight_shape(1, 1, modes)[2:] and X.dtype == np.complex128
    assert _rel(X, ref_rfft_modes(x, modes, norm)) < 1e-13
    Z = _cplx(rng, X.shape)
    y = irfft_modes(Z, modes, out, norm=norm)
    assert y.shape == x.shape[:2] + tuple(out)
    assert _rel(y, ref_irfft_modes(Z, modes, out, norm)) < 1e-13
    Y = mode_mix(X, w)
    assert _rel(Y, np.einsum("bi...,io...->bo...", X, w)) < 1e-13


# --------------------------------------------------------------------------- finite differences
#
# Each piece is linear in each argument, so central differences carry no truncation error:
# what differs is rounding (~1e-16 relative to the functional, divided by 2h): the worst
# case here is 7e-15 relative, so 1e-12 leaves a margin.
# Every coordinate (real and imaginary parts separately) is perturbed, so the whole gradient
# is checked, the zero/Nyquist columns included.

_H = 0.5


def _fd_real(f, a):
    g = np.zeros_like(a)
    flat, gf = a.reshape(-1), g.reshape(-1)
    for k in range(flat.size):
        v = flat[k]
        flat[k] = v + _H
        fp = f(a)
        flat[k] = v - _H
        fm = f(a)
        flat[k] = v
        gf[k] = (fp - fm) / (2 * _H)
    return g


def _fd_complex(f, a):
    """dL/dRe + i dL/dIm by central differences."""
    re = _fd_real(lambda r: f(r + 1j * a.imag), a.real.copy())
    im = _fd_real(lambda i: f(a.real + 1j * i), a.imag.copy())
    return re + 1j * im


def _pair(R, Z):
    """The real linear functional sum(Re(conj(R) Z)) = sum(Re R Re Z + Im R Im Z): its
    gradient w.r.t. Z in torch's convention is R."""
    return float(np.sum(R.real * Z.real + R.imag * Z.imag))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_rfft_modes_backward_finite_differences(case):
    rng, x, _, modes, _ = _setup(case, seed=1)
    norm = _norm(case)
    R = _cplx(rng, x.shape[:2] + weight_shape(1, 1, modes)[2:])
    gx = rfft_modes_backward(R, x.shape, modes, norm=norm)
    assert gx.shape == x.shape and gx.dtype == np.float64
    fd = _fd_real(lambda a: _pair(R, rfft_modes(a, modes, norm=norm)), x.copy())
    assert _rel(gx, fd) < 1e-12


@pytest.mark.parametrize("case", range(len(CASES)))
def test_irfft_modes_backward_finite_differences(case):
    rng, x, _, modes, out = _setup(case, seed=2)
    norm = _norm(case)
    X = _cplx(rng, x.shape[:2] + weight_shape(1, 1, modes)[2:])
    r = rng.standard_normal(x.shape[:2] + tuple(out))
    gX = irfft_modes_backward(r, modes, norm=norm)
    assert gX.shape == X.shape and gX.dtype == np.complex128
    fd = _fd_complex(lambda Z: float(np.sum(r * irfft_modes(Z, modes, out, norm=norm))), X)
    assert _rel(gX, fd) < 1e-12
    # modes the output grid cannot hold: unused by the forward, exactly zero gradient
    used = np.zeros(X.shape[2:], bool)
    sl = tuple(_lead_kept(m, n)[0] for m, n in zip(modes[:-1], out[:-1]))
    used[np.ix_(*sl, np.arange(min(modes[-1] // 2 + 1, out[-1] // 2 + 1)))] = True
    assert np.all(gX[..., ~used] == 0) and np.all(fd[..., ~used] == 0)
    assert (~used).any() == (case in (4, 7, 8, 10, 11))


@pytest.mark.parametrize("case", [0, 1, 5, 6, 9, 11])
def test_mode_mix_backward_finite_differences(case):
    rng, x, w, modes, _ = _setup(case, seed=3)
    X = rfft_modes(x, modes)
    Y = mode_mix(X, w)
    R = _cplx(rng, Y.shape)
    gX, gW = mode_mix_backward(R, X, w)
    assert gX.shape == X.shape and gW.shape == w.shape
    fdX = _fd_complex(lambda Z: _pair(R, mode_mix(Z, w)), X)
    fdW = _fd_complex(lambda Z: _pair(R, mode_mix(X, Z)), w)
    assert _rel(gX, fdX) < 1e-12
    assert _rel(gW, fdW) < 1e-12


def test_mode_mix_backward_long_mode_axis():
    """K = 3 * 10 * 17 modes: the kernels' vector loops over modes, with remainders."""
    rng = np.random.default_rng(7)
    X, W, G = _cplx(rng, (3, 4, 3, 10, 17)), _cplx(rng, (4, 5, 3, 10, 17)), \
        _cplx(rng, (3, 5, 3, 10, 17))
    gX, gW = mode_mix_backward(G, X, W)
    assert _rel(gX, np.einsum("bo...,io...->bi...", G, W.conj())) < 1e-13
    assert _rel(gW, np.einsum("bi...,bo...->io...", X.conj(), G)) < 1e-13


# -------------------------------------------------------------------------- chained = spectral_conv

@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("norm", NORMS)
def test_chain_equals_spectral_conv_forward_and_backward(case, norm):
    """One layer: rfft_modes -> mode_mix -> irfft_modes is spectral_conv, gradients too."""
    rng, x, w, modes, out = _setup(case, seed=4)
    X = rfft_modes(x, modes, norm=norm)
    Y = mode_mix(X, w)
    y = irfft_modes(Y, modes, out, norm=norm)
    y_ref = spectral_conv(x, w, modes, output_shape=out, norm=norm)
    assert _rel(y, y_ref) < 1e-13
    g = rng.standard_normal(y.shape)
    gY = irfft_modes_backward(g, modes, norm=norm)
    gX, gW = mode_mix_backward(gY, X, w)
    gx = rfft_modes_backward(gX, x.shape, modes, norm=norm)
    gx_ref, gw_ref, _ = spectral_conv_backward(g, x, w, modes, output_shape=out, norm=norm)
    assert _rel(gx, gx_ref) < 1e-12
    assert _rel(gW, gw_ref) < 1e-12


@pytest.mark.parametrize("case", [0, 6, 9])
def test_stack_vs_stacked_convs_differs_only_in_zero_column(case):
    """Two layers: a T1 stack equals two spectral_convs exactly when the weights are Hermitian
    in the last dim's zero column (what the docs and the bench family state), and differs
    otherwise (the intermediate real signal drops the non-Hermitian part)."""
    from fastspectral.bench.spectral_suite import _hermitian_zero_column

    rng, x, w1, modes, _ = _setup(case, seed=14)
    w2 = _cplx(rng, weight_shape(w1.shape[1], 2, modes))
    shape = x.shape[2:]

    def t1(a, b):
        return irfft_modes(mode_mix(mode_mix(rfft_modes(x, modes), a), b), modes, shape)

    def convs(a, b):
        return spectral_conv(spectral_conv(x, a, modes), b, modes)

    assert _rel(t1(w1, w2), convs(w1, w2)) > 1e-3
    h1, h2 = _hermitian_zero_column(w1, modes), _hermitian_zero_column(w2, modes)
    assert _rel(t1(h1, h2), convs(h1, h2)) < 1e-13


@pytest.mark.parametrize("case", [0, 4, 7, 10])
def test_backward_float32(case):
    """float32 gradients against the float64 ones (complex64 / float32 out)."""
    rng, x, w, modes, out = _setup(case, seed=5)
    norm = _norm(case)
    g = rng.standard_normal(x.shape[:2] + tuple(out))
    G = _cplx(rng, x.shape[:2] + weight_shape(1, 1, modes)[2:])
    gX = irfft_modes_backward(g.astype(np.float32), modes, norm=norm)
    assert gX.dtype == np.complex64
    assert _rel(gX, irfft_modes_backward(g, modes, norm=norm)) < 2e-6
    gx = rfft_modes_backward(G.astype(np.complex64), x.shape, modes, norm=norm)
    assert gx.dtype == np.float32
    assert _rel(gx, rfft_modes_backward(G, x.shape, modes, norm=norm)) < 2e-6
    R = _cplx(rng, (x.shape[0], w.shape[1]) + G.shape[2:])
    g32 = mode_mix_backward(R.astype(np.complex64), G.astype(np.complex64),
                            w.astype(np.complex64))
    for a, b in zip(g32, mode_mix_backward(R, G, w)):
        assert a.dtype == np.complex64 and _rel(a, b) < 2e-6


def test_four_kib_rows_backward():
    """x rows of 4 KiB take the padded-row inverse: grad_x is a strided view, still exact."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 1024)).astype(np.float32)
    G = _cplx(rng, (2, 3, 11), np.complex64)
    gx = rfft_modes_backward(G, x.shape, 20)
    ref = rfft_modes_backward(G.astype(np.complex128), x.shape, 20)
    assert _rel(gx, ref) < 2e-6
    # adjoint identity <G, A x> = <A^H G, x> in float64
    lhs = _pair(G.astype(np.complex128), rfft_modes(x.astype(np.float64), 20))
    assert abs(lhs - float(np.sum(ref * x))) < 1e-10 * np.abs(ref).sum()


# --------------------------------------------------------------------------- GPU glue on the CPU

@pytest.mark.parametrize("case", range(len(CASES)))
def test_gpu_branches_with_numpy_standing_in(case):
    """The cupy branches of the backward helpers (full cuFFT-style transforms through
    _compact_spectrum / _compact_inverse, scatter, the kernel calls) run with numpy in place of
    cupy and a NumPy model of the CUDA kernels."""
    rng, x, w, modes, out = _setup(case, seed=6)
    norm = _norm(case)
    xp, mod = _NumpyAsCupy(), _Model()
    B, I = x.shape[:2]
    G = _cplx(rng, x.shape[:2] + weight_shape(1, 1, modes)[2:])
    p_in = S._modes_plan(B, I, x.shape[2:], np.dtype(np.float64), modes, None, norm)
    assert _rel(S._rfft_modes_bwd(G, p_in, xp), rfft_modes_backward(G, x.shape, modes,
                                                                    norm=norm)) < 1e-13
    g = rng.standard_normal(x.shape[:2] + tuple(out))
    p_out = S._modes_plan(B, I, modes, np.dtype(np.float64), modes, out, norm)
    assert _rel(S._irfft_modes_bwd(g, p_out, xp), irfft_modes_backward(g, modes,
                                                                       norm=norm)) < 1e-13
    R = _cplx(rng, (B, w.shape[1]) + G.shape[2:])
    for a, b in zip(S._mode_mix_bwd(R, G, w, xp, mod=mod), mode_mix_backward(R, G, w)):
        assert _rel(a, b) < 1e-13


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 2, 7, 6, 9), (2, 2, 40)])
def test_mode_mix_backward_cuda_kernel_source_on_host(emulated_cuda, shape, dtype):
    """_mode_mix_bwd's GPU branch with the host-compiled CUDA kernels (flat mode axis,
    adjoint mix and weight gradient, no scale)."""
    cd = np.complex64 if dtype == np.float32 else np.complex128
    rng = np.random.default_rng(11)
    B, I, modes = shape[0], shape[1], shape[2:]
    X, W = _cplx(rng, shape, cd), _cplx(rng, (I, 3) + modes, cd)
    R = _cplx(rng, (B, 3) + modes, cd)
    got = S._mode_mix_bwd(R, X, W, _NumpyAsCupy(), mod=emulated_cuda)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    for a, b in zip(got, mode_mix_backward(R, X, W)):
        assert a.dtype == cd and _rel(a, b) < tol


# --------------------------------------------------------------------------- bad input

def test_bad_input():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 12, 10))
    X = rfft_modes(x, (6, 8))                       # (2, 3, 6, 5)
    w = _cplx(rng, (3, 4, 6, 5))
    with pytest.raises(TypeError, match="grad_X must be a complex"):
        rfft_modes_backward(X.real, x.shape, (6, 8))
    with pytest.raises(ValueError, match="x_shape"):
        rfft_modes_backward(X, (2, 4, 12, 10), (6, 8))
    with pytest.raises(ValueError, match="x_shape"):
        rfft_modes_backward(X, (2, 3, 12), (6, 8))
    with pytest.raises(TypeError, match="x_shape"):
        rfft_modes_backward(X, 5, (6, 8))
    with pytest.raises(ValueError, match="grad_X has mode dims"):
        rfft_modes_backward(X[..., :4], x.shape, (6, 8))
    with pytest.raises(ValueError, match=r"n_modes\[0\] = 14 exceeds"):
        rfft_modes_backward(_cplx(rng, (2, 3, 14, 5)), x.shape, (14, 8))
    with pytest.raises(ValueError, match="norm"):
        rfft_modes_backward(X, x.shape, (6, 8), norm="unitary")
    with pytest.raises(TypeError, match="grad_y must be float32 or float64"):
        irfft_modes_backward(x + 0j, (6, 8))
    with pytest.raises(TypeError, match="grad_y must be float32 or float64"):
        irfft_modes_backward(x.astype(np.float16), (6, 8))
    with pytest.raises(ValueError, match="grad_y must have shape"):
        irfft_modes_backward(x[0, 0], (6, 8))
    with pytest.raises(ValueError, match="n_modes has 1 entries"):
        irfft_modes_backward(x, (6,))
    with pytest.raises(ValueError, match="grad_Y has shape"):
        mode_mix_backward(X, X, w)                  # 3 channels where out = 4
    with pytest.raises(TypeError, match="grad_Y is complex64"):
        mode_mix_backward(mode_mix(X, w).astype(np.complex64), X, w)
    with pytest.raises(ValueError, match="weight must have shape"):
        mode_mix_backward(mode_mix(X, w), X[:, :2], w)
    with pytest.raises(TypeError, match="weight is complex64"):
        mode_mix_backward(mode_mix(X, w), X, w.astype(np.complex64))
    with pytest.raises(TypeError, match="grad_Y must be a complex"):
        mode_mix_backward(mode_mix(X, w).real, X, w)


# --------------------------------------------------------------------------- torch

def _torch_rfft_modes(torch, x, modes, norm):
    d = x.dim() - 2
    X = torch.fft.rfftn(x, dim=tuple(range(2, 2 + d)), norm=norm)
    for j in range(d - 1):
        idx = (np.arange(modes[j]) - modes[j] // 2) % x.shape[2 + j]
        X = X.index_select(2 + j, torch.as_tensor(idx))
    return X[..., :modes[-1] // 2 + 1]


def _torch_irfft_modes(torch, X, modes, out, norm):
    d = X.dim() - 2
    dst = []
    for j in range(d - 1):
        w, f = _lead_kept(modes[j], out[j])
        X = X.index_select(2 + j, torch.as_tensor(w))
        dst.append(f % out[j])
    L = min(modes[-1] // 2 + 1, out[-1] // 2 + 1)
    full = torch.zeros(X.shape[:2] + tuple(out[:-1]) + (out[-1] // 2 + 1,), dtype=X.dtype)
    index = tuple(torch.as_tensor(a) for a in np.ix_(*dst)) if dst else ()
    full[(slice(None), slice(None)) + index + (slice(0, L),)] = X[..., :L]
    return torch.fft.irfftn(full, s=tuple(out), dim=tuple(range(2, 2 + d)), norm=norm)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_backward_matches_torch_autograd(case):
    torch = pytest.importorskip("torch")
    rng, x, w, modes, out = _setup(case, seed=8)
    norm = _norm(case)
    xt = torch.tensor(x, requires_grad=True)
    X = _torch_rfft_modes(torch, xt, modes, norm)
    R = _cplx(rng, tuple(X.shape))
    (torch.view_as_real(X) * torch.view_as_real(torch.tensor(R))).sum().backward()
    assert _rel(rfft_modes_backward(R, x.shape, modes, norm=norm), xt.grad.numpy()) < 1e-12

    Z = torch.tensor(_cplx(rng, tuple(X.shape)), requires_grad=True)
    y = _torch_irfft_modes(torch, Z, modes, out, norm)
    r = rng.standard_normal(tuple(y.shape))
    assert _rel(irfft_modes(Z.detach().numpy(), modes, out, norm=norm), y.detach().numpy()) < 1e-13
    (y * torch.tensor(r)).sum().backward()
    assert _rel(irfft_modes_backward(r, modes, norm=norm), Z.grad.numpy()) < 1e-12

    Xt = torch.tensor(_cplx(rng, tuple(X.shape)), requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    Y = torch.einsum("bi...,io...->bo...", Xt, wt)
    Rm = _cplx(rng, tuple(Y.shape))
    (torch.view_as_real(Y) * torch.view_as_real(torch.tensor(Rm))).sum().backward()
    gX, gW = mode_mix_backward(Rm, Xt.detach().numpy(), w)
    assert _rel(gX, Xt.grad.numpy()) < 1e-12 and _rel(gW, wt.grad.numpy()) < 1e-12


@pytest.mark.parametrize("case", range(len(CASES)))
def test_torch_functions_match_torch_reference(case):
    """fastspectral.torch's T1 functions in a two-layer model with a complex nonlinearity
    between the layers, against the same model written in torch (all gradients)."""
    torch = pytest.importorskip("torch")
    from fastspectral import torch as FT

    rng, x, w1, modes, out = _setup(case, seed=9)
    norm = _norm(case)
    w2 = _cplx(rng, weight_shape(w1.shape[1], 2, modes))
    r = torch.tensor(rng.standard_normal((x.shape[0], 2) + tuple(out)))

    def run(rfft, mix, irfft):
        xt = torch.tensor(x, requires_grad=True)
        ws = [torch.tensor(a, requires_grad=True) for a in (w1, w2)]
        X = mix(rfft(xt), ws[0])
        X = X * torch.sigmoid(X.abs())              # a pointwise layer on the complex modes
        y = irfft(mix(X, ws[1]))
        (y * r).sum().backward()
        return [y.detach()] + [t.grad for t in [xt] + ws]

    ours = run(lambda a: FT.rfft_modes(a, modes, norm=norm), FT.mode_mix,
               lambda a: FT.irfft_modes(a, modes, out, norm=norm))
    ref = run(lambda a: _torch_rfft_modes(torch, a, modes, norm),
              lambda a, b: torch.einsum("bi...,io...->bo...", a, b),
              lambda a: _torch_irfft_modes(torch, a, modes, out, norm))
    for a, b in zip(ours, ref):
        assert a.dtype == b.dtype and _rel(a.numpy(), b.numpy()) < 1e-12


def test_torch_modules_equal_spectral_conv_and_train():
    """RFFTModes -> ModeMix -> IRFFTModes equals fastspectral.torch.spectral_conv with the same
    weight (forward and gradients, float32), and a T1 stack trains (loss goes down)."""
    torch = pytest.importorskip("torch")
    from fastspectral.torch import IRFFTModes, ModeMix, RFFTModes, spectral_conv

    torch.manual_seed(0)
    modes, shape = (6, 8), (12, 14)
    t1 = torch.nn.Sequential(RFFTModes(modes, norm="ortho"), ModeMix(3, 4, modes),
                             IRFFTModes(modes, (10, 16), norm="ortho"))
    assert t1[1].weight.dtype == torch.complex64 and t1[1].weight.shape == (3, 4, 6, 5)
    x = torch.randn(2, 3, *shape, requires_grad=True)
    y = t1(x)
    g = torch.randn(y.shape)
    (y * g).sum().backward()
    w = t1[1].weight.detach().clone().requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    y2 = spectral_conv(x2, w, modes, output_shape=(10, 16), norm="ortho")
    (y2 * g).sum().backward()
    tol = 2e-6
    assert _rel(y.detach().numpy(), y2.detach().numpy()) < tol
    assert _rel(x.grad.numpy(), x2.grad.numpy()) < tol
    assert _rel(t1[1].weight.grad.numpy(), w.grad.numpy()) < tol
    assert "n_modes=(6, 8)" in repr(t1)

    class Stack(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.f, self.b = RFFTModes(modes), IRFFTModes(modes, shape)
            self.mix = torch.nn.ModuleList([ModeMix(3, 8, modes), ModeMix(8, 8, modes),
                                            ModeMix(8, 1, modes)])

        def forward(self, x):
            X = self.f(x)
            for k, m in enumerate(self.mix):
                X = m(X)
                if k < 2:
                    X = X * torch.tanh(X.abs())
            return self.b(X)

    net = Stack()
    # band-limited inputs, so that the target (a shift) is exactly representable
    xs = torch.randn(8, 3, *shape)
    xs = IRFFTModes(modes, shape)(RFFTModes(modes)(xs)).detach()
    target = xs[:, :1].roll(1, dims=-1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((net(xs) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.4 * losses[0]


def test_torch_expanded_grads_and_strided_input():
    """Gradients torch hands over as expanded (zero-stride) tensors and a strided input."""
    torch = pytest.importorskip("torch")
    from fastspectral import torch as FT

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 16, 9, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(3, 2, 4, 3, dtype=torch.complex128, generator=gen, requires_grad=True)

    def run(rfft, mix, irfft):
        x.grad = w.grad = None
        X = rfft(x[:, :, ::2])
        (irfft(mix(X, w)).sum() + mix(X, w).real.sum() + X.abs().sum()).backward()
        return x.grad.clone(), w.grad.clone()

    ours = run(lambda a: FT.rfft_modes(a, (4, 4)), FT.mode_mix,
               lambda a: FT.irfft_modes(a, (4, 4), (5, 11)))
    ref = run(lambda a: _torch_rfft_modes(torch, a, (4, 4), "forward"),
              lambda a, b: torch.einsum("bi...,io...->bo...", a, b),
              lambda a: _torch_irfft_modes(torch, a, (4, 4), (5, 11), "forward"))
    for a, b in zip(ours, ref):
        assert _rel(a.numpy(), b.numpy()) < 1e-12


@pytest.mark.parametrize("d", [1, 2, 3])
def test_torch_gradcheck(d):
    torch = pytest.importorskip("torch")
    from fastspectral import torch as FT

    shape, modes, out = {1: ((6,), (6,), (9,)), 2: ((5, 6), (5, 4), (4, 7)),
                         3: ((4, 3, 4), (3, 3, 4), (3, 4, 5))}[d]
    gen = torch.Generator().manual_seed(d)
    x = torch.randn(2, 2, *shape, dtype=torch.float64, generator=gen, requires_grad=True)
    ms = weight_shape(1, 1, modes)[2:]
    X = torch.randn(2, 2, *ms, dtype=torch.complex128, generator=gen, requires_grad=True)
    W = torch.randn(2, 3, *ms, dtype=torch.complex128, generator=gen, requires_grad=True)
    for norm in NORMS:
        assert torch.autograd.gradcheck(lambda a: FT.rfft_modes(a, modes, norm=norm), (x,),
                                        fast_mode=False)
        assert torch.autograd.gradcheck(lambda a: FT.irfft_modes(a, modes, out, norm=norm),
                                        (X,), fast_mode=False)
    assert torch.autograd.gradcheck(FT.mode_mix, (X, W), fast_mode=False)
    # the backward passes are not differentiable again: a clear error, not a silent zero
    y = FT.irfft_modes(FT.mode_mix(FT.rfft_modes(x, modes), W[:2, :2]), modes, out)
    (gx,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        gx.sum().backward()


def test_torch_bad_input():
    torch = pytest.importorskip("torch")
    from fastspectral.torch import IRFFTModes, ModeMix, RFFTModes, mode_mix, rfft_modes

    x = torch.randn(2, 3, 12, 10)
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        rfft_modes(x.half(), (6, 8))
    with pytest.raises(ValueError, match=r"n_modes\[0\] = 14 exceeds"):
        RFFTModes((14, 8))(x)
    with pytest.raises(ValueError, match="norm must be one of"):
        RFFTModes((6, 8), norm="unitary")
    with pytest.raises(ValueError, match="n_modes must be"):
        ModeMix(3, 4, (6, 0))
    with pytest.raises(TypeError, match="dtype must be"):
        ModeMix(3, 4, (6, 8), dtype=torch.float16)
    X = RFFTModes((6, 8))(x)
    with pytest.raises(ValueError, match="weight must have shape"):
        ModeMix(2, 4, (6, 8))(X)                    # in_channels 2, X has 3 channels
    with pytest.raises(TypeError, match="weight is complex128 but X is complex64"):
        ModeMix(3, 4, (6, 8), dtype=torch.float64)(X)
    with pytest.raises(ValueError, match="mode dims"):
        IRFFTModes((6, 6), (12, 10))(X)
    with pytest.raises(ValueError, match="output_shape is needed"):
        IRFFTModes((6, 8))(X)
    if torch.cuda.is_available():
        with pytest.raises(TypeError, match="one device"):
            mode_mix(X, ModeMix(3, 4, (6, 8)).weight.cuda())


# --------------------------------------------------------------------------- GPU (cupy)

@pytest.mark.gpu
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cupy_backward_matches_cpu(case, dtype):
    import cupy

    rng, x, w, modes, out = _setup(case, dtype, seed=10)
    norm = _norm(case)
    cd = w.dtype
    tol = 2e-6 if dtype == np.float32 else 1e-12
    G = _cplx(rng, x.shape[:2] + weight_shape(1, 1, modes)[2:], cd)
    g = rng.standard_normal(x.shape[:2] + tuple(out)).astype(dtype)
    R = _cplx(rng, (x.shape[0], w.shape[1]) + G.shape[2:], cd)
    pairs = [(rfft_modes_backward(cupy.asarray(G), x.shape, modes, norm=norm),
              rfft_modes_backward(G, x.shape, modes, norm=norm)),
             (irfft_modes_backward(cupy.asarray(g), modes, norm=norm),
              irfft_modes_backward(g, modes, norm=norm))]
    pairs += list(zip(mode_mix_backward(cupy.asarray(R), cupy.asarray(G), cupy.asarray(w)),
                      mode_mix_backward(R, G, w)))
    for ours, cpu in pairs:
        assert isinstance(ours, cupy.ndarray) and ours.dtype == cpu.dtype
        assert ours.shape == cpu.shape and _rel(ours, cpu) < tol


@pytest.mark.gpu
def test_cupy_backward_mixed_devices_rejected():
    import cupy

    rng = np.random.default_rng(13)
    X, w = _cplx(rng, (2, 3, 6, 5)), _cplx(rng, (3, 4, 6, 5))
    with pytest.raises(TypeError, match="cupy array"):
        mode_mix_backward(cupy.asarray(_cplx(rng, (2, 4, 6, 5))), X, w)


@pytest.mark.gpu
def test_torch_cuda_t1_matches_cpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    from fastspectral.torch import IRFFTModes, ModeMix, RFFTModes

    torch.manual_seed(2)
    net = torch.nn.Sequential(RFFTModes((6, 5)), ModeMix(3, 4, (6, 5), dtype=torch.float64),
                              ModeMix(4, 2, (6, 5), dtype=torch.float64),
                              IRFFTModes((6, 5), (12, 8)))
    x = torch.randn(2, 3, 10, 9, dtype=torch.float64, requires_grad=True)
    y = net(x)
    y.backward(torch.cos(y.detach()))
    grads = [t.grad.clone() for t in (x, net[1].weight, net[2].weight)]
    net_d = net.cuda()
    net_d.zero_grad()
    xd = x.detach().cuda().requires_grad_(True)
    yd = net_d(xd)
    assert yd.is_cuda and _rel(yd.detach().cpu().numpy(), y.detach().numpy()) < 1e-12
    yd.backward(torch.cos(yd.detach()))
    for ours, cpu in zip((xd.grad, net_d[1].weight.grad, net_d[2].weight.grad), grads):
        assert ours.is_cuda and _rel(ours.cpu().numpy(), cpu.numpy()) < 1e-12


# --------------------------------------------------------------------------- bench family

def test_bench_t1_family_quick():
    """The spectral suite's T1 cases (--quick shapes) build, run once, and agree with their
    competitors (float32)."""
    from fastspectral.bench import BenchConfig
    from fastspectral.bench import spectral_suite as SS

    cases = SS._t1_cases(BenchConfig(quick=True, threads=[1]), True)
    assert len(cases) in (2, 6)                       # 6 with torch
    listed = SS.cases(BenchConfig(quick=True, threads=[1], device="cpu"))
    assert [(c.kernel, c.competitor) for c in cases] == [
        (c.kernel, c.competitor) for c in listed if c.kernel.startswith("t1 ")]
    for case in cases:
        prep = case.prepare()
        m = prep.metrics(prep.ours(), prep.theirs())
        diffs = {k: v for k, v in m.items() if k.startswith("rel_diff")}
        assert len(diffs) == (1 if case.kernel == "t1 forward" else 3)
        assert max(diffs.values()) < 2e-5, (case.competitor, diffs)
