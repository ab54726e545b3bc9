"""What a run costs: parameter counts and peak memory."""

import resource
import sys

from ftlab.models import in_head


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
        n = param.numel()
        total += n
        if param.requires_grad:
            trainable += n
            if any(in_head(name, head_prefixes) for name in names):
                head += n
    return {
        "total_params": total,
        "trainable_params": trainable,
        "head_params": head,
        "trainable_non_head_params": trainable - head,
    }


class PeakMemory:
    """Peak memory of a training run, in MB (MiB, 2**20 bytes).

    On CUDA: the peak of tensors allocated on the device since start() (torch's
    max_memory_allocated; the caching allocator reserves more than this).
    Elsewhere: the peak resident set size of this whole process (ru_maxrss). It cannot be reset,
    so it includes everything the process held before start(), such as the model load.

        with PeakMemory(device) as peak:
            fit(...)
        peak.read()  # {"peak_memory_mb": 1834.2, "memory_kind": "cuda_max_allocated"}
    """

    def __init__(self, device):
        import torch  # here, not at the top: the UI imports ftlab.metrics and never torch

        self.device = torch.device(device)
        self.is_cuda = self.device.type == "cuda"

    def start(self) -> "PeakMemory":
        if self.is_cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def read(self) -> dict:
        if self.is_cuda:
            import torch

            return {
                "peak_memory_mb": torch.cuda.max_memory_allocated(self.device) / 2**20,
                "memory_kind": "cuda_max_allocated",
            }
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports ru_maxrss in kB, macOS in bytes.
        peak_bytes = peak if sys.platform == "darwin" else peak * 1024
        return {"peak_memory_mb": peak_bytes / 2**20, "memory_kind": "cpu_peak_rss"}

    def __enter__(self) -> "PeakMemory":
        return self.start()

    def __exit__(self, *exc) -> None:
        return None
