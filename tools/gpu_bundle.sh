#!/usr/bin/env bash
# Prepares the GPU check for a session that is lent a device (docs/cuda.md): builds test_cuda
# and cuda_bench here for sm_90 (H100/H200) without OpenBLAS and oneDNN (fewer libraries to
# carry), and puts them, the one non-system library they need (Boost.Test), the PyTorch peer
# (bench/peer/torch_cuda_peer.py) and run.sh into gpu_bundle/ (git-ignored; name it in the
# device tool's `carry`). On the device machine:
#   bash gpu_bundle/run.sh     (parity suite, benchmarks, peer; logs also to $OUT when set)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/cuda/bin"
cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DBIJGAN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DBIJGAN_USE_OPENBLAS=OFF -DBIJGAN_USE_DNNL=OFF -DBIJGAN_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/gpu --target test_cuda cuda_bench
rm -rf gpu_bundle
mkdir -p gpu_bundle/lib
cp build/gpu/tests/test_cuda build/gpu/bench/cuda_bench gpu_bundle/
strip gpu_bundle/test_cuda gpu_bundle/cuda_bench
# Debian libraries the device machine may lack: Boost.Test, libpng, libjpeg-turbo.
for lib in libboost_unit_test_framework libturbojpeg libpng16; do
  for bin in gpu_bundle/test_cuda gpu_bundle/cuda_bench; do
    so=$(ldd "$bin" | awk -v l="$lib" '$1 ~ l {print $3}')
    [ -n "$so" ] && cp -L "$so" gpu_bundle/lib/ && break
  done
done
cat >gpu_bundle/run.sh <<'RUN'
#!/usr/bin/env bash
# On the device machine: the CUDA parity suite, then the GPU benchmarks.
cd "$(dirname "$0")"
export LD_LIBRARY_PATH="$PWD/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
out=${OUT:-.}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
./test_cuda --log_level=test_suite --report_level=detailed 2>&1 | tee "$out/test_cuda.log"
./cuda_bench --threads "$(nproc)" 2>&1 | tee "$out/cuda_bench.log"
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  python3 torch_cuda_peer.py 2>&1 | tee "$out/torch_cuda_peer.log"
else
  echo "# no PyTorch with CUDA here: peer skipped"
fi
RUN
cp bench/peer/torch_cuda_peer.py gpu_bundle/
du -sh gpu_bundle
