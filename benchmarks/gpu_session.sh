#!/usr/bin/env bash
# The prepared run for a lent GPU: one call that fits a session's 15 minutes of device time
# (the machine's start included), every figure in two files under $OUT.
#
#   bash benchmarks/gpu_session.sh [PART ...]        all parts, in this order, by default
#   SMOKE=1 bash benchmarks/gpu_session.sh           every part at toy sizes on the CPU
#   REVISION=<git rev-parse HEAD here> bash ...      the revision measured (no .git there)
#
# Parts, what closes open work first; each runs under a limit (seconds):
#   cuda_tests          150  the tests that need CUDA (tests/test_cuda.py, nvJPEG decoding)
#   blurpool             60  one BlurPool layer computed every way (blurpool_kernels.py), bf16
#                            and fp32, channels-last and NCHW, and with cudnn.benchmark
#   antialias           210  each model's cost of filter 1, BlurPool-4 and APS, of its blur
#                            layers alone, and of BlurPool-4 under every formulation (bf16,
#                            channels-last); then ResNet-50 and MobileNetV2 with cudnn.benchmark
#   corruptions          90  images/s of every corruption next to ResNet-50's forward (bf16)
#   throughput          180  suite views/s over the bare forward, ResNet-50 bf16 channels-last,
#                            images decoded by PIL workers and by nvJPEG (--decode device)
#   new_suites          120  the same for the subpixel, embedded and perturbation suites
#   antialias_compiled  200  ResNet-50 and its BlurPool-4 form under torch.compile
# BUDGET (seconds, default 540) bounds the whole run: a part gets what is left if that is less
# than its limit, and is skipped, saying so, when under 20 s are left.
#
# $OUT receives gpu_session.log and gpu_figures.tar.gz: the JSON figures and summary.md (their
# tables as the docs lay them out, by gpu_summary.py), rewritten after every part, so a run
# stopped at its limit still returns what it finished. The machine has torch, timm,
# scikit-image and OpenCV but not imagecorruptions, whose frost photographs the corruption
# parts need: fetch its wheel here first and carry it (".whl" in the call's carry):
#   python3 -m pip download --no-deps -d .whl imagecorruptions==1.1.2
set -uo pipefail
OUT="${OUT:-/tmp/shiftbench-gpu}"
BUDGET="${BUDGET:-540}"
FIGURES="$(mktemp -d)"
if [ "${SMOKE:-0}" = 1 ]; then  # a dry run of the script itself, every part at toy sizes
  DEVICE=cpu BATCH=2 STEPS=1 CORRUPTION_STEPS=1 IMAGES=6 WORKERS=0 SIZE=64
  LAYER="--batch 2 --channels 8 --size 16" THROUGHPUT="--img-size 32 --max-shift 8"
  MODELS=tv/resnet18,test_efficientnet PAIR=$MODELS R50=tv/resnet18 FORWARD_MODEL=test_resnet
else
  DEVICE=cuda BATCH=256 STEPS=20 CORRUPTION_STEPS=5 IMAGES=2048 WORKERS=12 SIZE=224
  LAYER="" THROUGHPUT=""
  MODELS=tv/resnet18,tv/resnet50,tv/mobilenet_v2,tv/densenet121,tv/vgg16_bn,efficientnet_b0
  MODELS=$MODELS,convnext_tiny PAIR=tv/resnet50,tv/mobilenet_v2 R50=tv/resnet50
  FORWARD_MODEL=resnet50
fi
export FIGURES DEVICE BATCH STEPS CORRUPTION_STEPS IMAGES WORKERS SIZE LAYER THROUGHPUT MODELS \
  PAIR R50 FORWARD_MODEL PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
mkdir -p "$OUT"

bundle() {  # the figures so far, with their tables (gpu_summary.py), into one archive
  python3 benchmarks/gpu_summary.py "$FIGURES" >"$FIGURES/summary.md.tmp" &&
    mv "$FIGURES/summary.md.tmp" "$FIGURES/summary.md"
  tar -czf "$OUT/gpu_figures.tar.gz" -C "$FIGURES" .
}

