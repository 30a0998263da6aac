#!/usr/bin/env python3
"""How many bits could a learned conditional prior over the RVQ tokens save?

Measurement study (docs/design/prior.md). Reads a token dump made by the VQ-VAE
(`<name>.tokens.npy` uint16 [S, gh, gw], `codebooks.npy` float32 [S, K, D],
`index.json`) and, per RVQ stage, compares on the held-out images:

  zstd      `zstd -19` bytes of each stage plane (raw uint8, one file per plane)
  H0-emp    order-0 empirical entropy of each plane (ideal static coder, table free)
  H0-train  cross-entropy under a fixed order-0 pmf from the training images (Laplace)
  learned   small NumPy MLPs (softmax over K) fit on the training images:
    stage 1:  a   causal neighbour tokens (L, U, UL, UR)
              b   checkerboard: anchors given their causal anchor neighbours
                  (UL, UR, LL, UU), non-anchors given all 4 neighbours (L, R, U, D)
              e   wider causal context (L, LL, UL, U, UR, UU)
    stage s>=2:
              c   partial reconstruction P_s in the 3x3 window (9 x 32 features)
              d   c + stage-s tokens of the causal neighbours (L, U, UL, UR)
              dcb checkerboard: anchors by c, non-anchors c + stage-s tokens of L, R, U, D
              e   d + the stage s-1 token at the position

Models are fit on training images (held_out "0") minus a seeded validation subset
(used only for early stopping and for picking the best model per stage); every
reported figure is on the held_out "1" images.

Usage: OPENBLAS_NUM_THREADS=1 python3 tools/prior_study.py --tokens /work/exp/tokens-v2
"""
import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import subprocess
import sys
import tempfile
import time

import numpy as np

LOG2E = 1.0 / np.log(2.0)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data


class Data:
    """All images' token planes flattened into one position axis."""

    def __init__(self, tokens_dir, n_val, seed):
        idx = json.load(open(os.path.join(tokens_dir, "index.json")))["images"]
        self.cb = np.load(os.path.join(tokens_dir, "codebooks.npy")).astype(np.float32)
        self.S, self.K, self.D = self.cb.shape
        self.names, self.shapes, self.pixels, self.split = [], [], [], []
        planes = []
        rng = np.random.default_rng(seed)
        train_ids = [i for i, im in enumerate(idx) if im["held_out"] == "0"]
        val_ids = set(rng.choice(train_ids, size=n_val, replace=False).tolist())
        for i, im in enumerate(idx):
            t = np.load(os.path.join(tokens_dir, im["file"] + ".tokens.npy"))
            assert t.shape[0] == self.S and t.max() < self.K
            self.names.append(im["file"])
            self.shapes.append(t.shape[1:])
            self.pixels.append(int(im["width"]) * int(im["height"]))
            self.split.append("test" if im["held_out"] == "1" else ("val" if i in val_ids else "train"))
            planes.append(t.reshape(self.S, -1).astype(np.int64))
        self.T = np.concatenate(planes, axis=1)  # [S, N]
        self.N = self.T.shape[1]
        offs = np.cumsum([0] + [h * w for h, w in self.shapes])
        self.offs = offs
        img = np.concatenate([np.full(h * w, k) for k, (h, w) in enumerate(self.shapes)])
        self.img = img
        split = np.array(self.split)
        self.mask = {s: split[img] == s for s in ("train", "val", "test")}
        # row / col of every position
        self.row = np.concatenate([np.repeat(np.arange(h), w) for h, w in self.shapes])
        self.col = np.concatenate([np.tile(np.arange(w), h) for h, w in self.shapes])
        self.parity = (self.row + self.col) % 2  # 0 = anchor, 1 = non-anchor
        # partial reconstructions P_s (P_1 = 0), standardised per dimension on train
        self.P = np.zeros((self.S, self.N, self.D), np.float32)
        for s in range(1, self.S):
            self.P[s] = self.P[s - 1] + self.cb[s - 1][self.T[s - 1]]
        self.Pn = np.zeros_like(self.P)
        tr = self.mask["train"]
        for s in range(1, self.S):
            mu = self.P[s][tr].mean(0)
            sd = self.P[s][tr].std(0) + 1e-6
            self.Pn[s] = (self.P[s] - mu) / sd
        self.win3 = np.stack([self.nbr(dy, dx, clip=True) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], 1)

    def nbr(self, dy, dx, clip=False):
        """Global index of the neighbour at (dy, dx); out of the grid -> self.N (boundary)
        or, with clip, the nearest in-grid position (edge replicate)."""
        out = np.empty(self.N, np.int64)
        for k, (h, w) in enumerate(self.shapes):
            o = self.offs[k]
            r = self.row[o:o + h * w] + dy
            c = self.col[o:o + h * w] + dx
            if clip:
                out[o:o + h * w] = o + np.clip(r, 0, h - 1) * w + np.clip(c, 0, w - 1)
            else:
                ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
                out[o:o + h * w] = np.where(ok, o + r * w + c, self.N)
        return out

    def tok_nbrs(self, s, offsets):
        """Stage-s tokens of the neighbours at offsets; boundary -> K."""
        ext = np.append(self.T[s], self.K)
        return np.stack([ext[self.nbr(dy, dx)] for dy, dx in offsets], 1)


