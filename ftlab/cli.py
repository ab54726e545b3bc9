"""Command line: `python -m ftlab COMMAND`.

Every user-fixable problem ends with ONE line on stderr ("error: ...") and a non-zero exit, never
a traceback (set FTLAB_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional

from ftlab.errors import ConfigError, FtlabError

DEFAULT_DB = "ftlab.duckdb"


# ---- RunConfig <-> flags -------------------------------------------------------------------

def add_config_flags(parser: argparse.ArgumentParser, grid: bool = False) -> None:
    """One flag per RunConfig field (help text from the field), plus --config and --opt.

    With grid=True (submit), --method takes several names and --seeds N repeats each N times."""
    from ftlab.config import RunConfig

    group = parser.add_argument_group("run configuration (defaults in brackets)")
    group.add_argument("--config", metavar="FILE", help="YAML/JSON file of run fields; flags override it.")
    for name, field in RunConfig.model_fields.items():
        if name == "method_options":
            continue
        default = field.get_default(call_default_factory=True)
        many = grid and name == "method"
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar=name.upper(), default=None,
                           nargs="+" if many else None,
                           help=f"{field.description}{' Several names make a grid.' if many else ''} [{default}]"
                           .replace("%", "%%"))
    group.add_argument("--opt", action="append", metavar="KEY=VALUE", default=[],
                       help="A method option, e.g. --opt r=16 --opt dora=true (see `ftlab methods`).")


def configs_from_args(args: argparse.Namespace) -> list:
    """submit: an experiment file, or flags where --method and --seeds make a grid."""
    from ftlab.experiments import load_configs

    if getattr(args, "file", None):
        from ftlab.config import RunConfig

        flags = [f"--{n.replace('_', '-')}" for n in RunConfig.model_fields if getattr(args, n, None) is not None]
        flags += ["--config"] * bool(args.config) + ["--opt"] * bool(args.opt)
        if flags:
            raise ConfigError(f"{args.file} gives every run's fields: set {', '.join(flags)} in the file "
                              "(base, grid or settings), not beside it")
        return load_configs(args.file)
    methods = args.method or [None]
    base_seed = int(args.seed or 0)
    out = []
    for method in methods:
        for i in range(args.seeds):
            ns = argparse.Namespace(**{**vars(args), "method": method, "seed": str(base_seed + i)})
            out.append(config_from_args(ns))
    return out


def config_from_args(args: argparse.Namespace):
    from ftlab.config import RunConfig, parse_opts, parse_value, read_mapping

    fields = read_mapping(args.config) if args.config else {}
    for name in RunConfig.model_fields:
        value = getattr(args, name, None)
        if value is not None and name != "method_options":
            # names stay strings; numbers and booleans are typed as YAML would type them
            fields[name] = value if name in ("model", "dataset", "method", "text_column", "label_column",
                                             "encoding", "device", "task", "precision") else parse_value(value)
    opts = parse_opts(args.opt)
    if opts:
        fields["method_options"] = {**(fields.get("method_options") or {}), **opts}
    return RunConfig(**fields)


# ---- progress ---------------------------------------------------------------------------------

class Progress:
    """A tqdm bar driven by engine events: loss, throughput and evaluations as they happen."""

    def __init__(self, label: str, quiet: bool = False):
        self.label, self.quiet, self.bar = label, quiet, None

    def __call__(self, event: dict) -> None:
        from tqdm import tqdm

        kind = event["event"]
        if self.quiet:
            return
        if kind == "started":
            p = event["params"]
            tqdm.write(f"{self.label}: {event['dataset']['sizes']} on {event['device']}; "
                       f"trainable {p['trainable_params']:,} of {p['total_params']:,} parameters")
            self.bar = tqdm(total=event["total_steps"], desc=self.label, unit="step", dynamic_ncols=True)
        elif kind == "step" and self.bar is not None:
            self.bar.update(event["step"] - self.bar.n)
            self.bar.set_postfix(loss=f"{event['loss']:.4f}", samples_s=f"{event['samples_per_s']:.0f}")
        elif kind == "eval":
            m = event["metrics"]
            shown = ", ".join(f"{k}={m[k]:.4f}" for k in ("loss", "accuracy", "macro_f1", "entity_f1") if k in m)
            tqdm.write(f"  eval {event['split']} @ step {event['step']}: {shown}")
        elif kind in ("finished", "failed") and self.bar is not None:
            self.bar.close()


# ---- commands ---------------------------------------------------------------------------------

def _print_summary(run_id: int, summary: Optional[dict], error: Optional[str]) -> None:
    if error:
        print(f"error: run {run_id} failed: {error}", file=sys.stderr)
        return
    keys = ("accuracy", "macro_f1", "entity_f1", "trainable_params", "total_params", "train_samples_per_s",
            "eval_samples_per_s", "peak_memory_mb", "wall_s")
    shown = ", ".join(f"{k}={summary[k]:.4g}" if isinstance(summary[k], float) else f"{k}={summary[k]}"
                      for k in keys if summary.get(k) is not None)
    print(f"run {run_id} succeeded: {shown}")


def cmd_train(args) -> int:
    from ftlab import service
    from ftlab.store import Store

    config = config_from_args(args)
    with Store(args.db) as store:
        run_id, summary, error = service.train_now(config, store, db_path=args.db, save=not args.no_save,
                                                   on_event=Progress(f"{config.method}", args.quiet))
    _print_summary(run_id, summary, error)
    return 1 if error else 0


def run_label(config) -> str:
    """model/dataset/method[/quantization]/seedN: how the commands name a run in their output."""
    quantized = "" if config.quantize == "none" else f"/{config.quantize}"
    return f"{config.model}/{config.dataset}/{config.method}{quantized}/seed{config.seed}"


def cmd_run(args) -> int:
    from ftlab import service
    from ftlab.experiments import file_experiment, load_configs
    from ftlab.store import Store

    configs = load_configs(args.file)
    experiment = file_experiment(args.file, configs)  # the file's runs and their baselines: one experiment
    failures = 0
    with Store(args.db) as store:
        if args.baselines:
            configs = service.missing_baselines(configs, store.runs_records(), []) + configs
        for i, config in enumerate(configs, 1):
            label = f"[{i}/{len(configs)}] {run_label(config)}"
            run_id, summary, error = service.train_now(config, store, db_path=args.db, save=not args.no_save,
                                                       on_event=Progress(label, args.quiet), experiment=experiment)
            _print_summary(run_id, summary, error)
            failures += error is not None
    print(f"{len(configs) - failures} of {len(configs)} runs succeeded; `python -m ftlab runs --db {args.db}` lists them")
    return 1 if failures else 0


def _json_or_empty(rows: list[dict], as_json: bool, empty: str) -> bool:
    """Print rows as JSON, or say there are none; True when nothing more should be printed."""
    if as_json:
        print(json.dumps(rows, indent=1, default=str))
    elif not rows:
        print(empty)
    return as_json or not rows


def cmd_runs(args) -> int:
    from ftlab.service import Lab

    filters = {k: getattr(args, k) for k in ("status", "dataset", "model", "method") if getattr(args, k)}
    with Lab(args.db) as lab:
        records = lab.runs(**filters)
    if _json_or_empty(records, args.json, f"no runs in {args.db}"):
        return 0
    import pandas as pd

    cols = ["id", "status", "model", "dataset", "label", "seed", "accuracy", "macro_f1", "entity_f1",
            "trainable_params", "train_samples_per_s", "peak_memory_mb", "wall_s", "experiment", "error"]
    frame = pd.DataFrame(records)[cols]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(frame.to_string(index=False))
    return 0


def _emit_table(rows: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=1, default=str))
        return
    for row in rows:
        name = row.pop("name")
        print(f"{name}\n    {row.pop('help')}")
        for opt in row.pop("options", []):
            print(f"    --opt {opt['name']}={opt['default']}  ({opt['type']}) {opt['help']}")
        for k, v in row.items():
            print(f"    {k}: {v}")


def cmd_methods(args) -> int:
    from ftlab import methods

    _emit_table([{"name": m.name, "help": m.help, "tasks": ", ".join(sorted(m.tasks)), "default_lr": m.default_lr,
                  "quantized_bases": ", ".join(sorted(m.quantized)) or "none", "options": methods.option_help(m)}
                 for m in methods.list_methods()], args.json)
    return 0


def cmd_datasets(args) -> int:
    from ftlab import data

    _emit_table([{"name": d.name, "help": d.description, "task": d.task} for d in data.list_datasets()], args.json)
    if not args.json:
        print("Also: a local .csv/.tsv/.jsonl/.json file (--text-column/--label-column), a CoNLL file for NER, "
              "or a Hugging Face Hub dataset name such as glue/sst2.")
    return 0


def cmd_models(args) -> int:
    from ftlab import models

    _emit_table([{"name": m.name, "help": m.description, "architecture": m.architecture, "kind": m.kind}
                 for m in models.list_models()], args.json)
    if not args.json:
        print("Also: any Hugging Face Hub id (e.g. bert-base-uncased) or a local model directory.")
    return 0


def cmd_export(args) -> int:
    from ftlab.service import Lab

    with Lab(args.db) as lab:
        folder = lab.export(args.run, args.format, args.out)
    print(f"run {args.run} exported as {args.format} to {folder}")
    return 0


def cmd_push(args) -> int:
    from ftlab.service import Lab

    with Lab(args.db) as lab:
        url = lab.push(args.run, args.repo, args.format, private=args.private)
    print(f"run {args.run} pushed to {url}")
    return 0


def cmd_sync(args) -> int:
    from ftlab.service import Lab

    with Lab(args.db) as lab:
        sent = lab.sync(args.to, args.runs)
    print(f"{sent} run(s) sent to {args.to}")
    return 0


def cmd_card(args) -> int:
    from ftlab import data, models

    loaded = data.load_dataset(args.dataset, text_column=args.text_column, label_column=args.label_column,
                               encoding=args.encoding)
    tokenizer = models.load_tokenizer(args.model) if args.model else None
    print(json.dumps(data.dataset_card(loaded, tokenizer, args.max_length), indent=1, default=str))
    return 0


ESTIMATE_PARTS = ("process_mb", "weights_mb", "gradients_mb", "optimizer_mb", "activations_mb", "evaluation_mb")


def _setting(config) -> str:
    """A run's setting: its config's hash with the seed left out (seeds of a setting share an estimate)."""
    return config.model_copy(update={"seed": 0}).hash


NAMED_APART = ("seed", "model", "dataset", "task", "method", "quantize", "method_options")


def _differences(configs: list) -> list[dict]:
    """Per config, the fields (beyond model, dataset and method) whose values differ across `configs`."""
    dicts = [c.to_dict() for c in configs]
    varying = [k for k in dicts[0] if k not in NAMED_APART and len({json.dumps(d.get(k)) for d in dicts}) > 1]
    return [{k: d.get(k) for k in varying} for d in dicts]


def cmd_estimate(args) -> int:
    """Peak memory of each setting of a grid or experiment file before it is queued: each part, the
    sum, the device's free memory, and the measured peak of the finished runs of that setting in --db."""
    from ftlab.config import RunConfig
    from ftlab.metrics import free_memory_mb
    from ftlab.service import Lab

    configs = list({_setting(c): c for c in configs_from_args(args)}.values())
    free_mb, where = free_memory_mb(configs[0].device)
    several = {k: len({getattr(c, k) for c in configs}) > 1 for k in ("model", "dataset")}
    rows = []
    with Lab(args.db) as lab:
        peaks: dict[str, list] = {}
        for r in lab.runs(status="succeeded"):
            try:
                key = _setting(RunConfig(**r["config"]))
            except (FtlabError, TypeError):  # recorded by an older ftlab, or its model folder is gone
                continue
            if r.get("peak_memory_mb"):
                peaks.setdefault(key, []).append(r["peak_memory_mb"])
        for c, differs in zip(configs, _differences(configs)):
            e = lab.estimate(c)
            seen = peaks.get(_setting(c))
            measured = max(seen) if seen else None
            rows.append({"model": c.model, "dataset": c.dataset,
                         "method": c.method + ("" if c.quantize == "none" else f", {c.quantize}"),
                         "setting": ", ".join(f"{k}={v}" for k, v in differs.items()),
                         "trainable": e["trainable_params"], **{k: e[k] for k in ESTIMATE_PARTS},
                         "estimated_peak_mb": e["estimated_peak_mb"], "measured_peak_mb": measured,
                         "measured_runs": len(seen or ()),
                         "estimated/measured": round(e["estimated_peak_mb"] / measured, 2) if measured else None,
                         "fits": free_mb is None or e["estimated_peak_mb"] <= free_mb})
    if args.json:
        print(json.dumps({"free_mb": free_mb, "device": where, "runs": rows}, indent=1, default=str))
        return 0
    named = [k for k in ("model", "dataset") if several[k]] + ["method"] + ["setting"] * any(r["setting"] for r in rows)
    head = named + ["trainable", "process", "weights", "gradients", "optimizer", "activations", "evaluation",
                    "peak MB", "measured", "est/meas"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        cells = [str(r[k]) for k in named] + [f"{r['trainable']:,}"] + [f"{r[k]:,.0f}" for k in ESTIMATE_PARTS] + \
            [f"{r['estimated_peak_mb']:,.0f}" + ("" if r["fits"] else " (!)"),
             f"{r['measured_peak_mb']:,.0f}" if r["measured_peak_mb"] else "-",
             f"{r['estimated/measured']:.2f}" if r["estimated/measured"] else "-"]
        print("| " + " | ".join(cells) + " |")
    print(f"\nmeasured: the highest peak of the finished runs of the same setting (any seed) in {args.db}")
    if free_mb is not None:
        where_to = "in the file" if getattr(args, "file", None) else "with --batch-size / --grad-accum / --quantize nf4"
        print(f"free memory on {where}: {free_mb:,.0f} MB" + ("" if all(r["fits"] for r in rows) else
              f"; runs marked (!) will not fit: lower the batch size (raising grad_accum keeps the effective "
              f"batch), or quantize the base (quantize: nf4), {where_to}"))
    return 0


def cmd_submit(args) -> int:
    from ftlab.service import Lab

    from ftlab.experiments import file_experiment

    configs = configs_from_args(args)  # all validated before anything is queued
    experiment = file_experiment(args.file, configs) if getattr(args, "file", None) else None
    with Lab(args.db) as lab:
        configs = (lab.missing_baselines(configs) if args.baselines else []) + configs
        ids = lab.submit(configs, priority=args.priority, experiment=experiment)
        where = "the running scheduler" if lab.remote else f"{args.db}; start `python -m ftlab worker --db {args.db}`"
    for job_id, c in zip(ids, configs):
        print(f"{job_id}  {run_label(c)}")
    print(f"queued {len(ids)} job(s) in {where}")
    return 0


def cmd_tune(args) -> int:
    import statistics
    import time

    from ftlab import methods
    from ftlab.service import Lab
    from ftlab.tasks import get_task

    names = args.method or ["lora"]
    base = config_from_args(argparse.Namespace(**{**vars(args), "method": names[0]}))
    with Lab(args.db) as lab:
        studies = lab.tune(base, names, trials=args.trials, seeds=args.seeds, parallel=args.parallel,
                           baselines=args.baselines)
        if lab.remote or args.submit:
            where = "the running scheduler" if lab.remote else f"{args.db}; start `python -m ftlab worker --db {args.db}`"
            print(f"queued {len(studies)} studies ({', '.join(names)}; {args.trials} trials each) in {where}")
            return 0
        print(f"tuning {', '.join(names)}: {args.trials} trials each, the best re-run over {args.seeds} seeds; "
              f"Ctrl-C stops (the studies go on at the next `ftlab worker --db {args.db}`)", flush=True)
        seen: dict = {}
        try:
            while True:
                lab.scheduler.tick()
                for job in lab.store.jobs_records():
                    if job["status"] in ("succeeded", "failed", "canceled", "pruned") and job["id"] not in seen:
                        seen[job["id"]] = job["status"]
                        config = job["config"]
                        baseline = not methods.get_method(config["method"]).trains
                        what = (f"trial {job['trial']}" if job.get("trial") is not None else
                                config.get("tag") or ("baseline" if baseline else "default"))
                        print(f"  {config['method']:<9} {what:<9} seed {config['seed']}  lr {config.get('lr') or '-'}: "
                              f"{job['status']}", flush=True)
                rows = lab.store.studies_records()
                ids = {s["id"] for s in studies}
                if all(r["status"] != "running" for r in rows if r["id"] in ids) and not lab.scheduler.running \
                        and not lab.store.next_jobs(1):
                    break
                time.sleep(0.2)
        except KeyboardInterrupt:
            return 130
        finally:
            lab.scheduler.shutdown()
        runs = lab.store.runs_records(status="succeeded")
        metric = get_task(base.task).primary
        print(f"\n| method | best lr / options (validation {metric}) | tuned: test {metric} | default: test {metric} |")
        print("|---|---|---|---|")
        for st in (r for r in lab.store.studies_records() if r["id"] in {s["id"] for s in studies}):
            best = st.get("best") or {}
            def score(tag):
                values = [r[metric] for r in runs if r["method"] == st["method"] and r["config"].get("tag") == tag
                          and all(r["config"].get(k) == v for k, v in base.to_dict().items()
                                  if k not in ("method", "method_options", "lr", "seed", "tag"))]
                if not values:
                    return "-"
                return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} (n={len(values)})" \
                    if len(values) > 1 else f"{values[0]:.3f} (n=1)"
            params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in (best.get("params") or {}).items())
            print(f"| {st['method']} | {params or st.get('error') or '-'} ({best.get('value', float('nan')):.3f}) "
                  f"| {score('tuned')} | {score(None)} |")
    return 0


