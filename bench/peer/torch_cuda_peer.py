#!/usr/bin/env python3
"""The GPU peer: cuda_bench's GEMM, convolution and attention workloads in PyTorch on CUDA, in
the same line format (bench <name> <impl> <threads> <median_ms> <min_ms> <rate> <unit>), so a
device session can put bijgan's figures beside PyTorch's. Run by gpu_bundle/run.sh where
python3 has torch with CUDA (the device machines here do); FP32 without TF32, as bijgan."""
import time

import torch


def time_it(f, reps=11):
    """Warm-up (>= 2 calls, 0.2 s), then reps repetitions of >= 40 ms; median and min per call."""
    w0 = time.perf_counter()
    calls = 0
    while calls < 2 or time.perf_counter() - w0 < 0.2:
        f()
        torch.cuda.synchronize()
        calls += 1
    per_call = (time.perf_counter() - w0) / calls
    inner = max(1, int(0.04 / max(per_call, 1e-9)))
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            f()
        torch.cuda.synchronize()
        samples.append((time.perf_counter() - t0) / inner * 1e3)
    samples.sort()
    return samples[len(samples) // 2], samples[0]


def report(name, med, mn, work, unit):
    print(f"bench\t{name}\ttorch-cuda\t1\t{med:.4g}\t{mn:.4g}\t{work / (med * 1e-3):.4g}\t{unit}", flush=True)


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(1)
    print(f"# device {torch.cuda.get_device_name()}, torch {torch.__version__}")
    for n in (1024, 2048, 4096):
        a = torch.randn(n, n, device=dev, generator=g)
        b = torch.randn(n, n, device=dev, generator=g)
        med, mn = time_it(lambda: a @ b)
        report(f"gemm_{n}", med, mn, 2.0 * n**3 / 1e9, "GFLOP/s")

    x = torch.randn(32, 64, 32, 32, device=dev, generator=g, requires_grad=True)
    w = (0.05 * torch.randn(64, 64, 3, 3, device=dev, generator=g)).requires_grad_()

    def conv():
        torch.nn.functional.conv2d(x, w, padding=1).square().sum().backward()

    med, mn = time_it(conv, 7)
    report("conv3x3_64c_32px_b32_fwd_bwd", med, mn, 32, "images/s")

    attn = torch.nn.MultiheadAttention(64, 4, bias=False, batch_first=True, device=dev)
    s = torch.randn(32, 256, 64, device=dev, generator=g, requires_grad=True)

    def attention():
        attn(s, s, s, need_weights=False)[0].square().sum().backward()

    med, mn = time_it(attention, 7)
    report("attention_256tok_64d_b32_fwd_bwd", med, mn, 32, "sequences/s")


if __name__ == "__main__":
    main()
