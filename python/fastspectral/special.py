"""Placeholder; replaced below."""
from ._core import log_iv, log_ive, log_kv, log_kve, log_iv_dx, log_kv_dx, iv_ratio, iv, ive, kv, kve, i0, i0e, i1, i1e, k0, k0e, k1, k1e  # noqa
