"""vmf edge cases: tiny mean resultant lengths, infinite concentration, bad init arrays,
non-integer dimensions."""
import mpmath
import numpy as np
import pytest

from fastspectral import vmf


def _ap(p, kappa):
    """A_p(kappa) = I_{p/2}(kappa) / I_{p/2-1}(kappa) in 50-digit arithmetic."""
    mpmath.mp.dps = 50
    k = mpmath.mpf(kappa)
    return mpmath.besseli(mpmath.mpf(p) / 2, k) / mpmath.besseli(mpmath.mpf(p) / 2 - 1, k)


@pytest.mark.parametrize("p", [2, 3, 64, 5000])
@pytest.mark.parametrize("rbar", [1e-300, 1e-20, 1e-17, 3e-16, 1e-12, 9.9e-6, 1.1e-5])
def test_kappa_mle_tiny_rbar(p, rbar):
    # 1 - rbar rounds to 1 below ~1e-16; the MLE used to come back as nan there
    k = float(vmf.kappa_mle(np.array([rbar]), p)[0])
    assert np.isfinite(k) and k > 0
    assert abs(float(_ap(p, k)) - rbar) <= 1e-14 * rbar


def test_fit_nearly_antipodal_pair_gives_finite_kappa():
    b = np.array([-1.0, 1e-17])
    b /= np.linalg.norm(b)
    mu, kappa = vmf.fit(np.vstack([[1.0, 0.0], b]))
    assert np.isfinite(kappa) and 0 <= kappa < 1e-15


def test_log_normalizer_infinite_kappa():
    out = vmf.log_normalizer(3, np.array([1.0, np.inf]))
    assert np.isfinite(out[0]) and out[1] == np.inf


@pytest.mark.parametrize("p", [3.5, 1, np.array([2, 2.5])])
def test_non_integer_or_small_dimension_refused(p):
    with pytest.raises(ValueError, match="integer >= 2"):
        vmf.log_normalizer(p, 1.0)


@pytest.mark.parametrize("init", [np.full((2, 5), np.nan), np.zeros((2, 5)),
                                  np.array([[1.0, 0, 0, 0, 0], [np.inf, 0, 0, 0, 0]])])
def test_mixture_bad_init_array(init):
    X = np.random.default_rng(0).standard_normal((50, 5))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    with pytest.raises(ValueError, match="finite and nonzero"):
        vmf.VonMisesFisherMixture(2, init=init).fit(X)


def test_mixture_init_array_is_normalised():
    X = np.random.default_rng(1).standard_normal((60, 4))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    a = vmf.VonMisesFisherMixture(2, init=3.0 * np.eye(4)[:2], max_iter=1).fit(X)
    b = vmf.VonMisesFisherMixture(2, init=np.eye(4)[:2], max_iter=1).fit(X)
    np.testing.assert_allclose(a.means_, b.means_, rtol=0, atol=1e-15)
