"""GP-HM on d-dimensional grids (d >= 2) with the paper's finite-precision objective.

(This module was solver2d; the 2-D code is now the d = 2 case of _ModelND.)

Model (Fang et al., ICLR 2024, as in the authors' 2-D code), grid M1 x ... x Md, M = prod M_d
nodes, N_b boundary nodes (all nodes on the box faces), K = K_1 kron ... kron K_d (each with
jitter):

    L(U, theta, tau) = 1/2 sum_d (M / M_d) log|K_d| + 1/2 <U, K^{-1} U>
                       + lambda_b [tau_1/2 ||U_b - g||^2 - N_b/2 log tau_1]
                       + tau_2/2 ||R(U)||^2 - M/2 log tau_2,
    R(U) = sum_d A_d U (mode-d products) + c_0 U + N(U) - F  at ALL M nodes (boundary nodes
    included, as the authors do), A_d = sum_k c_k K_d^(k) K_d^{-1}.

Because the residual also counts at the boundary nodes the system is over-determined, so the
objective keeps a real trade-off even at large tau (the previous exact-collocation limit, with
the residual at interior nodes only, made the objective a poor proxy for accuracy: lowering it
raised the error).

Optimiser: as in 1-D, L-BFGS on the profiled objective F(theta) = min_U L (gradient by the
envelope theorem), a few outer iterations.  The U solve:

  * whitening U = T Y = (T_1 kron ... kron T_d) Y, T_d = Q_d Lam_d^{1/2} W_d, where
    K_d = Q_d Lam_d Q_d^T and W_d diag(e_d) W_d^H is the eigendecomposition of
    E_d = Lam^{-1/2} Q^T (sum c_k K_d^(k)) Q Lam^{-1/2}: symmetric (W_d real orthogonal) when
    dimension d has even orders only, antisymmetric (W_d complex unitary, e_d imaginary) when
    it has first-order terms only (see "First-order terms" below); then T_d T_d^H = K_d (prior
    term ||Y||^2 / 2) and A_d T_d = T_d diag(e_d), so the PDE operator is diagonal,
    D = e_1 (+) ... (+) e_d + c_0;
  * normal equations H y = b, H = I + tau_2 D^H (G_1 kron ... kron G_d) D
    + lambda_b tau_1 T^H P_b^T P_b T (+ the Gauss-Newton Jacobian of N), G_d = T_d^H T_d;
  * conjugate gradients, matvecs through fastspectral.kron.kron_mode_product (two per step in
    the linear case; the boundary rows cost O(M)), preconditioned by a Kronecker approximation of
    I + tau_2 D G D plus the boundary term added exactly by Woodbury (see ``preconditioner``).

tau: the closed-form tau (1-D's rule) lands at 1e2..1e4 on 2-D grids, where the prior and PDE
terms are of similar size on many modes; no Kronecker preconditioner tried there (constant or
separable shifts, per-mode diagonal scalings, hybrids) kept CG below hundreds to thousands of
steps.  At tau_1 = tau_2 = tau_max = 1e10 (where the 1-D solver also ends) CG takes 1-3 steps.
So by default (learn_tau=False) both are held at tau_max: a deviation from the paper, which
learns them.  On 2-D Poisson sin(100x) sin(100y), 400^2, the solution's own closed-form tau
would be tau_1 ~ 3e10 (capped to 1e10), tau_2 ~ 3e9.

Measured (2-core shared CPU, one BLAS thread, Q = 30, Student-t, poisson_2d(100), 400^2):
relative L2 error 3.56e-5 (paper: 6.9e-5 after 1.5-2.3 h of Adam on a GPU), identical to three
digits for lbfgs_steps = 10, 30, 100 and over 4 outer iterations (L-BFGS stops on its own
relative-reduction test); 10-30 s wall (noisy machine).  At 200^2 (2 points per period) the
same solver gives 0.90 (the paper reports ~1e-3 there).

Nonlinear PDEs (Allen-Cahn) take inexact Gauss-Newton steps with backtracking on the exact
objective: the GN system's H Y - b is the exact gradient of the objective in Y, so each PCG run
only has to cut that gradient by a forcing factor min(0.1, sqrt(rel. gradient)), at most 100
steps, and a run that stops early still gives a descent step.  The U solve is judged by the
final nonlinear gradient (target 1e-8 relative, accepted below cg_accept = 1e-6).  Before, each
GN system was solved to 1e-10 and the first PCG run that stopped above 1e-6 ended the U solve
and rejected the trial theta, which made the path sensitive to round-off (allen_cahn_2d(10) on
40^2 stopped at 2.6e-3 with one BLAS thread but reached 1.3e-5 with threaded BLAS).

Measured (one BLAS thread, Q = 30, Student-t, 2-core shared CPU, solve_nd defaults, the error
of GPSolution.error() on 300^2 points): allen_cahn_2d(10), 40^2, max_iter=5: 2.6e-3 in 0.9 s
and status 'converged' (the old code; the status now says 'stalled') -> 5.7e-5 in 24 s with
the inexact GN (PCG capped at 400 steps per GN system instead of 100: 5.8e-5 in 56 s).
Larger (max_iter=3, max_time=100, same settings; old -> new): allen_cahn_2d(10), 60^2:
4.1e-3 'converged' in 1.0 s -> 1.2e-4 'stalled' in 38 s; allen_cahn_2d(20), 80^2: 1.1e-4
'time_limit' in 171 s -> 9.2e-5 'stalled' in 12 s.  'stalled': the later L-BFGS runs stop at
rejected trials without moving (the error is the same after every outer iteration).
Side effect on the SE baseline (allen_cahn_2d(5), 24^2, bench --quick): the old GN stopped
early at objective ~1e7 with error 3.2e-4; the inexact GN reaches objectives near -2e4 (a
better minimiser of the model) with error 0.06-0.1, and the objective is not monotone over
outer iterations (U solves accepted at 1e-6 relative gradient): the baseline's objective is a
poor proxy for its accuracy there.  GP-HM kernels: 5.0e-5 (Student-t), 2.1e-5 (Gaussian).

Gauss-Newton shift.  The preconditioner shifts D by a constant s standing in for N'(U).  It
was mean(N'(U)): > 0 for Allen-Cahn while D <= 0 (a Laplacian), so D + s crossed zero on a band
of low modes, P_0 inverted nearly vanishing (floored) entries the true Jacobian A + diag(N')
does not have, and > 90 % of the PCG runs hit their 100-step cap (40^2: mean shift 844 of 884
runs; max(N'): 512 of 550; median: 369 of 417; all positive shifts).  Now s = -RMS(N'(U))
(the sign of D's dominant entry; see gn_shift), as a negatively shifted Laplacian
preconditions an indefinite Helmholtz operator.  Neither sign wins everywhere (on a
large-amplitude Allen-Cahn, u = 5 sin(3x + 0.3) cos(3y), 20^2, Q = 8, initial kernel: mean
shift 1303 PCG steps, opposite-sign shift 2412 and stuck at gradient 2.7e-6 > cg_accept), so
gn_adapt = 2 consecutive capped PCG runs switch to the other sign (sticky): 1459 steps, 6e-9.
Measured (tests/tools/dev_gp_precond.py; one BLAS thread; 2-core shared CPU, other jobs
running, so times are rough; "U solve" = solve_u from U = 0 at fixed theta, tau = 1e10, PCG
steps in total / relative nonlinear gradient; old = mean shift, new = opposite-sign RMS
shift without switching, adaptive = the default):
  allen_cahn_2d(10), 40^2, theta after 2 outer iterations: old 2901 steps / 8.1e-7 (30 GN
  steps, not converged, U grid error 1.1e-3); new 442 / 6.9e-9 (2.3e-4); adaptive 642-742 /
  7e-9.  Other constant shifts: 0: 2918 / 0.6 (diverged); -mean|N'|: 1469; -2 mean|N'|: 797;
  -4 mean|N'|: 822; -10: 786; -30: 2151; -max N': 2266; -mean N': 2476 (not converged).
  allen_cahn_2d(20), 80^2, learned theta: old 1522, new 241, adaptive 339 steps (all
  converged, same U).
  allen_cahn_2d(100), 400^2 (the paper's case), initial theta: old 2901 steps / 7.9e-5 in
  280 s (U solve fails, so the old solver could not take a single hyperparameter step);
  new 353 steps / 6.4e-9 in 36 s.
  Full solves (solve_nd, learn_tau=False, Q = 30 Student-t, error on 300^2 points):
  allen_cahn_2d(10), 40^2, max_iter=5: old 6.1e-5 'stalled' in 39 s (74592 PCG steps, 48
  accepted evaluations); new 1.5e-5 in 15 s (25492, 192); adaptive 2.1e-5 in 18 s (31035,
  184), still improving at max_iter.  allen_cahn_2d(20), 80^2, max_iter=3: old 9.1e-5
  'stalled' in 19 s (17421 steps); new 1.2e-4 in 9 s (6410 steps; the objective keeps
  falling while the error rises from 9.5e-5: the model, not the solver); adaptive 1.25e-4
  in 9 s (6962 steps).
  allen_cahn_2d(100) on 400^2 (the paper's case) with the new shift, max_iter=3,
  lbfgs_steps=10: 3.8e-3 after the first outer iteration (329 s), 4.0e-3 after the second
  (534 s), 3.8e-3 after the third (750 s, 11202 PCG steps over 70 evaluations, 60-600 per U
  solve); the paper: 5.7e-3 (Student-t) / 2.6e-3 (Gaussian) after 4.5-5 h of Adam on a GPU.
  Adaptive (the default), 400^2: U solve from the initial theta 553 steps / 6.1e-9 in 27 s;
  solve_nd(max_iter=1, lbfgs_steps=10): 3.67e-3 in 283 s (5860 PCG steps, 17 evaluations;
  sign switches cost ~2x the steps of the fixed opposite-sign shift here).
Not tried for lack of time: the GN-corrected preconditioner with an inner Krylov solve for
N = I + E (A + s)^{-1} (flexible outer CG), and LSQR on the stacked operator.

First-order terms (advection u_t + beta u_x, 2-D).  K^(1) of a stationary kernel is
antisymmetric, so a dimension whose terms are all first order has an antisymmetric E_d, a
normal matrix: -i E_d is Hermitian, E_d = V diag(i w) V^H with V unitary.  T_d = Q Lam^{1/2} V
is then complex, D is complex, and PCG runs in complex arithmetic on the Hermitian normal
equations (inner products Re<r, z>); the minimiser over complex Y of the real quadratic is
real, so U = Re(T Y) and the imaginary part is at the CG tolerance (recorded per outer
iteration as history['imag_rel'], ~1e-10).  The preconditioner and the Woodbury capacitance
use conjugate transposes.  A dimension mixing first- and second-order terms (advection-
diffusion) takes the path of "Mixed orders" below; nonlinear PDEs with a first-order-only
dimension are refused (the complex whitening is linear only).  The theta-gradient needs no
change for odd orders (signed lags; checked against finite differences in the tests).

Measured on advection before the shift floor below (tau held at 1e10, lambda_b = 500 as in
the paper, Q = 30 Student-t, one BLAS thread, 2-core shared CPU; error on 300^2 points): advection_2d(5), 32^2: 1.4e-6
in 19 s (6 outer iterations, ~150 CG steps per U solve); 24^2 (bench --quick): 4.7e-6 in
3 s; advection_2d(20), 64^2: 3.3e-4 in 3 s ('stalled' after 3 outer iterations, ~470 CG
steps per solve).  The paper's case, advection_2d(200) on 200^2 (solve_nd with
cg_maxiter=3000, max_time=900): 7.4e-5 in 278 s, status 'converged' after 4 outer
iterations, 17267 CG steps over 107 U solves (~160 each), imaginary part of U 3e-11 relative
(no published figure for advection in papers.md); through gp.solve (bench gp): 7.40e-5 in
250 s, 'converged'; plain SE 6.5e-4 (19 s), Matern-5/2 8.1e-2, implicit upwind finite
differences 0.29 on the same grid.  Not solved then: advection_2d(50) on 128^2
(the first U solve ends at CG residual 2.9e-3 after 3000 steps, status 'failed'); the
Gaussian mixture fails its first U solve already on 24^2 (beta = 5).  Densely on that case
(one BLAS thread, initial kernel): PCG with the solver's P (formed and LU-factorised densely)
makes no progress in 3000 steps, while P + I on the 216 of 576 modes where P_0's diagonal is
below 1e4 (the identity P_0 leaves out, added exactly) converges in 11 steps (40 with the 192
modes below 1).  Applying that correction by Woodbury on top of the current P^{-1} would
subtract nearly equal huge terms; it needs a factorisation that keeps those modes apart
(not done).
Why CG needs hundreds of steps: the exact P (formed densely on 20^2, beta = 5, Q = 8) is an
excellent preconditioner (eigenvalues of P^{-1} H in 0.92..1.13), but cond(P_0) ~ 3e17 and
cond(P) ~ 1e14 at tau = 1e10 and the Woodbury form loses it: the computed P^{-1} was
indefinite (eigenvalues of P^{-1} H down to -1400), and plain PCG stalled at residual 0.7.
The flexible (Polak-Ribiere) CG update, on for the complex path, copes (654 steps there);
refinement against P and raising small |D| to a floor did not help (numbers in
``preconditioner``); lower tau (1e6..1e8) gave no fewer CG steps.  Tried on that case
densely, not in the code: the congruence form P^{-1} = L (I + wb C^H C)^{-1} L^H
(L = P_0^{-1/2} = D^{-1} Gi^{1/2} / sqrt(tau_2), C = B L) with the middle factor applied
through an orthonormalised basis of C^H (QR) narrowed the spectrum of P^{-1} H to
-0.63..11.5, still not definite; splitting off small singular values made it worse.

Shift floor (the current default on the complex path).  Where the loss comes from (20^2,
beta = 5, Q = 8, dense): cond(P_0) = 2.9e17; the computed S = B P_0^{-1} B^H has eigenvalues
down to -4e-13 while 1/wb = 2e-13, so S + I/wb is itself indefinite; clamping S's eigenvalues
(at 0 or at up to 1e3 eps ||S||) made P^{-1} H far worse (eigenvalues ~1e9..1e15), because the
vectors P_0^{-1} B^H v are computed with absolute errors ~ eps ||P_0^{-1}|| ||v|| that the
correction multiplies by ~wb: the fix has to make P_0 better conditioned, not S.  The shift
s = (tau_2 max|D|^2)^{-1/2} is 6e-8 .. 2e-10 on these grids, below the jitter (the smallest
eig(K_d) is ~1e-6, the largest ~6-9), so cond(G_1 + s) cond(G_2 + s) ~ 1e14 on top of D's
range.  Raising s (CG steps to 1e-10 from U = 0 at the initial theta, tau = 1e10, one BLAS
thread): 20^2, beta 5, Q 8: s0 692, s = 1e-6 / 3e-6 / 1e-5 / 3e-5: 40 / 38 / 56 / 108 (the
spectrum of the computed P^{-1} H: -7300..3800 at s0, 4e-6..1 at 6e-4, ever more small
eigenvalues as s grows: the trade-off); 64^2, beta 20, Q 30: 398 -> 279 / 209 / 174 / 168;
128^2, beta 50: s0 ends at 0.13 after 1500 steps, 3e-6: 1.1e-9 after 3000, 1e-5 / 3e-5 /
1e-4: 2614 / 2280 / 2184 steps; 200^2, beta 200: 2927 -> 1927 (s = 1e-5).  Raising the floor
on |D| instead (d_floor_rel 1e-2): 32 steps on 20^2 but > 3000 on 64^2; lowering lambda_b
tau_1 inside P only (x 1e-2 / 1e-4 / 1e-6): 283 / 438 / 1611 on 64^2 (398 without).
But at learned hyperparameters the floored P_0 was often the worse one: full solves with
s = max(s0, 1e-6 max eig(K_d)) always: advection_2d(5), 32^2: 3.8e-6 in 29 s (median 98 CG
steps per U solve) against 4.0e-6 in 11 s (median 23) without; so solve_u runs the unfloored
preconditioner first and continues from its iterate with the floored one (shift_floor_rel =
1e-6) after cg_switch = 500 steps without convergence.
Full solves with that (solve_nd, lambda_b = 500, learn_tau=False, Q = 30 Student-t, one BLAS
thread, dev_gp_stable.py; 2-core shared CPU with other jobs running, so times are rough; old =
no floor, run the same way):
  advection_2d(5), 32^2: old 4.0e-6 in 10.9 s 'stalled' (156 U solves, median 23 CG steps,
  max 3000); new 1.7e-6 in 5.7 s 'converged' (125 U solves, median 30, max 817).
  advection_2d(20), 64^2 (max_time 120): old 3.3e-4 in 11.8 s 'stalled' (11 U solves, median
  35, max 3000: the later trials' U solves failed); new 1.4e-5 at the time limit, 135 s (120 U
  solves, median 604, max 3000): 24x lower error, 11x the time.
  advection_2d(50), 128^2 (max_time 240): old 'failed' (first U solve at 3000 steps, 28 s);
  new 4.0e-4 in 95 s, 'stalled' (17 U solves, median 519 steps).
  advection_2d(200), 200^2 (the paper's case, max_time 330): new 8.0e-5 in 151 s, 'stalled'
  (4 outer iterations, 126 U solves, 9614 CG steps: median 6, max 1991); old, same script
  (another of these runs beside it each time): 7.4e-5 in 242 s, 'converged' (4 outer
  iterations, 108 U solves, 17267 CG steps: median 8, max 3000).  Half the CG steps; the
  L-BFGS path differs (trials the old solver rejected are now evaluated) and ends slightly
  worse here.
  cg_switch = 150 instead of 500 on 64^2: 2.3e-5 'stalled' in 111 s (median 155): no clear gain.
Still open: hundreds of CG steps per solve at learned hyperparameters, with either shift; a
P^{-1} that is both accurate and numerically definite (e.g. the capacitance work in extended
precision: numpy's clongdouble matmul is ~30x slower than BLAS here, not tried).

d >= 3.  Mode products by fastspectral.kron.kron_mode_product; boundary rows of B = P_b T
face by face (a face costs O(M) plus a (d-1)-D mode-product chain); the Woodbury capacitance
S = B P_0^{-1} B^H column by column from batches of rank-one grids (a boundary node's row of
B is the outer product of rows of the T_d, so B^H e_j is built by broadcasting), about N_b
mode-product chains per hyperparameter trial: 0.2 s on 12^3 (N_b = 728), 1.7 s on 20^3
(N_b = 2168) with the earlier face-by-face assembly; with the broadcast columns, one chain
per face for B and no symmetrisation of S, one U solve of poisson_3d(6, [0, 1]^3) from the
initial kernel (one thread, 15 / 40 CG steps; medians of 3 runs alternating with the old code)
takes 1.18 s at 24^3 (old 2.12 s) and 6.6 s at 32^3 (old 10.3 s; there the Cholesky factor of
S, 0.9 s, and its two triangular solves per CG step, 27 ms each, are a third of it).  The
bench case (16^3, 3 outer iterations) is path-dependent: round-off in S moves the L-BFGS path
(35.4 s / 4.0e-4 with the old assembly, 27.5 s / 2.8e-4 and 58 s / 3.6e-4 with two variants
of the new one).  Grids up to ~32^3 are practical.  The prior's identity is stood in for by the shift s of P_0 = tau_2 D^H
(G_1 + s) kron ... kron (G_d + s) D; on modes where every G_d is ~0 that leaves tau_2 |D|^2
s^d, so s = (tau_2 max |D|^2)^{-1/d} (the 2-D formula for d = 2).  With the 2-D exponent in
3-D, poisson_3d(3, [0, 1]^3) on 8^3 (Q = 30, 3 outer iterations) took 340 CG steps per U
solve and reached 3.6e-5; with 1/d: 52 steps, 2.4e-5, 7.5 s (scaling s by 0.1 or 10: 164 /
68 steps).  Measured (one BLAS thread, 2-core shared CPU): 10^3, Q = 6, one outer iteration
(the test): 2.3e-4, ~100 CG steps per solve, 1.6-4 s; poisson_3d(6, [0, 1]^3) on 16^3
(bench, Q = 30, 3 outer iterations): 4.0e-4 in 98 s ('stalled'; 7-point finite differences
3.0e-2; errors on 100^3 points).
Nonlinear 3-D problems take the same Gauss-Newton path (a 3-D Allen-Cahn with
sin(3x) sin(3y) sin(3z) on 10^3 gave 2.2e-4 in 13 s; no built-in constructor, not in the
tests).  2-D keeps the block assembly of S (O(M_d^3)); poisson_2d(100) on 400^2 still gives
3.56e-5 (78.7 s here against 73.2 s for the previous solver2d in the same conditions, both
'stalled'; same error to three digits).

Mixed orders (advection-diffusion u_t + beta u_x - nu u_xx).  In a dimension with first- and
second-order terms E_d = S + N (symmetric plus antisymmetric part) is not normal, so no unitary
W_d diagonalises it.  There T_d = Q_d Lam_d^{1/2} (W_d = I, still T_d T_d^T = K_d, G_d = Lam_d)
and R_d = T_d^{-1} A_d T_d = E_d stays dense: the whitened operator is R = Dd + sum of mode-d
products with the R_d (Dd: the diagonal of the other dimensions plus c_0), applied exactly in
H and in the Gauss-Newton Jacobian, so the minimiser is the same as before.  Only the
preconditioner uses R_d = V_d diag(e_d) V_d^{-1} with non-unitary eigenvectors:
P_0^{-1} = V diag(1/D) [V^{-1} (G + s)^{-1} V^{-H}] diag(1/conj D) V^H / tau_2 (V = I in the
other dimensions; real part taken when the system is real, e.g. steady convection-diffusion
where the other dimensions are even), the boundary term by Woodbury with the generic
capacitance.  Its accuracy depends on cond(V_d) (3.8-6.8 on the tests' grids; an ill-
conditioned V_d costs CG steps, not accuracy, because H is exact).  Checked densely in the
tests (U solve = dense normal equations, P^{-1} = the stated inverse, theta-gradient against
finite differences, a nonlinear u^3 term by Gauss-Newton).  Measured (one BLAS thread, 2-core
shared CPU, lambda_b = 500, tau held at 1e10, errors on 100^2 points):
advection_diffusion_2d(5, 0.05, 2) on 24^2, Q = 30, 3 outer iterations: 3.75e-5 in 37 s (plain
SE 0.21 in 97 s; implicit upwind finite differences 0.23); advection_diffusion_2d(20, 0.01, 2)
on 64^2, Q = 30: 8.1e-5 after one outer iteration (64 s), 4.1e-5 after three (256 s), ~800-1000
CG steps per U solve at learned hyperparameters (as for pure advection).

Mixed derivatives (c u_(x_i x_j), e.g. rotated anisotropic diffusion u_xx + b u_xy + c u_yy).
On the grid the term is c A1_i (x) A1_j with A1_d = K1_d K_d^{-1} (K1 the first-derivative
cross-covariance), in whitened coordinates the two-mode product c E1_i (x) E1_j with
E1_d = Ti_d^H K1_d Ti_d, added to R in H, the Gauss-Newton Jacobian, the residual and the
theta-gradient (for dimension i the term is c A1_i applied along i to U x_j A1_j, so the
per-dimension gradient formula applies with V_i replaced by K_i^{-1} (U x_j A1_j)_(i)).  The
preconditioner leaves it out (P_0 is built from the pure terms, a spectrally equivalent
operator when the principal part is elliptic), so both dimensions need their own second-order
terms; anything else (u_xy alone, third-order mixed terms) is refused.  Checked densely in the
tests (U solve, residual, FD gradients, with and without a first-order term).  Measured (one
BLAS thread, 2-core shared CPU, Q = 30, tau = 1e10): u_xx + 0.6 u_xy + 0.8 u_yy = f,
u = sin(10x) sin(10y) on [0, 2 pi]^2, 60^2, 3 outer iterations: 7.5e-5 in 28 s, ~300 CG steps
per U solve (the pure Laplacian: 1-3 steps).

Devices (``gp.solve(..., device=...)``; issue 5).  One code path: the grid-level code runs on
an array module xp (numpy, or cupy for device 'cuda'; gp/_device.py), so on the CPU every
host <-> device move is a no-op and the numbers are bit-for-bit those of the numpy-only solver.
On 'cuda' every array with M = prod(grid) entries lives on the GPU: U, Y, F, D (summed from the
e_d on the host and copied once per theta), the PCG vectors,
the residual R, Alpha, the mode-product results (fastspectral.kron on cupy arrays) and the
batches of the capacitance assembly.  On the host: the per-dimension M_d x M_d algebra (kernel
matrices, eigendecompositions, T, Ti, G, Kinv, Aop, the preconditioner's Gi), copied to the
GPU once per theta (factors()["x"]) or per preconditioner; the N_b x N_b capacitance matrix,
assembled on the GPU and Cholesky-factorised on the host with scipy (cho_factor raises on a
non-definite S, which the relative-shift fallback relies on; cupy's cholesky returns NaNs
silently by default), so each PCG step moves two N_b-vectors (B Z down, the solve back up);
the theta-gradient's M_d x M_d contractions (computed on the GPU, their results moved for the
Toeplitz lag sums), scalars, L-BFGS (scipy) with a host theta, and the final checks (_judge,
error tracking: one copy of U, R and Alpha each).  problem.nonlinearity is called on device
arrays.  1-D problems run on the host whatever the device.  The cupy path has NOT run on a
GPU yet: it is exercised only through the strict numpy-backed stand-in for cupy in
tests/test_gp_device.py (which refuses host arrays, implicit conversion and numpy functions
on its arrays); the gpu-marked tests there compare real cupy against numpy."""
from __future__ import annotations

