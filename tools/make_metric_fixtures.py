#!/usr/bin/env python3
"""Independent NumPy reference for image-quality metrics and BD-rate.

Writes Tests/Fixtures/reference/metrics.json (numpy only, float64 throughout).

Test images (RGB uint8, shape (H, W, 3), row-major, channel last), params (a, b, seed):
  base[y, x, c] = (a*x + b*y + 40*c + ((x*y) % 7) * 4) % 256          (integers)
  LCG: state = seed; for every sample in row-major order (y, x, c):
       state = (state * 1664525 + 1013904223) mod 2^32
       noise = ((state >> 24) % 21) - 10
  distorted[y, x, c] = clip(base[y, x, c] + noise, 0, 255)
  Pairs (reference = base, test = distorted), (H, W, a, b, seed):
    p1 (192, 200, 3, 5, 1); p2 (180, 256, 1, 2, 7); p3 (256, 181, 7, 3, 12345);
    "same": reference = test = base of p1 (psnr and msssim_db stored as null).
  "first_distorted" = first 8 values of distorted.ravel().

PSNR: MSE over all H*W*3 samples (float64); psnr = 10*log10(255^2 / MSE).

MS-SSIM, as pytorch_msssim.ms_ssim(X, Y, data_range=255, size_average=True,
win_size=11, win_sigma=1.5, K=(0.01, 0.03)) on images in 0..255 (float64):
  g[k] = exp(-k^2 / (2*1.5^2)), k = -5..5, normalised to sum 1.
  filt(Z): separable 'valid' convolution with g, first along H then along W
           (each dimension shrinks by 10; pytorch_msssim skips a dimension
           smaller than 11, which never happens for these images).
  C1 = (0.01*255)^2, C2 = (0.03*255)^2.  Per scale and channel:
    mu1 = filt(X), mu2 = filt(Y)
    s11 = filt(X*X) - mu1^2, s22 = filt(Y*Y) - mu2^2, s12 = filt(X*Y) - mu1*mu2
    cs_map   = (2*s12 + C2) / (s11 + s22 + C2)
    ssim_map = ((2*mu1*mu2 + C1) / (mu1^2 + mu2^2 + C1)) * cs_map
    ssim = mean(ssim_map), cs = mean(cs_map)
  weights w = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333] (5 levels).
  Levels 0..3: keep relu(cs_j) = max(cs_j, 0), then downsample X and Y with
    avg_pool2d(kernel 2, stride 2, padding p = (H % 2, W % 2), count_include_pad):
    p zeros on BOTH sides of a dimension, output size floor((n + 2p - 2)/2) + 1,
    every output is (sum of its 2x2 window incl. padding zeros) / 4.
  Level 4: keep relu(ssim_4).
  Per channel: ms = prod_{j=0..3} relu(cs_j)^w_j * relu(ssim_4)^w_4;
  msssim = mean of ms over the 3 channels;
  msssim_db = -10*log10(1 - msssim) (null when msssim == 1);
  ssim = mean over channels of the level-0 (full-resolution) ssim.

BD-rate (curve 1 = anchor, curve 2 = test; rates in bpp, psnr in dB):
  Overlap [lo, hi] = [max(min p1, min p2), min(max p1, max p2)].
  cubic: per curve fit ln(rate) as numpy.polyfit(psnr, ln(rate), 3); integrate
         both polynomials exactly over [lo, hi].
  pchip: per curve, ln(rate) as a function of psnr (points sorted by psnr)
         interpolated by a monotone piecewise cubic Hermite polynomial with
         scipy.interpolate.PchipInterpolator slopes (Fritsch-Carlson weighted
         harmonic mean inside, zero at sign changes / flat secants; three-point
         one-sided end slopes with the shape-preserving limits); every segment
         integrated analytically over its part of [lo, hi].
  avg_diff = (int2 - int1) / (hi - lo);  bd_rate = (exp(avg_diff) - 1) * 100 (%).
  Negative = the test curve needs fewer bits for the same quality.
"""
import json
import os

import numpy as np

# ----------------------------------------------------------------- images

def make_pair(H, W, a, b, seed):
    y, x, c = np.meshgrid(np.arange(H), np.arange(W), np.arange(3), indexing="ij")
    base = (a * x + b * y + 40 * c + ((x * y) % 7) * 4) % 256
    noise = np.empty(H * W * 3, dtype=np.int64)
    state = seed
    for i in range(noise.size):
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        noise[i] = ((state >> 24) % 21) - 10
    dist = np.clip(base + noise.reshape(H, W, 3), 0, 255)
    return base.astype(np.uint8), dist.astype(np.uint8)

# ---------------------------------------------------------------- metrics

