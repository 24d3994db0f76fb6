#!/usr/bin/env bash
# Table II's ablation on Fashion-MNIST: nine runs of the demo program, each loss cumulative —
# (A) PO-GAN with recon + adversarial, (B) + distill, (C) + biject; (D)–(F) the same for DiBiGAN;
# (G)–(I) for DAB-GAN — all with the same number of steps, engine and H, then one markdown
# table (engine accuracy on reconstructions of test features, MS-SSIM diversity, H's class
# accuracy on the reconstructions' latents) in OUT/ablation.md.
#
#   tools/ablation.sh [--steps N (400)] [--test N (5000)] [--from DIR (out)] [--out DIR (out/ablation)] [--only A..I]
#                     [--extra "ARGS"]   (ARGS go to every run, e.g. "--biject-scale 0.1")
#
# --from holds lenet_fashion_mnist.safetensors and flow_fashion_mnist.ckpt.safetensors (the
# demo's output folder); missing ones are trained by the first run and reused by the others.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=400 test=5000 from=out out=out/ablation only=ABCDEFGHI extra=""
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --test) test=$2; shift 2 ;;
    --from) from=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --extra) extra=$2; shift 2 ;;
    *) echo "usage: tools/ablation.sh [--steps N] [--test N] [--from DIR] [--out DIR] [--only LETTERS] [--extra ARGS]" >&2; exit 2 ;;
  esac
done
bin=./build/release/examples/dabgan_fashion_mnist
if [ ! -x "$bin" ]; then
  bash tools/ensure-deps.sh
  cmake --preset release
  cmake --build --preset release --target dabgan_fashion_mnist
fi
mkdir -p "$from" "$out"
declare -A model=([A]=pogan [B]=pogan [C]=pogan [D]=dibigan [E]=dibigan [F]=dibigan [G]=dabgan [H]=dabgan [I]=dabgan)
declare -A flags=([A]="--no-distill --no-biject" [B]="--no-biject" [C]="" [D]="--no-distill --no-biject" [E]="--no-biject" [F]=""
                  [G]="--no-distill --no-biject" [H]="--no-biject" [I]="")
declare -A terms=([A]="adv + recon" [B]="+ distill" [C]="+ biject" [D]="adv + recon" [E]="+ distill" [F]="+ biject"
                  [G]="adv + recon" [H]="+ distill" [I]="+ biject")
for c in A B C D E F G H I; do
  [[ "$only" == *"$c"* ]] || continue
  mkdir -p "$out/$c"
  echo "== ($c) ${model[$c]} ${terms[$c]}: $steps steps"
  # shellcheck disable=SC2086
  "$bin" --model "${model[$c]}" ${flags[$c]} $extra --steps "$steps" --test "$test" --engine "$from/lenet_fashion_mnist.safetensors" \
    --flow "$from/flow_fashion_mnist.ckpt.safetensors" --out "$out/$c" | tee "$out/$c/log.txt" | grep -E "^(RESULT|trained|total|engine accuracy)" ||
    echo "($c) failed: see $out/$c/log.txt"
done
{
  echo "# Table II's ablation on Fashion-MNIST ($steps generator steps each, $test test features${extra:+, $extra})"
  echo
  echo "| config | model | terms | engine accuracy on reconstructions | MS-SSIM diversity | H's class accuracy on reconstructions | training s |"
  echo "|---|---|---|---|---|---|---|"
  for c in A B C D E F G H I; do
    [ -f "$out/$c/log.txt" ] || continue
    r=$(grep '^RESULT' "$out/$c/log.txt" || true)
    [ -n "$r" ] || { echo "| ($c) | ${model[$c]} | ${terms[$c]} | (no result) | | | |"; continue; }
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$r"; }
    secs=$(sed -n 's/^trained .* in \([0-9.]*\) s.*/\1/p' "$out/$c/log.txt")
    printf '| (%s) | %s | %s | %.2f %% | %.3f | %.1f %% | %s |\n' "$c" "${model[$c]}" "${terms[$c]}" \
      "$(awk -v a="$(get reconstruction_accuracy)" 'BEGIN{print 100*a}')" "$(get ms_ssim)" \
      "$(awk -v a="$(get latent_accuracy)" 'BEGIN{print 100*a}')" "$secs"
  done
  echo
  echo "Latent plots (H's latents of real test images as dots, reconstructions as crosses): $(for c in A B C D E F G H I; do [ -f "$out/$c/${model[$c]}_latents.png" ] && printf '[%s](%s/%s_latents.png) ' "$c" "$c" "${model[$c]}"; done)"
} >"$out/ablation.md"
cat "$out/ablation.md"