import math
import time
import warnings

import numpy as np

from ..kron import kron_mode_product
from . import _device
from .kernels import Kernel1D, baseline_log_a, is_baseline, make_kernel
from .solver import _backtrack, _scipy

__all__ = ["solve_nd"]

# relative change of the outer objective attributable to the CG tolerance (cg_tol = 1e-10 on
# the normal equations); a larger change is real progress
_CG_NOISE = 1e-6
# per-dimension matrices that factors() copies to the device (they multiply grid-sized arrays)
_DEVICE_KEYS = ("T", "Ti", "G", "Kinv", "Aop", "K1", "A1", "E1", "R", "V", "Vi")
# grid values per batch when the d-D capacitance matrix is assembled column by column
# (complex128: 2**21 values = 32 MiB per batch array)
_CAP_BATCH = 2 ** 21


def _split_operator(problem):
    """Per-dimension {order: coefficient}, the zero-order coefficient c_0 and per dimension its
    kind: 'even' (orders 2 only: symmetric E_d, real orthogonal whitening), 'odd' (first order
    only: antisymmetric E_d, complex unitary whitening), 'mixed' (first and second order, e.g.
    advection-diffusion: E_d is not normal, see "Mixed orders" in the module docstring) or
    'none' (no derivative in that dimension); and the mixed-derivative terms
    {(i, j): coefficient} (u_{x_i x_j}, i < j, see "Mixed derivatives" in the module docstring)."""
    d = problem.ndim
    parts = [dict() for _ in range(d)]
    cross = {}
    c0 = 0.0
    for k, c in problem.operator.items():
        nz = [i for i, v in enumerate(k) if v]
        if len(nz) > 1:
            if len(nz) != 2 or any(k[i] != 1 for i in nz):
                raise NotImplementedError(
                    f"mixed derivative term {k} is not supported by the {d}-D solver: only "
                    f"second-order mixed terms u_(x_i x_j) (one derivative in each of two "
                    f"dimensions) are")
            cross[tuple(nz)] = c
            continue
        if not nz:
            c0 += c
        else:
            parts[nz[0]][k[nz[0]]] = c
    kinds = []
    for i in range(d):
        orders = set(parts[i])
        kinds.append("mixed" if orders == {1, 2} else "odd" if orders == {1}
                     else "even" if orders == {2} else "none")
    for (i, j) in cross:
        if kinds[i] in ("odd", "none") or kinds[j] in ("odd", "none"):
            raise NotImplementedError(
                f"the mixed derivative u_(x{i} x{j}) needs second-order terms u_(x{i} x{i}) and "
                f"u_(x{j} x{j}) in the operator (an elliptic principal part: the solver's "
                f"preconditioner is built from the terms of one dimension at a time)")
    return parts, c0, kinds, cross