# ----------------------------------------------------------------------------- model


class MLP:
    """[dense | embeddings of categorical inputs] -> Linear(H) -> ReLU -> Linear(K) -> softmax."""

    def __init__(self, d_dense, n_cat, n_sym, K, hidden, emb, rng):
        self.d_dense, self.n_cat, self.emb = d_dense, n_cat, emb
        d_in = d_dense + n_cat * emb
        self.p = {
            "E": (rng.standard_normal((max(n_cat, 1), n_sym, emb)) * 0.5).astype(np.float32),
            "W1": (rng.standard_normal((d_in, hidden)) * np.sqrt(2.0 / d_in)).astype(np.float32),
            "b1": np.zeros(hidden, np.float32),
            "W2": (rng.standard_normal((hidden, K)) * np.sqrt(1.0 / hidden)).astype(np.float32),
            "b2": np.zeros(K, np.float32),
        }
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.t = 0

    def n_params(self):
        n = sum(v.size for k, v in self.p.items() if k != "E")
        return n + (self.p["E"].size if self.n_cat else 0)

    def _x(self, dense, cat):
        parts = []
        if self.d_dense:
            parts.append(dense)
        for j in range(self.n_cat):
            parts.append(self.p["E"][j][cat[:, j]])
        return np.concatenate(parts, 1) if len(parts) > 1 else parts[0]

    def forward(self, dense, cat):
        x = self._x(dense, cat)
        h = x @ self.p["W1"] + self.p["b1"]
        a = np.maximum(h, 0)
        z = a @ self.p["W2"] + self.p["b2"]
        z -= z.max(1, keepdims=True)
        lse = np.log(np.exp(z).sum(1, keepdims=True))
        return x, h, a, z - lse  # log-probs (nats)

    def nll_bits(self, dense, cat, y):
        _, _, _, lp = self.forward(dense, cat)
        return -lp[np.arange(len(y)), y] * LOG2E

    def step(self, dense, cat, y, lr, b1=0.9, b2=0.999):
        x, h, a, lp = self.forward(dense, cat)
        B = len(y)
        g = np.exp(lp)
        g[np.arange(B), y] -= 1.0
        g /= B
        grads = {"W2": a.T @ g, "b2": g.sum(0)}
        da = g @ self.p["W2"].T
        da *= h > 0
        grads["W1"] = x.T @ da
        grads["b1"] = da.sum(0)
        if self.n_cat:
            dx = da @ self.p["W1"].T
            gE = np.zeros_like(self.p["E"])
            for j in range(self.n_cat):
                sl = dx[:, self.d_dense + j * self.emb: self.d_dense + (j + 1) * self.emb]
                np.add.at(gE[j], cat[:, j], sl)
            grads["E"] = gE
        self.t += 1
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for k, gk in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * gk
            self.v[k] = b2 * self.v[k] + (1 - b2) * gk * gk
            self.p[k] -= (lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + 1e-8)).astype(np.float32)
        return -lp[np.arange(B), y].mean() * LOG2E


