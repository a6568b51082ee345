"""Dev script (GPU machine, cupy only): is cupy.fft.irfft (cuFFT C2R) in float32 right for the
spectral bench's shapes?  Compares with numpy (pocketfft, float64) for Hermitian-valid input
(imaginary parts of the zero and Nyquist frequencies zeroed), few or all columns filled."""
import cupy as cp
import numpy as np

rng = np.random.default_rng(0)
for shape, keep in [((32, 64, 513), 9), ((32, 64, 513), 513), ((8, 32, 33), 7),
                    ((4, 8, 513), 9), ((2048, 513), 9), ((512, 65), 17)]:
    Y = np.zeros(shape, np.complex128)
    Y[..., :keep] = rng.standard_normal(shape[:-1] + (keep,)) + 1j * rng.standard_normal(
        shape[:-1] + (keep,))
    Y[..., 0] = Y[..., 0].real
    n = 2 * (shape[-1] - 1)
    Y[..., -1] = Y[..., -1].real
    ref = np.fft.irfft(Y, n=n, axis=-1, norm="forward")
    out = {}
    for name, dt in (("c64", np.complex64), ("c128", np.complex128)):
        Yd = cp.asarray(Y.astype(dt))
        out[f"irfft {name}"] = cp.fft.irfft(Yd, n=n, axis=-1, norm="forward").get()
        out[f"irfft {name} (copy in)"] = cp.fft.irfft(Yd.copy(), n=n, axis=-1, norm="forward").get()
    Yd = cp.asarray(Y.astype(np.complex64))
    full = cp.concatenate([Yd, cp.conj(Yd[..., -2:0:-1])], axis=-1)
    out["ifft c64 of Hermitian extension"] = cp.fft.ifft(full, axis=-1, norm="forward").real.get()
    for k, v in out.items():
        print(f"{shape} keep={keep}: {k:34s} rel err {np.abs(v - ref).max() / np.abs(ref).max():.1e}")