part() {  # part NAME LIMIT COMMAND...: run COMMAND under the limit and what is left of BUDGET
  local name=$1 limit=$2 left=$((BUDGET - SECONDS)) started=$SECONDS
  shift 2
  if [ "$left" -lt 20 ]; then
    echo "== $name: skipped ($left s left of the $BUDGET s budget)"
    return
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  echo "== $name (at most $limit s)"
  timeout --kill-after=10 "$limit" "$@"
  echo "== $name: exit $? after $((SECONDS - started)) s"
  bundle
}

cuda_tests() {
  python3 -m pytest -q -p no:cacheprovider -rs -k "cuda or nvjpeg" \
    tests/test_cuda.py tests/test_decode.py tests/test_jpeg.py
}

blurpool() {
  local setting tag
  for setting in "--dtype bf16 --channels-last" "--dtype bf16" "--dtype fp32 --channels-last" \
    "--dtype bf16 --channels-last --cudnn-benchmark"; do
    tag=$(echo "$setting" | sed 's/--dtype //; s/ --/_/g; s/-/_/g')
    # shellcheck disable=SC2086
    python3 benchmarks/blurpool_kernels.py --device "$DEVICE" $setting $LAYER \
      --json "$FIGURES/blurpool_$tag.json"
  done
}

antialias() {
  local common=(--device "$DEVICE" --amp bf16 --channels-last --img-size "$SIZE"
    --batch-size "$BATCH" --steps "$STEPS" --formulations)
  python3 benchmarks/antialias_cost.py "${common[@]}" --models "$MODELS" \
    --json "$FIGURES/antialias_cost_bf16_cl.json"
  python3 benchmarks/antialias_cost.py "${common[@]}" --models "$PAIR" --cudnn-benchmark \
    --json "$FIGURES/antialias_cost_bf16_cl_cudnn_benchmark.json"
}

corruptions() {
  python3 benchmarks/corruption_speed.py --device "$DEVICE" --amp bf16 --batch-size "$BATCH" \
    --steps "$CORRUPTION_STEPS" --model "$FORWARD_MODEL" --json "$FIGURES/corruption_speed.json"
}

throughput() {
  local decode
  for decode in pil device; do
    # shellcheck disable=SC2086
    python3 benchmarks/throughput.py --model "$FORWARD_MODEL" --device "$DEVICE" --amp bf16 \
      --channels-last --decode "$decode" --images "$IMAGES" --batch-size "$BATCH" \
      --workers "$WORKERS" $THROUGHPUT --json "$FIGURES/throughput_bf16_cl_decode_$decode.json"
  done
}

new_suites() {
  # shellcheck disable=SC2086
  python3 benchmarks/throughput.py --model "$FORWARD_MODEL" --device "$DEVICE" --amp bf16 \
    --channels-last --images "$IMAGES" --batch-size "$BATCH" --workers "$WORKERS" \
    --suites subpixel,embedded,perturbation $THROUGHPUT \
    --json "$FIGURES/throughput_new_suites_bf16_cl.json"
}

antialias_compiled() {
  python3 benchmarks/antialias_cost.py --device "$DEVICE" --amp bf16 --channels-last --compile \
    --img-size "$SIZE" --batch-size "$BATCH" --steps "$STEPS" --models "$R50" \
    --variants baseline,aa4 --json "$FIGURES/antialias_cost_bf16_cl_compiled.json"
}

declare -A LIMIT=([cuda_tests]=150 [blurpool]=60 [antialias]=210 [corruptions]=90
  [throughput]=180 [new_suites]=120 [antialias_compiled]=200)

main() {
  if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/site"
  fi
  {
    nvidia-smi -L
    python3 -c "import torch, torchvision, timm; print('torch', torch.__version__, 'cuda', \
torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), 'torchvision', \
torchvision.__version__, 'timm', timm.__version__)"
    echo "cores: $(nproc)"
    echo "shiftbench revision: ${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
  } 2>&1 | tee "$FIGURES/environment.txt"
  local name
  for name in ${*:-cuda_tests blurpool antialias corruptions throughput new_suites \
      antialias_compiled}; do
    if [ -z "${LIMIT[$name]:-}" ]; then
      echo "== $name: no such part (parts: ${!LIMIT[*]})"
      continue
    fi
    export -f "$name"
    part "$name" "${LIMIT[$name]}" bash -c "$name"
  done
  bundle
  cat "$FIGURES/summary.md"
  echo "== done in $SECONDS s"
}

main "$@" 2>&1 | tee "$OUT/gpu_session.log"