class Spec:
    """What a model sees: dense = standardised P_s over the 3x3 window (or none),
    cat = [N, k] symbol inputs (tokens, boundary symbol = K)."""

    def __init__(self, data, s, window, cat):
        self.data, self.s, self.window = data, s, window
        self.cat = cat if cat is not None else np.zeros((data.N, 0), np.int64)
        self.d_dense = 9 * data.D if window else 0

    def batch(self, pos):
        dense = None
        if self.window:
            dense = self.data.Pn[self.s][self.data.win3[pos]].reshape(len(pos), -1)
        return dense, self.cat[pos], self.data.T[self.s][pos]


def fit_eval(name, spec, train_pos, val_pos, test_pos, args, seed):
    """Fit on train_pos (early stopping on val_pos), return per-position test bits and val bits/token."""
    rng = np.random.default_rng(seed)
    d = spec.data
    model = MLP(spec.d_dense, spec.cat.shape[1], d.K + 1, d.K, args.hidden, args.emb, rng)

    def evaluate(pos):
        out = np.empty(len(pos), np.float64)
        for i in range(0, len(pos), 8192):
            p = pos[i:i + 8192]
            dense, cat, y = spec.batch(p)
            out[i:i + 8192] = model.nll_bits(dense, cat, y)
        return out

    best, best_p, hist = np.inf, None, []
    t0 = time.time()
    steps_per_epoch = (len(train_pos) + args.batch - 1) // args.batch
    total = steps_per_epoch * args.epochs
    step = 0
    for ep in range(args.epochs):
        perm = rng.permutation(train_pos)
        tl = 0.0
        for i in range(0, len(perm), args.batch):
            lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * step / total)))
            dense, cat, y = spec.batch(perm[i:i + args.batch])
            tl += model.step(dense, cat, y, lr) * len(y)
            step += 1
        vb = evaluate(val_pos).mean()
        hist.append((tl / len(perm), vb))
        if vb < best:
            best, best_p = vb, {k: v.copy() for k, v in model.p.items()}
    model.p = best_p
    tb = evaluate(test_pos)
    vbits = evaluate(val_pos)
    log(f"  {name:<14} params {model.n_params():>7}  " +
        " ".join(f"ep{e + 1} tr {a:.3f}/va {b:.3f}" for e, (a, b) in enumerate(hist)) +
        f"  test {tb.mean():.3f} b/tok  ({time.time() - t0:.0f}s)")
    return tb, best, model.n_params(), vbits


def adaptive_mix(bits, pos, data, s, lams=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95), alphas=(0.002, 0.005, 0.02, 0.1, 0.5), lam=None, alpha=None):
    """Mix a static model with a per-image adaptive order-0 model (counts of the image's stage-s tokens
    decoded so far in raster order, additive prior alpha): p = lam p_static + (1 - lam) p_adaptive.
    pos must be whole images in ascending (raster) order. Returns bits per position for the given
    (lam, alpha), or, when those are None, the best (lam, alpha) on these positions."""
    K = data.K
    y = data.T[s][pos]
    img = data.img[pos]
    key = img * K + y
    order = np.argsort(key, kind="stable")
    ks = key[order]
    start = np.r_[0, np.flatnonzero(np.diff(ks)) + 1]
    first = np.repeat(start, np.diff(np.r_[start, len(ks)]))
    occ = np.empty(len(pos), np.float64)
    occ[order] = np.arange(len(ks)) - first
    istart = np.r_[0, np.flatnonzero(np.diff(img)) + 1]
    nprev = np.arange(len(pos)) - np.repeat(istart, np.diff(np.r_[istart, len(pos)]))
    ps = np.exp2(-bits)
    if lam is not None:
        pa = (occ + alpha) / (nprev + K * alpha)
        return -np.log2(lam * ps + (1 - lam) * pa)
    best = None
    for a in alphas:
        pa = (occ + a) / (nprev + K * a)
        for l in lams:
            b = -np.log2(l * ps + (1 - l) * pa).mean()
            if best is None or b < best[0]:
                best = (b, l, a)
    return best


# ----------------------------------------------------------------------------- baselines


