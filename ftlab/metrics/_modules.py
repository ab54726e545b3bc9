"""ftlab's own `evaluate` modules, loaded from this package's folder: no Hub, no network.

`evaluate.load("accuracy")` fetches its script from the Hub; a folder path holding NAME/NAME.py
does not. evaluate still copies the script into its modules cache (HF_MODULES_CACHE, default
~/.cache/huggingface/modules) and imports it from there, so that folder must be writable.
"""

import functools
import threading
from pathlib import Path

MODULES_DIR = Path(__file__).resolve().parent / "modules"
CLASSIFICATION = "ftlab_classification"
SEQEVAL = "ftlab_seqeval"

# A loaded module keeps the inputs of the compute() in progress on itself: one compute at a time.
_compute_lock = threading.Lock()


def module_path(name: str) -> str:
    """Absolute folder of a shipped module, the path `evaluate.load` takes."""
    return str(MODULES_DIR / name)


@functools.lru_cache(maxsize=None)
def load_module(name: str):
    """The loaded evaluate module `name`, created once per process."""
    # Imported here, not at the top: `import evaluate` pulls in datasets and transformers.pipelines
    # (~5-9 s), which callers such as the UI that only want majority_baseline should not pay.
    import evaluate

    # keep_in_memory: compute() buffers inputs in RAM, not in Arrow files guarded by file locks.
    return evaluate.load(module_path(name), keep_in_memory=True)


def compute(name: str, **inputs) -> dict:
    module = load_module(name)
    with _compute_lock:
        return module.compute(**inputs)
