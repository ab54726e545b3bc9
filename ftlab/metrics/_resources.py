"""What a run costs: parameter counts and peak memory."""

import gc
import math
import resource
import sys

from ftlab.models import in_head


def logical_numel(param) -> int:
    """The weights a parameter holds: a 4-bit quantized one (bitsandbytes' Params4bit) packs two
    per byte and keeps its real shape in its quantization state."""
    shape = getattr(getattr(param, "quant_state", None), "shape", None)
    return param.numel() if shape is None else math.prod(int(d) for d in shape)


def count_parameters(model, head_prefixes: tuple[str, ...]) -> dict:
    """Count the parameters of `model` as it is run (base model plus whatever a method added).

    - total_params: every parameter element in the model, frozen or not. A tensor reachable
      under several names (tied input/output embeddings, shared layers) counts once.
      Buffers (e.g. position_ids, BatchNorm statistics) are not parameters and are not counted.
    - trainable_params: the elements of the parameters with requires_grad=True when this is
      called, i.e. what the optimizer updates. Full fine-tuning: the whole model. LoRA and other
      adapters: the adapter weights plus any module peft trains in full (modules_to_save, such as
      the classification head); the frozen base weights, and the frozen original copy peft keeps
      beside each modules_to_save module, are counted in total_params only.
    - head_params: the trainable parameters whose name contains one of `head_prefixes` as whole
      dotted components ("classifier" matches "classifier.weight" and
      "base_model.model.classifier.modules_to_save.default.weight", not "myclassifier.weight").
    - trainable_non_head_params: trainable_params - head_params, the part the method itself adds
      or unfreezes beyond the task head.
    """
    # remove_duplicate=False lists a shared tensor under each of its names; we dedupe ourselves so
    # that a tensor counts as head if ANY of its names is a head name.
    seen: dict[object, list] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        # Same storage, same shape = the same weight, even when wrapped in two Parameter objects.
        # data_ptr is 0 for empty or meta tensors, which would all collide: fall back to identity.
        ptr = param.data_ptr()
        key = (param.device, ptr, tuple(param.shape)) if ptr else id(param)
        seen.setdefault(key, [param, []])[1].append(name)

    total = trainable = head = 0
    for param, names in seen.values():
        n = logical_numel(param)
        total += n
        if param.requires_grad:
            trainable += n
            if any(in_head(name, head_prefixes) for name in names):
                head += n
    return {
        "total_params": total,  # weights a 4-bit base packs two to a byte count as the weights they are
        "trainable_params": trainable,
        "head_params": head,
        "trainable_non_head_params": trainable - head,
    }


class PeakMemory:
    """Peak memory of one run, in MB (MiB, 2**20 bytes), from start() on.

    On CUDA: the peak of tensors allocated on the device since start() (torch's
    max_memory_allocated; the caching allocator reserves more than this).
    On Linux CPU: the process's peak resident set size since start(): start() resets the
    kernel's high-water mark (writing 5 to /proc/self/clear_refs) and read() reads it back
    (VmHWM). What the process held at start() (the loaded model, the data) is included, but not
    a higher peak an earlier run in the same process reached: each run of a grid reports its own.
    Where the reset is not possible (macOS, a locked-down /proc): the whole process's peak RSS
    (ru_maxrss), which never goes down, reported as memory_kind "cpu_process_peak_rss".

        with PeakMemory(device) as peak:
            fit(...)
        peak.read()  # {"peak_memory_mb": 1834.2, "memory_kind": "cuda_max_allocated"}
    """

    def __init__(self, device):
        import torch  # here, not at the top: the UI imports ftlab.metrics and never torch

        self.device = torch.device(device)
        self.is_cuda = self.device.type == "cuda"
        self.per_run = False

    def start(self) -> "PeakMemory":
        if self.is_cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            release_free_heap()  # what an earlier run left for the collector should not count
            self.per_run = reset_peak_rss()
        return self

    def read(self) -> dict:
        if self.is_cuda:
            import torch

            return {
                "peak_memory_mb": torch.cuda.max_memory_allocated(self.device) / 2**20,
                "memory_kind": "cuda_max_allocated",
            }
        peak_kb = high_water_mark_kb() if self.per_run else None
        if peak_kb is not None:
            return {"peak_memory_mb": peak_kb / 1024, "memory_kind": "cpu_peak_rss"}
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports ru_maxrss in kB, macOS in bytes.
        peak_bytes = peak if sys.platform == "darwin" else peak * 1024
        return {"peak_memory_mb": peak_bytes / 2**20, "memory_kind": "cpu_process_peak_rss"}

    def __enter__(self) -> "PeakMemory":
        return self.start()

    def __exit__(self, *exc) -> None:
        return None


def free_memory_mb(device: str = "auto") -> tuple:
    """(free MB, where) of the device a run would take: a GPU's free memory (asked of nvidia-smi,
    so the asking process, the dashboard, holds no CUDA context of its own), else the memory this
    machine has available (/proc/meminfo's MemAvailable); (None, where) when unknown."""
    if device != "cpu":
        import subprocess

        index = device.split(":")[1] if device.startswith("cuda:") else "0"
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.free,name", "--format=csv,noheader,nounits",
                                  "-i", index], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                free, name = out.stdout.strip().splitlines()[0].split(",", 1)
                return float(free), name.strip()
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass  # no NVIDIA GPU here: the machine's memory
        if device.startswith("cuda"):
            return None, f"GPU {index}"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024, "this machine (CPU)"
    except OSError:
        pass
    return None, "this machine (CPU)"


def release_free_heap() -> None:
    """Collect garbage, then hand the heap's free pages back to the system (glibc's malloc_trim):
    memory freed while the model loaded would otherwise stay resident and count as the run's. The
    trim is a no-op where the C library has no malloc_trim."""
    import ctypes
    import ctypes.util

    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux 4.0+). False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return high_water_mark_kb() is not None


def high_water_mark_kb():
    """VmHWM of /proc/self/status in kB: the peak RSS since the process began or the last reset."""
    return _status_kb("VmHWM:")


def resident_mb():
    """This process's resident memory now (VmRSS) in MB, None where /proc cannot say."""
    release_free_heap()
    kb = _status_kb("VmRSS:")
    return None if kb is None else kb / 1024


def _status_kb(field: str):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None
