"""KroneckerOperator for torch tensors (exported by :mod:`fastspectral.torch`): the algebra of
:class:`fastspectral.kron.KroneckerOperator`, differentiable in the factors, right-hand sides
and shifts, for Gaussian-process marginal likelihoods on grids (K = K_1 ⊗ ... ⊗ K_d):

    -log p(y) = 1/2 y^T (K + s I)^{-1} y + 1/2 log det(K + s I) + N/2 log(2 pi)

with ``K.solve(y, shift=s)`` and ``K.logdet(shift=s)``, gradients flowing to the kernel
hyperparameters that built the factors.

How: with s = 0, solves apply the per-factor inverses (torch.linalg.inv of each factor) and
logdet sums the per-factor log-determinants times N / n_i (torch.linalg.slogdet), whose
gradients are well conditioned.  With s != 0, both go through the per-factor eigendecompositions
K_i = Q_i diag(w_i) Q_i^T (torch.linalg.eigh): (K + s I)^{-1} b = Q diag(1/(w + s)) Q^T b with
two Kronecker products, log det = sum log(w + s) over the N eigenvalue products.  torch's eigh
gradient is undefined where a factor has repeated eigenvalues (it divides by their gaps): such
factors (e.g. a multiple of the identity; use an int for an identity) give inf/nan gradients
in the s != 0 path, as in any eigh-based Kronecker GP code.

Example
-------
>>> import torch
>>> from fastspectral.torch import KroneckerOperator
>>> t = torch.linspace(0, 1, 20, dtype=torch.float64)
>>> ell = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
>>> k = torch.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell ** 2)
>>> K = KroneckerOperator([k, k])
>>> y = torch.sin(6 * t)[:, None] * torch.cos(4 * t)[None, :]
>>> nll = 0.5 * y.flatten() @ K.solve(y.flatten(), shift=1e-2) + 0.5 * K.logdet(shift=1e-2)
>>> nll.backward()
>>> bool(torch.isfinite(ell.grad))
True
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np
import torch

from ._torch_kron import _is_int, kron_matvec

__all__ = ["KroneckerOperator"]


def _side(f: Any) -> tuple[int, int]:
    return (int(f), int(f)) if _is_int(f) else (int(f.shape[0]), int(f.shape[1]))


def _check_hermitian(f: torch.Tensor, i: int) -> None:
    """eigh reads one triangle only: a non-Hermitian factor would give a silently wrong solve.
    (Data-dependent, so skipped under torch.func transforms and torch.compile.)"""
    if torch._C._are_functorch_transforms_active() or torch.compiler.is_compiling():
        return
    fd = f.detach()
    if not bool(torch.isfinite(fd).all()):
        raise ValueError(f"fastspectral.torch.KroneckerOperator: factor {i} has non-finite "
                         "entries")
    tol = 100 * torch.finfo(fd.dtype).eps * float(fd.abs().max()) if fd.numel() else 0.0
    if float((fd - fd.mH).abs().max()) > tol:
        raise ValueError(f"fastspectral.torch.KroneckerOperator: factor {i} is not "
                         "symmetric (Hermitian); solves and logdet with a shift go through "
                         "per-factor eigh and need Hermitian factors (shift 0 works for any "
                         "invertible factors)")


def _shift_value(shift: Any, what: str) -> tuple[Any, bool]:
    """(shift, whether it is exactly zero and needs no gradient): a number or a one-element
    tensor.  A per-element shift (K + diag(s)) is not a Kronecker structure: refused."""
    if isinstance(shift, torch.Tensor):
        if shift.numel() != 1:
            raise ValueError(f"fastspectral.torch.KroneckerOperator.{what}: shift must be a "
                             f"number or a one-element tensor, got shape {tuple(shift.shape)} "
                             "(K + diag(s) has no Kronecker structure)")
        zero = (not shift.requires_grad and not torch._C._are_functorch_transforms_active()
                and not torch.compiler.is_compiling() and float(shift) == 0.0)
        return shift.reshape(()), zero
    if isinstance(shift, np.ndarray) and shift.size == 1:
        shift = shift.reshape(()).item()  # a 0-d or one-element NumPy array
    if not isinstance(shift, numbers.Real) or isinstance(shift, (bool, np.bool_)):
        raise TypeError(f"fastspectral.torch.KroneckerOperator.{what}: shift must be a number "
                        f"or a one-element tensor, got {type(shift).__name__}")
    shift = float(shift)  # NumPy scalars included
    return shift, shift == 0


class KroneckerOperator:
    """K = A_1 ⊗ ... ⊗ A_d of torch tensors (2-D, (m_i, n_i)) and ints (identities), never
    formed.  ``K @ x`` takes x of shape (N,) or (N, k) (matrix semantics);
    :func:`fastspectral.torch.kron_matvec` takes batches along leading axes.  Everything is
    differentiable in the factors and the other tensor arguments."""

    def __init__(self, factors: Sequence[Any]):
        if isinstance(factors, torch.Tensor) or not isinstance(factors, (list, tuple)):
            raise TypeError("fastspectral.torch.KroneckerOperator: factors must be a list or "
                            "tuple of 2-D tensors and ints")
        if len(factors) == 0:
            raise ValueError("fastspectral.torch.KroneckerOperator: the factor list is empty")
        for i, f in enumerate(factors):
            if _is_int(f):
                if f < 1:
                    raise ValueError(f"fastspectral.torch.KroneckerOperator: factor {i} is the "
                                     f"int {f}; an identity's size must be >= 1")
                continue
            if not isinstance(f, torch.Tensor) or f.dim() != 2:
                raise ValueError(f"fastspectral.torch.KroneckerOperator: factor {i} must be a "
                                 f"2-D tensor or an int, got "
                                 f"{tuple(f.shape) if isinstance(f, torch.Tensor) else type(f)}")
        self.factors = [int(f) if _is_int(f) else f for f in factors]
        tensors = [f for f in self.factors if not _is_int(f)]
        devices = {f.device for f in tensors}
        if len(devices) > 1:
            raise TypeError("fastspectral.torch.KroneckerOperator: the factors are on "
                            f"different devices ({sorted(map(str, devices))})")
        self.device = devices.pop() if devices else torch.device("cpu")
        dtype = torch.get_default_dtype()
        if tensors:
            dtype = tensors[0].dtype
            for f in tensors[1:]:
                dtype = torch.promote_types(dtype, f.dtype)
            if not (dtype.is_floating_point or dtype.is_complex):  # integer factors
                dtype = torch.get_default_dtype()
        self.dtype = dtype

    # ------------------------------------------------------------------ structure
    @property
    def shape(self) -> tuple[int, int]:
        sides = [_side(f) for f in self.factors]
        return math.prod(m for m, _ in sides), math.prod(n for _, n in sides)

    @property
    def T(self) -> "KroneckerOperator":
        return KroneckerOperator([f if _is_int(f) else f.mT for f in self.factors])

    def __repr__(self) -> str:
        return (f"fastspectral.torch.KroneckerOperator(shape={self.shape}, "
                f"factors={[_side(f) for f in self.factors]})")

    def _eye(self, n: int) -> torch.Tensor:
        return torch.eye(n, dtype=self.dtype, device=self.device)

    def to_dense(self) -> torch.Tensor:
        """The dense (M, N) matrix (small cases only)."""
        K = torch.ones(1, 1, dtype=self.dtype, device=self.device)
        for f in self.factors:
            K = torch.kron(K, self._eye(f) if _is_int(f) else f.to(self.dtype).contiguous())
        return K

    def _square(self, what: str) -> None:
        for i, f in enumerate(self.factors):
            m, n = _side(f)
            if m != n:
                raise ValueError(f"fastspectral.torch.KroneckerOperator.{what}: needs square "
                                 f"factors; factor {i} is {m} x {n}")

    def diagonal(self) -> torch.Tensor:
        """diag(K), (N,)."""
        self._square("diagonal")
        d = torch.ones(1, dtype=self.dtype, device=self.device)
        for f in self.factors:
            fd = torch.ones(f, dtype=self.dtype, device=self.device) if _is_int(f) \
                else torch.diagonal(f).to(self.dtype)
            d = (d[:, None] * fd[None, :]).reshape(-1)
        return d

    # ------------------------------------------------------------------ products
    def _columns(self, b: torch.Tensor, fn: Any, what: str, rows: int) -> torch.Tensor:
        if not isinstance(b, torch.Tensor):
            raise TypeError(f"fastspectral.torch.KroneckerOperator.{what}: expected a tensor, "
                            f"got {type(b).__name__}")
        if b.dim() not in (1, 2) or b.shape[0] != rows:
            raise ValueError(f"fastspectral.torch.KroneckerOperator.{what}: expected a vector "
                             f"({rows},) or a matrix ({rows}, k), got shape {tuple(b.shape)}")
        return fn(b) if b.dim() == 1 else fn(b.mT).mT

    def __matmul__(self, x: Any) -> Any:
        if isinstance(x, KroneckerOperator):
            if len(x.factors) != len(self.factors):
                raise ValueError("fastspectral.torch.KroneckerOperator: products need equal "
                                 "factor counts")
            out = []
            for a, b in zip(self.factors, x.factors):
                if _side(a)[1] != _side(b)[0]:
                    raise ValueError(f"fastspectral.torch.KroneckerOperator: factor shapes "
                                     f"{_side(a)} and {_side(b)} do not multiply")
                common = torch.promote_types(self.dtype, x.dtype)
                out.append(b if _is_int(a) else a if _is_int(b)
                           else a.to(common) @ b.to(common))
            return KroneckerOperator(out)
        return self._columns(x, lambda v: kron_matvec(self.factors, v), "__matmul__",
                             self.shape[1])

    # ------------------------------------------------------------------ solves, logdet
    def _eigh(self) -> tuple[torch.Tensor, list[Any]]:
        """(the N eigenvalue products, per-factor eigenvector matrices / ints)."""
        self._square("eigh")
        real = torch.empty(0, dtype=self.dtype).real.dtype  # eigh's eigenvalue dtype
        w = torch.ones(1, dtype=real, device=self.device)
        qs: list[Any] = []
        for i, f in enumerate(self.factors):
            if _is_int(f):
                fw = torch.ones(f, dtype=real, device=self.device)
                qs.append(f)
            else:
                fd = f.to(self.dtype)
                _check_hermitian(fd, i)
                fw, q = torch.linalg.eigh(fd)
                qs.append(q)
            w = (w[:, None] * fw[None, :]).reshape(-1)
        return w, qs

    def eigh(self) -> tuple[torch.Tensor, "KroneckerOperator"]:
        """(w, Q): the N eigenvalues (real, not sorted; Kronecker order) and Q as a
        KroneckerOperator, K = Q diag(w) Q^H, for Hermitian (real: symmetric) factors."""
        w, qs = self._eigh()
        return w, KroneckerOperator(qs)

    def solve(self, b: torch.Tensor, shift: Any = 0.0) -> torch.Tensor:
        """(K + shift I)^{-1} b for b (N,) or (N, k); shift a number (NumPy scalars too) or a
        one-element tensor.  (Under torch.func transforms and torch.compile the data-dependent
        checks, Hermitian factors and a zero tensor shift taking the exact path, are skipped.)  With
        shift 0 any invertible square factors (per-factor solves); otherwise Hermitian (real:
        symmetric) factors (per-factor eigh)."""
        self._square("solve")
        N = self.shape[0]
        shift, zero = _shift_value(shift, "solve")
        if zero:
            inv = [f if _is_int(f) else torch.linalg.inv(f.to(self.dtype)) for f in self.factors]
            return self._columns(b, lambda v: kron_matvec(inv, v), "solve", N)
        w, qs = self._eigh()
        lam = w + shift
        qh = [q if _is_int(q) else q.mH for q in qs]

        def apply(v: torch.Tensor) -> torch.Tensor:
            t = kron_matvec(qh, v)
            return kron_matvec(qs, t / lam.to(t.dtype))

        return self._columns(b, apply, "solve", N)

    def logdet(self, shift: Any = 0.0) -> torch.Tensor:
        """log det(K + shift I), a 0-d tensor.  shift 0: sum_i (N / n_i) log|det A_i| (any
        square factors; the sign is ignored); otherwise sum log(w + shift) over the eigenvalue
        products (Hermitian factors)."""
        self._square("logdet")
        N = self.shape[0]
        shift, zero = _shift_value(shift, "logdet")
        if zero:
            total = torch.zeros((), dtype=self.dtype, device=self.device)
            for f in self.factors:
                if _is_int(f):
                    continue
                _, ld = torch.linalg.slogdet(f.to(self.dtype))
                total = total + ld * (N // f.shape[0])
            return total.real if total.is_complex() else total
        w, _ = self._eigh()
        return torch.log(w + shift).sum()

    def inv(self) -> "KroneckerOperator":
        """K^{-1} = A_1^{-1} ⊗ ... (square, invertible factors)."""
        self._square("inv")
        return KroneckerOperator([f if _is_int(f) else torch.linalg.inv(f)
                                  for f in self.factors])
