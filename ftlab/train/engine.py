"""The training engine: one run, top to bottom (setup -> fit -> evaluate -> report).

`train(config, emit)` is the single entry point the CLI, the queue's workers and the tests call.
It reports through `emit(event_dict)` (started / step / eval / finished / failed / log) and
never touches the database. A failure emits `failed` with a one-line reason and the metrics
reached so far, then re-raises.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from ftlab import data as datasets
from ftlab import methods, metrics, models
from ftlab.models import quantize
from ftlab.config import RunConfig
from ftlab.errors import ConfigError, FtlabError, field, one_line
from ftlab.methods import MethodContext
from ftlab.train import artifacts, checkpoint, feature_cache, memory_plan
from ftlab.tasks import IGNORE, GenerationSettings, answers, get_task
from ftlab.train.batching import Encoded, collate, length_grouped_batches, pack, pad_multiple, sorted_batches
from ftlab.train.throughput import ThroughputWindow, rate
from ftlab.train.token_cache import encode_cached

Emit = Callable[[dict], None]
MAX_CURVE_POINTS = 200  # step events per run: enough for a smooth curve, cheap to store
LOG_LINES = 20  # training-step lines per run in its log (and the job's): progress a person reads
MAX_NEW_TOKENS = 512  # a generative evaluation's longest answer when neither the run nor the data says
KEEP_GENERATIONS = 1000  # test generations stored per run: the first this many examples


def train(config: RunConfig, emit: Optional[Emit] = None, *, artifact_dir: Optional[str] = None,
          should_stop: Optional[Callable[[], bool]] = None, init_dir: Optional[str] = None) -> dict:
    """Train and evaluate one run. Returns the summary (also sent in the `finished` event).

    `init_dir`: the saved run `config.init_from` continues (default: its folder beside
    `artifact_dir`, where the queue keeps every run's artifacts)."""
    emit = emit or (lambda event: None)
    should_stop = should_stop or (lambda: False)
    reached = Reached(t_start=time.perf_counter())

    def send(kind: str, **fields) -> None:
        emit({"event": kind, "time": time.time(), **fields})

    try:
        if config.init_from and not init_dir:
            if not artifact_dir:
                raise ConfigError(f"{field('init_from')}: continuing run {config.init_from} needs its saved "
                                  "weights: run this through the queue or with the database it was saved beside")
            init_dir = str(Path(artifact_dir).parent / f"run-{config.init_from}")
        run = setup(config, reached, init_dir)
        saved = checkpoint.latest(artifact_dir)
        send("started", device=str(run.device), total_steps=run.total_steps, params=reached.params,
             memory=reached.memory_estimate,
             resumed_from_step=saved["step"] if saved else 0,
             dataset={"fingerprint": run.data.fingerprint, "label_names": run.data.label_names,
                      "sizes": {"train": len(run.train_set), "validation": len(run.val_set), "test": len(run.test_set)}})
        for note in (reached.truncation_note, reached.packing_note):
            if note:
                send("log", message=note)
        if reached.features:
            f = reached.features
            send("log", message=f"the frozen body's features: {f['reused']:,} texts from the cache, "
                                f"{f['computed']:,} computed now; the head trains on them (no samples/s is "
                                "reported: it would time the head alone)")
        if getattr(run.model, "prompt", None):  # prompting: the words the model reads, for the record
            send("log", message="prompt: " + run.model.prompt)
        if run.parent is not None:  # continual: both tasks' scores before the first step
            run.parent.before = _scores(run, run.parent.test_set, run.parent.data, config, run.parent.generation)
            run.parent.new_before = _scores(run, run.test_set, run.data, config, run.generation)
        general_before = reached.general_before
        progress = fit(config, run, reached, send, should_stop, artifact_dir, saved)

        # ---- evaluate: the best validation checkpoint on the test split ------------------------
        if progress.best_state is not None:
            run.model.load_state_dict(progress.best_state, strict=False)
        send("log", message=f"evaluating test: {len(run.test_set):,} examples")
        final = evaluate(run.forward, run.test_set, run.data, run.tokenizer, config, run.device, run.autocast,
                         on_progress=progress_events(send, "test"), generation=run.generation)
        send("eval", step=progress.step, split="test", metrics=final["metrics"],
             eval_samples_per_s=final["samples_per_s"])
        if run.parent is not None:
            reached.continual = continual_summary(run, final["metrics"], config)
            send("log", message=f"continued from run {config.init_from}: its test {run.primary} "
                                f"{reached.continual['old_task_before']:.3f} -> {reached.continual['old_task_after']:.3f} "
                                f"(forgetting {reached.continual['forgetting']:+.3f}); this test "
                                f"{reached.continual['new_task_before']:.3f} -> {final['metrics'][run.primary]:.3f}")

        if general_before is not None:  # generative: what training cost the model on general text
            after = general_loss(run.model, run.tokenizer, run.data.task, run.device, run.autocast, config)
            reached.general = {"general_loss_before": general_before, "general_loss_after": after,
                               "forgetting_ce": after - general_before}
            send("log", message=f"cross-entropy on general text {general_before:.3f} -> {after:.3f} "
                                f"({after - general_before:+.3f} nats per token)")
        elif run.generation is not None:  # prompting changes no weight: nothing forgotten
            reached.general = {"forgetting_ce": 0.0}

        # ---- report: wall_s leaves out saving the artifacts -----------------------------------
        reached.final, reached.memory = final, run.memory.read()
        reached.wall_s = time.perf_counter() - reached.t_start
        if artifact_dir:
            reached.artifact_dir = artifacts.save(run.model, config, run.data.label_names, artifact_dir,
                                                  label_counts(run.data), run.generation)
            if progress.stopped != "canceled":  # a canceled run may be retried: it resumes from them
                checkpoint.discard(artifact_dir)
        summary = reached.summary()
        send("finished", summary=summary, per_class=final["per_class"], confusion=final.get("confusion"),
             report=final.get("report"), generations=final.get("generations"))
        return summary
    except BaseException as err:
        reached.wall_s = time.perf_counter() - reached.t_start
        send("failed", error=one_line(err), summary=reached.summary())
        raise


@dataclass
class Run:
    """What setup builds for the phases after it."""
    device: torch.device
    data: datasets.TaskData
    tokenizer: Any
    train_set: Encoded
    val_set: Encoded
    test_set: Encoded
    model: torch.nn.Module
    forward: Callable  # the model's calls (compiled with config.compile): the same module and weights
    method: methods.Method
    optimizer: Optional[torch.optim.Optimizer]  # None for a baseline, which trains nothing
    scheduler: Optional[torch.optim.lr_scheduler.LambdaLR]
    autocast: Any  # the torch.autocast context every forward runs in
    scaler: Any  # torch.amp.GradScaler: scales fp16 losses (a pass-through at other precisions)
    memory: metrics.PeakMemory
    steps_per_epoch: int
    total_steps: int
    report_every: int  # optimizer steps per curve point (step event)
    log_every: int  # optimizer steps per line in the run's log (a multiple of report_every)
    eval_every: int  # optimizer steps per validation pass
    primary: str  # the validation metric that picks the best checkpoint
    parent: Optional["Parent"] = None  # init_from: the run this one continues
    generation: Optional[GenerationSettings] = None  # generative tasks: how evaluations generate


@dataclass
class Parent:
    """The run a continual run starts from: its test split, to measure forgetting on."""
    run_id: int
    data: datasets.TaskData
    test_set: Encoded
    before: Optional[float] = None  # its test score with its own weights (before this run trains)
    new_before: Optional[float] = None  # the score of its weights on this run's test split
    generation: Optional[GenerationSettings] = None  # a generative parent: how its test is read


@dataclass
class Progress:
    """Where the fit loop is. The summary reads it, also when a run fails part-way."""
    t_start: float  # the run's start, time.perf_counter()
    steps_per_epoch: int
    window: ThroughputWindow  # the current curve point's loss and throughput, and the run's totals
    step: int = 0  # optimizer steps
    micro: int = 0  # micro-batches trained
    accumulated: int = 0  # micro-batches since the last optimizer step: a step at grad_accum or an epoch's end
    stopped: Optional[str] = None  # why the loop ended (the summary's stopped_reason); None while it runs
    best_score: float = -math.inf
    best_state: Optional[dict] = None  # trainable_state() of the best validation pass
    evals_since_best: int = 0
    time_to_first_step: Optional[float] = None
    epoch_rng: Any = None  # the data-order generator's state when this epoch's batches were drawn
    batches_done: int = 0  # batches of this epoch consumed: with epoch_rng, the place in the data
    last_checkpoint: float = 0.0  # time.perf_counter() of the last checkpoint (or the start)

    @property
    def epoch(self) -> float:
        return round(self.step / self.steps_per_epoch, 4)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start


@dataclass
class Reached:
    """What a run got to, filled in phase by phase. The one place its summary is built, for a
    finished run and for a failed one (which has the keys of the phases it reached)."""
    t_start: float
    params: Optional[dict] = None  # metrics.count_parameters
    progress: Optional[Progress] = None
    final: Optional[dict] = None  # evaluate() on the test split
    memory: Optional[dict] = None  # metrics.PeakMemory.read()
    truncation: Optional[dict] = None  # what max_length cuts of the test split (NER: test_entities_cut, test_entities)
    truncation_note: str = ""  # the same for the log, "" when it cuts nothing
    packing_note: str = ""  # packing: how many examples went into how many rows
    features: Optional[dict] = None  # head on a frozen body: cached feature rows {computed, reused}
    continual: Optional[dict] = None  # init_from: scores before/after on both tasks, forgetting, gain
    general: Optional[dict] = None  # generative: cross-entropy on general text before/after (forgetting_ce)
    general_before: Optional[float] = None  # that cross-entropy of the base model, before the method is applied
    memory_estimate: Optional[dict] = None  # ftlab.models.memory's parts of the peak, estimated before the first step
    process_mb: Optional[float] = None  # the process's resident memory before the model loaded (CPU)
    base_quantized: str = "none"  # what the built model's base holds: "none", "int8" or "nf4"
    wall_s: Optional[float] = None
    artifact_dir: Optional[str] = None

    def summary(self) -> dict:
        summary = dict(self.params or {}, **(self.truncation or {}), **(self.continual or {}), **(self.general or {}),
                       **(self.memory_estimate or {}), base_quantized=self.base_quantized)
        fit = self.progress
        if fit is not None and fit.step:
            totals = fit.window
            summary.update(steps=fit.step, epochs=fit.epoch,
                           train_samples_per_s=rate(totals.samples_seen, totals.train_s),
                           train_tokens_per_s=rate(totals.tokens_seen, totals.train_s),
                           time_to_first_step_s=fit.time_to_first_step)
        if self.final is not None:
            summary.update(self.final["metrics"])
            summary.update(self.memory or {}, eval_samples_per_s=self.final["samples_per_s"],
                           stopped_reason=fit.stopped, eval_loss=self.final["metrics"]["loss"])
        summary["wall_s"] = self.wall_s
        if self.features:
            # On cached features the steps and evaluations run the head alone: samples/s would
            # measure that, not the method, and flatter it on every throughput chart. Left out.
            for key in ("train_samples_per_s", "train_tokens_per_s", "eval_samples_per_s"):
                summary.pop(key, None)
            summary["features_cached"] = self.features["reused"]
        if self.artifact_dir:
            summary["artifact_dir"] = self.artifact_dir
        return summary


def setup(config: RunConfig, reached: Reached, init_dir: Optional[str] = None) -> Run:
    """Data, the model with its method, the optimizer: all the first step needs. The parameter counts
    go into `reached` as soon as they are known, so that a run failing after them (a method that
    left nothing to train) still reports them."""
    device = resolve_device(config.device)
    seed_everything(config.seed)
    data = artifacts.run_data(config)
    datasets.require_task(data, config.dataset, config.task)
    tokenizer = models.load_tokenizer(config.model)
    train_set, val_set, test_set = (encode_cached(s, data.task, data.label_names, tokenizer, config.max_length)
                                    for s in (data.train, data.validation, data.test))
    task = get_task(data.task)
    if task.trainable_rows is not None and methods.get_method(config.method).trains:
        train_set = learnable(train_set, task.trainable_rows(train_set), config, reached)
    if config.packing:
        examples, train_set = len(train_set), pack(train_set, config.max_length)
        reached.packing_note = f"packed {examples:,} training examples into {len(train_set):,} rows of up to " \
                               f"{config.max_length} tokens"
    if task.truncation is not None:
        reached.truncation = task.truncation(data, test_set)
        reached.truncation_note = reached.truncation.pop("note", "")
    parent = None
    # what the process holds before its model (a CPU peak counts it; a GPU's counts device tensors only)
    reached.process_mb = metrics.resident_mb() if device.type == "cpu" else 0.0
    if config.init_from:
        model, parent = continue_from(config, init_dir, data, tokenizer)
    else:
        model = models.load_model(config.model, data.task, data.label_names, tokenizer, seed=config.seed,
                                  quantize=config.quantize, compute_dtype=compute_dtype(config.precision, device),
                                  device=str(device))
    base_config = model.config  # the model's shapes (a baseline's `apply` returns an object without them)
    reached.base_quantized = quantize.is_quantized(model) or "none"
    if config.gradient_checkpointing:
        # non-reentrant: gradients reach the method's parameters inside a frozen base without the
        # inputs needing them (a continued run's model is the parent's peft model: its base)
        base = model.get_base_model() if parent is not None and hasattr(model, "get_base_model") else model
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    architecture = base_config.model_type
    if task.needs_decoder and not models.is_decoder(architecture):
        raise ConfigError(f"task {data.task}: model '{config.model}' is an encoder ({architecture}); "
                          f"{data.task} needs a decoder such as smollm2")
    method = methods.get_method(config.method)
    if method.check is not None and (reason := method.check(config.method_options, data.task, architecture)):
        raise ConfigError(f"method '{config.method}' cannot run on model '{config.model}' ({architecture}): {reason}")

    steps_per_epoch = math.ceil(len(train_set) / (config.batch_size * config.grad_accum))
    total_steps = (config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))) if method.trains else 0
    ctx = MethodContext(data.task, architecture, models.head_prefixes(model), total_steps, tuple(data.label_names),
                        label_counts(data), tokenizer, config.model, config.seed, data.train)
    autocast = autocast_context(config.precision, device)
    if get_task(data.task).generate is not None and method.trains and parent is None:
        # forgetting is measured from the base model as it ships (prompt-learning methods' random
        # virtual tokens would already move it)
        model = model.to(device)
        reached.general_before = general_loss(model, tokenizer, data.task, device, autocast, config)
    # A continued run's model is the parent's, its method already applied and its weights trained.
    model = (model if parent is not None else method.apply(model, config.method_options, ctx)).to(device)
    if getattr(model, "prompt_examples", None) and task.with_examples is not None:  # few-shot: examples in every prompt
        val_set, test_set = (encode_cached(task.with_examples(s, model.prompt_examples), data.task, data.label_names,
                                           tokenizer, config.max_length) for s in (data.validation, data.test))
    forward = compiled(model) if config.compile else model  # the same module; only calls differ
    if (method.frozen_body and method.frozen_body(config.method_options) and not config.compile
            and feature_cache.supported(model, architecture, ctx.head_prefixes)):
        # Only the head trains: the body's features are computed once (or read from the cache).
        head = getattr(model, ctx.head_prefixes[0])
        features, computed = feature_cache.compute(model, head, [train_set, val_set, test_set], data.task,
                                                   tokenizer.pad_token_id, device,
                                                   config.eval_batch_size or 2 * config.batch_size, config.model)
        forward = feature_cache.CachedHead(model, head, features, data.task, feature_cache.head_dropout(model))
        reached.features = {"computed": computed, "reused": len(features) - computed}
    reached.params = metrics.count_parameters(model, ctx.head_prefixes)
    reached.memory_estimate = memory_plan.estimate_run(config, base_config, reached.params, method, task, data,
                                                       (train_set, test_set), reached.process_mb,
                                                       (GENERAL_BATCH, GENERAL_MAX_TOKENS))

    optimizer = scheduler = None  # a baseline (method.trains False) is evaluated as it is
    if method.trains:
        optimizer = make_optimizer(model, config.effective_lr, config.weight_decay, device, config.effective_head_lr,
                                   ctx.head_prefixes)
        warmup = int(config.warmup_ratio * total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: linear_warmup_decay(s, warmup, total_steps))
    scaler = torch.amp.GradScaler(device.type, enabled=resolve_precision(config.precision, device) == "fp16")
    memory = metrics.PeakMemory(device)
    memory.start()
    return Run(device=device, data=data, tokenizer=tokenizer, train_set=train_set, val_set=val_set, test_set=test_set,
               model=model, forward=forward, method=method, optimizer=optimizer, scheduler=scheduler,
               autocast=autocast, scaler=scaler, memory=memory, steps_per_epoch=steps_per_epoch, total_steps=total_steps,
               report_every=(every := max(1, total_steps // MAX_CURVE_POINTS)),
               log_every=every * max(1, total_steps // (every * LOG_LINES)),
               eval_every=config.eval_every or steps_per_epoch,
               primary=task.primary, parent=parent,
               generation=generation_settings(config, data, tokenizer))


def learnable(train_set: Encoded, keep: list, config: RunConfig, reached: "Reached") -> Encoded:
    """The train rows with something to learn; refused when max_length leaves that for fewer than half."""
    n = len(train_set)
    if len(keep) == n:
        return train_set
    if len(keep) < n / 2:
        longest = sorted(len(p) for p in (train_set.prompt_ids or train_set.input_ids))[int(0.9 * (n - 1))]
        raise ConfigError(f"{field('max_length')} {config.max_length} cuts the whole answer of {n - len(keep):,} of "
                          f"{n:,} training examples (their prompts fill it): raise it above {longest:,}, the "
                          "90th percentile of the prompts' tokens")
    reached.truncation_note = (f"max_length {config.max_length} cuts the whole answer of {n - len(keep):,} of {n:,} "
                               "training examples; they are left out of training")
    pick = lambda rows: None if rows is None else [rows[i] for i in keep]  # noqa: E731
    return Encoded(pick(train_set.input_ids), pick(train_set.labels), prompts=pick(train_set.prompts),
                   references=pick(train_set.references), prompt_ids=pick(train_set.prompt_ids))


def continue_from(config: RunConfig, init_dir: str, data, tokenizer):
    """The model of saved run `config.init_from` (its method applied, its weights loaded) and its
    test split. Refused with the reason when it cannot continue: missing, another model or
    method, other label names."""
    run_id = config.init_from
    if not (Path(init_dir) / artifacts.META).is_file():
        raise ConfigError(f"{field('init_from')}: run {run_id} has no saved weights in {init_dir} "
                          "(it failed, was trained with saving off, or belongs to another database)")
    parent = artifacts.load(init_dir)
    if parent.config.model != config.model or parent.config.method != config.method:
        raise ConfigError(f"{field('init_from')}: run {run_id} trained {parent.config.method} on "
                          f"{parent.config.model}; continue it with the same model and method")
    if parent.config.quantize != config.quantize:
        raise ConfigError(f"{field('init_from')}: run {run_id} trained on a base quantized '{parent.config.quantize}'; "
                          f"continue it with quantize {parent.config.quantize}")
    if list(parent.label_names) != list(data.label_names):
        raise ConfigError(f"{field('init_from')}: run {run_id} has labels {list(parent.label_names)}, "
                          f"{config.dataset} has {list(data.label_names)}: continual runs need the same label names")
    old = artifacts.run_data(parent.config)
    old_test = encode_cached(old.test, old.task, old.label_names, tokenizer, config.max_length)
    model = parent.model
    model.train()
    # a generative parent's test is read as it was: its own dataset's rule and answer length
    return model, Parent(run_id, old, old_test, generation=generation_settings(parent.config, old, tokenizer))


def _scores(run: Run, dataset: Encoded, data, config: RunConfig,
            generation: Optional[GenerationSettings]) -> float:
    result = evaluate(run.forward, dataset, data, run.tokenizer, config, run.device, run.autocast,
                      generation=generation)
    return float(result["metrics"][run.primary])


GENERAL_MAX_TOKENS = 256  # of each general-text article
GENERAL_BATCH = 4  # articles per forward: their logits over a large vocabulary (SmolLM2: 200 MB for 4) must
# never set a run's peak memory


def general_loss(model, tokenizer, task: str, device, autocast, config: RunConfig) -> float:
    """The model's mean cross-entropy (nats per token) on ftlab's fixed sample of general text
    (ftlab.data.general_text, the first GENERAL_MAX_TOKENS tokens of each article, whatever the
    run's max_length), teacher-forced: how much of its general language a fine-tuning costs, as
    peft's method comparison measures forgetting."""
    ids = tokenizer(list(datasets.general_text()), add_special_tokens=False, truncation=True,
                    max_length=GENERAL_MAX_TOKENS)["input_ids"]
    sample = Encoded(ids, [list(row) for row in ids])
    batch_size = min(config.eval_batch_size or 2 * config.batch_size, GENERAL_BATCH)
    model.eval()
    total = tokens = 0.0
    with torch.inference_mode():
        for idx in sorted_batches(sample.lengths(), batch_size):
            host = collate(sample, idx, tokenizer.pad_token_id, task, pad_multiple(device.type))
            with autocast:
                loss = model(**to_device(host, device)).loss
            counted = float(sum(len(ids[i]) - 1 for i in idx))  # each text's first token is predicted by nothing
            total += float(loss) * counted
            tokens += counted
    model.train()
    return total / max(tokens, 1.0)


def continual_summary(run: Run, final_metrics: dict, config: RunConfig) -> dict:
    """Both tasks before and after; forgetting = the old task's score lost, gain = the new task's
    score won (in the primary metric: accuracy, or entity F1)."""
    after = _scores(run, run.parent.test_set, run.parent.data, config, run.parent.generation)
    new_after = float(final_metrics[run.primary])
    return {"init_from": run.parent.run_id, "old_task_before": run.parent.before, "old_task_after": after,
            "forgetting": run.parent.before - after, "new_task_before": run.parent.new_before,
            "new_task_gain": new_after - run.parent.new_before}


def fit(config: RunConfig, run: Run, reached: Reached, send: Callable[..., None],
        should_stop: Callable[[], bool], artifact_dir: Optional[str] = None,
        saved: Optional[dict] = None) -> Progress:
    """Epochs of micro-batches until a stopping rule ends the run; `reached.progress` follows along.
    From a `saved` checkpoint (checkpoint.latest of `artifact_dir`) the run goes on where it was;
    new checkpoints go to `artifact_dir`."""
    progress = reached.progress = Progress(reached.t_start, run.steps_per_epoch, ThroughputWindow(run.device))
    progress.last_checkpoint = time.perf_counter()
    if not run.method.trains:
        progress.stopped = "baseline"
        return progress
    rng = random.Random(config.seed)
    skip = resume(config, run, progress, saved, rng, send) if saved else None
    pad_id, multiple = run.tokenizer.pad_token_id, pad_multiple(run.device.type)
    run.model.train()
    while progress.stopped is None:
        if skip is None:
            progress.epoch_rng, progress.batches_done = rng.getstate(), 0
        batches = length_grouped_batches(run.train_set.lengths(), config.batch_size, rng)
        for idx in batches[skip or 0:]:
            progress.window.start()
            host_batch = collate(run.train_set, idx, pad_id, run.data.task, multiple)
            progress.batches_done += 1
            if train_micro_batch(config, run, progress, host_batch, epoch_end=progress.batches_done == len(batches)):
                after_step(config, run, progress, send, should_stop)
                if progress.stopped is None and artifact_dir:
                    maybe_checkpoint(config, run, progress, artifact_dir, send)
                if progress.stopped is not None:
                    break
        skip = None
    return progress


def maybe_checkpoint(config: RunConfig, run: Run, progress: Progress, artifact_dir: str,
                     send: Callable[..., None]) -> None:
    every_steps, every_s = config.checkpoint_policy
    if not checkpoint.due(progress.step, run.total_steps, every_steps,
                          time.perf_counter() - progress.last_checkpoint, every_s):
        return
    window = progress.window
    checkpoint.save(artifact_dir, progress.step, {
        "trainable": trainable_state(run.model), "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(), "scaler": run.scaler.state_dict(), "micro": progress.micro, "best_score": progress.best_score,
        "best_state": progress.best_state, "evals_since_best": progress.evals_since_best,
        "time_to_first_step": progress.time_to_first_step, "epoch_rng": progress.epoch_rng,
        "batches_done": progress.batches_done, "batch_size": config.batch_size,
        "totals": (window.train_s, window.samples_seen, window.tokens_seen)})
    progress.last_checkpoint = time.perf_counter()
    send("log", message=f"checkpoint at step {progress.step:,}")


def resume(config: RunConfig, run: Run, progress: Progress, state: dict, rng: random.Random,
           send: Callable[..., None]) -> int:
    """Load a checkpoint into the run; returns how many batches of its epoch were already
    trained. After a CUDA out-of-memory the queue
    retries with half the batch and twice the accumulation: the same samples per step, so the run
    goes on from the same step, skipping as many samples of the epoch (in a different grouping)."""
    run.model.load_state_dict(state["trainable"], strict=False)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    progress.step, progress.micro = state["step"], state["micro"]
    progress.best_score, progress.best_state = state["best_score"], state["best_state"]
    progress.evals_since_best, progress.time_to_first_step = state["evals_since_best"], state["time_to_first_step"]
    progress.epoch_rng, progress.batches_done = state["epoch_rng"], state["batches_done"]
    window = progress.window
    window.train_s, window.samples_seen, window.tokens_seen = state["totals"]
    rng.setstate(progress.epoch_rng)  # the epoch's batches are drawn again, the trained ones skipped
    checkpoint.restore_rng(state["rng"])
    saved_batch = state.get("batch_size", config.batch_size)
    note = "" if saved_batch == config.batch_size else (
        f" (batch {saved_batch} then, {config.batch_size} now: the rest of this epoch is grouped differently)")
    progress.batches_done = progress.batches_done * saved_batch // config.batch_size
    send("log", message=f"resumed from the checkpoint at step {progress.step} of {run.total_steps}{note}",
         resumed_from_step=progress.step)
    return progress.batches_done


def train_micro_batch(config: RunConfig, run: Run, progress: Progress, host_batch: dict[str, torch.Tensor],
                      epoch_end: bool = False) -> bool:
    """Forward and backward one micro-batch, and an optimizer step every grad_accum-th one or at
    the epoch's last: epochs end on a step, so per-epoch evaluations fall on real epoch ends. A
    step over fewer micro-batches is scaled to the same mean gradient. True when it stepped.
    Nothing here waits for the device."""
    n_examples = int(host_batch.pop("_examples", len(host_batch["input_ids"])))  # packed rows hold several
    n_tokens = int(host_batch.pop("_tokens", None) if "_tokens" in host_batch
                   else host_batch["attention_mask"].sum())  # counted on the host: no device sync
    with run.autocast:
        loss = run.forward(**to_device(host_batch, run.device)).loss
    run.scaler.scale(loss / config.grad_accum).backward()
    progress.window.add(loss, n_examples, n_tokens)
    progress.micro += 1
    progress.accumulated += 1
    if progress.accumulated < config.grad_accum and not epoch_end:
        return False
    trainable = [p for p in run.model.parameters() if p.requires_grad]
    if progress.accumulated < config.grad_accum:
        torch._foreach_mul_([p.grad for p in trainable if p.grad is not None], config.grad_accum / progress.accumulated)
    run.scaler.unscale_(run.optimizer)
    if config.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.scheduler.step()
    progress.step += 1
    progress.accumulated = 0
    if run.method.after_step is not None:
        run.method.after_step(run.model, progress.step)
    run.optimizer.zero_grad(set_to_none=True)
    if progress.time_to_first_step is None:
        progress.time_to_first_step = progress.elapsed()
    return True


def after_step(config: RunConfig, run: Run, progress: Progress, send: Callable[..., None],
               should_stop: Callable[[], bool]) -> None:
    """What is due after an optimizer step: a curve point, a validation pass, a stopping rule."""
    step, last = progress.step, progress.step == run.total_steps
    if step % run.report_every == 0 or last:
        window = progress.window.close()
        if not math.isfinite(window.loss):
            raise FtlabError(f"training diverged at step {step} (loss {window.loss}); lower {field('lr')}")
        send("step", step=step, epoch=progress.epoch, loss=window.loss,
             lr=run.scheduler.get_last_lr()[0], samples_per_s=window.samples_per_s, tokens_per_s=window.tokens_per_s,
             elapsed_s=progress.elapsed())
        if step % run.log_every == 0 or last:
            send("log", message=f"step {step:,} / {run.total_steps:,}: loss {window.loss:.4f}, "
                                f"{window.samples_per_s:,.1f} samples/s")

    # A lone validation pass at the very end chooses between nothing: skip it (it costs as
    # much as the test pass, ~50 s for 3.7k tweets on 2 CPU cores).
    lone_final = last and progress.best_state is None and run.total_steps <= run.eval_every
    if (step % run.eval_every == 0 or last) and not lone_final:
        validate(config, run, progress, send)
    progress.stopped = stop_reason(config, run, progress, should_stop)


def validate(config: RunConfig, run: Run, progress: Progress, send: Callable[..., None]) -> None:
    """A validation pass, outside the throughput window's clock; keeps the best checkpoint so far."""
    progress.window.pause()
    scores = evaluate(run.forward, run.val_set, run.data, run.tokenizer, config, run.device, run.autocast,
                      on_progress=progress_events(send, "validation"), generation=run.generation)
    send("eval", step=progress.step, split="validation", metrics=scores["metrics"],
         eval_samples_per_s=scores["samples_per_s"])
    send("log", message=f"validation at step {progress.step}: {run.primary} {scores['metrics'][run.primary]:.4f}, "
                        f"loss {scores['metrics']['loss']:.4f}")
    run.model.train()
    if scores["metrics"][run.primary] > progress.best_score:
        progress.best_score, progress.evals_since_best = scores["metrics"][run.primary], 0
        progress.best_state = trainable_state(run.model)
    else:
        progress.evals_since_best += 1


def stop_reason(config: RunConfig, run: Run, progress: Progress, should_stop: Callable[[], bool]) -> Optional[str]:
    """Why training ends after this step, or None. In this order: a time budget or a cancel that
    comes at the step where early stopping triggers is the reason given, and should_stop is asked
    only while no step limit or budget ends the run."""
    if progress.step >= run.total_steps:
        return "max_steps" if config.max_steps else "completed"
    if config.time_budget_s and progress.elapsed() > config.time_budget_s:
        return "time_budget"
    if should_stop():
        return "canceled"
    if config.early_stopping and progress.evals_since_best >= config.early_stopping:
        return "early_stopping"
    return None


def evaluate(model, dataset: Encoded, data, tokenizer, config: RunConfig, device, autocast,
             on_progress: Optional[Callable[[int, int], None]] = None,
             generation: Optional[GenerationSettings] = None) -> dict:
    """Loss and task metrics over a split, in length-sorted batches (eval batches are 2x train).
    Losses and predictions stay on the device until the last batch is queued: one wait, not one per batch.
    A generative task's metrics come from what the model generates (`generation` says how), after
    the loss pass. `on_progress(done, total)` after each batch (examples handed to the device)."""
    model.eval()
    task = get_task(data.task)
    batch_size = config.eval_batch_size or 2 * config.batch_size
    total_loss = torch.zeros((), device=device)
    outputs = []  # (indices, predicted ids on the device, host labels)
    multiple = pad_multiple(device.type)
    t0, done, scored = time.perf_counter(), 0, 0
    with torch.inference_mode():
        for idx in sorted_batches(dataset.lengths(), batch_size):
            host_batch = collate(dataset, idx, tokenizer.pad_token_id, data.task, multiple)
            with autocast:
                out = model(**to_device(host_batch, device))
            labels = host_batch["labels"]
            if labels.dim() == 1 or bool((labels != IGNORE).any()):  # all cut by max_length: no loss to add
                total_loss += out.loss.float() * len(idx)
                scored += len(idx)
            if task.decode is not None:
                outputs.append((idx, out.logits.argmax(-1), host_batch["labels"]))
            done += len(idx)
            if on_progress is not None and task.generate is None:
                on_progress(done, len(dataset))
        mean_loss = float(total_loss) / scored if scored else math.nan
        preds: dict[int, object] = {}
        for idx, guess, labels in outputs:
            preds.update(zip(idx, task.decode(guess.cpu(), labels)))
    if task.generate is not None:
        module = getattr(model, "_orig_mod", model)  # a compiled model's own module generates
        texts = task.generate(module, tokenizer, dataset, generation, device, autocast, on_progress)
        result = task.score(texts, dataset, generation)
    else:
        result = task.score([preds[i] for i in range(len(dataset))], dataset.labels, data.label_names)
    seconds = time.perf_counter() - t0
    scores = {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    scores["loss"] = mean_loss
    return {"metrics": scores, "per_class": result.get("per_class", []), "confusion": result.get("confusion"),
            "report": result.get("report"), "generations": result.get("generations"),
            "samples_per_s": rate(done, seconds)}


ANSWER_SAMPLE = 2000  # train answers a generative run's default max_new_tokens is measured on


def generation_settings(config: RunConfig, data, tokenizer) -> Optional[GenerationSettings]:
    """How a generative task's evaluation generates (None for the other tasks): the run's fields,
    else the dataset's, else from its answers (the longest train answer, whole, + 16 tokens; the
    rule ftlab.tasks.answers.infer_rule picks)."""
    if get_task(data.task).generate is None:
        return None
    given = data.generation or {}
    answers_ids = tokenizer(list(data.train.labels[:ANSWER_SAMPLE]), add_special_tokens=False)["input_ids"]
    longest = max((len(ids) + 1 for ids in answers_ids), default=0)  # + the end of turn
    return GenerationSettings(
        max_new_tokens=config.max_new_tokens or given.get("max_new_tokens") or min(MAX_NEW_TOKENS, longest + 16),
        rule=config.answer or given.get("rule") or answers.infer_rule(list(data.train.labels)),
        stop=tuple(config.stop or given.get("stop") or ()),
        batch_size=config.eval_batch_size or 2 * config.batch_size,
        keep=KEEP_GENERATIONS)


# ---- small pieces, each doing one thing ----------------------------------------------------

PROGRESS_EVERY_S = 2.0  # an evaluation's progress events: at most one per this many seconds, and its last


def progress_events(send: Callable[..., None], split: str) -> Callable[[int, int], None]:
    """An evaluate() callback sending "progress" events (split, done, total), throttled: the queue
    shows "evaluating test: 600 / 1,000" instead of a finished-looking 100%."""
    last = [-math.inf]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if done >= total or now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            send("progress", split=split, done=done, total=total)
    return report


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {name} requested but no CUDA GPU is visible; use --device cpu or auto")
    return torch.device(name)


def to_device(host_batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A collated batch on the device. On CUDA from pinned memory without blocking: the host goes
    on collating the next batch while the GPU still works on this one (the loop never waits on
    the GPU between logging windows)."""
    if device.type != "cuda":
        return host_batch
    return {k: v.pin_memory().to(device, non_blocking=True) for k, v in host_batch.items()}


def compiled(model):
    """torch.compile with dynamic shapes: batches of every padded length and size share one
    compiled graph for training and one for evaluation, instead of one per length (which would
    recompile most of the first epoch). A piece dynamo cannot trace runs eagerly.
    FTLAB_COMPILE_BACKEND picks another dynamo backend (e.g. aot_eager: tracing without code
    generation, which the tests use: inductor takes ~2 min on 2 CPU cores even for a tiny model)."""
    import os

    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    return torch.compile(model, dynamic=True, backend=os.environ.get("FTLAB_COMPILE_BACKEND") or "inductor")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' = bf16 on GPUs that support it, fp32 elsewhere (on CPU autocast is slower here)."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    return precision


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype a quantized base computes in: the run's precision (float32 on a CPU by default)."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(resolve_precision(precision, device), torch.float32)


def autocast_context(precision: str, device: torch.device):
    """The autocast every forward runs in; fp16 losses are scaled by the run's GradScaler."""
    precision = resolve_precision(precision, device)
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def make_optimizer(model, lr: float, weight_decay: float, device: torch.device, head_lr: Optional[float] = None,
                   head_prefixes: tuple = ()) -> torch.optim.Optimizer:
    """AdamW; no decay on biases and norm weights (1-D tensors); the task head's parameters at
    `head_lr` (default: lr). The fused kernel on CUDA and on CPU: on 2 CPU cores it steps MiniLM's
    22.7M parameters in 26 ms instead of 136 ms (foreach)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ConfigError("the method left no trainable parameter")
    head_lr = lr if head_lr is None else head_lr
    groups = []
    for is_head, group_lr in ((False, lr), (True, head_lr)):  # no head_prefixes: every parameter is the body's
        mine = [p for n, p in named if models.in_head(n, head_prefixes) == is_head]
        groups += [{"params": [p for p in mine if p.ndim >= 2], "weight_decay": weight_decay, "lr": group_lr},
                   {"params": [p for p in mine if p.ndim < 2], "weight_decay": 0.0, "lr": group_lr}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, fused=device.type in ("cuda", "cpu"))


def label_counts(data) -> tuple[int, ...]:
    """Train examples per label id (tokens per tag for NER); () where labels are free text."""
    if not get_task(data.task).labelled:
        return ()
    counts = [0] * len(data.label_names)
    for label in data.train.labels:
        for one in (label if isinstance(label, (list, tuple)) else [label]):
            counts[one] += 1
    return tuple(counts)


def linear_warmup_decay(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return max(0.0, (total - step) / max(1, total - warmup))


def trainable_state(model) -> dict[str, torch.Tensor]:
    """A copy of what the method trains (small for PEFT methods): the best-checkpoint snapshot."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

