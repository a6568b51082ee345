"""GP-HM: Gaussian-process solver for high-frequency and multi-scale PDEs (Fang et al., ICLR 2024).

kernels   per-dimension spectral-mixture kernels (Student-t / Gaussian mixtures, SE, Matern-5/2)
          with closed-form derivative matrices and hyperparameter gradients
problems  box-domain PDE descriptions and the paper's benchmark problems (1-D/2-D Poisson and
          Allen-Cahn, 2-D advection, 3-D Poisson / Helmholtz)
solver    ``solve(problem, grid_size, ...)`` -> ``GPSolution`` (1-D here, d >= 2 in solver_nd:
          the same objective, U by preconditioned CG on Kronecker matvecs); numpy or cupy
          problem data (``device=``; the cupy path has not yet run on a GPU, see solver_nd)
"""
from __future__ import annotations

from .kernels import (Kernel1D, StudentTMixture, GaussianMixture, SquaredExponential, Matern52,
                      make_kernel)
from .problems import (Problem, poisson_1d, allen_cahn_1d, poisson_2d, allen_cahn_2d,
                       advection_2d, advection_diffusion_2d, anisotropic_poisson_2d, poisson_3d,
                       helmholtz_3d)
from .solver import solve, GPSolution, GPSolverWarning

__all__ = ["Kernel1D", "StudentTMixture", "GaussianMixture", "SquaredExponential", "Matern52",
           "make_kernel", "Problem", "poisson_1d", "allen_cahn_1d", "poisson_2d", "allen_cahn_2d",
           "advection_2d", "advection_diffusion_2d", "anisotropic_poisson_2d", "poisson_3d",
           "helmholtz_3d", "solve", "GPSolution", "GPSolverWarning"]
