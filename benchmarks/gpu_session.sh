#!/usr/bin/env bash
# The one prepared script for a lent GPU session (see docs/performance.md): CUDA tests,
# the throughput benchmark for ResNet-50 in bf16 + channels-last and in fp32, and the
# GPU-saved checkpoint fixture. Writes figures under $OUT.
set -uo pipefail
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/shiftbench-gpu}"
mkdir -p "$OUT"
nvidia-smi -L
python3 -c "import torch, torchvision, timm; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'timm', timm.__version__, 'cpus', __import__('os').cpu_count())"
python3 - "$OUT/cuda_saved.pth" <<'PY'
import sys, torch
state = {"module.weight": torch.arange(12.0).view(3, 4).cuda(), "module.bias": torch.ones(3).cuda()}
torch.save({"epoch": 1, "state_dict": state}, sys.argv[1])
PY
python3 -m pytest -q -p no:cacheprovider tests 2>&1 | tail -n 15
for precision in "--amp bf16 --channels-last" ""; do
  tag=$( [ -n "$precision" ] && echo bf16_cl || echo fp32 )
  python3 benchmarks/throughput.py --model resnet50 --device cuda $precision \
    --images 2048 --batch-size 256 --workers 12 --json "$OUT/resnet50_$tag.json"
done