def psnr(ref, test):
    mse = np.mean((ref.astype(np.float64) - test.astype(np.float64)) ** 2)
    return None if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def gauss_window(size=11, sigma=1.5):
    k = np.arange(size, dtype=np.float64) - size // 2
    g = np.exp(-(k ** 2) / (2.0 * sigma ** 2))
    return g / g.sum()


def filt(z, g):
    """Separable valid-mode filtering of a 2-D array: along H, then along W."""
    n = len(g)
    for _ in range(2):  # filter axis 0, transpose, filter axis 0 again, transpose back
        m = z.shape[0] - n + 1
        if m > 0:  # pytorch_msssim skips (with a warning) dimensions smaller than 11
            z = sum(g[k] * z[k:k + m] for k in range(n))
        z = z.T
    return z


def ssim_cs(X, Y, g, data_range=255.0, K=(0.01, 0.03)):
    C1, C2 = (K[0] * data_range) ** 2, (K[1] * data_range) ** 2
    mu1, mu2 = filt(X, g), filt(Y, g)
    s11 = filt(X * X, g) - mu1 ** 2
    s22 = filt(Y * Y, g) - mu2 ** 2
    s12 = filt(X * Y, g) - mu1 * mu2
    cs_map = (2 * s12 + C2) / (s11 + s22 + C2)
    ssim_map = ((2 * mu1 * mu2 + C1) / (mu1 ** 2 + mu2 ** 2 + C1)) * cs_map
    return ssim_map.mean(), cs_map.mean()


def avg_pool2(z):
    """torch avg_pool2d(kernel=2, stride=2, padding=(H%2, W%2)), count_include_pad."""
    ph, pw = z.shape[0] % 2, z.shape[1] % 2
    zp = np.pad(z, ((ph, ph), (pw, pw)))
    oh, ow = (z.shape[0] + 2 * ph - 2) // 2 + 1, (z.shape[1] + 2 * pw - 2) // 2 + 1
    zp = zp[: 2 * oh, : 2 * ow]  # the last padding row/column is never read
    return (zp[0::2, 0::2] + zp[1::2, 0::2] + zp[0::2, 1::2] + zp[1::2, 1::2]) / 4.0


WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def ms_ssim(ref, test):
    """Returns (msssim, single-scale ssim), both averaged over channels."""
    g = gauss_window()
    ms, ss = [], []
    for ch in range(3):
        X, Y = ref[:, :, ch].astype(np.float64), test[:, :, ch].astype(np.float64)
        vals = []
        for level in range(len(WEIGHTS)):
            s, cs = ssim_cs(X, Y, g)
            if level == 0:
                ss.append(s)
            if level < len(WEIGHTS) - 1:
                vals.append(max(cs, 0.0))
                X, Y = avg_pool2(X), avg_pool2(Y)
            else:
                vals.append(max(s, 0.0))
        ms.append(np.prod(np.array(vals) ** WEIGHTS))
    return float(np.mean(ms)), float(np.mean(ss))

# ---------------------------------------------------------------- BD-rate

def pchip_slopes(x, y):
    """Derivatives as in scipy.interpolate.PchipInterpolator._find_derivatives."""
    h = np.diff(x)
    m = np.diff(y) / h
    if len(x) == 2:
        return np.array([m[0], m[0]])
    d = np.zeros_like(y)
    for k in range(1, len(x) - 1):
        if np.sign(m[k - 1]) != np.sign(m[k]) or m[k - 1] == 0 or m[k] == 0:
            d[k] = 0.0
        else:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / m[k - 1] + w2 / m[k])

    def edge(h0, h1, m0, m1):
        e = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(e) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(e) > 3 * abs(m0):
            return 3 * m0
        return e

    d[0] = edge(h[0], h[1], m[0], m[1])
    d[-1] = edge(h[-1], h[-2], m[-1], m[-2])
    return d


def pchip_segments(x, y):
    """Per segment: (x0, x1, coefficients c0..c3 of the cubic in t = X - x0)."""
    o = np.argsort(x)
    x, y = np.asarray(x, float)[o], np.asarray(y, float)[o]
    d = pchip_slopes(x, y)
    segs = []
    for k in range(len(x) - 1):
        h = x[k + 1] - x[k]
        m = (y[k + 1] - y[k]) / h
        c2 = (3 * m - 2 * d[k] - d[k + 1]) / h
        c3 = (d[k] + d[k + 1] - 2 * m) / h ** 2
        segs.append((x[k], x[k + 1], np.array([y[k], d[k], c2, c3])))
    return segs


def pchip_integral(x, y, lo, hi):
    total = 0.0
    for x0, x1, c in pchip_segments(x, y):
        a, b = max(lo, x0), min(hi, x1)
        if b > a:
            F = lambda t: sum(c[i] * t ** (i + 1) / (i + 1) for i in range(4))
            total += F(b - x0) - F(a - x0)
    return total


