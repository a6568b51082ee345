// log K_v(x), log(K_v(x) e^x) and d/dx log K_v(x) for v >= 0, x >= 0, in float or double.
//
// Regions (r = hypot(v, x); thresholds measured against Arb with tests/tools/dev_bessel_k_check.py):
//
//  1. Debye / uniform expansion, r >= kDebyeMinR (double 22, float 10).
//       K_v(x) = sqrt(pi/(2r)) exp(-v eta) S,  v eta = r + v log(x/(v+r)),
//       S = sum_k (-1/r)^k P_k(p^2),  p = v/r,  P_k from kDebyeCoeffs (u_k(p)/v^k = r^-k P_k(p^2)).
//     Written in r and p so it is also the large-x Hankel expansion when v -> 0.  The number of
//     terms is picked from r (the largest first omitted term max_p r^-k |P_k| below 1e-16 in
//     double, 2e-8 in float; see bk_debye_terms): double 21 terms at r >= 22 down to 3 at
//     r >= 91000; float 10 terms at r >= 10 down to 3 at r >= 160.
//     The phase v eta (and v eta - x for kve, as v^2/(r+x) + v log(x/(v+r))) is computed in double
//     also for float: it cancels by ~5x in the turning region and completely near the zero of eta,
//     x = z0 v (z0 = 0.66274...), which cost float up to 1e-5.  Where |x - z0 v| < 0.15 z0 v
//     (only v >= 18 in this region) it comes from a 26-term Taylor series of eta around z0 in
//     d = x - v z0 formed in double-word arithmetic: plain double lost up to 1.2e-14 there.
//  2. r < kDebyeMinR: v = mu + n, mu in (-1/2, 1/2].  K_mu and s_0 = (x/2) K_{mu+1}/K_mu from
//     Temme's series for x <= 2 in double, x <= 1 in float (the series cancels by up to ~10x as
//     x grows: float reached 5e-6 at x = 2, 7e-7 with the switch at 1; CF2 needs ever more
//     iterations as x falls) or Steed's evaluation of Temme's continued fraction CF2 above.
//     Then s_k = (x/2) K_{mu+k+1}/K_{mu+k} = (mu+k) + (x^2/4)/s_{k-1} (all terms positive) and
//     log K_v = log K_mu + sum log s_k + n log(2/x): only logs of moderate numbers, so nothing
//     overflows even at x = 5e-324 (all exponentials used are at most (x/2)^(-1/2)).
// log_kv_dx uses the same regions: -K_{v+1}/K_v + v/x = -v/x - (x/2)/s_{n-1} from the recurrence
// (no cancellation), and in the Debye region the exact x-derivative of the truncated expansion.
#pragma once

#include "fastspectral/bessel_debye_coeffs.hpp"
#include "fastspectral/config.hpp"