def _pcg(apply_h, b, apply_p, x0, tol, maxiter, flexible=False, xp=np):
    """Preconditioned conjugate gradients on grid-shaped arrays (real, or complex with a
    Hermitian H and P: the inner products are Re<r, z>) of array module xp; returns (x,
    iterations, relative residual)."""
    x = x0.copy()
    r = b - apply_h(x)
    bn = float(xp.linalg.norm(b)) or 1.0
    rel = float(xp.linalg.norm(r)) / bn
    if rel <= tol:
        return x, 0, rel
    z = apply_p(r)
    p = z.copy()
    rz = float(xp.vdot(r, z).real)
    r_old = r.copy() if flexible else None
    for it in range(1, maxiter + 1):
        hp = apply_h(p)
        php = float(xp.vdot(p, hp).real)
        if not php > 0:   # H is HPD: a non-positive curvature means round-off took over
            return x, it, rel
        a = rz / php
        x += a * p
        r -= a * hp
        rel = float(xp.linalg.norm(r)) / bn
        if rel <= tol:
            return x, it, rel
        z = apply_p(r)
        rz2 = float(xp.vdot(r, z).real)
        if flexible:
            # Polak-Ribiere form: robust to a preconditioner that is not exactly linear
            num = float(xp.vdot(r - r_old, z).real)
            r_old[...] = r
        else:
            num = rz2
        p = z + (num / rz) * p
        rz = rz2
    return x, maxiter, rel


def _unfold(X, d):
    """Mode-d unfolding: (M_d, M / M_d)."""
    return X.transpose([d] + [i for i in range(X.ndim) if i != d]).reshape(X.shape[d], -1)


def _fold(X2, d, shape):
    moved = (shape[d],) + tuple(s for i, s in enumerate(shape) if i != d)
    # the inverse of _unfold's axis order: axis 0 goes back to position d
    perm = list(range(1, d + 1)) + [0] + list(range(d + 1, len(shape)))
    return X2.reshape(moved).transpose(perm)


def _h(A):
    return A.conj().T