def cmd_worker(args) -> int:
    import signal
    import threading

    from ftlab.service import Lab

    with Lab(args.db, jobs_per_gpu=args.jobs_per_gpu, cpu_slots=args.cpu_slots, backend=args.backend,
             ray_address=args.ray_address, spare_workers=args.spare_workers) as lab:
        lab.own()  # another process holds the database: its one line, not a second scheduler
        stop = threading.Event()

        def interrupted(*_):  # a first Ctrl-C stops after this tick (one landing inside a database query
            if stop.is_set():  # would otherwise surface as that query's error, and be retried); a second
                raise KeyboardInterrupt  # stops at once
            stop.set()

        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, interrupted)
        print(f"scheduler on {args.db}: slots {', '.join(lab.scheduler.slots)} ({args.backend} backend); Ctrl-C stops",
              flush=True)
        try:
            lab.scheduler.run(until_empty=args.until_empty, stop=stop)
        except KeyboardInterrupt:
            pass
        finally:
            lab.scheduler.shutdown()
        done = lab.store.jobs_records()
    counts: dict = {}
    for j in done:
        counts[j["status"]] = counts.get(j["status"], 0) + 1
    print("jobs: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return 0


def cmd_jobs(args) -> int:
    from ftlab.service import Lab

    with Lab(args.db) as lab:
        jobs = lab.jobs()
    keep = ("id", "status", "priority", "attempts", "oom_retries", "step", "total_steps", "samples_per_s", "eta_s",
            "last_loss", "device", "run_id", "error", "created_at", "started_at", "finished_at")
    rows = []
    for j in jobs:
        row = {k: j.get(k) for k in keep}
        c = j.get("config") or {}
        row.update(model=c.get("model"), dataset=c.get("dataset"), method=c.get("method"), seed=c.get("seed"))
        row["progress"] = round(j["step"] / j["total_steps"], 4) if j.get("step") and j.get("total_steps") else 0.0
        rows.append(row)
    if _json_or_empty(rows, args.json, f"no jobs in {args.db}"):
        return 0
    for r in rows:
        progress = f"{r['step'] or 0}/{r['total_steps'] or '?'}"
        extra = f" eta {r['eta_s']:.0f}s" if r.get("eta_s") else ""
        print(f"{r['id']}  {r['status']:<11} p{r['priority']:<3} {r['method']:<8} {r['dataset']:<18} {progress:>9}"
              f"{extra}  {r['error'] or ''}")
    return 0


def cmd_cancel(args) -> int:
    from ftlab.service import Lab

    with Lab(args.db) as lab:
        ids = list(args.job)
        if args.queued:
            ids += [j["id"] for j in lab.jobs() if j["status"] == "queued"]
        if not ids:
            raise FtlabError("name the jobs to cancel (ftlab jobs lists them), or --queued for every queued job")
        outcomes = lab.cancel_many(ids)
    for job_id, outcome in outcomes.items():
        print(f"{job_id}: {outcome}")
    return 0


def cmd_job_command(args) -> int:
    from ftlab.service import Lab

    with Lab(args.db) as lab:
        if args.command == "retry":
            result = lab.retry(args.job)
        else:
            result = lab.set_priority(args.job, args.priority)
    print(f"{args.job}: {result}")
    return 0


def cmd_log(args) -> int:
    from ftlab.service import Lab

    with Lab(args.db) as lab:
        print(lab.job_log(args.job), end="")
    return 0


def cmd_space_build(args) -> int:
    from ftlab import space

    progress: dict[str, Progress] = {}

    def on_event(label: str, event: dict) -> None:
        progress.setdefault(label, Progress(label, args.quiet))(event)

    counts = space.build(args.out, experiments=args.experiment, from_db=args.from_db, force=args.force,
                         on_event=on_event)
    total = counts["reused"] + counts["trained"] + counts["failed"]
    print(f"wrote {counts['out']}: {counts['reused']} runs copied, {counts['trained']} trained, "
          f"{counts['failed']} failed of {total}. Try it: cd {counts['out']} && python app.py; "
          "push it as its README.md says")
    return 1 if counts["failed"] else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ftlab", description="ftlab: compare full fine-tuning with "
                                     "parameter-efficient methods on your data and hardware.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def db(p):
        p.add_argument("--db", default=DEFAULT_DB, help=f"DuckDB file holding the runs [{DEFAULT_DB}]")

    p = sub.add_parser("train", help="Train one run now and record it.")
    add_config_flags(p)
    db(p)
    p.add_argument("--no-save", action="store_true", help="Do not save the trained adapter/head.")
    p.add_argument("--quiet", action="store_true", help="No progress bar.")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("run", help="Run every config of an experiment file, one after another.")
    p.add_argument("file", help="Experiment YAML (a grid) or a single-run config file.")
    db(p)
    p.add_argument("--no-save", action="store_true", help="Do not save the trained adapters/heads.")
    p.add_argument("--quiet", action="store_true", help="No progress bars.")
    p.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                   help="Also run the grid's baselines (majority class, zero-shot) unless this database has them [on]")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("estimate", help="Estimate each run's peak memory (a grid: several --method, or an "
                                        "experiment file) before queueing it.")
    p.add_argument("file", nargs="?", help="An experiment YAML instead of flags.")
    add_config_flags(p, grid=True)
    db(p)
    p.add_argument("--json", action="store_true", help="Machine-readable output.")
    p.set_defaults(func=cmd_estimate, seeds=1)

    p = sub.add_parser("submit", help="Queue runs for the scheduler (a grid: several --method, --seeds N).")
    p.add_argument("file", nargs="?", help="An experiment YAML instead of flags.")
    add_config_flags(p, grid=True)
    p.add_argument("--seeds", type=int, default=1, help="Runs per method, with seeds SEED, SEED+1, ... [1]")
    p.add_argument("--priority", type=int, default=0, help="Higher runs first [0]")
    p.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                   help="Also run the grid's baselines (majority class, zero-shot) unless this database has them [on]")
    db(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("tune", help="Tune methods on an equal budget (Optuna), then re-run each best setting over seeds.")
    add_config_flags(p, grid=True)
    p.add_argument("--trials", type=int, default=6, help="Trials per method: the same number for every method [6]")
    p.add_argument("--seeds", type=int, default=3, help="Seeds of the best setting's re-runs (and of the default runs "
                                                        "beside them) [3]")
    p.add_argument("--parallel", type=int, default=1, help="Trials of one method queued at a time [1]")
    p.add_argument("--submit", action="store_true", help="Only queue the studies, for a running dashboard or worker.")
    p.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                   help="Also run the majority-class and zero-shot baselines [on]")
    db(p)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("worker", help="Run the scheduler: execute queued jobs on the GPUs (or the CPU).")
    db(p)
    p.add_argument("--until-empty", action="store_true", help="Exit when no job is queued or running.")
    p.add_argument("--jobs-per-gpu", type=int, default=1, help="Jobs sharing one GPU (small PEFT runs) [1]")
    p.add_argument("--cpu-slots", type=int, default=1, help="Parallel jobs when there is no GPU [1]")
    p.add_argument("--spare-workers", action=argparse.BooleanOptionalAction, default=True,
                   help="Keep a worker per device started ahead, imports done, so a job starts ~7 s sooner "
                        "(local backend; costs ~0.6 GB of RAM while idle) [on]")
    p.add_argument("--backend", choices=["local", "ray"], default="local", help="local subprocesses or Ray tasks [local]")
    p.add_argument("--ray-address", help="Ray cluster address (e.g. ray://head:10001); default: start a local Ray")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("jobs", help="List queued, running and finished jobs with progress.")
    db(p)
    p.add_argument("--json", action="store_true", help="Print a JSON array, one object per job.")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("cancel", help="Cancel queued or running jobs (the queued ones at once, before any starts).")
    p.add_argument("job", nargs="*", help="Job ids (see `ftlab jobs`).")
    p.add_argument("--queued", action="store_true", help="Also every job still queued.")
    db(p)
    p.set_defaults(func=cmd_cancel)

    for name, what in (("retry", "Re-queue a failed, canceled or interrupted job (a succeeded one keeps its result)."),
                       ("priority", "Change the priority of a queued job.")):
        p = sub.add_parser(name, help=what)
        p.add_argument("job", help="Job id (see `ftlab jobs`).")
        if name == "priority":
            p.add_argument("priority", type=int, help="New priority, a whole number within 32 bits "
                                                     "(-2147483648 to 2147483647); higher runs first.")
        db(p)
        p.set_defaults(func=cmd_job_command)

    p = sub.add_parser("log", help="Print a job's full log.")
    p.add_argument("job")
    db(p)
    p.set_defaults(func=cmd_log)

    p = sub.add_parser("export", help="Write a run as a standard peft adapter or merged transformers folder.")
    p.add_argument("run", type=int, help="the run's id (ftlab runs)")
    p.add_argument("--format", choices=["adapter", "merged"], default="merged",
                   help="adapter: a peft folder (PeftModel.from_pretrained); merged: a plain transformers folder "
                        "(AutoModelFor...Classification, pipeline), the adapter folded in where the method allows it")
    p.add_argument("--out", required=True, help="a new, empty folder")
    p.add_argument("--db", default="ftlab.duckdb", help="the database the run is in")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("push", help="Upload a run's export (with its model card) to a Hugging Face Hub model repo.")
    p.add_argument("run", type=int, help="the run's id (ftlab runs)")
    p.add_argument("--repo", required=True, help="USER/NAME or ORG/NAME; created if it does not exist")
    p.add_argument("--format", choices=["auto", "adapter", "merged"], default="auto",
                   help="as for export; auto: merged where the method allows it, else the peft adapter")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--db", default=DEFAULT_DB, help="the database the run is in")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("sync", help="Mirror runs already in the database into an experiment tracker.")
    p.add_argument("--to", required=True, choices=["mlflow", "tensorboard"],
                   help="mlflow: $MLFLOW_TRACKING_URI, else a SQLite store beside the database; tensorboard: event "
                        "files beside the database. Runs already there are skipped.")
    p.add_argument("--runs", nargs="+", type=int, help="only these run ids (default: every finished run)")
    p.add_argument("--db", default=DEFAULT_DB, help="the database the runs are in")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("runs", help="List recorded runs.")
    db(p)
    p.add_argument("--json", action="store_true", help="Print a JSON array, one object per run.")
    for f in ("status", "dataset", "model", "method"):
        p.add_argument(f"--{f}", help=f"Only runs with this {f}.")
    p.set_defaults(func=cmd_runs)

    for name, func, what in (("methods", cmd_methods, "fine-tuning methods and their options"),
                             ("datasets", cmd_datasets, "built-in datasets"), ("models", cmd_models, "built-in models")):
        p = sub.add_parser(name, help=f"List the {what}.")
        p.add_argument("--json", action="store_true", help="Machine-readable output.")
        p.set_defaults(func=func)

    p = sub.add_parser("space", help="Hugging Face Space: `space build OUT_DIR` writes a ready-to-push Space folder.")
    space_sub = p.add_subparsers(dest="space_command", required=True, metavar="ACTION")
    p = space_sub.add_parser("build", help="Write spaces/, the ftlab package and a seeded results database to OUT_DIR.")
    p.add_argument("out", metavar="OUT_DIR", help="The Space folder to write (new or empty; --force replaces it).")
    p.add_argument("--experiment", action="append", metavar="FILE",
                   help="Experiment file whose runs seed the Space's database (repeatable) "
                        "[experiments/quick-compare.yaml].")
    p.add_argument("--from-db", default=DEFAULT_DB,
                   help=f"Copy runs of the same configs from this database instead of training them again [{DEFAULT_DB}]")
    p.add_argument("--force", action="store_true", help="Replace OUT_DIR if it exists.")
    p.add_argument("--quiet", action="store_true", help="No progress bars.")
    p.set_defaults(func=cmd_space_build)

    p = sub.add_parser("card", help="Describe a dataset: sizes, label balance, lengths, tokenizer [UNK] rate.")
    p.add_argument("dataset", help="Built-in name, local file or Hub name.")
    p.add_argument("--model", default="minilm", help="Tokenizer for the token statistics [minilm].")
    p.add_argument("--max-length", type=int, default=128, help="Truncation length for the truncation rate [128].")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--encoding")
    p.set_defaults(func=cmd_card)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import warnings

    # The libraries' notices of their own future changes (peft reading transformers' deprecated
    # is_gradient_checkpointing, say) are not the user's to act on: the console keeps to one line.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)(\.|$)")
    # transformers' per-load report ("score.weight MISSING", which every fresh task head is) is
    # noise here as in a worker's log; with --quiet its loading bars go too. A user's setting wins.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    args = build_parser().parse_args(argv)
    if getattr(args, "quiet", False):
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        return args.func(args)
    except FtlabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug, not bad input: still one line unless debugging
        if os.environ.get("FTLAB_DEBUG"):
            raise
        text = " ".join(str(err).split())[:300]
        print(f"error: {type(err).__name__}: {text} (set FTLAB_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
