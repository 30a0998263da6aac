#!/usr/bin/env python3
"""Independent NumPy reference fixtures for the Swift neural engine.

What this is
------------
A plain Python 3 + NumPy (no torch, nothing else) reference implementation of
the operations described in ``Tests/Fixtures/reference/README.md`` (the spec):
conv2d, conv_transpose2d, depth_to_space, the GDN family (gdn, igdn, sgdn,
sigdn) with CompressAI's non-negative reparameterisation, the MSE loss, and 10
Adam steps of a tiny convolutional autoencoder.  Every forward and backward
pass is written out by hand (einsum over kernel taps / explicit loops), and is
written without looking at the Swift code, so that a misunderstanding shared
by both sides is unlikely.

Everything is computed in float64 from inputs that have first been rounded to
float32 (so the stored inputs are exactly the ones the outputs were computed
from); every array is stored as float32 in the ``VQZF`` binary format of the
spec.  Random values come from ``numpy.random.default_rng`` with fixed seeds,
so running the script twice gives byte-identical files.

How to run
----------
From the repository root::

    python3 tools/make_fixtures.py            # (or: make fixtures) writes Tests/Fixtures/reference/*.bin
    python3 tools/make_fixtures.py --out DIR  # writes the fixtures into DIR instead
    python3 tools/make_fixtures.py --check    # self-test only, writes nothing (see below)
    python3 tools/make_fixtures.py --dump Tests/Fixtures/reference/gdn.bin   # list names, shapes

``--check`` verifies every hand-written backward pass against central finite
differences in float64 (every gradient array of every fixture, and for the
autoencoder the gradient of the loss w.r.t. every parameter at step 0),
printing the max relative error per array (max |fd - analytic| divided by
max |analytic| over the array); all must be < 1e-6.  It also checks that
conv_transpose2d is the adjoint of conv2d, that the vectorised conv /
depth_to_space agree with literal loop implementations of the spec's
formulas, and that the stored fixture shapes match the spec.

Choices where the spec leaves room (PyTorch / CompressAI behaviour throughout)
----------------------------------------------------------------------------
* GDN reparameterisation backward follows CompressAI's ``LowerBound``: the
  gradient of ``max(p, bound)`` passes through where ``p >= bound`` *or* where
  the incoming gradient is negative, and is 0 otherwise.  The single-op GDN
  fixtures never reach the bound.  The autoencoder's *initial* parameters are
  above it, but Adam (lr 0.01, ~0.01 per step) drives some off-diagonal
  ``gamma_p`` entries (initially in [0.01, 0.05]) below the bound from update 2
  on, so ``final.*.gamma_p`` depends on this rule (``--check`` prints counts).
* ``gamma_p`` off-diagonal: the stored parameter is drawn uniform in
  [0.01, 0.05] (diagonal ``sqrt(0.1 + pedestal)``).
* Initial conv weights: uniform(+-1/sqrt(fan_in)) (PyTorch's default
  kaiming_uniform_(a=sqrt(5))); for the ConvTranspose2d weight
  ``[C_in, C_out, k, k]`` fan_in is ``C_out*k*k`` as in PyTorch.  Biases:
  uniform(+-0.05).
* ``mse.bin``: ``dPred`` is d loss / d pred (the fixture has no ``dY``).
"""

import argparse
import struct
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "Tests" / "Fixtures" / "reference"

MAGIC = b"VQZF"
VERSION = 1

# CompressAI NonNegativeParametrizer constants.
PEDESTAL = 2.0 ** -36          # reparam_offset ** 2 with reparam_offset = 2**-18
BETA_MIN = 1e-6                # GDN beta minimum
GAMMA_MIN = 0.0                # GDN gamma minimum


def bound_for(minimum):
    return np.sqrt(minimum + PEDESTAL)


BETA_BOUND = bound_for(BETA_MIN)
GAMMA_BOUND = bound_for(GAMMA_MIN)


def f32(a):
    """Round to float32 and come back to float64 (the stored value, as used for computing)."""
    return np.asarray(a, dtype=np.float64).astype(np.float32).astype(np.float64)


# ---------------------------------------------------------------------------
# File format
# ---------------------------------------------------------------------------

def encode_fixture(arrays):
    """arrays: list of (name, ndarray) in file order. Returns bytes."""
    names = [n for n, _ in arrays]
    assert len(set(names)) == len(names), "duplicate names"
    out = bytearray()
    out += MAGIC
    out += struct.pack("<I", VERSION)
    out += struct.pack("<I", len(arrays))
    for name, a in arrays:
        a = np.asarray(a, dtype=np.float64)
        nb = name.encode("utf-8")
        assert 1 <= len(nb) <= 255
        assert 0 <= a.ndim <= 6
        assert np.all(np.isfinite(a)), name
        out += struct.pack("<H", len(nb))
        out += nb
        out += struct.pack("<B", a.ndim)
        for d in a.shape:
            out += struct.pack("<I", d)
        out += np.ascontiguousarray(a.astype("<f4")).tobytes(order="C")
    return bytes(out)


