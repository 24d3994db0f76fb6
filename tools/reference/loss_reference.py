#!/usr/bin/env python3
"""Reference values and gradients for bijgan's distances and losses, from SciPy (matrix square
roots) and PyTorch autograd in float64 (Debian's python3-scipy and python3-torch).

Writes tests/data/loss_reference.json; tests/losses/losses_test.cpp compares.
Rerun:  /usr/bin/python3 tools/reference/loss_reference.py
"""
import json
import pathlib

import numpy as np
import scipy.linalg
import torch

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(2026)


def spd(d, floor=0.1):
    a = rng.normal(size=(d, d))
    return a @ a.T + floor * np.eye(d)


def sqrtm_eigh(s):
    s = 0.5 * (s + s.T)
    w, u = torch.linalg.eigh(s)
    return u @ torch.diag(torch.sqrt(torch.clamp(w, min=0))) @ u.T


def w2_torch(mu1, s1, mu2, s2):
    r1 = sqrtm_eigh(s1)
    return ((mu1 - mu2) ** 2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * torch.trace(sqrtm_eigh(r1 @ s2 @ r1))


out = {}
D = 4
mu1, mu2 = rng.normal(size=D), rng.normal(size=D)
s1, s2 = spd(D), spd(D)
t = [torch.tensor(x, requires_grad=True) for x in (mu1, s1, mu2, s2)]
val = w2_torch(*t)
val.backward()
r1 = scipy.linalg.sqrtm(s1).real
scipy_val = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(r1 @ s2 @ r1).real))
sym = lambda g: (0.5 * (g + g.T)).tolist()
out["w2_full"] = {"mu1": mu1.tolist(), "cov1": s1.tolist(), "mu2": mu2.tolist(), "cov2": s2.tolist(),
                  "value": scipy_val, "torch_value": float(val),
                  "grad_mu1": t[0].grad.tolist(), "grad_cov1": sym(t[1].grad.numpy()), "grad_cov2": sym(t[3].grad.numpy())}

# sqrtm of an ill-conditioned and of a rank-deficient covariance (values from SciPy).
q, _ = np.linalg.qr(rng.normal(size=(D, D)))
ill = q @ np.diag([1e-8, 1e-4, 0.1, 1.0]) @ q.T
x = rng.normal(size=(2, D))
rankdef = x.T @ x  # rank 2
out["sqrtm"] = [{"a": m.tolist(), "sqrt": scipy.linalg.sqrtm(m).real.tolist()} for m in (spd(D), ill, rankdef)]

# Samples: the cross-Gram form equals the full form on the fitted Gaussians.
x1, x2 = rng.normal(size=(6, 3)), rng.normal(size=(5, 3)) * 1.5 + 0.3
c1, c2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
rc1 = scipy.linalg.sqrtm(c1).real
out["w2_samples"] = {"x1": x1.tolist(), "x2": x2.tolist(),
                     "value": float(((x1.mean(0) - x2.mean(0)) ** 2).sum() + np.trace(c1) + np.trace(c2)
                                    - 2 * np.trace(scipy.linalg.sqrtm(rc1 @ c2 @ rc1).real))}

# Contrastive: d, same, margin 1.
d = rng.uniform(0, 2, size=8)
same = (rng.uniform(size=8) < 0.5).astype(float)
out["contrastive"] = {"d": d.tolist(), "same": same.tolist(), "margin": 1.0,
                      "value": float(np.mean(same * d + (1 - same) * np.maximum(0, 1.0 - d)))}

# Cosine distillation: value and gradient w.r.t. the student.
teacher, student = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
s = torch.tensor(student, requires_grad=True)
cd = ((1 - torch.nn.functional.cosine_similarity(torch.tensor(teacher), s, dim=1)) ** 2).mean()
cd.backward()
out["cosine_distill"] = {"teacher": teacher.tolist(), "student": student.tolist(), "value": float(cd), "grad_student": s.grad.tolist()}

# Feature distillation (Eq. 15): two stages (N, C, H, W) and (N, D), weights 1 and 0.5, λ_a 10;
# value and gradient w.r.t. the fake features.
fake_st = [rng.normal(size=(2, 3, 2, 2)), rng.normal(size=(2, 4))]
real_st = [rng.normal(size=(2, 3, 2, 2)), rng.normal(size=(2, 4))]
fake_fin, real_fin = rng.normal(size=(2, 5)), rng.normal(size=(2, 5))
fs = [torch.tensor(x, requires_grad=True) for x in fake_st]
ff = torch.tensor(fake_fin, requires_grad=True)
total = 10 * ((1 - torch.nn.functional.cosine_similarity(ff, torch.tensor(real_fin), dim=1)) ** 2).mean()
for w, f, r in zip([1.0, 0.5], fs, real_st):
    diff = (f - torch.tensor(r)).reshape(2, -1)
    total = total + w / diff.shape[1] * torch.sqrt((diff ** 2).sum(1) + 1e-12).mean()
total.backward()
out["feature_distill"] = {"fake_stages": [x.tolist() for x in fake_st], "real_stages": [x.tolist() for x in real_st],
                          "fake_final": fake_fin.tolist(), "real_final": real_fin.tolist(), "weights": [1.0, 0.5],
                          "final_weight": 10.0, "value": float(total),
                          "grad_fake_stage0": fs[0].grad.tolist(), "grad_fake_final": ff.grad.tolist()}

# Gradient penalty of a small critic D(x) = tanh(x W1 + b1) w2 at fixed points; value and
# parameter gradients (double backprop).
pts = rng.normal(size=(4, 3))
W1, b1, w2 = rng.normal(size=(3, 5)), rng.normal(size=5), rng.normal(size=(5, 1))
P = [torch.tensor(v, requires_grad=True) for v in (W1, b1, w2)]
xh = torch.tensor(pts, requires_grad=True)
score = (torch.tanh(xh @ P[0] + P[1]) @ P[2]).sum()
g, = torch.autograd.grad(score, xh, create_graph=True)
gp = ((torch.sqrt((g ** 2).sum(1) + 1e-12) - 1) ** 2).mean()
gp.backward()
out["gradient_penalty"] = {"points": pts.tolist(), "W1": W1.tolist(), "b1": b1.tolist(), "w2": w2.tolist(), "value": float(gp),
                           "grad_W1": P[0].grad.tolist(), "grad_b1": P[1].grad.tolist(), "grad_w2": P[2].grad.tolist()}

path = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "loss_reference.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print("wrote", path)
