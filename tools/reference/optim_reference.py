#!/usr/bin/env python3
"""Reference trajectories for bijgan's optimizers, produced by PyTorch (Debian's python3-torch).

Writes tests/data/optim_reference.json: for each configuration, the parameters after each of
10 steps on a fixed smooth loss, in float64. tests/optim/optim_test.cpp replays the same loss
and compares. Rerun after changing a configuration:  /usr/bin/python3 tools/reference/optim_reference.py
"""
import json
import pathlib

import torch

torch.set_default_dtype(torch.float64)

P0 = [0.5, -1.5, 2.0, 0.1, -0.3, 1.2]
C = [1.0, 2.0, 0.5, 3.0, 1.5, 0.25]
D = [0.3, -0.2, 0.1, 0.0, 0.5, -0.4]
STEPS = 10


def loss_fn(p):
    # 0.5 * sum(c p^2) + sum(d p) + 0.1 * sum(p^4): every optimizer sees curvature that varies.
    c, d = torch.tensor(C), torch.tensor(D)
    return 0.5 * (c * p * p).sum() + (d * p).sum() + 0.1 * (p ** 4).sum()


def run(make_opt, clip=None, schedule=None):
    p = torch.tensor(P0, requires_grad=True)
    opt = make_opt([p])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule) if schedule else None
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss_fn(p).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([p], clip)
        opt.step()
        if sched:
            sched.step()
        out.append(p.detach().tolist())
    return out


def warmup_decay(step):
    # bijgan's linear_schedule{.warmup_steps = 3, .decay_start = 3, .total_steps = 10, .final_factor = 0.1}
    f = (step + 1) / 3 if step < 3 else 1.0
    if step >= 3:
        t = min(1.0, (step - 3) / 7)
        f *= 1 - t * 0.9
    return f


refs = {
    "adam": run(lambda ps: torch.optim.Adam(ps, lr=0.1)),
    "adam_l2": run(lambda ps: torch.optim.Adam(ps, lr=0.05, weight_decay=0.1)),
    "adamw": run(lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.1)),
    "amsgrad": run(lambda ps: torch.optim.Adam(ps, lr=0.1, amsgrad=True)),
    "sgd_momentum": run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1)),
    "sgd_nesterov": run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adam_gan_clip_schedule": run(lambda ps: torch.optim.Adam(ps, lr=0.1, betas=(0.0, 0.99)), clip=1.0,
                                  schedule=warmup_decay),
}
meta = {"torch": torch.__version__, "p0": P0, "c": C, "d": D, "steps": STEPS}
path = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "optim_reference.json"
path.write_text(json.dumps({"meta": meta, "trajectories": refs}, indent=1) + "\n")
print("wrote", path)