def read_fixture(path):
    """Returns a list of (name, float32 ndarray) from a VQZF file."""
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: bad magic {data[:4]!r}")
    version, count = struct.unpack_from("<II", data, 4)
    if version != VERSION:
        raise ValueError(f"{path}: unsupported version {version}")
    off = 12
    arrays = []
    for _ in range(count):
        (nlen,) = struct.unpack_from("<H", data, off)
        off += 2
        name = data[off:off + nlen].decode("utf-8")
        off += nlen
        rank = data[off]
        off += 1
        dims = struct.unpack_from("<" + "I" * rank, data, off)
        off += 4 * rank
        n = int(np.prod(dims, dtype=np.int64)) if rank else 1
        a = np.frombuffer(data, dtype="<f4", count=n, offset=off).reshape(dims)
        off += 4 * n
        arrays.append((name, a))
    if off != len(data):
        raise ValueError(f"{path}: {len(data) - off} trailing bytes")
    return arrays


def dump(path):
    arrays = read_fixture(path)
    print(f"{path}: {len(arrays)} arrays")
    for name, a in arrays:
        shape = "[" + ",".join(str(d) for d in a.shape) + "]"
        if a.ndim == 0:
            extra = f"= {float(a):.9g}"
        else:
            extra = f"min {a.min():.6g}  max {a.max():.6g}"
        print(f"  {name:32s} {shape:14s} {extra}")


# ---------------------------------------------------------------------------
# conv2d (PyTorch Conv2d: cross-correlation, zero padding p, stride s)
# ---------------------------------------------------------------------------

def conv_out_size(h, k, s, p):
    return (h + 2 * p - k) // s + 1


def _tap(xp, u, v, s, ho, wo):
    """xp[:, :, s*i+u, s*j+v] for i < ho, j < wo (a strided view)."""
    return xp[:, :, u:u + s * (ho - 1) + 1:s, v:v + s * (wo - 1) + 1:s]


def conv2d(x, w, b, s, p):
    n, c, h, wd = x.shape
    o, c2, kh, kw = w.shape
    assert c == c2
    ho, wo = conv_out_size(h, kh, s, p), conv_out_size(wd, kw, s, p)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    y = np.zeros((n, o, ho, wo)) + b[None, :, None, None]
    for u in range(kh):
        for v in range(kw):
            y += np.einsum("oc,nchw->nohw", w[:, :, u, v], _tap(xp, u, v, s, ho, wo))
    return y


def conv2d_backward(x, w, s, p, dy):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = dy.shape[2], dy.shape[3]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for u in range(kh):
        for v in range(kw):
            dw[:, :, u, v] = np.einsum("nohw,nchw->oc", dy, _tap(xp, u, v, s, ho, wo))
            _tap(dxp, u, v, s, ho, wo)[...] += np.einsum("oc,nohw->nchw", w[:, :, u, v], dy)
    dx = dxp[:, :, p:p + h, p:p + wd]
    db = dy.sum(axis=(0, 2, 3))
    return dx, dw, db