def zstd_bytes(plane_u8, tmp, tag):
    f = os.path.join(tmp, tag + ".raw")
    plane_u8.tofile(f)
    subprocess.run(["zstd", "-19", "-q", "-f", f, "-o", f + ".zst"], check=True)
    return os.path.getsize(f + ".zst")


def order0_emp_bits(t, K):
    n = np.bincount(t, minlength=K).astype(np.float64)
    n = n[n > 0]
    return float(-(n * np.log2(n / n.sum())).sum())


# ----------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--emb", type=int, default=32)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--n-val", type=int, default=8, help="training images held back for early stopping")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stages", type=str, default="", help="comma list of stages (1-based) to model; default all")
    ap.add_argument("--json", type=str, default="", help="also write the raw results here")
    args = ap.parse_args()
    T0 = time.time()

    d = Data(args.tokens, args.n_val, args.seed)
    S, K = d.S, d.K
    test = np.flatnonzero(d.mask["test"])
    trn = np.flatnonzero(d.mask["train"])
    val = np.flatnonzero(d.mask["val"])
    test_imgs = [k for k in range(len(d.names)) if d.split[k] == "test"]
    n_test_tok = len(test)
    test_pixels = sum(d.pixels[k] for k in test_imgs)
    log(f"images: train {sum(s == 'train' for s in d.split)} ({len(trn)} tok/stage), val "
        f"{sum(s == 'val' for s in d.split)} ({len(val)}), test {len(test_imgs)} ({n_test_tok} tok/stage, "
        f"{test_pixels} px); S={S} K={K} D={d.D}")

    stages = [int(x) for x in args.stages.split(",")] if args.stages else list(range(1, S + 1))
    res = {"zstd": {}, "h0emp": {}, "h0train": {}, "models": {}, "val": {}, "params": {}}

    # 1-3: baselines
    with tempfile.TemporaryDirectory() as tmp:
        for s in range(S):
            zb, hb = 0, 0.0
            for k in test_imgs:
                t = d.T[s][d.offs[k]:d.offs[k + 1]]
                zk = zstd_bytes(t.astype(np.uint8), tmp, f"{k}_{s}")
                zb += zk
                hb += order0_emp_bits(t, K)
                res.setdefault("zstd_img", {}).setdefault(s + 1, []).append(8.0 * zk)
            res["zstd"][s + 1] = 8.0 * zb / n_test_tok
            res["h0emp"][s + 1] = hb / n_test_tok
            cnt = np.bincount(d.T[s][trn], minlength=K) + 1.0
            lp = np.log2(cnt / cnt.sum())
            res["h0train"][s + 1] = float(-lp[d.T[s][test]].mean())
            res["val"].setdefault(s + 1, {})["H0-train"] = float(-lp[d.T[s][val]].mean())
    log(f"baselines done ({time.time() - T0:.0f}s)")

    anchor = d.parity == 0
    causal4 = [(0, -1), (-1, 0), (-1, -1), (-1, 1)]  # L, U, UL, UR
    causal6 = [(0, -1), (0, -2), (-1, -1), (-1, 0), (-1, 1), (-2, 0)]  # L, LL, UL, U, UR, UU
    anchor_causal = [(-1, -1), (-1, 1), (0, -2), (-2, 0)]  # UL, UR, LL, UU: anchors themselves
    all4 = [(0, -1), (0, 1), (-1, 0), (1, 0)]  # L, R, U, D: all anchors of a non-anchor

    seed = args.seed
    for s1 in stages:
        s = s1 - 1
        log(f"stage {s1}")
        m, v, pr = {}, {}, {}

        vbits_all, tbits_all = {}, {}

        def run(name, spec, tr, va, te):
            nonlocal seed
            seed += 1
            tb, vb, npar, vbits = fit_eval(f"s{s1} {name}", spec, tr, va, te, args, seed)
            key = name.split()[0]
            if len(te) == len(test):  # whole-image (raster-order) models can be mixed adaptively
                vbits_all[key], tbits_all[key] = vbits, tb
            return tb, vb, npar

        if s == 0:
            tb, vb, pr["a"] = run("a causal4", Spec(d, s, False, d.tok_nbrs(s, causal4)), trn, val, test)
            m["a"], v["a"] = tb.mean(), vb
            # b: checkerboard, two models; combine per position
            ta, va_, pa = run("b anchor", Spec(d, s, False, d.tok_nbrs(s, anchor_causal)),
                              trn[anchor[trn]], val[anchor[val]], test[anchor[test]])
            tn, vn, pn = run("b non-anchor", Spec(d, s, False, d.tok_nbrs(s, all4)),
                             trn[~anchor[trn]], val[~anchor[val]], test[~anchor[test]])
            na_t, na_v = anchor[test].sum(), anchor[val].sum()
            m["b"] = (ta.sum() + tn.sum()) / n_test_tok
            cb_bits = np.empty(n_test_tok)
            cb_bits[anchor[test]], cb_bits[~anchor[test]] = ta, tn
            v["b"] = (va_ * na_v + vn * (len(val) - na_v)) / len(val)
            pr["b"] = pa + pn
            res.setdefault("cb_halves", {})[s1] = {"anchor": float(ta.mean()), "nonanchor": float(tn.mean())}
            tb, vb, pr["e"] = run("e causal6", Spec(d, s, False, d.tok_nbrs(s, causal6)), trn, val, test)
            m["e"], v["e"] = tb.mean(), vb
        else:
            tc, vc, pr["c"] = run("c P3x3", Spec(d, s, True, None), trn, val, test)
            m["c"], v["c"] = tc.mean(), vc
            tb, vb, pr["d"] = run("d +causal4", Spec(d, s, True, d.tok_nbrs(s, causal4)), trn, val, test)
            m["d"], v["d"] = tb.mean(), vb
            # checkerboard: anchors by c (trained on all positions), non-anchors by c + 4 tokens
            tn, vn, pr["dcb"] = run("dcb non-anch", Spec(d, s, True, d.tok_nbrs(s, all4)),
                                    trn[~anchor[trn]], val[~anchor[val]], test[~anchor[test]])
            ta = tc[anchor[test]]
            m["dcb"] = (ta.sum() + tn.sum()) / n_test_tok
            cb_bits = np.empty(n_test_tok)
            cb_bits[anchor[test]], cb_bits[~anchor[test]] = ta, tn
            # val of c on anchors is not separately kept; use c's val on all positions for anchors
            na_v = anchor[val].sum()
            v["dcb"] = (vc * na_v + vn * (len(val) - na_v)) / len(val)
            res.setdefault("cb_halves", {})[s1] = {"anchor": float(ta.mean()), "nonanchor": float(tn.mean())}
            cat = np.concatenate([d.tok_nbrs(s, causal4), d.T[s - 1][:, None]], 1)
            tb, vb, pr["e"] = run("e +prev tok", Spec(d, s, True, cat), trn, val, test)
            m["e"], v["e"] = tb.mean(), vb
        # + per-image adaptive order-0 mixing (raster-order models only); (lam, alpha) picked on val
        cnt = np.bincount(d.T[s][trn], minlength=K) + 1.0
        h0 = -np.log2(cnt / cnt.sum())
        vbits_all["H0"], tbits_all["H0"] = h0[d.T[s][val]], h0[d.T[s][test]]
        full = {("H0-train" if k == "H0" else k): b for k, b in tbits_all.items()}
        full["b" if s == 0 else "dcb"] = cb_bits
        for k in list(vbits_all):
            vb_, lam, alpha = adaptive_mix(vbits_all[k], val, d, s)
            tb_ = adaptive_mix(tbits_all[k], test, d, s, lam=lam, alpha=alpha)
            m[k + "+ad"], v[k + "+ad"] = tb_.mean(), vb_
            full[k + "+ad"] = tb_
            res.setdefault("mix", {}).setdefault(s1, {})[k + "+ad"] = (lam, alpha)
            log(f"  s{s1} {k}+ad: lam {lam} alpha {alpha}  val {vb_:.3f}  test {tb_.mean():.3f}")
        res["models"][s1] = {k: float(x) for k, x in m.items()}
        img_of = np.searchsorted(np.array(test_imgs), d.img[test])
        res.setdefault("img_bits", {})[s1] = {
            k: np.bincount(img_of, weights=b, minlength=len(test_imgs)).tolist() for k, b in full.items()}
        res["val"].setdefault(s1, {}).update({k: float(x) for k, x in v.items()})
        res["params"][s1] = pr
        log(f"  elapsed {time.time() - T0:.0f}s")

    runtime = time.time() - T0
    res["runtime_s"] = runtime
    res["test_tokens_per_stage"] = int(n_test_tok)
    res["test_pixels"] = int(test_pixels)
    res["test_images"] = [(d.names[k], int(d.pixels[k])) for k in test_imgs]
    print_tables(res, S, n_test_tok, test_pixels)
    if args.json:
        json.dump(res, open(args.json, "w"), indent=1, default=float)