namespace fs {
namespace detail {

// Taylor coefficients of 1/Gamma(1+z) at 0 (mpmath, 40 digits): gives Gamma(1 +- mu) and Temme's
// Gamma1/Gamma2 without cancellation near mu = 0.
FS_CONSTANT double kRecipGamma1pTaylor[22] = {
    1.0,
    0.57721566490153286061,
    -0.65587807152025388108,
    -0.042002635034095235529,
    0.1665386113822914895,
    -0.042197734555544336748,
    -0.0096219715278769735621,
    0.0072189432466630995424,
    -0.0011651675918590651121,
    -0.00021524167411495097282,
    0.00012805028238811618615,
    -0.000020134854780788238656,
    -1.2504934821426706573e-6,
    1.1330272319816958824e-6,
    -2.0563384169776071035e-7,
    6.1160951044814158179e-9,
    5.0020076444692229301e-9,
    -1.1812745704870201446e-9,
    1.0434267116911005105e-10,
    7.782263439905071254e-12,
    -3.6968056186422057082e-12,
    5.100370287454475979e-13,
};

// eta(z) = sqrt(1+z^2) + log(z/(1+sqrt(1+z^2))) vanishes at z0; coefficients eta^(m)(z0)/m!
// for m = 1..28 (mpmath, 50 digits).  Radius of convergence ~0.7.
FS_CONSTANT double kEtaZ0Hi = 0.6627434193491816;
FS_CONSTANT double kEtaZ0Lo = 8.155323790501267e-18;
FS_CONSTANT double kEtaZ0Taylor[28] = {
    1.81017058069897727451, -0.948886416256837051498, 1.10015289485065031794,
    -1.29530067798605382641, 1.57154556656197249594, -1.97102958013450656569,
    2.54422267255020849013, -3.35741768896192810238, 4.50363974503915321521,
    -6.11691615417085361954, 8.39111471209130435607, -11.6060127673206223185,
    16.1647254358941906743, -22.6482663911012555292, 31.8952684902338191337,
    -45.1183158825840961766, 64.073574799752204257, -91.3082455009445018453,
    130.521902384093945246, -187.09471362813002477, 268.860363382199108981,
    -387.238010087339606403, 558.891376364761499073, -808.16228865812587638,
    1170.64277512202376531, -1698.42206993804244895, 2467.79899962318209099,
    -3590.62534901916441051,
};

template <class T>
FS_HOST_DEVICE FS_INLINE constexpr bool bk_is_float() { return sizeof(T) == sizeof(float); }

template <class T>
FS_HOST_DEVICE FS_INLINE T bk_debye_min_r() { return bk_is_float<T>() ? T(10) : T(22); }

template <class T>
FS_HOST_DEVICE FS_INLINE int bk_debye_terms(T r) {
  if (bk_is_float<T>()) {
    return r >= T(160) ? 3 : r >= T(50) ? 4 : r >= T(26) ? 5 : r >= T(18) ? 6 : r >= T(12) ? 8 : 10;
  }
  // first omitted term max_p r^-k |P_k(p^2)| < 1e-16 (thresholds rounded up from the measured ones)
  return r >= T(91000)  ? 3
         : r >= T(5800) ? 4
         : r >= T(1180) ? 5
         : r >= T(424)  ? 6
         : r >= T(210)  ? 7
         : r >= T(126)  ? 8
         : r >= T(86)   ? 9
         : r >= T(64)   ? 10
         : r >= T(51)   ? 11
         : r >= T(42.1) ? 12
         : r >= T(32.1) ? 14
         : r >= T(26.6) ? 16
         : r >= T(23.4) ? 18
                        : 21;
}

// Horner steps are written a*b + c, not math::fma: the host build has no -mfma, where fma() is a
// library call (measured 3x slower overall); nvcc contracts them to FMA anyway.
// Debye sum minus one: S - 1 = w * R with w = -1/r, returned as w*R so log S = log1p(.).
// With want_d, also D = sum_k w^k sum_j (k+2j) c_kj q^j, so that dS/dx = -(x/r^2) D.
template <class T, bool want_d>
FS_HOST_DEVICE FS_INLINE void bk_debye_sum(T q, T w, int nterms, T& s_minus_1, T& dsum) {
  T acc = T(0), dacc = T(0);
  for (int k = nterms - 1; k >= 1; --k) {
    T pk = T(0), dk = T(0);
    for (int j = k; j >= 0; --j) {
      const T c = T(kDebyeCoeffs[k][j]);
      pk = pk * q + c;
      if (want_d) dk = dk * q + T(k + 2 * j) * c;
    }
    acc = acc * w + pk;
    if (want_d) dacc = dacc * w + dk;
  }
  s_minus_1 = w * acc;
  dsum = w * dacc;  // the k = 0 term of D is zero
}

// v*eta(x/v) = r + v log(x/(v+r)) (the exponent of K_v in the Debye form), and v*eta - x.
// Always evaluated in double (float inputs are promoted): v*eta is a difference of numbers of
// size r and v|log(x/(v+r))| and cancels by a factor ~5 in the turning region and completely
// near x = z0 v, which costs float several ulp (measured up to 1e-5 relative error).
template <class P>  // P = double (a template so nvcc does not compile it for host in .cu files)
FS_HOST_DEVICE FS_INLINE void bk_debye_phase(P v, P x, P r, P& veta, P& veta_minus_x) {
  // log(x/(v+r)) <= 0; for x >= v use (v+r)/x - 1 = (v + v^2/(r+x))/x, which never overflows there.
  const P v2rx = v * (v / (r + x));  // r - x without cancellation
  P lg;
  if (x >= v) {
    lg = -math::log1p((v + v2rx) / x);
  } else {
    lg = (x > P(1e-290)) ? math::log(x / (v + r)) : math::log(x) - math::log(v + r);
  }
  veta_minus_x = v2rx + v * lg;
  veta = r + v * lg;
  // Near x = z0 v, v*eta cancels to a small number while the rounding errors above are ~eps*2.4v.
  // There take v*eta from the Taylor series of eta around z0 in d = x - v z0, formed in
  // double-word arithmetic; outside |d| < 0.15 v z0 the cancellation costs < ~10x eps.
  // (In the Debye region r >= 22 this window has v >= 18.)
  const P ph = v * P(kEtaZ0Hi);
  if (math::fabs(x - ph) < P(0.15) * ph) {
    const P pl = math::fma(v, P(kEtaZ0Hi), -ph);
    const P d = ((x - ph) - pl) - v * P(kEtaZ0Lo);  // x - ph is exact (Sterbenz)
    const P t = d / v;                              // |t| < 0.1, terms fall like (1.43 t)^m
    P s = P(0);
    for (int i = 25; i >= 0; --i) s = s * t + P(kEtaZ0Taylor[i]);
    veta = d * s;
  }
}

// hypot without the library call's cost where v^2 + x^2 cannot overflow or lose to underflow.
template <class T>
FS_HOST_DEVICE FS_INLINE T bk_hypot(T v, T x) {
  const T lo = bk_is_float<T>() ? T(1e-18) : T(1e-150);
  const T hi = bk_is_float<T>() ? T(1e18) : T(1e150);
  const T m = math::fmax(v, x);
  if (m < hi && math::fmin(v, x) > lo) return math::sqrt(v * v + x * x);
  return math::hypot(v, x);
}

template <class T>
FS_HOST_DEVICE FS_INLINE T bk_half_log_pi_over_2r(T r) {
  // 0.5*log(pi/2) - 0.5*log(r)
  return T(0.22579135264472743236) - T(0.5) * math::log(r);
}

// ---- small r: Temme series / CF2 for K_mu, then forward recurrence on ratios ----

// Returns log K_mu(x) (or log(K_mu e^x) if scaled) and s0 = (x/2) K_{mu+1}/K_mu, |mu| <= 1/2.
template <class T>
FS_HOST_DEVICE FS_INLINE void bk_temme_series(T mu, T x, T& logk, T& s0) {
  const T eps = bk_is_float<T>() ? T(3e-8) : T(5e-17);
  const T ln2 = T(0.69314718055994530942);
  const T lx2 = math::log(x) - ln2;  // log(x/2) without underflow of x/2
  // 1/Gamma(1 +- mu) = E +- mu*O
  const T m2 = mu * mu;
  T E = T(0), O = T(0);
  const int ng = bk_is_float<T>() ? 12 : 22;
  for (int i = ng - 2; i >= 0; i -= 2) E = E * m2 + T(kRecipGamma1pTaylor[i]);
  for (int i = ng - 1; i >= 1; i -= 2) O = O * m2 + T(kRecipGamma1pTaylor[i]);
  const T gam1 = -O;  // (1/Gamma(1-mu) - 1/Gamma(1+mu)) / (2 mu)
  const T gam2 = E;   // (1/Gamma(1-mu) + 1/Gamma(1+mu)) / 2
  const T sigma = -mu * lx2;
  const T fact = (mu == T(0)) ? T(1) : T(3.14159265358979323846) * mu / math::sinpi(mu);
  const T shs = (sigma == T(0)) ? T(1) : math::sinh(sigma) / sigma;
  T f = fact * (gam1 * math::cosh(sigma) - gam2 * shs * lx2);
  const T e = math::exp(sigma);  // (x/2)^(-mu)
  T p = T(0.5) * e / (E + mu * O);
  T q = T(0.5) / (e * (E - mu * O));
  const T d = T(0.25) * x * x;
  T c = T(1);
  T sum = f, sum1 = p;
  for (int k = 1; k < 60; ++k) {
    const T kk = T(k);
    f = (kk * f + p + q) / (kk * kk - m2);
    c *= d / kk;
    p /= (kk - mu);
    q /= (kk + mu);
    const T del = c * f;
    sum += del;
    sum1 += c * (p - kk * f);
    if (math::fabs(del) < eps * math::fabs(sum)) break;
  }
  logk = math::log(sum);
  s0 = sum1 / sum;
}

// Steed's algorithm on Temme's CF2, x > ~2: log(K_mu(x) e^x) and s0 = (x/2) K_{mu+1}/K_mu.
template <class T>
FS_HOST_DEVICE FS_INLINE void bk_cf2(T mu, T x, T& logke, T& s0) {
  const T eps = bk_is_float<T>() ? T(3e-8) : T(5e-17);
  T b = T(2) * (T(1) + x);
  T dd = T(1) / b;
  T h = dd, delh = dd;
  T q1 = T(0), q2 = T(1);
  const T a1 = T(0.25) - mu * mu;
  T q = a1, c = a1;
  T a = -a1;
  T s = T(1) + q * delh;
  for (int i = 1; i < 500; ++i) {
    const T ii = T(i);
    a -= T(2) * ii;
    c = -a * c / (ii + T(1));
    const T qnew = (q1 - b * q2) / a;
    q1 = q2;
    q2 = qnew;
    q += c * qnew;
    b += T(2);
    dd = T(1) / (b + a * dd);
    delh = (b * dd - T(1)) * delh;
    h += delh;
    const T dels = q * delh;
    s += dels;
    if (math::fabs(dels) < eps * math::fabs(s)) break;
  }
  // K_mu e^x = sqrt(pi/(2x)) / s;  K_{mu+1}/K_mu = (mu + x + 1/2 - a1 h)/x
  logke = bk_half_log_pi_over_2r(x) - math::log(s);
  s0 = T(0.5) * (mu + x + T(0.5) - a1 * h);
}

// Small-r core.  Returns log K_v(x) (+x if scaled) and, via dlog, d/dx log K_v(x).
template <class T, bool scaled, bool want_d>
FS_HOST_DEVICE FS_INLINE T bk_small(T v, T x, T& dlog) {
  const int n = int(math::ceil(v - T(0.5)));
  const T mu = v - T(n);
  T logk, s0;
  if (x <= (bk_is_float<T>() ? T(1) : T(2))) {
    bk_temme_series(mu, x, logk, s0);
    if (scaled) logk += x;
  } else {
    bk_cf2(mu, x, logk, s0);
    if (!scaled) logk -= x;
  }
  if (n == 0) {
    if (want_d) dlog = (mu - T(2) * s0) / x;
    return logk;
  }
  const T ln2 = T(0.69314718055994530942);
  const T x2 = T(0.25) * x * x;
  T s = s0, prod = T(1);
  for (int k = 1; k < n; ++k) {
    const T sn = (mu + T(k)) + x2 / s;
    prod *= sn;
    s = sn;
  }
  if (want_d) dlog = -v / x - T(0.5) * x / s;
  // log K_v = log K_mu + log s0 + log prod(s_1..s_{n-1}) + n log(2/x)
  return logk + math::log(s0) + math::log(prod) + T(n) * (ln2 - math::log(x));
}

template <class T, bool scaled>
FS_HOST_DEVICE FS_INLINE T bk_log_kv_impl(T v, T x) {
  if (math::isnan(v) || math::isnan(x)) return math::quiet_nan<T>();
  if (x == T(0)) return math::infinity<T>();
  if (math::isinf(x)) return -math::infinity<T>();
  const T r = bk_hypot(v, x);
  if (r >= bk_debye_min_r<T>()) {
    const T w = T(-1) / r;
    const T p = v / r;
    T sm1, dsum;
    bk_debye_sum<T, false>(p * p, w, bk_debye_terms(r), sm1, dsum);
    double veta, vetax;
    bk_debye_phase<double>(double(v), double(x), bk_is_float<T>() ? bk_hypot(double(v), double(x)) : double(r), veta, vetax);
    return T(double(bk_half_log_pi_over_2r(r) + math::log1p(sm1)) - (scaled ? vetax : veta));
  }
  T dummy;
  return bk_small<T, scaled, false>(v, x, dummy);
}

// log K_v(x) for v >= 0 and x >= 0 (x = 0 gives +inf, x = +inf gives -inf).
template <class T>
FS_HOST_DEVICE T log_kv_nonneg(T v, T x) {
  return bk_log_kv_impl<T, false>(v, x);
}

// log(K_v(x) e^{x}).
template <class T>
FS_HOST_DEVICE T log_kve_nonneg(T v, T x) {
  return bk_log_kv_impl<T, true>(v, x);
}

// d/dx log K_v(x) = -(K_{v-1}(x) + K_{v+1}(x)) / (2 K_v(x)), for v >= 0, x >= 0.
template <class T>
FS_HOST_DEVICE T log_kv_dx_nonneg(T v, T x) {
  if (math::isnan(v) || math::isnan(x)) return math::quiet_nan<T>();
  if (x == T(0)) return -math::infinity<T>();
  if (math::isinf(x)) return T(-1);
  const T r = bk_hypot(v, x);
  if (r >= bk_debye_min_r<T>()) {
    const T w = T(-1) / r;
    const T p = v / r;
    T sm1, dsum;
    bk_debye_sum<T, true>(p * p, w, bk_debye_terms(r), sm1, dsum);
    // d/dx [0.5 log(pi/2r) - v eta + log S] = -x/(2 r^2) - r/x - (x/r^2) D/S
    const T xr2 = (x / r) / r;
    return -r / x - xr2 * (T(0.5) + dsum / (T(1) + sm1));
  }
  T dl;
  bk_small<T, false, true>(v, x, dl);
  return dl;
}

}  // namespace detail
}  // namespace fs