def conv2d_loops(x, w, b, s, p):
    """Literal transcription of the spec formula (slow; used by --check only)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = conv_out_size(h, kh, s, p), conv_out_size(wd, kw, s, p)
    y = np.zeros((n, o, ho, wo))
    for ni in range(n):
        for oi in range(o):
            for i in range(ho):
                for j in range(wo):
                    acc = b[oi]
                    for ci in range(c):
                        for u in range(kh):
                            for v in range(kw):
                                hh, ww = s * i + u - p, s * j + v - p
                                if 0 <= hh < h and 0 <= ww < wd:
                                    acc += w[oi, ci, u, v] * x[ni, ci, hh, ww]
                    y[ni, oi, i, j] = acc
    return y


# ---------------------------------------------------------------------------
# conv_transpose2d (PyTorch ConvTranspose2d, weight [C_in, C_out, k, k])
#   y[n, o, s*i+u-p, s*j+v-p] += x[n, c, i, j] * w[c, o, u, v]   (scatter form)
# ---------------------------------------------------------------------------

def convt_out_size(h, k, s, p, op):
    return (h - 1) * s - 2 * p + k + op


def _convt_buffer_size(h, k, s, p, op):
    hout = convt_out_size(h, k, s, p, op)
    return max((h - 1) * s + k, hout + p), hout


def conv_transpose2d(x, w, b, s, p, op):
    n, c, h, wd = x.shape
    c2, o, kh, kw = w.shape
    assert c == c2
    hb, hout = _convt_buffer_size(h, kh, s, p, op)
    wb, wout = _convt_buffer_size(wd, kw, s, p, op)
    buf = np.zeros((n, o, hb, wb))  # buf index = output index + p
    for u in range(kh):
        for v in range(kw):
            _tap(buf, u, v, s, h, wd)[...] += np.einsum("co,nchw->nohw", w[:, :, u, v], x)
    y = buf[:, :, p:p + hout, p:p + wout] + b[None, :, None, None]
    return y


def conv_transpose2d_backward(x, w, s, p, op, dy):
    n, c, h, wd = x.shape
    _, o, kh, kw = w.shape
    hb, hout = _convt_buffer_size(h, kh, s, p, op)
    wb, wout = _convt_buffer_size(wd, kw, s, p, op)
    assert dy.shape == (n, o, hout, wout)
    dbuf = np.zeros((n, o, hb, wb))
    dbuf[:, :, p:p + hout, p:p + wout] = dy   # cropped-away positions get no gradient
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for u in range(kh):
        for v in range(kw):
            t = _tap(dbuf, u, v, s, h, wd)          # [n, o, h, wd]
            dx += np.einsum("co,nohw->nchw", w[:, :, u, v], t)
            dw[:, :, u, v] = np.einsum("nchw,nohw->co", x, t)
    db = dy.sum(axis=(0, 2, 3))
    return dx, dw, db


def conv_transpose2d_loops(x, w, b, s, p, op):
    """Literal scatter loops (slow; used by --check only)."""
    n, c, h, wd = x.shape
    _, o, kh, kw = w.shape
    hout, wout = convt_out_size(h, kh, s, p, op), convt_out_size(wd, kw, s, p, op)
    y = np.zeros((n, o, hout, wout)) + b[None, :, None, None]
    for ni in range(n):
        for ci in range(c):
            for i in range(h):
                for j in range(wd):
                    for oi in range(o):
                        for u in range(kh):
                            for v in range(kw):
                                hh, ww = s * i + u - p, s * j + v - p
                                if 0 <= hh < hout and 0 <= ww < wout:
                                    y[ni, oi, hh, ww] += x[ni, ci, i, j] * w[ci, oi, u, v]
    return y


# ---------------------------------------------------------------------------
# depth_to_space (PyTorch PixelShuffle): y[n, c, h*r+i, w*r+j] = x[n, c*r*r + i*r + j, h, w]
# ---------------------------------------------------------------------------

def depth_to_space(x, r):
    n, cr2, h, w = x.shape
    assert cr2 % (r * r) == 0
    c = cr2 // (r * r)
    y = np.zeros((n, c, h * r, w * r))
    for ci in range(c):
        for i in range(r):
            for j in range(r):
                y[:, ci, i::r, j::r] = x[:, ci * r * r + i * r + j, :, :]
    return y


def depth_to_space_backward(dy, r):
    n, c, hr, wr = dy.shape
    dx = np.zeros((n, c * r * r, hr // r, wr // r))
    for ci in range(c):
        for i in range(r):
            for j in range(r):
                dx[:, ci * r * r + i * r + j, :, :] = dy[:, ci, i::r, j::r]
    return dx


def depth_to_space_reshape(x, r):
    """Reshape/transpose formulation (used by --check only, to cross-check the loops)."""
    n, cr2, h, w = x.shape
    c = cr2 // (r * r)
    return x.reshape(n, c, r, r, h, w).transpose(0, 1, 4, 2, 5, 3).reshape(n, c, h * r, w * r)


# ---------------------------------------------------------------------------
# CompressAI NonNegativeParametrizer: value = max(param, bound)^2 - pedestal.
# Backward follows CompressAI's LowerBound: the gradient passes through the max
# where param >= bound, or where the incoming gradient is negative.
# ---------------------------------------------------------------------------

def nonneg(param, minimum):
    return np.maximum(param, bound_for(minimum)) ** 2 - PEDESTAL


def nonneg_backward(param, minimum, dvalue):
    bound = bound_for(minimum)
    lb = np.maximum(param, bound)
    g = dvalue * 2.0 * lb                       # gradient w.r.t. the LowerBound output
    passes = (param >= bound) | (g < 0)
    return np.where(passes, g, 0.0)


# ---------------------------------------------------------------------------
# GDN family over channels at each pixel.  s_i = beta_i + sum_j gamma_ij * g(x_j),
#   gdn:   y = x * s^-1/2,  g = x^2        igdn:  y = x * s^1/2,  g = x^2
#   sgdn:  y = x / s,       g = |x|        sigdn: y = x * s,      g = |x|
# gamma[i, j]: i = output channel, j = input channel.
# ---------------------------------------------------------------------------

GDN_KINDS = ("gdn", "igdn", "sgdn", "sigdn")


def _gdn_parts(kind):
    """Returns (g, dg/dx, f, df/ds) as functions for y = x * f(s), s = beta + gamma @ g(x)."""
    if kind in ("gdn", "igdn"):
        g, dg = (lambda x: x * x), (lambda x: 2.0 * x)
    else:
        g, dg = np.abs, np.sign
    if kind == "gdn":
        f, df = (lambda s: s ** -0.5), (lambda s: -0.5 * s ** -1.5)
    elif kind == "igdn":
        f, df = (lambda s: s ** 0.5), (lambda s: 0.5 * s ** -0.5)
    elif kind == "sgdn":
        f, df = (lambda s: 1.0 / s), (lambda s: -1.0 / (s * s))
    elif kind == "sigdn":
        f, df = (lambda s: s), (lambda s: np.ones_like(s))
    else:
        raise ValueError(kind)
    return g, dg, f, df


def gdn_forward(kind, x, beta, gamma):
    g, _, f, _ = _gdn_parts(kind)
    s = beta[None, :, None, None] + np.einsum("ij,njhw->nihw", gamma, g(x))
    return x * f(s)


def gdn_backward(kind, x, beta, gamma, dy):
    """Gradients w.r.t. x and the *effective* beta, gamma."""
    g, dg, f, df = _gdn_parts(kind)
    gx = g(x)
    s = beta[None, :, None, None] + np.einsum("ij,njhw->nihw", gamma, gx)
    ds = dy * x * df(s)                                   # dL/ds_i
    dx = dy * f(s) + dg(x) * np.einsum("ij,nihw->njhw", gamma, ds)
    dbeta = ds.sum(axis=(0, 2, 3))
    dgamma = np.einsum("nihw,njhw->ij", ds, gx)
    return dx, dbeta, dgamma


def gdn_p_forward(kind, x, beta_p, gamma_p):
    return gdn_forward(kind, x, nonneg(beta_p, BETA_MIN), nonneg(gamma_p, GAMMA_MIN))


def gdn_p_backward(kind, x, beta_p, gamma_p, dy):
    """Gradients w.r.t. x and the stored parameters beta_p, gamma_p."""
    dx, dbeta, dgamma = gdn_backward(kind, x, nonneg(beta_p, BETA_MIN), nonneg(gamma_p, GAMMA_MIN), dy)
    return dx, nonneg_backward(beta_p, BETA_MIN, dbeta), nonneg_backward(gamma_p, GAMMA_MIN, dgamma)


# ---------------------------------------------------------------------------
# MSE
# ---------------------------------------------------------------------------

def mse(pred, target):
    return np.mean((pred - target) ** 2)


def mse_backward(pred, target):
    return 2.0 * (pred - target) / pred.size


# ---------------------------------------------------------------------------
# Single-op fixtures
# ---------------------------------------------------------------------------

CONV_CASES = [
    # name, seed, x shape, w shape, stride, padding
    ("conv2d_k3_s1_p1", 101, (2, 3, 7, 5), (4, 3, 3, 3), 1, 1),
    ("conv2d_k5_s2_p2", 102, (1, 2, 9, 7), (3, 2, 5, 5), 2, 2),
    ("conv2d_k3_s2_p1_c1", 103, (3, 1, 7, 5), (2, 1, 3, 3), 2, 1),
    ("conv2d_k1_s1_p0", 104, (2, 5, 4, 6), (3, 5, 1, 1), 1, 0),
]


def make_conv_case(seed, xs, ws, s, p):
    rng = np.random.default_rng(seed)
    x = f32(rng.normal(0.0, 1.0, xs))
    w = f32(rng.normal(0.0, 0.3, ws))
    b = f32(rng.normal(0.0, 0.2, (ws[0],)))
    y = conv2d(x, w, b, s, p)
    dy = f32(rng.normal(0.0, 1.0, y.shape))
    dx, dw, db = conv2d_backward(x, w, s, p, dy)
    return [("x", x), ("w", w), ("b", b), ("stride", np.float64(s)), ("padding", np.float64(p)),
            ("y", y), ("dY", dy), ("dX", dx), ("dW", dw), ("dB", db)]


CONVT_CASE = ("conv_transpose2d_k5_s2_p2_op1", 201, (2, 3, 4, 5), (3, 2, 5, 5), 2, 2, 1)


def make_convt_case(seed, xs, ws, s, p, op):
    rng = np.random.default_rng(seed)
    x = f32(rng.normal(0.0, 1.0, xs))
    w = f32(rng.normal(0.0, 0.3, ws))
    b = f32(rng.normal(0.0, 0.2, (ws[1],)))
    y = conv_transpose2d(x, w, b, s, p, op)
    dy = f32(rng.normal(0.0, 1.0, y.shape))
    dx, dw, db = conv_transpose2d_backward(x, w, s, p, op, dy)
    return [("x", x), ("w", w), ("b", b), ("stride", np.float64(s)), ("padding", np.float64(p)),
            ("output_padding", np.float64(op)),
            ("y", y), ("dY", dy), ("dX", dx), ("dW", dw), ("dB", db)]


def make_d2s_case(seed=301, xs=(2, 8, 3, 4), r=2):
    rng = np.random.default_rng(seed)
    x = f32(rng.normal(0.0, 1.0, xs))
    y = depth_to_space(x, r)
    dy = f32(rng.normal(0.0, 1.0, y.shape))
    dx = depth_to_space_backward(dy, r)
    return [("x", x), ("r", np.float64(r)), ("y", y), ("dY", dy), ("dX", dx)]


GDN_SEEDS = {"gdn": 401, "igdn": 402, "sgdn": 403, "sigdn": 404}


def make_gdn_inputs(seed, xs=(2, 4, 5, 3)):
    rng = np.random.default_rng(seed)
    c = xs[1]
    # Magnitudes in [0.1, 1.5] with random signs: inputs stay away from 0 (|x| kink).
    x = f32(rng.uniform(0.1, 1.5, xs) * rng.choice([-1.0, 1.0], xs))
    beta_p = f32(rng.uniform(0.7, 1.3, (c,)))
    gamma_p = f32(rng.uniform(0.05, 0.5, (c, c)))
    dy = f32(rng.normal(0.0, 1.0, xs))
    assert np.all(beta_p > BETA_BOUND) and np.all(gamma_p > GAMMA_BOUND)
    return x, beta_p, gamma_p, dy


def make_gdn_case(kind):
    x, beta_p, gamma_p, dy = make_gdn_inputs(GDN_SEEDS[kind])
    y = gdn_p_forward(kind, x, beta_p, gamma_p)
    dx, dbp, dgp = gdn_p_backward(kind, x, beta_p, gamma_p, dy)
    return [("x", x), ("beta_p", beta_p), ("gamma_p", gamma_p), ("y", y), ("dY", dy),
            ("dX", dx), ("dBeta_p", dbp), ("dGamma_p", dgp)]


def make_mse_case(seed=501, shape=(2, 3, 4, 5)):
    rng = np.random.default_rng(seed)
    pred = f32(rng.normal(0.0, 1.0, shape))
    target = f32(rng.normal(0.0, 1.0, shape))
    return [("pred", pred), ("target", target), ("loss", np.float64(mse(pred, target))),
            ("dPred", mse_backward(pred, target))]


# ---------------------------------------------------------------------------
# The Adam autoencoder
# ---------------------------------------------------------------------------

AE_SEED = 601
AE_STEPS = 10
AE_LR = 0.01
ADAM_B1, ADAM_B2, ADAM_EPS = 0.9, 0.999, 1e-8

AE_PARAM_NAMES = [
    "enc.conv1.weight", "enc.conv1.bias",
    "enc.gdn1.beta_p", "enc.gdn1.gamma_p",
    "enc.conv2.weight", "enc.conv2.bias",
    "dec.conv1.weight", "dec.conv1.bias",
    "dec.igdn1.beta_p", "dec.igdn1.gamma_p",
    "dec.deconv2.weight", "dec.deconv2.bias",
]


def ae_init(rng):
    def conv_w(shape, fan_in):
        bound = 1.0 / np.sqrt(fan_in)   # PyTorch default kaiming_uniform_(a=sqrt(5))
        return f32(rng.uniform(-bound, bound, shape))

    def bias(n):
        return f32(rng.uniform(-0.05, 0.05, (n,)))

    def gdn_params(c):
        beta_p = f32(np.full((c,), np.sqrt(1.0 + PEDESTAL)))
        gamma_p = rng.uniform(0.01, 0.05, (c, c))
        np.fill_diagonal(gamma_p, np.sqrt(0.1 + PEDESTAL))
        return beta_p, f32(gamma_p)

    p = {}
    p["enc.conv1.weight"] = conv_w((8, 3, 5, 5), 3 * 25)
    p["enc.conv1.bias"] = bias(8)
    p["enc.gdn1.beta_p"], p["enc.gdn1.gamma_p"] = gdn_params(8)
    p["enc.conv2.weight"] = conv_w((4, 8, 3, 3), 8 * 9)
    p["enc.conv2.bias"] = bias(4)
    p["dec.conv1.weight"] = conv_w((32, 4, 3, 3), 4 * 9)
    p["dec.conv1.bias"] = bias(32)
    p["dec.igdn1.beta_p"], p["dec.igdn1.gamma_p"] = gdn_params(8)
    # ConvTranspose2d weight [C_in=8, C_out=3, 5, 5]; PyTorch's fan_in uses dim 1 (C_out) * k * k.
    p["dec.deconv2.weight"] = conv_w((8, 3, 5, 5), 3 * 25)
    p["dec.deconv2.bias"] = bias(3)
    assert list(p) == AE_PARAM_NAMES
    return p


def ae_forward(p, x):
    c = {}
    c["a1"] = conv2d(x, p["enc.conv1.weight"], p["enc.conv1.bias"], 2, 2)                 # [2,8,4,4]
    c["a2"] = gdn_p_forward("sgdn", c["a1"], p["enc.gdn1.beta_p"], p["enc.gdn1.gamma_p"])
    c["a3"] = conv2d(c["a2"], p["enc.conv2.weight"], p["enc.conv2.bias"], 2, 1)            # [2,4,2,2]
    c["a4"] = conv2d(c["a3"], p["dec.conv1.weight"], p["dec.conv1.bias"], 1, 1)            # [2,32,2,2]
    c["a5"] = depth_to_space(c["a4"], 2)                                                   # [2,8,4,4]
    c["a6"] = gdn_p_forward("sigdn", c["a5"], p["dec.igdn1.beta_p"], p["dec.igdn1.gamma_p"])
    c["out"] = conv_transpose2d(c["a6"], p["dec.deconv2.weight"], p["dec.deconv2.bias"], 2, 2, 1)  # [2,3,8,8]
    assert c["out"].shape == x.shape
    return mse(c["out"], x), c


def ae_backward(p, x, c):
    g = {}
    d = mse_backward(c["out"], x)
    d, g["dec.deconv2.weight"], g["dec.deconv2.bias"] = conv_transpose2d_backward(
        c["a6"], p["dec.deconv2.weight"], 2, 2, 1, d)
    d, g["dec.igdn1.beta_p"], g["dec.igdn1.gamma_p"] = gdn_p_backward(
        "sigdn", c["a5"], p["dec.igdn1.beta_p"], p["dec.igdn1.gamma_p"], d)
    d = depth_to_space_backward(d, 2)
    d, g["dec.conv1.weight"], g["dec.conv1.bias"] = conv2d_backward(c["a3"], p["dec.conv1.weight"], 1, 1, d)
    d, g["enc.conv2.weight"], g["enc.conv2.bias"] = conv2d_backward(c["a2"], p["enc.conv2.weight"], 2, 1, d)
    d, g["enc.gdn1.beta_p"], g["enc.gdn1.gamma_p"] = gdn_p_backward(
        "sgdn", c["a1"], p["enc.gdn1.beta_p"], p["enc.gdn1.gamma_p"], d)
    _, g["enc.conv1.weight"], g["enc.conv1.bias"] = conv2d_backward(x, p["enc.conv1.weight"], 2, 2, d)
    return {k: g[k] for k in AE_PARAM_NAMES}


def ae_inputs():
    rng = np.random.default_rng(AE_SEED)
    x = f32(rng.uniform(0.0, 1.0, (2, 3, 8, 8)))
    params = ae_init(rng)
    return x, params


def ae_train(x, params0, stats=None):
    """10 Adam steps (PyTorch semantics). Returns (losses, final params)."""
    p = {k: v.copy() for k, v in params0.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    losses = []
    for t in range(1, AE_STEPS + 1):
        loss, cache = ae_forward(p, x)
        losses.append(loss)
        if stats is not None:
            stats["min_abs_sgdn_in"] = min(stats.get("min_abs_sgdn_in", np.inf), np.abs(cache["a1"]).min())
            stats["min_abs_sigdn_in"] = min(stats.get("min_abs_sigdn_in", np.inf), np.abs(cache["a5"]).min())
        grads = ae_backward(p, x, cache)
        for k in AE_PARAM_NAMES:
            gk = grads[k]
            m[k] = ADAM_B1 * m[k] + (1 - ADAM_B1) * gk
            v2[k] = ADAM_B2 * v2[k] + (1 - ADAM_B2) * gk * gk
            mhat = m[k] / (1 - ADAM_B1 ** t)
            vhat = v2[k] / (1 - ADAM_B2 ** t)
            p[k] = p[k] - AE_LR * mhat / (np.sqrt(vhat) + ADAM_EPS)
        if stats is not None:
            # The spec keeps the *initial* beta_p / gamma_p above their bounds, but with lr = 0.01
            # Adam moves each parameter by ~0.01 per step, so off-diagonal gamma_p entries that
            # start in [0.01, 0.05] do cross the bound during training.  From then on
            # CompressAI's LowerBound rule (nonneg_backward) decides their gradient; record it.
            for k in AE_PARAM_NAMES:
                if k.endswith("_p"):
                    bound = BETA_BOUND if k.endswith("beta_p") else GAMMA_BOUND
                    stats["min_" + k] = min(stats.get("min_" + k, np.inf), p[k].min())
                    below = int(np.sum(p[k] < bound))
                    stats.setdefault("below_" + k, []).append(below)
    return np.array(losses), p


def make_ae_case():
    x, params = ae_inputs()
    losses, final = ae_train(x, params)
    arrays = [("x", x)]
    arrays += [(k, params[k]) for k in AE_PARAM_NAMES]
    arrays += [("losses", losses)]
    arrays += [("final." + k, final[k]) for k in AE_PARAM_NAMES]
    return arrays


# ---------------------------------------------------------------------------
# All fixtures, and the shapes the spec requires
# ---------------------------------------------------------------------------

def all_fixtures():
    fx = {}
    for name, seed, xs, ws, s, p in CONV_CASES:
        fx[name] = make_conv_case(seed, xs, ws, s, p)
    name, seed, xs, ws, s, p, op = CONVT_CASE
    fx[name] = make_convt_case(seed, xs, ws, s, p, op)
    fx["depth_to_space_r2"] = make_d2s_case()
    for kind in GDN_KINDS:
        fx[kind] = make_gdn_case(kind)
    fx["mse"] = make_mse_case()
    fx["adam_autoencoder"] = make_ae_case()
    return fx


def expected_layout():
    """{file stem: [(name, shape), ...]} as listed in the spec (shapes worked out where implied)."""
    e = {}

    def conv_layout(xs, ws, ys):
        return [("x", xs), ("w", ws), ("b", (ws[0],)), ("stride", ()), ("padding", ()),
                ("y", ys), ("dY", ys), ("dX", xs), ("dW", ws), ("dB", (ws[0],))]

    e["conv2d_k3_s1_p1"] = conv_layout((2, 3, 7, 5), (4, 3, 3, 3), (2, 4, 7, 5))
    e["conv2d_k5_s2_p2"] = conv_layout((1, 2, 9, 7), (3, 2, 5, 5), (1, 3, 5, 4))
    e["conv2d_k3_s2_p1_c1"] = conv_layout((3, 1, 7, 5), (2, 1, 3, 3), (3, 2, 4, 3))
    e["conv2d_k1_s1_p0"] = conv_layout((2, 5, 4, 6), (3, 5, 1, 1), (2, 3, 4, 6))
    e["conv_transpose2d_k5_s2_p2_op1"] = [
        ("x", (2, 3, 4, 5)), ("w", (3, 2, 5, 5)), ("b", (2,)), ("stride", ()), ("padding", ()),
        ("output_padding", ()), ("y", (2, 2, 8, 10)), ("dY", (2, 2, 8, 10)), ("dX", (2, 3, 4, 5)),
        ("dW", (3, 2, 5, 5)), ("dB", (2,))]
    e["depth_to_space_r2"] = [("x", (2, 8, 3, 4)), ("r", ()), ("y", (2, 2, 6, 8)),
                              ("dY", (2, 2, 6, 8)), ("dX", (2, 8, 3, 4))]
    for kind in GDN_KINDS:
        e[kind] = [("x", (2, 4, 5, 3)), ("beta_p", (4,)), ("gamma_p", (4, 4)), ("y", (2, 4, 5, 3)),
                   ("dY", (2, 4, 5, 3)), ("dX", (2, 4, 5, 3)), ("dBeta_p", (4,)), ("dGamma_p", (4, 4))]
    e["mse"] = [("pred", (2, 3, 4, 5)), ("target", (2, 3, 4, 5)), ("loss", ()), ("dPred", (2, 3, 4, 5))]
    ae_shapes = {
        "enc.conv1.weight": (8, 3, 5, 5), "enc.conv1.bias": (8,),
        "enc.gdn1.beta_p": (8,), "enc.gdn1.gamma_p": (8, 8),
        "enc.conv2.weight": (4, 8, 3, 3), "enc.conv2.bias": (4,),
        "dec.conv1.weight": (32, 4, 3, 3), "dec.conv1.bias": (32,),
        "dec.igdn1.beta_p": (8,), "dec.igdn1.gamma_p": (8, 8),
        "dec.deconv2.weight": (8, 3, 5, 5), "dec.deconv2.bias": (3,),
    }
    e["adam_autoencoder"] = ([("x", (2, 3, 8, 8))] + [(k, ae_shapes[k]) for k in AE_PARAM_NAMES]
                             + [("losses", (AE_STEPS,))]
                             + [("final." + k, ae_shapes[k]) for k in AE_PARAM_NAMES])
    return e


def check_layout(stem, arrays):
    got = [(n, tuple(np.shape(a))) for n, a in arrays]
    want = expected_layout()[stem]
    if got != want:
        raise AssertionError(f"{stem}: layout {got} differs from spec {want}")


def write_all(out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fx = all_fixtures()
    assert set(fx) == set(expected_layout())
    for stem, arrays in fx.items():
        check_layout(stem, arrays)
        path = out_dir / f"{stem}.bin"
        path.write_bytes(encode_fixture(arrays))
        # Round-trip through the reader.
        back = read_fixture(path)
        assert [n for n, _ in back] == [n for n, _ in arrays]
        for (_, a), (_, b) in zip(arrays, back):
            assert np.array_equal(np.asarray(a, dtype=np.float32), b)
        print(f"wrote {path} ({path.stat().st_size} bytes, {len(arrays)} arrays)")


# ---------------------------------------------------------------------------
# --check: finite differences and other self-tests
# ---------------------------------------------------------------------------

FD_H = 1e-5
TOL = 1e-6


def fd_grad(fun, arr, h=FD_H):
    """Central differences of scalar fun() w.r.t. every element of arr (perturbed in place)."""
    g = np.zeros_like(arr)
    flat, gflat = arr.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = fun()
        flat[i] = old - h
        fm = fun()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return g


def rel_err(fd, an):
    return np.max(np.abs(fd - an)) / max(np.max(np.abs(an)), 1e-300)


class Report:
    def __init__(self):
        self.worst = 0.0
        self.failures = []

    def add(self, label, err, tol=TOL):
        ok = err < tol
        self.worst = max(self.worst, err) if tol == TOL else self.worst
        if not ok:
            self.failures.append(label)
        print(f"  {label:58s} {err:.3e}  {'ok' if ok else 'FAIL'}")


def check_grads(rep, label, fun, inputs, analytic):
    """fun(): scalar; inputs: {name: array perturbed in place}; analytic: {name: gradient}."""
    for name, arr in inputs.items():
        fd = fd_grad(fun, arr)
        rep.add(f"{label} {name}", rel_err(fd, analytic[name]))


def run_checks():
    rep = Report()
    fx = all_fixtures()

    print("layout vs spec (names, shapes, order):")
    for stem, arrays in fx.items():
        check_layout(stem, arrays)
    print(f"  all {len(fx)} fixtures match the spec layout")

    print("finite differences (max |fd - analytic| / max |analytic|):")
    for stem, *_ in CONV_CASES:
        a = {n: np.array(v, dtype=np.float64) for n, v in fx[stem]}
        s, p = int(a["stride"]), int(a["padding"])
        x, w, b, dy = a["x"], a["w"], a["b"], a["dY"]
        check_grads(rep, stem, lambda: np.sum(conv2d(x, w, b, s, p) * dy),
                    {"dX": x, "dW": w, "dB": b}, {"dX": a["dX"], "dW": a["dW"], "dB": a["dB"]})
    stem = CONVT_CASE[0]
    a = {n: np.array(v, dtype=np.float64) for n, v in fx[stem]}
    s, p, op = int(a["stride"]), int(a["padding"]), int(a["output_padding"])
    x, w, b, dy = a["x"], a["w"], a["b"], a["dY"]
    check_grads(rep, stem, lambda: np.sum(conv_transpose2d(x, w, b, s, p, op) * dy),
                {"dX": x, "dW": w, "dB": b}, {"dX": a["dX"], "dW": a["dW"], "dB": a["dB"]})
    a = {n: np.array(v, dtype=np.float64) for n, v in fx["depth_to_space_r2"]}
    x, dy, r = a["x"], a["dY"], int(a["r"])
    check_grads(rep, "depth_to_space_r2", lambda: np.sum(depth_to_space(x, r) * dy), {"dX": x}, {"dX": a["dX"]})
    for kind in GDN_KINDS:
        a = {n: np.array(v, dtype=np.float64) for n, v in fx[kind]}
        x, bp, gp, dy = a["x"], a["beta_p"], a["gamma_p"], a["dY"]
        check_grads(rep, kind, lambda: np.sum(gdn_p_forward(kind, x, bp, gp) * dy),
                    {"dX": x, "dBeta_p": bp, "dGamma_p": gp},
                    {"dX": a["dX"], "dBeta_p": a["dBeta_p"], "dGamma_p": a["dGamma_p"]})
    a = {n: np.array(v, dtype=np.float64) for n, v in fx["mse"]}
    pred, target = a["pred"], a["target"]
    check_grads(rep, "mse", lambda: mse(pred, target), {"dPred": pred}, {"dPred": a["dPred"]})

    x, params = ae_inputs()
    p = {k: v.copy() for k, v in params.items()}
    loss0, cache = ae_forward(p, x)
    grads = ae_backward(p, x, cache)
    for k in AE_PARAM_NAMES:
        fd = fd_grad(lambda: ae_forward(p, x)[0], p[k])
        rep.add(f"adam_autoencoder step0 dLoss/d{k}", rel_err(fd, grads[k]))

    print("conv_transpose2d is the adjoint of conv2d (relative |<conv2d(a),b> - <a,convT(b)>|):")
    rng = np.random.default_rng(9001)
    for (n, ci, co, h, wd, k, s, p) in [(2, 3, 4, 7, 5, 3, 1, 1), (1, 2, 3, 9, 7, 5, 2, 2),
                                         (3, 1, 2, 7, 5, 3, 2, 1), (2, 5, 3, 4, 6, 1, 1, 0),
                                         (2, 2, 3, 8, 10, 5, 2, 2), (2, 3, 8, 8, 8, 5, 2, 2),
                                         (1, 2, 2, 10, 10, 4, 3, 1), (1, 2, 2, 11, 11, 4, 3, 1)]:
        w = rng.normal(size=(co, ci, k, k))
        a_in = rng.normal(size=(n, ci, h, wd))
        zero_o, zero_i = np.zeros(co), np.zeros(ci)
        y = conv2d(a_in, w, zero_o, s, p)
        bb = rng.normal(size=y.shape)
        op = (h + 2 * p - k) % s          # output_padding that makes the shapes match
        assert op == (wd + 2 * p - k) % s  # (one value for both axes, as in the spec)
        z = conv_transpose2d(bb, w, zero_i, s, p, op)
        assert z.shape == a_in.shape, (z.shape, a_in.shape)
        lhs, rhs = np.sum(y * bb), np.sum(a_in * z)
        rep.add(f"adjoint N{n} C{ci}->{co} {h}x{wd} k{k} s{s} p{p} op{op}",
                abs(lhs - rhs) / max(abs(lhs), abs(rhs)), tol=1e-12)

    print("vectorised vs literal-loop implementations (max abs difference):")
    for stem, *_ in CONV_CASES:
        a = {n: np.array(v, dtype=np.float64) for n, v in fx[stem]}
        s, p = int(a["stride"]), int(a["padding"])
        diff = np.max(np.abs(conv2d_loops(a["x"], a["w"], a["b"], s, p) - a["y"]))
        rep.add(f"{stem} y (loops)", diff, tol=1e-5)
    a = {n: np.array(v, dtype=np.float64) for n, v in fx[CONVT_CASE[0]]}
    diff = np.max(np.abs(conv_transpose2d_loops(a["x"], a["w"], a["b"], 2, 2, 1) - a["y"]))
    rep.add(f"{CONVT_CASE[0]} y (loops)", diff, tol=1e-5)
    a = {n: np.array(v, dtype=np.float64) for n, v in fx["depth_to_space_r2"]}
    rep.add("depth_to_space_r2 y (reshape form)", np.max(np.abs(depth_to_space_reshape(a["x"], 2) - a["y"])),
            tol=1e-12)

    print("autoencoder run:")
    stats = {}
    losses, final = ae_train(x, params, stats)
    print("  losses: " + " ".join(f"{l:.6f}" for l in losses))
    print(f"  min |sgdn input| over steps  {stats['min_abs_sgdn_in']:.3e}")
    print(f"  min |sigdn input| over steps {stats['min_abs_sigdn_in']:.3e}")
    for k in AE_PARAM_NAMES:
        if k.endswith("_p"):
            bound = BETA_BOUND if k.endswith("beta_p") else GAMMA_BOUND
            print(f"  {k}: min over iterates {stats['min_' + k]:+.4f} (bound {bound:.3e}); "
                  f"entries below the bound after updates 1..{AE_STEPS}: {stats['below_' + k]}")
    if not np.all(np.diff(losses) < 0):
        print("  note: losses are not monotonically decreasing")

    print("finite differences at the final autoencoder parameters (entries at or below the bound,")
    print("where CompressAI's LowerBound gradient differs from the true derivative, are masked):")
    p = {k: v.copy() for k, v in final.items()}
    _, cache = ae_forward(p, x)
    grads = ae_backward(p, x, cache)
    for k in AE_PARAM_NAMES:
        fd = fd_grad(lambda: ae_forward(p, x)[0], p[k])
        mask = np.ones(p[k].shape, dtype=bool)
        if k.endswith("_p"):
            bound = BETA_BOUND if k.endswith("beta_p") else GAMMA_BOUND
            mask = p[k] > bound + 10 * FD_H
        rep.add(f"adam_autoencoder final dLoss/d{k} ({int(mask.sum())}/{mask.size})",
                rel_err(np.where(mask, fd, 0.0), np.where(mask, grads[k], 0.0)))

    print("CompressAI LowerBound backward rule (pass if param >= bound or incoming gradient < 0):")
    pr = np.array([-0.02, -0.02, 0.5, 0.5, GAMMA_BOUND])
    dv = np.array([1.0, -1.0, 1.0, -1.0, 1.0])
    want = np.array([0.0, -2.0 * GAMMA_BOUND, 1.0, -1.0, 2.0 * GAMMA_BOUND])
    rep.add("nonneg_backward on hand-made cases (max abs diff)",
            np.max(np.abs(nonneg_backward(pr, GAMMA_MIN, dv) - want)), tol=1e-15)

    print(f"worst finite-difference relative error: {rep.worst:.3e} (tolerance {TOL:g})")
    if rep.failures:
        print("FAILED: " + ", ".join(rep.failures))
        return 1
    print("all checks passed")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (default: %(default)s)")
    ap.add_argument("--check", action="store_true", help="run the self-checks (writes nothing)")
    ap.add_argument("--dump", metavar="FILE", nargs="+", help="print the name and shape of each array in FILE")
    args = ap.parse_args(argv)
    if args.dump:
        for f in args.dump:
            dump(f)
        return 0
    if args.check:
        return run_checks()
    write_all(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
