"""What the Launch tab shows before a run is queued: a dataset's card and a run's estimate (parameter
counts, split sizes, a few timed steps), from datasets and models loaded once and kept in `Caches`."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Hashable, Optional

from ftlab import uploads
from ftlab.config import RunConfig

log = logging.getLogger(__name__)


class Caches:
    """Named caches of loaded things (datasets, cards, parameter counts, probes, predictors), each
    bounded: past its limit the least recently used entry goes. Thread-safe for the dashboard's
    concurrent events; a value is built outside the lock, so a slow load blocks no other cache."""

    LIMITS = {"datasets": 8, "cards": 32, "params": 64, "probes": 64, "predictors": 4}

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._maps: dict[str, OrderedDict] = {}

    def get(self, name: str, key: Hashable, build: Callable[[], object]):
        with self._lock:
            cache = self._maps.setdefault(name, OrderedDict())
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = build()
        with self._lock:
            cache[key] = value
            while len(cache) > self.LIMITS.get(name, 16):
                cache.popitem(last=False)
        return value

    def peek(self, name: str, key: Hashable):
        """The cached value, or None (no build)."""
        with self._lock:
            return self._maps.get(name, {}).get(key)


class Previews:
    """Mixed into `Lab` (ftlab.service.lab): reads `self.policy`, `self.db_path`, `self.caches` and
    `self.check_upload_owner`."""

    caches: Caches

    def _ui_dataset(self, spec: str, text_column=None, label_column=None, encoding=None, split_seed: int = 0,
                    task: Optional[str] = None):
        """A loaded dataset, cached per spec (built-ins parse in 0.1-1.5 s; files may change, so a
        file's size and modification time are part of the key)."""
        from ftlab import data

        if self.policy.caps is not None:
            self.policy.check_dataset(spec, str(uploads.root(self.db_path)))
        p = Path(spec)
        stamp = (p.stat().st_size, p.stat().st_mtime) if p.is_file() else None
        key = (spec, text_column, label_column, encoding, split_seed, stamp, task)
        return self.caches.get("datasets", key, lambda: data.load_dataset(
            spec, split_seed=split_seed, text_column=text_column, label_column=label_column, encoding=encoding,
            task=task))

    def dataset_card(self, spec: str, *, model: Optional[str] = None, max_length: int = 128,
                     text_column: Optional[str] = None, label_column: Optional[str] = None,
                     encoding: Optional[str] = None, user: Optional[str] = None) -> dict:
        """ftlab.data.dataset_card of a dataset (an upload only for who uploaded it, on a shared
        dashboard); with `model`, also its tokenizer's view ([UNK] rate, token lengths). A tokenizer
        that cannot load leaves `tokenizer_error` instead of failing."""
        from ftlab import data, models
        from ftlab.errors import FtlabError

        self.check_upload_owner(spec, user)

        def build() -> dict:
            loaded = self._ui_dataset(spec, text_column, label_column, encoding)
            tokenizer, problem = None, None
            if model:
                try:
                    tokenizer = models.load_tokenizer(model)
                except FtlabError as err:
                    problem = str(err)
            card = data.dataset_card(loaded, tokenizer, int(max_length))
            if problem:
                card["tokenizer_error"] = problem
            return card

        return self.caches.get("cards", (spec, model, int(max_length), text_column, label_column, encoding), build)

    def estimate(self, config: RunConfig, *, probe: bool = False) -> dict:
        """Parameter counts of `config`'s model with its method applied (from a finished run of the
        same model, task, label count, method and options when this database has one, else built
        once on CPU; cached), and the split sizes its caps give: {trainable_params, total_params,
        head_params, n_train, n_eval}. With `probe`, also the train/eval samples/s of a few timed
        steps on this machine (ftlab.train.probe; cached like the counts)."""
        from ftlab import metrics
        from ftlab.train.artifacts import build_untrained

        loaded = self._ui_dataset(config.dataset, config.text_column, config.label_column, config.encoding,
                                  config.split_seed, config.task)
        n_train = min(len(loaded.train), config.max_train or len(loaded.train))
        n_eval = min(len(loaded.validation), config.max_eval or len(loaded.validation))
        key = (config.model, config.task, len(loaded.label_names), config.method,
               config.method_options.model_dump_json())
        probe_key = key + (config.dataset, config.batch_size, config.max_length, config.precision, config.device,
                           config.quantize, config.gradient_checkpointing)
        built: dict = {}

        def build():  # one untrained model serves the count and the probe
            if "model" not in built:
                built["model"], built["tokenizer"], built["ctx"] = build_untrained(
                    config, list(loaded.label_names), train=loaded.train)
            return built["model"]

        counts = self.caches.get("params", key, lambda: self._counted(config, len(loaded.label_names))
                                 or metrics.count_parameters(build(), built["ctx"].head_prefixes))
        memory = self._memory(config, counts)
        rates = {}
        if probe:
            from ftlab.train.probe import probe_rates

            rates = self.caches.get("probes", probe_key,
                                    lambda: probe_rates(build(), built["tokenizer"], config, loaded.train, data=loaded))
        built.clear()
        return {**counts, "n_train": n_train, "n_eval": n_eval, **memory, **rates}

    def _memory(self, config: RunConfig, counts: dict) -> dict:
        """ftlab.train.memory_plan's estimate of the run's peak, from its model's config and the
        longest batches of the examples it will use (tokenized as the run will, cached), the
        process's own memory taken from this database's latest runs on a CPU."""
        from ftlab import methods, models
        from ftlab.train.artifacts import run_data
        from ftlab.tasks import get_task
        from ftlab.train.engine import GENERAL_BATCH, GENERAL_MAX_TOKENS, resolve_device
        from ftlab.train.memory_plan import estimate_run
        from ftlab.train.token_cache import encode_cached

        def build() -> dict:
            tokenizer = models.load_tokenizer(config.model)
            used = run_data(config)  # the examples the run will train and be tested on
            sets = [encode_cached(s, used.task, used.label_names, tokenizer, config.max_length)
                    for s in (used.train, used.test)]
            return estimate_run(config, models.load_config(config.model, tokenizer), counts,
                                methods.get_method(config.method), get_task(used.task), used, sets,
                                self._process_mb() if resolve_device(config.device).type == "cpu" else 0.0,
                                (GENERAL_BATCH, GENERAL_MAX_TOKENS))

        key = (config.hash, config.dataset, config.max_train, config.max_eval)
        try:
            return self.caches.get("memory", key, build)
        except Exception as err:  # noqa: BLE001 - the counts and times stand without it
            log.warning("no memory estimate for %s: %s", config.model, err)
            return {}

    def _process_mb(self) -> float | None:
        """A CPU worker's memory before its model, as this database's latest runs measured it
        (their median), else None (ftlab.models.memory.PROCESS_MB)."""
        import statistics

        seen = [r["summary"].get("process_mb") for r in self.runs(status="succeeded")[-20:]
                if isinstance(r.get("summary"), dict) and r["summary"].get("memory_kind") == "cpu_peak_rss"]
        seen = [float(v) for v in seen if v]
        return statistics.median(seen) if seen else None

    def _counted(self, config: RunConfig, n_labels: int) -> dict | None:
        """The parameter counts a succeeded run of the same model, task, label count, method and
        options recorded (what building the model would count), or None."""
        options = config.method_options.model_dump()
        for run in reversed(self.runs(status="succeeded")):
            stored = run.get("config") or {}
            if (run.get("model"), run.get("task"), run.get("method")) != (config.model, config.task, config.method):
                continue
            if len(run.get("label_names") or []) != n_labels or run.get("trainable_params") is None:
                continue
            try:
                same = RunConfig(**stored).method_options.model_dump() == options
            except Exception:  # noqa: BLE001 - a config an older ftlab wrote: count anew instead
                same = False
            if same:
                counts = {k: run.get(k) for k in ("trainable_params", "total_params", "head_params",
                                                  "trainable_non_head_params")}
                if None in counts.values():
                    continue
                return counts
        return None
