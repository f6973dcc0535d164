#!/usr/bin/env bash
# The prepared script for a lent GPU session (see docs/performance.md). Parts, all by default:
#   tests       the whole test suite, CUDA tests included
#   throughput  suite views/s against the bare forward pass, ResNet-50 bf16+channels-last and fp32,
#               and bf16+channels-last with --decode device (JPEGs decoded by nvJPEG)
#   antialias   forward cost of BlurPool-4 and APS conversions, bf16+channels-last
#   antialias_compiled  the same for ResNet-50 under torch.compile (can the compiler fuse the
#               padding and the blur?); last, as compiling takes minutes
#   blurpool    one BlurPool layer computed six ways (which formulation is fastest on the GPU)
#   corruptions images/s of each on-the-fly corruption next to ResNet-50's forward (bf16)
# Figures go under $OUT. Test-only wheels are taken from .whl/ if present: prepare them with
#   pip download --no-deps -d .whl antialiased-cnns==0.3 imagecorruptions==1.1.2 torchcodec==0.17.0
set -uo pipefail
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/shiftbench-gpu}"
mkdir -p "$OUT"
parts="${*:-tests throughput antialias blurpool corruptions antialias_compiled}"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
nvidia-smi -L
python3 -c "import torch, torchvision, timm; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'timm', timm.__version__)"
for part in $parts; do
  case "$part" in
    tests)
      python3 -m pytest -q -p no:cacheprovider tests 2>&1 | tail -n 15 ;;
    throughput)
      for precision in "--amp bf16 --channels-last" ""; do
        tag=$( [ -n "$precision" ] && echo bf16_cl || echo fp32 )
        python3 benchmarks/throughput.py --model resnet50 --device cuda $precision \
          --images 2048 --batch-size 256 --workers 12 --json "$OUT/resnet50_$tag.json"
      done
      python3 benchmarks/throughput.py --model resnet50 --device cuda --amp bf16 --channels-last \
        --decode device --images 2048 --batch-size 256 --workers 12 \
        --json "$OUT/resnet50_bf16_cl_decode_device.json" ;;
    antialias)
      python3 benchmarks/antialias_cost.py --device cuda --amp bf16 --channels-last \
        --batch-size 256 --steps 20 --models "${AA_MODELS:-tv/resnet18,tv/resnet50,tv/mobilenet_v2,tv/densenet121,tv/vgg16_bn,efficientnet_b0,convnext_tiny}" --json "$OUT/antialias_cost_bf16_cl.json" ;;
    antialias_compiled)
      python3 benchmarks/antialias_cost.py --device cuda --amp bf16 --channels-last --compile \
        --batch-size 256 --steps 20 --models tv/resnet50 \
        --json "$OUT/antialias_cost_bf16_cl_compiled.json" ;;
    blurpool)
      for setting in "--dtype bf16 --channels-last" "--dtype bf16" "--dtype fp32 --channels-last"; do
        tag=$(echo "$setting" | tr -d ' -')
        python3 benchmarks/blurpool_kernels.py --device cuda $setting --json "$OUT/blurpool_$tag.json"
      done ;;
    corruptions)
      python3 benchmarks/corruption_speed.py --device cuda --amp bf16 --batch-size 256 \
        --json "$OUT/corruption_speed.json" ;;
  esac
done