def pchip_eval(x, y, X):
    segs = pchip_segments(x, y)
    k = np.clip(np.searchsorted([s[1] for s in segs], X), 0, len(segs) - 1)
    x0 = np.array([s[0] for s in segs])[k]
    c = np.array([s[2] for s in segs])[k]
    t = X - x0
    return c[:, 0] + t * (c[:, 1] + t * (c[:, 2] + t * c[:, 3]))


def overlap(p1, p2):
    return max(min(p1), min(p2)), min(max(p1), max(p2))


def bd_rate(r1, p1, r2, p2, method):
    l1, l2 = np.log(r1), np.log(r2)
    lo, hi = overlap(p1, p2)
    if method == "cubic":
        Ps = [np.polyint(np.polyfit(p, l, 3)) for p, l in ((p1, l1), (p2, l2))]
        ints = [np.polyval(P, hi) - np.polyval(P, lo) for P in Ps]
    else:
        ints = [pchip_integral(p1, l1, lo, hi), pchip_integral(p2, l2, lo, hi)]
    avg = (ints[1] - ints[0]) / (hi - lo)
    return float((np.exp(avg) - 1.0) * 100.0)


def bd_rate_trapz(r1, p1, r2, p2, method, n=200001):
    """Independent check: evaluate both curves on a fine grid, trapezoid rule."""
    lo, hi = overlap(p1, p2)
    grid = np.linspace(lo, hi, n)
    ev = (lambda p, l: np.polyval(np.polyfit(p, l, 3), grid)) if method == "cubic" \
        else (lambda p, l: pchip_eval(p, l, grid))
    f1, f2 = ev(p1, np.log(r1)), ev(p2, np.log(r2))
    avg = np.trapezoid(f2 - f1, grid) / (hi - lo)
    return float((np.exp(avg) - 1.0) * 100.0)

# ------------------------------------------------------------------- main

PAIRS = [("p1", 192, 200, 3, 5, 1), ("p2", 180, 256, 1, 2, 7), ("p3", 256, 181, 7, 3, 12345)]

BD1_A = {"rate": [0.25, 0.5, 0.75, 1.0], "psnr": [28.0, 31.0, 33.0, 34.5]}
BD1_T = {"rate": [0.2, 0.4, 0.65, 0.9], "psnr": [28.5, 31.5, 33.6, 35.0]}
BD_CASES = [
    ("bd1", BD1_A, BD1_T),
    ("bd2", {"rate": [0.1, 0.2, 0.4, 0.8, 1.2], "psnr": [24.0, 26.5, 29.0, 31.5, 33.0]},
     {"rate": [0.06, 0.16, 0.27, 0.38, 0.49, 0.6, 0.71, 0.83],
      "psnr": [23.6, 26.1, 27.4, 28.2, 28.8, 29.3, 29.7, 30.0]}),
    ("bd3", BD1_T, BD1_A),
]


def pair_entry(name, H, W, a, b, seed, ref, test):
    mss, ss = ms_ssim(ref, test)
    return {"name": name, "H": H, "W": W, "a": a, "b": b, "seed": seed,
            "first_distorted": [int(v) for v in test.ravel()[:8]],
            "psnr": psnr(ref, test), "ssim": ss, "msssim": mss,
            "msssim_db": None if mss == 1.0 else float(-10.0 * np.log10(1.0 - mss))}


def main():
    pairs = []
    for name, H, W, a, b, seed in PAIRS:
        base, dist = make_pair(H, W, a, b, seed)
        pairs.append(pair_entry(name, H, W, a, b, seed, base, dist))
        if name == "p1":
            same = pair_entry("same", H, W, a, b, seed, base, base)
            same["first_distorted"] = [int(v) for v in base.ravel()[:8]]
    pairs.append(same)
    assert same["msssim"] == 1.0 and same["ssim"] == 1.0 and same["psnr"] is None

    bd = []
    for name, A, T in BD_CASES:
        args = (np.array(A["rate"]), np.array(A["psnr"]), np.array(T["rate"]), np.array(T["psnr"]))
        entry = {"name": name, "anchor": A, "test": T,
                 "cubic": bd_rate(*args, "cubic"), "pchip": bd_rate(*args, "pchip")}
        for method in ("cubic", "pchip"):
            check = bd_rate_trapz(*args, method)
            assert abs(check - entry[method]) < 1e-6, (name, method, check, entry[method])
        bd.append(entry)

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "Tests", "Fixtures", "reference", "metrics.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:  # json uses repr(): shortest round-trip float64
        json.dump({"generator": "tools/make_metric_fixtures.py", "pairs": pairs,
                   "bdrate": bd}, f, indent=1)
        f.write("\n")
    for p in pairs:
        print(p["name"], p["first_distorted"], p["psnr"], p["ssim"], p["msssim"], p["msssim_db"])
    for e in bd:
        print(e["name"], e["cubic"], e["pchip"])


if __name__ == "__main__":
    main()