class _ModelND:
    """The objective's data, per-theta factorisations, the U solve and the gradient, for a
    d-dimensional grid (d >= 2)."""

    def __init__(self, problem, axes, kernels, jitter, lambda_b, cg_tol=1e-10, cg_maxiter=400,
                 xp=np):
        from .solver import _Axis
        self.p = problem
        # array module of the grid-sized arrays (numpy, or cupy for device 'cuda'); the
        # per-dimension matrices are built on the host and copied by _dev
        self.xp = xp
        self.axes = [_Axis(x) for x in axes]
        self.ndim = len(axes)
        self.kernels = kernels
        self.jitter, self.lambda_b = jitter, lambda_b
        self.terms, self.c0, self.kinds, self.cross = _split_operator(problem)
        self.odd = [k == "odd" for k in self.kinds]
        self.mixed = [k == "mixed" for k in self.kinds]
        # R is applied through _r (dense mode products) when it is not diagonal
        self.dense_r = any(self.mixed) or bool(self.cross)
        self.complex = any(self.odd)
        if self.complex and problem.nonlinearity is not None:
            raise NotImplementedError(
                "nonlinear PDEs with first-order terms are not supported: the complex whitening "
                f"used for odd-order dimensions ({[i for i, o in enumerate(self.odd) if o]}) "
                "needs a linear operator")
        self.F = self._dev(problem.source_on(axes))
        shape = tuple(len(x) for x in axes)
        self.shape = shape
        self.mask_host = problem.boundary_mask(shape)
        self.mask = self._dev(self.mask_host)
        # flat (C-order) indices of the boundary nodes: the boundary rows are read and written
        # through these (integer gathers/scatters, the same order as boolean-mask indexing,
        # which on cupy needs a device sync per call to count the mask)
        self._bflat = self._dev(np.flatnonzero(self.mask_host))
        self.g = self._dev(problem.boundary_on(axes))
        self.M = int(np.prod(shape))
        self.Nb = int(self.mask_host.sum())
        self._faces = [(a, e, self._dev(own)) for a, e, own in self._make_faces()]
        # grid indices of the boundary nodes in mask order (the capacitance's rank-one columns)
        self._bidx = [self._dev(ix) for ix in np.nonzero(self.mask_host)]
        self.splits = np.cumsum([k.n_params for k in kernels])[:-1]
        self.cg_tol, self.cg_maxiter = cg_tol, cg_maxiter
        self.cg_iters = 0          # CG iterations of the last U solve
        self.cg_rel = 0.0          # and its final relative residual
        self.imag_rel = 0.0        # complex path: |Im U| / |U| of the last U solve
        # a trial theta whose U solve ends above this relative residual is rejected (the
        # envelope-theorem gradient needs the minimiser)
        self.cg_accept = 1e-6
        self.d_floor_rel, self.d_floor_abs = 1e-8, 0.0
        self.shift_scale = 1.0     # factor on the preconditioner's shift s (experiments)
        # complex path: a PCG run that has not converged after cg_switch steps continues with
        # the preconditioner's shift s raised to shift_floor_rel * max eig(K_d) (see solve_u)
        self.shift_floor_rel = 1e-6 if self.complex else 0.0
        self.cg_switch = 500
        self.gn_shift_scale = 1.0  # factor on the Gauss-Newton shift (see gn_shift)
        # linear U solves: the warm start is dropped on modes where P_0's diagonal is below
        # this (see _drop_weak_modes; 0 = off)
        self.weak_mode_level = 1e6
        self.gn_adapt, self.gn_flip, self.gn_capped = 2, False, 0
        # PCG steps per Gauss-Newton system: 100 (allen_cahn_2d(10), 40^2: the same error in
        # 24 s as with 400 in 56 s); a dense R (mixed orders, u_xy) needs more: with 100 the GN
        # U solve of -Lap-like + 0.6 u_xy + u^3 on 12 x 10 stopped at gradient 4e-6 > cg_accept
        # (its trial rejected), with 300 it reached 3e-9
        self.gn_cap = 300 if self.dense_r else 100
        # refinement steps on the Woodbury preconditioner (off; see preconditioner) and the
        # flexible (Polak-Ribiere) CG update, on for the complex path (see solve_u)
        self.prec_refine = 0
        self.cg_flexible = self.complex or any(self.mixed)
        self.fac = None

    def _dev(self, a):
        """a (host) on the solver's device (no copy on the CPU)."""
        return _device.to_device(a, self.xp)

    # ------------------------------------------------------------------ parameters
    def set_theta(self, theta):
        for k, t in zip(self.kernels, np.split(np.asarray(theta, float), self.splits)):
            k.theta = t
        self.fac = None

    def theta(self):
        return np.concatenate([k.theta for k in self.kernels])

    def factors(self):
        """Per-dimension matrices for the current theta (cached until set_theta).

        Even dimensions: E_d = Lam^{-1/2} Q^T A_d Q Lam^{-1/2} is symmetric, W_d its real
        orthogonal eigenvectors.  Odd dimensions: E_d is antisymmetric (K^(1) of a stationary
        kernel is), -i E_d is Hermitian, E_d = V diag(i w) V^H with V unitary, so e_d = i w is
        imaginary and T_d = Q Lam^{1/2} V complex.  In both cases A_d T_d = T_d diag(e_d),
        T_d T_d^H = K_d, T_d^{-1} = Ti_d^H, G_d = T_d^H T_d."""
        if self.fac is not None:
            return self.fac
        out = []
        for d, (ax, k) in enumerate(zip(self.axes, self.kernels)):
            K = ax.toeplitz(k, 0)
            K[np.diag_indices(ax.M)] += self.jitter
            if not np.all(np.isfinite(K)):
                raise ValueError("non-finite kernel matrix (trial hyperparameters out of range)")
            lam, Q = np.linalg.eigh(K)
            if lam[0] <= 0.5 * self.jitter:
                # K_theta is PSD in exact arithmetic; a trial point whose weights are so large that
                # round-off makes K + jitter I indefinite is rejected
                raise np.linalg.LinAlgError("kernel matrix not positive definite")
            Kinv = (Q / lam) @ Q.T
            Kk = {kk: ax.toeplitz(k, kk) for kk in self.terms[d]}
            Aop = sum((c * Kk[kk] for kk, c in self.terms[d].items()), np.zeros((ax.M, ax.M)))
            Qs = Q / np.sqrt(lam)
            E = Qs.T @ Aop @ Qs
            extra = {}
            if self.mixed[d]:
                # no unitary diagonalisation: keep T_d = Q Lam^{1/2} (W = I, G_d = Lam_d) and R_d =
                # E_d dense (applied exactly in H); its eigenvectors V_d (not unitary) serve the
                # preconditioner only
                e, V = np.linalg.eig(E)
                W = np.eye(ax.M)
                extra = {"R": E, "V": V, "Vi": np.linalg.inv(V)}
                if self.complex:
                    W = W.astype(complex)
            elif self.odd[d]:
                Hm = -0.5j * (E - E.T)
                w, W = np.linalg.eigh(0.5 * (Hm + _h(Hm)))
                e = 1j * w
            else:
                e, W = np.linalg.eigh(0.5 * (E + E.T))
                if self.complex:
                    e, W = e.astype(complex), W.astype(complex)
            T = (Q * np.sqrt(lam)) @ W
            out.append({"K": K, "lam": lam, "Q": Q, "Kinv": Kinv, "logdet": float(np.sum(np.log(lam))),
                        "Kk": Kk, "Aop": Aop, "e": e, "W": W, "T": T, "Ti": Qs @ W,
                        "G": (_h(W) * lam) @ W, **extra})
        # D: the eigenvalues of R = T^{-1} A T (all dimensions); Dd: R's diagonal part (the
        # dimensions whitened to a diagonal, plus c_0); R = Dd + the dense R_d of mixed dimensions
        dt = complex if (self.complex or any(self.mixed)) else float
        D = np.zeros(self.shape, dt) + self.c0
        Dd = np.zeros(self.shape, complex if self.complex else float) + self.c0
        for d, fd in enumerate(out):
            e = fd["e"].reshape([-1 if i == d else 1 for i in range(self.ndim)])
            D = D + e
            if not self.mixed[d]:
                Dd = Dd + e
        for d in {i for ij in self.cross for i in ij}:
            # first-derivative factors of the mixed terms: A1_d = K1_d K_d^{-1} (grid) and its
            # whitened form E1_d = T_d^{-1} A1_d T_d = Ti_d^H K1_d Ti_d
            fd = out[d]
            K1 = fd["Kk"][1] if 1 in fd["Kk"] else self.axes[d].toeplitz(self.kernels[d], 1)
            fd.update(K1=K1, A1=K1 @ fd["Kinv"], E1=_h(fd["Ti"]) @ K1 @ fd["Ti"])
        if not (np.all(np.isfinite(D)) and all(np.all(np.isfinite(f["T"])) for f in out)):
            raise ValueError("non-finite operator (trial hyperparameters out of range)")
        # "x": the matrices that meet grid-sized arrays, on the solver's device (the same
        # objects on the CPU); W, lam, e, K, Kk stay on the host (preconditioner, gradient)
        fx = [{k: self._dev(v) for k, v in fd.items() if k in _DEVICE_KEYS} for fd in out]
        self.fac = {"f": out, "x": fx, "D": self._dev(D), "Dd": self._dev(Dd)}
        return self.fac

    def _r(self, Y, fac, adjoint=False):
        """R Y (or R^H Y), R = T^{-1} A T the PDE operator in whitened coordinates: a diagonal
        (Dd) plus, for mixed-order dimensions, a dense mode product, plus for each mixed
        derivative c u_(x_i x_j) the two-mode product c E1_i (x) E1_j."""
        Dd = fac["Dd"]
        f = fac["x"]
        out = (Dd.conj() if adjoint else Dd) * Y
        for d, fd in enumerate(f):
            if self.mixed[d]:
                Rd = _h(fd["R"]) if adjoint else fd["R"]
                out = out + kron_mode_product(
                    [Rd if i == d else n for i, n in enumerate(self.shape)], Y)
        for (a, b), c in self.cross.items():
            mats = [(_h(f[i]["E1"]) if adjoint else f[i]["E1"]) if i in (a, b) else n
                    for i, n in enumerate(self.shape)]
            out = out + (np.conj(c) if adjoint else c) * kron_mode_product(mats, Y)
        return out

    # ------------------------------------------------------------------ operators in Y
    def _to_u(self, Y, f):
        """T Y (complex on the odd-order path: its real part is U)."""
        return kron_mode_product([fd["T"] for fd in f], Y)

    def _from_u(self, U, f):
        """Y with T Y = U (T^{-1} = Ti^H)."""
        return kron_mode_product([_h(fd["Ti"]) for fd in f], U)

    def _th(self, U, f):
        """T^H U."""
        return kron_mode_product([_h(fd["T"]) for fd in f], U)

    # Boundary nodes are numbered in the order of the boundary mask (row-major), the order of
    # Problem.boundary_on.  Face (a, e) = the nodes with index e in {0, -1} along axis a; a node
    # on several faces belongs to the first in the order (0, 0), (0, -1), (1, 0), ...
    def _make_faces(self):
        faces = []
        for a in range(self.ndim):
            other = [s for i, s in enumerate(self.shape) if i != a]
            own = np.ones(other, bool)
            for b in range(a):
                idx = [slice(None)] * len(other)
                idx[b] = [0, -1]
                own[tuple(idx)] = False
            for e in (0, -1):
                faces.append((a, e, own))
        return faces

    def _bt(self, Y, f):
        """P_b T Y: U = T Y at the boundary nodes (leading batch axes allowed), touching only
        the boundary rows of each T_a: a face costs O(M) plus a (d-1)-D mode-product chain."""
        xp = self.xp
        nb = Y.ndim - self.ndim
        dtype = np.result_type(Y.dtype, *(fd["T"].dtype for fd in f))
        out = xp.zeros(Y.shape, dtype)
        for a, e, _ in self._faces:
            idx = [slice(None)] * Y.ndim
            if self.ndim >= 3:
                # one mode-product chain with the single row T_a[e] along a (tensordot made a
                # transposed copy of the whole batch per face: the capacitance assembly's cost)
                face = kron_mode_product([fd["T"][e:e + 1 if e >= 0 else None] if i == a
                                          else fd["T"] for i, fd in enumerate(f)], Y)
                idx[nb + a] = slice(e, e + 1 if e >= 0 else None)
            else:
                # 2-D: the faces are vectors, the copies cheap; this order keeps the documented
                # 2-D runs reproducible to the last bit
                face = xp.tensordot(f[a]["T"][e], Y, axes=([0], [nb + a]))
                face = kron_mode_product([fd["T"] for i, fd in enumerate(f) if i != a], face)
                idx[nb + a] = e
            out[tuple(idx)] = face
        return self._boundary_values(out)

    def _btt(self, s, f):
        """T^H P_b^T s (the adjoint of _bt; s may carry leading batch axes)."""
        xp = self.xp
        bshape = s.shape[:-1]
        nb = len(bshape)
        dtype = np.result_type(s.dtype, *(fd["T"].dtype for fd in f))
        Z = xp.zeros(bshape + (self.M,), dtype)
        Z[..., self._bflat] = s
        Z = Z.reshape(bshape + self.shape)
        out = xp.zeros(bshape + self.shape, dtype)
        for a, e, own in self._faces:
            idx = [slice(None)] * Z.ndim
            idx[nb + a] = e
            S = Z[tuple(idx)] * own
            V = kron_mode_product([_h(fd["T"]) for i, fd in enumerate(f) if i != a], S)
            row = f[a]["T"][e].conj().reshape([-1 if i == a else 1 for i in range(self.ndim)])
            out += xp.expand_dims(V, nb + a) * row
        return out

    def _boundary_values(self, U):
        """U (..., *grid) at the boundary nodes, shape (..., N_b), in boundary-mask order."""
        return U.reshape(U.shape[:U.ndim - self.ndim] + (self.M,))[..., self._bflat]

    def _bnd(self, Y, f):
        return self._btt(self._bt(Y, f), f)

    def preconditioner(self, tau1, tau2, shift=0.0, generic=None, shift_floor=0.0):
        """P^{-1} for P = tau_2 D^H (G_1 + s I) kron ... kron (G_d + s I) D + lambda_b tau_1 B^H B,
        B = P_b T.

        The first term approximates I + tau_2 D^H G D: the shift s = (tau_2 max |D|^2)^{-1/2}
        stands in for the prior's identity while keeping P_0 a Kronecker product, so that
        P_0^{-1} is d mode products ((G_d + s I)^{-1} = W_d^H (Lam_d + s)^{-1} W_d).  The boundary
        term is added exactly by Woodbury with the capacitance matrix S = B P_0^{-1} B^H
        (N_b x N_b).  2-D: S is assembled block by block (edge rows / edge columns) in
        O(M_d^3) each, because a boundary node's row of B is a rank-one grid.  d >= 3 (or
        generic=True): P_0^{-1} is applied to batches of those rank-one grids (about N_b
        mode-product chains; fine up to ~32^3).

        Measured (CG steps to 1e-10, 2-D Poisson): with tau_2 >= 1e8 one to three steps on every
        kernel tried; at the paper's initial kernel 14-160 steps for tau_2 from 1e4 down to 1;
        but with kernels learned at small tau_2 (10^2..10^4) hundreds to thousands (the prior
        and the PDE term are then of similar size on many modes and no Kronecker form captures
        both).  Hence the solver keeps tau large (see solve_nd)."""
        xp = self.xp
        fac = self.factors()
        f, fx = fac["f"], fac["x"]
        # ``shift``: a constant stand-in for a Gauss-Newton step's diagonal N'(U).  P divides by
        # D: keep it away from 0 (a Helmholtz term c_0 > 0, the shift, or opposite advection
        # speeds can cancel the sum of the e_d)
        Dp = fac["D"] + shift
        Dabs = xp.abs(Dp)
        floor = max(self.d_floor_rel * float(Dabs.max()), self.d_floor_abs)
        # raise small |D| to the floor, keeping the phase (G couples modes: phases matter)
        phase = xp.where(Dabs > 0, Dp / xp.where(Dabs > 0, Dabs, 1.0), 1.0)
        Dp = xp.where(Dabs < floor, floor * phase, Dp)
        Di = 1.0 / Dp
        Dic = Di.conj()
        # tau_2 |D|^2 s^d = 1 at the largest |D|: the identity on modes where every G_d is ~0
        # (2-D: s = (tau_2 max |D|^2)^{-1/2} as before)
        sh = self._p0_shift(tau2, Dp)
        if shift_floor > 0:
            # complex (advection) path: keep cond(G_d + s) <= 1 / shift_floor_rel.  With s
            # below the jitter, P_0^{-1} is computed with absolute errors ~ eps ||P_0^{-1}||
            # that the Woodbury correction (wb ~ 5e12) amplifies; see "First-order terms" in
            # the module docstring for the trade-off measured against CG steps
            sh = max(sh, shift_floor * max(float(fd["lam"].max()) for fd in f))
        Gi = [(_h(fd["W"]) / (fd["lam"] + sh)) @ fd["W"] for fd in f]
        if any(self.mixed):
            # R = V diag(D) V^{-1} (V = I in the diagonalised dimensions), so
            # P_0^{-1} = V diag(1/D) [V^{-1} (G + s)^{-1} V^{-H}] diag(1/conj D) V^H / tau_2;
            # exact in exact arithmetic, real for a real system (its real part is taken)
            mx = self.mixed
            Gi = [fd["Vi"] @ g @ _h(fd["Vi"]) if mx[d] else g for d, (fd, g) in enumerate(zip(f, Gi))]
            Vs = [fd["V"] if mx[d] else n for d, (fd, n) in enumerate(zip(fx, self.shape))]
            VsH = [_h(fd["V"]) if mx[d] else n for d, (fd, n) in enumerate(zip(fx, self.shape))]
            real = not self.complex
            Gi = [self._dev(g) for g in Gi]

            def p0inv(R):
                Z = kron_mode_product(Vs, Di * kron_mode_product(Gi, Dic * kron_mode_product(VsH, R)))
                return (Z.real if real else Z) / tau2
        else:
            Gi = [self._dev(g) for g in Gi]

            def p0inv(R):
                return Di * kron_mode_product(Gi, Dic * R) / tau2

        wb = self.lambda_b * tau1
        if not wb > 0:
            return p0inv
        if generic is None:
            generic = self.ndim != 2 or any(self.mixed)
        elif not generic and any(self.mixed):
            raise ValueError("the 2-D block capacitance needs a diagonal operator (no mixed-order "
                             "dimension)")
        # S (N_b x N_b) is assembled on the device and factorised on the host: scipy's
        # cho_factor raises on a non-definite S (the fallback below needs that; cupy's
        # cholesky returns NaNs silently by default), and each PCG step then moves only two
        # N_b-vectors across
        S = (self._capacitance_generic(p0inv, fx) if generic
             else self._capacitance_2d(Di, Gi, fx) / tau2)
        nb = S.shape[0]
        S[np.diag_indices(nb)] += 1.0 / wb
        linalg = _scipy("linalg")
        try:
            cf = linalg.cho_factor(S, lower=True, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            # round-off on a nearly singular S: a relative shift keeps P HPD
            S[np.diag_indices(nb)] += 1e-12 * float(np.max(np.abs(np.diag(S))))
            cf = linalg.cho_factor(S, lower=True, check_finite=False)

        def apply(R):
            Z = p0inv(R)
            c = linalg.cho_solve(cf, _device.to_host(self._bt(Z, fx)), check_finite=False)
            return Z - p0inv(self._btt(self._dev(c), fx))
        if not self.prec_refine:
            return apply
        if any(self.mixed):
            raise NotImplementedError("prec_refine with mixed-order dimensions")
        # Woodbury subtracts two nearly equal terms where the boundary term dominates P_0
        # (cond(P) ~ 1e14 at tau = 1e10 on advection grids), and the computed P^{-1} came out
        # indefinite (eigenvalues of P^{-1} H down to -1400 on 20^2, beta = 5, Q = 8, against
        # 0.92..1.13 with P solved densely; plain PCG then stalled at residual 0.7).  Iterative
        # refinement against P itself (applied exactly) was tried: CG steps to 1e-10 on that
        # case 654 (flexible CG, no refinement) / 565 / 759 / 2631 with 1 / 2 / 4 refinements,
        # on 64^2, beta = 20, Q = 30: 466 / 377 / 293 / 196 at 1.6-3x the cost per step, so
        # it is off by default (prec_refine = 0).
        Gs = [self._dev(fd["G"] + sh * np.eye(len(fd["lam"]))) for fd in f]
        Dpc = Dp.conj()

        def p_apply(Z):
            return tau2 * Dpc * kron_mode_product(Gs, Dp * Z) + wb * self._bnd(Z, fx)

        def refined(R):
            Z = apply(R)
            for _ in range(self.prec_refine):
                Z = Z + apply(R - p_apply(Z))
            return Z
        return refined

    def _capacitance_generic(self, p0inv, f):
        """B P_0^{-1} B^H by columns: B^H e_j is a rank-one grid; batches bound the memory."""
        xp = self.xp
        nb = self.Nb
        chunk = max(1, _CAP_BATCH // self.M)
        dtype = complex if self.complex else float
        S = xp.empty((nb, nb), dtype)
        for j0 in range(0, nb, chunk):
            j1 = min(nb, j0 + chunk)
            # row j of the batch is column j of S; S is Hermitian, so it is stored as row j
            # (conjugated: a contiguous write instead of a strided one)
            S[j0:j1] = self._bt(p0inv(self._bh_columns(j0, j1, f).astype(dtype, copy=False)),
                                f).conj()
        # no symmetrisation: cho_factor(lower=True) reads one triangle only, and averaging the
        # two halves cost 0.8 s per hyperparameter trial at 32^3 (N_b = 5768), as much as the
        # factorisation itself
        return _device.to_host(S)

    def _bh_columns(self, j0, j1, f):
        """B^H e_j for the boundary nodes j0..j1-1, shape (j1 - j0, *grid): node j at grid index
        (i_1, ..., i_d) has the row T_1[i_1] (x) ... (x) T_d[i_d] in B = P_b T, so B^H e_j is
        the rank-one grid of the conjugate rows, built by broadcasting (the same as
        _btt(e_j), which goes face by face through mode-product chains: 2-3x the time of the
        whole capacitance assembly at 24^3)."""
        out = None
        for d, fd in enumerate(f):
            shp = [j1 - j0] + [1] * self.ndim
            shp[1 + d] = self.shape[d]
            r = fd["T"][self._bidx[d][j0:j1]].conj().reshape(shp)
            out = r if out is None else out * r
        return out

    def _capacitance_2d(self, Di, Gi, f):
        """tau_2 B P_0^{-1} B^H in 2-D from (M_d x M_d) products, in boundary-mask order.

        Blocks in edge order [row 0, row M1-1, interior of column 0, of column M2-1]: with
        Pa_i = diag(T1[i]) D^{-1}, Pb_j = D^{-1} diag(T2[j]) (grids), row-edge blocks are
        T2 ((Pa_i^T Gi1 conj Pa_k) o Gi2) T2^H, column-edge blocks T1i ((Pb_j Gi2 Pb_l^H) o Gi1)
        T1i^H, cross blocks T2 ((Pa_i^T Gi1) o (Gi2 Pb_l^H)) T1i^H."""
        T1, T2 = f[0]["T"], f[1]["T"]
        Gi1, Gi2 = Gi
        t1r, t2c = (T1[0], T1[-1]), (T2[0], T2[-1])
        T1i = T1[1:-1]
        Pa = [t1r[i][:, None] * Di for i in range(2)]          # (M1, M2)
        Pb = [Di * t2c[j][None, :] for j in range(2)]
        PaG = [P.T @ Gi1 for P in Pa]                          # (M2, M1)
        GPbH = [Gi2 @ _h(P) for P in Pb]                       # (M2, M1)
        M1, M2 = self.shape
        nb = 2 * M2 + 2 * (M1 - 2)
        S = self.xp.empty((nb, nb), np.result_type(Di.dtype, T1.dtype, T2.dtype))
        ro = [0, M2]
        co = [2 * M2, 2 * M2 + M1 - 2]
        for i in range(2):
            for j in range(i, 2):
                blk = T2 @ ((PaG[i] @ Pa[j].conj()) * Gi2) @ _h(T2)
                S[ro[i]:ro[i] + M2, ro[j]:ro[j] + M2] = blk
                S[ro[j]:ro[j] + M2, ro[i]:ro[i] + M2] = _h(blk)
                blk = T1i @ ((Pb[i] @ GPbH[j]) * Gi1) @ _h(T1i)
                S[co[i]:co[i] + M1 - 2, co[j]:co[j] + M1 - 2] = blk
                S[co[j]:co[j] + M1 - 2, co[i]:co[i] + M1 - 2] = _h(blk)
            for j in range(2):
                blk = T2 @ (PaG[i] * GPbH[j]) @ _h(T1i)        # row edge i x column edge j
                S[ro[i]:ro[i] + M2, co[j]:co[j] + M1 - 2] = blk
                S[co[j]:co[j] + M1 - 2, ro[i]:ro[i] + M2] = _h(blk)
        S = _device.to_host(S)
        # edge order -> mask order
        pos = np.full(self.shape, -1)
        pos[0, :] = np.arange(M2)
        pos[-1, :] = M2 + np.arange(M2)
        pos[1:-1, 0] = 2 * M2 + np.arange(M1 - 2)
        pos[1:-1, -1] = 2 * M2 + M1 - 2 + np.arange(M1 - 2)
        perm = pos[self.mask_host]
        return S[np.ix_(perm, perm)]

    def _real_u(self, Uc):
        """U from T Y: on the complex path the minimiser over complex Y of a real quadratic is
        real, so the imaginary part is round-off (recorded in imag_rel)."""
        if Uc.dtype.kind != "c":
            return Uc
        xp = self.xp
        self.imag_rel = float(xp.linalg.norm(Uc.imag)) / (float(xp.linalg.norm(Uc)) or 1.0)
        return xp.ascontiguousarray(Uc.real)

    def solve_u(self, U0, tau1, tau2, gn_steps=30):
        xp = self.xp
        fac = self.factors()
        f = fac["x"]
        wb = self.lambda_b * tau1
        G = [fd["G"] for fd in f]
        bb = wb * self._btt(self.g, f)
        Y0 = self._from_u(U0.astype(complex if self.complex else float), f)

        if self.dense_r:
            def r(Y):
                return self._r(Y, fac)

            def rh(X, s=1.0):
                return s * self._r(X, fac, adjoint=True)
        else:
            # a diagonal R: the products in the order the solver always used (its documented
            # runs are reproducible to the last bit)
            D = fac["D"]
            Dc = D.conj()

            def r(Y):
                return D * Y

            def rh(X, s=1.0):
                return s * Dc * X
        if self.p.nonlinearity is None:
            prec = self.preconditioner(tau1, tau2)
            if not (self.dense_r or self.complex):
                Y0 = self._drop_weak_modes(Y0, tau2)

            def H(Y):
                return Y + rh(kron_mode_product(G, r(Y)), tau2) + wb * self._bnd(Y, f)
            b = rh(self._th(self.F, f), tau2) + bb
            cap = self.cg_maxiter
            if self.shift_floor_rel > 0:
                cap = min(cap, self.cg_switch)
            Y, it, rel = _pcg(H, b, prec, Y0, self.cg_tol, cap, flexible=self.cg_flexible, xp=xp)
            if rel > self.cg_tol and self.cg_maxiter > it and self.shift_floor_rel > 0:
                # see the module docstring ("First-order terms"): the unfloored P_0 is the
                # better preconditioner on most solves but loses definiteness on some; the
                # floored one converges there
                prec = self.preconditioner(tau1, tau2, shift_floor=self.shift_floor_rel)
                Y, it2, rel = _pcg(H, b, prec, Y, self.cg_tol, self.cg_maxiter - it,
                                   flexible=self.cg_flexible, xp=xp)
                it += it2
            self.cg_iters, self.cg_rel = it, rel
            return self._real_u(self._to_u(Y, f))
        N, dN = self.p.nonlinearity, self.p.dnonlinearity
        Tl = [fd["T"] for fd in f]
        Tt = [fd["T"].T for fd in f]

        def phi(Y):
            U = self._to_u(Y, f)
            rb = self._boundary_values(U) - self.g
            R = kron_mode_product(Tl, r(Y)) + N(U) - self.F
            return float(0.5 * (xp.sum(Y * Y) + wb * (rb @ rb) + tau2 * xp.sum(R * R)))

        # Inexact Gauss-Newton: H Y - b of the GN system at Y is the exact gradient of phi, so
        # each linear solve only needs to cut that gradient by a forcing factor (Eisenstat-Walker
        # style), and a PCG run that hits cg_maxiter still gives a descent step for the GN model.
        # The U solve is judged by the final nonlinear gradient (self.cg_rel), as the linear
        # path is by its residual.  Before, every GN system was solved to cg_tol and a single
        # PCG run stopping above cg_accept rejected the trial theta.
        # the nonlinear gradient target: two digits below the acceptance threshold (cg_tol
        # itself, 1e-10, is below what PCG reaches on these systems in cg_maxiter steps)
        gn_tol = max(self.cg_tol, 1e-2 * self.cg_accept)
        Y = Y0
        f0 = phi(Y)
        total = 0
        for _ in range(gn_steps + 1):
            U = self._to_u(Y, f)
            dn = dN(U)

            def J(Yv):
                return kron_mode_product(Tl, r(Yv)) + dn * self._to_u(Yv, f)

            def JT(R):
                return rh(kron_mode_product(Tt, R)) + kron_mode_product(Tt, dn * R)

            def H(Yv):
                return Yv + tau2 * JT(J(Yv)) + wb * self._bnd(Yv, f)

            rhs = self.F - N(U) + dn * U
            b = tau2 * JT(rhs) + bb
            bn = float(xp.linalg.norm(b)) or 1.0
            relg = float(xp.linalg.norm(H(Y) - b)) / bn
            self.cg_rel = relg
            if relg <= gn_tol or _ == gn_steps:
                break
            prec = self.preconditioner(tau1, tau2, self.gn_shift(dn))
            eta = min(0.1, math.sqrt(relg))
            # a short PCG run per GN step (gn_cap, see __init__)
            cap, tol_k = min(self.cg_maxiter, self.gn_cap), max(eta * relg, 0.1 * gn_tol)
            Yn, it, rel = _pcg(H, b, prec, Y, tol_k, cap, xp=xp)
            total += it
            # neither shift sign wins everywhere (see gn_shift): gn_adapt consecutive runs that
            # hit their cap switch the sign for the following runs (sticky over later U solves)
            self.gn_capped = self.gn_capped + 1 if it >= cap and rel > tol_k else 0
            if self.gn_adapt and self.gn_capped >= self.gn_adapt:
                self.gn_flip, self.gn_capped = not self.gn_flip, 0
            dY = Yn - Y
            step = _backtrack(phi, Y, dY, f0)
            if step is None:
                break
            Y, f1 = step
            done = f0 - f1 <= 1e-14 * max(abs(f0), 1.0)
            f0 = f1
            if done:
                # phi no longer moves: record the gradient where we stop
                U = self._to_u(Y, f)
                dn = dN(U)
                b = tau2 * JT(self.F - N(U) + dn * U) + bb
                self.cg_rel = float(xp.linalg.norm(H(Y) - b)) / (float(xp.linalg.norm(b)) or 1.0)
                break
        self.cg_iters = total
        return self._to_u(Y, f)

    def _p0_shift(self, tau2, D):
        """P_0's shift s: tau_2 max|D|^2 s^d = 1 (times shift_scale)."""
        xp = self.xp
        return self.shift_scale * (tau2 * float(xp.max(xp.abs(D) ** 2))) ** (-1.0 / self.ndim)

    def _drop_weak_modes(self, Y0, tau2):
        """The warm start Y0 (from the previous theta's U) with its entries zeroed on the modes
        where P_0's diagonal tau_2 |D|^2 prod_d (G_d + s)_kk is below weak_mode_level, i.e.
        where H's identity, which P_0 leaves out, is not negligible.  Used on the real path
        with a diagonal R (there the entries of Y are R's modes).

        Why: the Gaussian mixture's kernel matrices have numerical null spaces (eigenvalues at
        the jitter); there D ~ 0 and P_0 ~ 0, and P^{-1} H has thousands of eigenvalues up to
        ~1e12 (tests/tools/dev_gp_gm_modes.py: 37 modes with P_0's diagonal < 1e4 on 60^2,
        14855 on 400^2; adding the identity on them exactly gives eigenvalues in 0.99..3.6 on
        60^2, but needs a dense capacitance of that size).  A U from another theta has large
        whitened entries on those modes, which PCG removes very slowly, while a cold start
        does not excite them.  poisson_2d(100), 400^2, Gaussian mixture, theta after one
        outer iteration: cold start 22 PCG steps to 7e-11; warm start from the initial
        theta's U 400 steps (the cap) to 7.7e-9, although its residual is 3e-4 of the cold
        one's; the warm start with these modes zeroed 23 steps.  Whole solves (one BLAS
        thread, solve_nd(kernel='gaussian', max_iter=1, lbfgs_steps=10)): 400^2 3.8e-3 in 289 s
        (every U solve at its 400-step cap) -> 1.1e-4 in 148 s; always cold-starting instead:
        6.3e-3 in 29 s (L-BFGS stopped early); 140^2 (omega = 35, max_iter=2): 176 s -> 9.5 s,
        same error.  The Student-t mixture has weak modes at some learned thetas on small grids
        (poisson_2d(4), 24^2): total CG steps and errors there moved by ~10% and < 1%.  Not on
        the complex (advection) path: advection_2d(20) on 64^2 took 15% more CG steps with it
        (and hit its time limit), advection_2d(5) on 32^2 26% fewer."""
        if not self.weak_mode_level > 0:
            return Y0
        xp = self.xp
        fac = self.factors()
        D = fac["D"]
        sh = self._p0_shift(tau2, D)
        p0 = tau2 * xp.abs(D) ** 2
        for d, fd in enumerate(fac["f"]):
            g = np.real(np.diag(fd["G"])) + sh
            p0 = p0 * self._dev(g.reshape([-1 if i == d else 1 for i in range(self.ndim)]))
        weak = p0 < self.weak_mode_level
        if not bool(weak.any()):
            return Y0
        return xp.where(weak, 0.0, Y0)

    def gn_shift(self, dn):
        """Constant stand-in for the Gauss-Newton diagonal N'(U) in the preconditioner: the
        root-mean-square of N'(U), with the sign of D's dominant part (negative for a
        Laplacian), so that D + s stays away from zero.

        The previous shift, mean(N'(U)) (> 0 for Allen-Cahn, where D <= 0), made D + s cross
        zero on a band of low modes, where P_0 then inverts a nearly vanishing (floored) entry
        that the true Jacobian A + diag(N') does not have; most PCG runs hit their cap.  An
        opposite-sign shift keeps P_0 definite with |D + s| >= |s| (as a negatively shifted
        Laplacian preconditions an indefinite Helmholtz operator).  Numbers in the module
        docstring ("Gauss-Newton shift")."""
        xp = self.xp
        if self.gn_flip:
            return float(xp.mean(dn))
        D = self.factors()["D"].real.ravel()
        sign = -1.0 if float(D[int(xp.argmax(xp.abs(D)))]) < 0 else 1.0
        return sign * self.gn_shift_scale * float(xp.sqrt(xp.mean(dn * dn)))

    # ------------------------------------------------------------------ objective
    def state(self, U):
        """(Alpha = K^{-1} U, [V_d = K_d^{-1} U_(d)] (mode-d unfoldings), residual R) at the
        current theta (real U)."""
        f = self.factors()["x"]
        V = [fd["Kinv"] @ _unfold(U, d) for d, fd in enumerate(f)]
        Alpha = kron_mode_product([fd["Kinv"] for fd in f], U)
        R = self.xp.zeros(self.shape)
        for d, fd in enumerate(f):
            if self.terms[d]:
                R = R + _fold(fd["Aop"] @ V[d], d, self.shape)
        for (a, b), c in self.cross.items():
            R = R + c * kron_mode_product([f[i]["A1"] if i in (a, b) else n
                                           for i, n in enumerate(self.shape)], U)
        R = R + self.c0 * U - self.F
        if self.p.nonlinearity is not None:
            R = R + self.p.nonlinearity(U)
        return Alpha, V, R

    def _cross_parts(self, U, d):
        """For each mixed derivative c u_(x_d x_j): (c, V') with V' = K_d^{-1} (U x_j A1_j)_(d),
        the stand-in for V_d in dimension d's gradient (the term is c A1_d applied along d to
        U x_j A1_j)."""
        f = self.factors()["x"]
        out = []
        for (a, b), c in self.cross.items():
            if d not in (a, b):
                continue
            j = b if d == a else a
            Z = kron_mode_product([f[j]["A1"] if i == j else n for i, n in enumerate(self.shape)], U)
            out.append((c, f[d]["Kinv"] @ _unfold(Z, d)))
        return out

    def value_grad(self, U, tau2):
        """GP and residual terms of L at fixed U (the tau-only terms excluded) and their
        theta-gradient.  Per dimension d, with unfoldings along d: V = K_d^{-1} U_(d),
        beta = K_d^{-1} A_d^T R_(d); dL = <dK_d, W0> + sum_k c_k <dK_d^(k), tau_2 R_(d) V^T>,
        W0 = (M/M_d)/2 K_d^{-1} - 1/2 V Alpha_(d)^T - tau_2 beta V^T (no symmetry of A_d is
        assumed: odd orders enter through the signed lags of grad_contract)."""
        xp, host = self.xp, _device.to_host
        fac = self.factors()
        f = fac["x"]
        Alpha, V, R = self.state(U)
        val = (0.5 * sum(self.M // M_d * fd["logdet"] for M_d, fd in zip(self.shape, fac["f"]))
               + 0.5 * float(xp.sum(U * Alpha)) + 0.5 * tau2 * float(xp.sum(R * R)))
        grads = []
        # the contractions with grid-sized arrays run on the device; their M_d x M_d results
        # come to the host for the Toeplitz lag sums and the kernel's gradient
        for d in range(self.ndim):
            ax, k, fd = self.axes[d], self.kernels[d], f[d]
            Rd = _unfold(R, d)
            beta = fd["Kinv"] @ (fd["Aop"].T @ Rd)
            W0 = (0.5 * (self.M // self.shape[d]) * fd["Kinv"] - 0.5 * (V[d] @ _unfold(Alpha, d).T)
                  - tau2 * (beta @ V[d].T))
            cross = self._cross_parts(U, d)
            for c, Vc in cross:
                # d/dtheta_d of c (A1_d (x) A1_j) U = c (dK1_d - K1_d K_d^{-1} dK_d) V'
                W0 = W0 - tau2 * c * (fd["Kinv"] @ (fd["K1"].T @ Rd)) @ Vc.T
            g = k.grad_contract(ax.lags, ax.lag_sums(host(W0)), 0)
            if self.terms[d]:
                RV = ax.lag_sums(host(tau2 * (Rd @ V[d].T)))
                for kk, c in self.terms[d].items():
                    g = g + c * k.grad_contract(ax.lags, RV, kk)
            for c, Vc in cross:
                g = g + c * k.grad_contract(ax.lags, ax.lag_sums(host(tau2 * (Rd @ Vc.T))), 1)
            grads.append(g)
        return val, np.concatenate(grads), R

    def profiled(self, theta, tau1, tau2, store):
        """min over U of L at (theta, tau) and its theta-gradient (envelope theorem)."""
        self.set_theta(theta)
        store["n_rejected"] = store.get("n_rejected", 0) + 1
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                U = self.solve_u(store["U"], tau1, tau2)
                store["cg"] = store.get("cg", 0) + self.cg_iters
                if self.cg_rel > self.cg_accept or not bool(self.xp.all(self.xp.isfinite(U))):
                    return np.inf, np.zeros_like(theta)
                val, grad, _ = self.value_grad(U, tau2)
            except (np.linalg.LinAlgError, ValueError):
                return np.inf, np.zeros_like(theta)
        rb = self._boundary_values(U) - self.g
        val += 0.5 * self.lambda_b * tau1 * float(rb @ rb)
        if not (np.isfinite(val) and np.all(np.isfinite(grad))):
            return np.inf, np.zeros_like(theta)
        store["nfev"] = store.get("nfev", 0) + 1
        store["n_rejected"] -= 1
        if val < store.get("best", np.inf):
            store.update(U=U, best=val, theta=np.array(theta, copy=True))
        return val, grad

    def term_scale(self, U):
        """Largest norm among the residual's terms: source, each axis' derivative term, c_0 U,
        N(U) (see solver._judge)."""
        xp = self.xp
        f = self.factors()["x"]

        def norm(a):
            return float(xp.linalg.norm(a))
        norms = [norm(self.F), abs(self.c0) * norm(U)]
        for d, fd in enumerate(f):
            if self.terms[d]:
                norms.append(norm(fd["Aop"] @ (fd["Kinv"] @ _unfold(U, d))))
        for (a, b), c in self.cross.items():
            norms.append(abs(c) * norm(kron_mode_product(
                [f[i]["A1"] if i in (a, b) else n for i, n in enumerate(self.shape)], U)))
        # c U / length^k per term: the size for a field that varies once over the domain, so that
        # a nearly harmonic field with zero source is not judged by round-off
        for d, ax in enumerate(self.axes):
            length = ax.x[-1] - ax.x[0]
            norms += [abs(c) * norm(U) / length ** k for k, c in self.terms[d].items()]
        for (a, b), c in self.cross.items():
            la, lb = (self.axes[i].x[-1] - self.axes[i].x[0] for i in (a, b))
            norms.append(abs(c) * norm(U) / (la * lb))
        if self.p.nonlinearity is not None:
            norms.append(norm(self.p.nonlinearity(U)))
        return float(max(norms))

    def full_objective(self, U, tau1, tau2):
        val, _, R = self.value_grad(U, tau2)
        rb = self._boundary_values(U) - self.g
        val += (self.lambda_b * (0.5 * tau1 * float(rb @ rb) - 0.5 * self.Nb * math.log(tau1))
                - 0.5 * self.M * math.log(tau2))
        return val, R, rb

    def alpha(self, U):
        f = self.factors()["x"]
        return kron_mode_product([fd["Kinv"] for fd in f], U)


def solve_nd(problem, sizes, *, kernel="student_t", n_components=30, freq_scale=None,
             max_iter=40, lbfgs_steps=30, tol=1e-9, lambda_b=200.0, jitter=1e-6, max_time=None,
             tau_max=1e10, tau_init=1.0, cg_tol=1e-10, cg_maxiter=None, learn_tau=True,
             track_error=True, error_points=None, verbose=False, callback=None, device=None):
    """The d-D (d >= 2) branch of ``gp.solve`` (see its docstring; arguments mean the same).

    error_points: points per dimension for the tracked error (default 300 in 2-D, the paper's
    metric; 64 for d >= 3, where 300^3 evaluations would dominate the run).
    cg_maxiter: PCG steps per U solve; default 400, or 3000 when a dimension has first-order
    terms or the operator a mixed derivative (advection needs ~150-500 steps per solve, more
    for the first one).
    device: 'cpu', 'cuda' or None (see ``gp.solve`` and "Devices" in the module docstring)."""
    from .solver import GPSolution, GPSolverWarning, _judge, _midpoints
    device = _device.resolve_device(problem, device)
    xp = _device.get_xp(device)
    host = _device.to_host
    axes = problem.grid_axes(sizes)
    h = [(x[-1] - x[0]) / (len(x) - 1) for x in axes]
    nyq = [0.5 / hh for hh in h]
    fs = freq_scale if freq_scale is not None else (problem.freq_scale or 0.25 * min(nyq))
    if fs > min(nyq):
        warnings.warn(f"grid resolves frequencies up to {min(nyq):.4g} cycles per unit but "
                      f"freq_scale is {fs:.4g}: the solver cannot resolve them", GPSolverWarning,
                      stacklevel=4)
    kernels = []
    ndim = problem.ndim
    for d in range(ndim):
        # as in 1-D: keep the initial envelope >= ~30 grid steps wide on coarse grids
        log_a0 = min(0.0, math.log(0.05 / h[d]))
        kernels.append(kernel.copy() if isinstance(kernel, Kernel1D)
                       else make_kernel(kernel, n_components, min(fs, nyq[d]), log_a=log_a0))
    bounds = []
    for d, k in enumerate(kernels):
        b = [(None, None)] * k.n_params
        if is_baseline(k):
            # SE / Matern baselines: start at 3 grid steps, never below 1 (kernels.baseline_log_a)
            if not isinstance(kernel, Kernel1D):
                k.log_a[:] = baseline_log_a(k, h[d], 3.0)
            b[-1] = (None, baseline_log_a(k, h[d], 1.0))
            k.log_a[:] = np.minimum(k.log_a, b[-1][1])
        bounds += b
    if cg_maxiter is None:
        _, _, kinds, cross = _split_operator(problem)
        # first-order and mixed-derivative terms: hundreds to thousands of steps per U solve
        # (u_xx + 0.6 u_xy + 0.8 u_yy on 20^2 at the default freq_scale: 1000-3000; with 400
        # every U solve failed and the run stopped at 1.5e-2, with 3000 it reached 3.0e-5)
        cg_maxiter = 3000 if set(kinds) & {"odd", "mixed"} or cross else 400
    model = _ModelND(problem, axes, kernels, jitter, lambda_b, cg_tol, cg_maxiter, xp=xp)
    ex = None
    if track_error and problem.exact is not None:
        npts = error_points or (300 if ndim <= 2 else 64)
        xs = [np.linspace(lo, hi, npts) for lo, hi in problem.domain]
        ex = (xs, problem.exact(*np.meshgrid(*xs, indexing="ij")))

    t0 = time.perf_counter()
    tau1 = tau2 = float(tau_init) if learn_tau else float(tau_max)
    U = model.solve_u(xp.zeros(model.shape), tau1, tau2)
    history, best, status, message = [], None, "max_iter", f"reached max_iter={max_iter}"
    stall, prev, nfev, ncg = 0, np.inf, 0, model.cg_iters
    rejected = []
    for it in range(max_iter):
        _, R, rb = model.full_objective(U, tau1, tau2)
        # closed-form precisions at the current U; capped because the profiled objective is
        # unbounded below as a residual vanishes (same as 1-D)
        if learn_tau:
            tau1 = min(model.Nb / max(float(rb @ rb), 1e-300), tau_max)
            tau2 = min(model.M / max(float(xp.sum(R * R)), 1e-300), tau_max)
        store = {"U": U}
        theta0 = model.theta()
        res = _scipy("optimize").minimize(model.profiled, theta0, args=(tau1, tau2, store),
                                          method="L-BFGS-B", jac=True, bounds=bounds,
                                          options={"maxiter": lbfgs_steps, "ftol": 1e-15,
                                                   "gtol": 1e-12})
        if not store.get("nfev"):
            # every trial (the starting point included) was rejected: the U solve did not
            # converge, so the envelope-theorem gradient is meaningless
            status = "failed"
            message = (f"the U solve did not converge (CG relative residual {model.cg_rel:.1e} > "
                       f"{model.cg_accept:.0e}); no hyperparameter step was taken")
            history.append({"iter": it, "objective": float("nan"), "time": time.perf_counter() - t0,
                            "nfev": nfev, "cg_iterations": ncg + store.get("cg", 0)})
            if best is None:
                Alpha = model.alpha(U)
                best = (np.inf, U.copy(), [k.copy() for k in kernels], Alpha)
            break
        nfev += store.get("nfev", 0)
        ncg += store.get("cg", 0)
        model.set_theta(store.get("theta", theta0))
        if "theta" in store:
            U = store["U"]
        with np.errstate(over="ignore", invalid="ignore"):
            value, R, rb = model.full_objective(U, tau1, tau2)
        Alpha = model.alpha(U)
        rec = {"iter": it, "objective": float(value),
               "residual_rms": float(xp.sqrt(xp.mean(R * R))),
               "boundary_rms": float(xp.sqrt(xp.mean(rb * rb))), "tau1": tau1, "tau2": tau2,
               "time": time.perf_counter() - t0, "nfev": nfev, "cg_iterations": ncg,
               "lbfgs": str(res.message)}
        if model.complex:
            rec["imag_rel"] = model.imag_rel
        if ex is not None:
            up = kron_mode_product([k.matrix(x, ax) for k, x, ax in zip(kernels, ex[0], axes)],
                                   host(Alpha))
            rec["error"] = float(np.linalg.norm(up - ex[1]) / np.linalg.norm(ex[1]))
        history.append(rec)
        if verbose:
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in rec.items()), flush=True)
        if callback is not None:
            callback(rec)
        if best is None or value <= best[0]:
            best = (value, U.copy(), [k.copy() for k in kernels], Alpha)
        if not np.isfinite(value):
            status, message = "failed", f"objective became non-finite at iteration {it}"
            break
        rel = (prev - value) / max(abs(value), 1.0)
        prev = value
        # The objective's last digits move with the CG tolerance, so L-BFGS's own convergence
        # test counts as no progress too, but only while the outer change is at that noise level
        # (a restart that still gains 0.1-90 % was not at a minimum: before this check such runs
        # were labelled 'converged').  A run that stopped on its own (status 1 is its iteration
        # limit) after rejecting trial points, with the objective still moving above tol, gave
        # up on unevaluable points, as did one that never left its starting point (L-BFGS-B
        # re-evaluates the start after a rejected trial and reports CONVERGENCE): if the loop
        # ends there the status says 'stalled'.
        lbfgs_conv = str(res.message).startswith("CONVERGENCE")
        rejected.append(bool(store.get("n_rejected")) and res.status != 1
                        and (not rel < tol or np.array_equal(store.get("theta", theta0), theta0)))
        no_progress = rel < tol or (lbfgs_conv and rel < _CG_NOISE)
        stall = stall + 1 if no_progress else 0
        if stall >= 2:
            status, message = "converged", f"objective change below tol={tol} for 2 iterations"
            break
        if max_time is not None and rec["time"] > max_time:
            status, message = "time_limit", f"stopped after {rec['time']:.1f} s (max_time={max_time})"
            break
    _, U, kernels, Alpha = best
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            model.set_theta(np.concatenate([k.theta for k in kernels]))
            R = model.state(U)[2]
            scale = model.term_scale(U)
        except (np.linalg.LinAlgError, ValueError):
            R, scale = np.full(model.shape, np.nan), 1.0
        Alpha = host(Alpha)
        mid = kron_mode_product([k.matrix(_midpoints(x), x) for k, x in zip(kernels, axes)], Alpha)
        status, message = _judge(status, message, host(U), host(R), scale, mid, any(rejected[-2:]))
    if status != "converged":
        warnings.warn(f"GP solver did not converge ({status}: {message}); returning the best iterate",
                      GPSolverWarning, stacklevel=4)
    return GPSolution(problem, axes, U, kernels, Alpha, history, status, message, device=device,
                      xp=xp)