def print_tables(res, S, n_tok, pixels):
    cols = ["a", "b", "e", "c", "d", "dcb", "H0+ad", "a+ad", "e+ad", "c+ad", "d+ad"]
    print(f"## Per stage, held-out images ({n_tok} tokens per stage), bits/token\n")
    print("| stage | zstd -19 | H0 empirical | H0 train pmf | " + " | ".join(cols) +
          " | best (by val) | saving vs zstd |")
    print("|---|" + "---|" * (5 + len(cols)))
    best = {}
    for s in range(1, S + 1):
        ms = res["models"].get(s, {})
        vs = res["val"].get(s, {})
        cand = {k: vs[k] for k in ms}
        cand["H0-train"] = vs["H0-train"]
        bk = min(cand, key=cand.get)
        bval = ms[bk] if bk in ms else res["h0train"][s]
        best[s] = (bk, bval)
        cells = [f"{ms[c]:.3f}" if c in ms else "–" for c in cols]
        print(f"| {s} | {res['zstd'][s]:.3f} | {res['h0emp'][s]:.3f} | {res['h0train'][s]:.3f} | " +
              " | ".join(cells) + f" | {bval:.3f} ({bk}) | {100 * (1 - bval / res['zstd'][s]):.1f} % |")
    tot = lambda key: sum(res[key][s] for s in range(1, S + 1))
    print(f"| all | {tot('zstd'):.3f} | {tot('h0emp'):.3f} | {tot('h0train'):.3f} | " +
          " | ".join("" for _ in cols) + f" | {sum(b for _, b in best.values()):.3f} | "
          f"{100 * (1 - sum(b for _, b in best.values()) / tot('zstd')):.1f} % |")
    if "cb_halves" in res:
        print("\nCheckerboard halves (bits/token): " + "; ".join(
            f"stage {s}: anchors {h['anchor']:.3f}, non-anchors {h['nonanchor']:.3f}"
            for s, h in sorted(res["cb_halves"].items())))
    print(f"\n## Per level, held-out images ({pixels} pixels), bits per pixel of the token planes\n")
    print("| level L | zstd bpp | H0 empirical bpp | best model bpp | saving vs zstd |")
    print("|---|---|---|---|---|")
    cz = ch = cm = 0.0
    for s in range(1, S + 1):
        cz += res["zstd"][s] * n_tok / pixels
        ch += res["h0emp"][s] * n_tok / pixels
        cm += best[s][1] * n_tok / pixels
        print(f"| {s} | {cz:.4f} | {ch:.4f} | {cm:.4f} | {100 * (1 - cm / cz):.1f} % |")
    if "img_bits" in res and len(res["img_bits"]) == S:
        print("\n## Per held-out image, best model per stage (as above) vs zstd, bits per pixel\n")
        print("| image | pixels | L=1 zstd | L=1 model | L=1 saving | L=8 zstd | L=8 model | L=8 saving |")
        print("|---|---|---|---|---|---|---|---|")
        for i, (name, px) in enumerate(res["test_images"]):
            cells = []
            for L in (1, S):
                z = sum(res["zstd_img"][s][i] for s in range(1, L + 1)) / px
                mm = sum(res["img_bits"][s][best[s][0]][i] for s in range(1, L + 1)) / px
                cells += [f"{z:.4f}", f"{mm:.4f}", f"{100 * (1 - mm / z):.1f} %"]
            print(f"| {name[:40]} | {px} | " + " | ".join(cells) + " |")
    print(f"\nruntime {res['runtime_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
