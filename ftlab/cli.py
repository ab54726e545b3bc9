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

from ftlab.errors import FtlabError

DEFAULT_DB = "ftlab.duckdb"


# ---- RunConfig <-> flags -------------------------------------------------------------------

def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field (help text from the field), plus --config and --opt."""
    from ftlab.config import RunConfig

    group = parser.add_argument_group("run configuration (defaults in brackets)")
    group.add_argument("--config", metavar="FILE", help="YAML/JSON file of run fields; flags override it.")
    for name, field in RunConfig.model_fields.items():
        if name == "method_options":
            continue
        default = field.get_default(call_default_factory=True)
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar=name.upper(), default=None,
                           help=f"{field.description} [{default}]".replace("%", "%%"))
    group.add_argument("--opt", action="append", metavar="KEY=VALUE", default=[],
                       help="A method option, e.g. --opt r=16 --opt dora=true (see `ftlab methods`).")


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


def cmd_run(args) -> int:
    from ftlab import service
    from ftlab.experiments import load_configs
    from ftlab.store import Store

    configs = load_configs(args.file)
    failures = 0
    with Store(args.db) as store:
        for i, config in enumerate(configs, 1):
            label = f"[{i}/{len(configs)}] {config.model}/{config.dataset}/{config.method}/seed{config.seed}"
            run_id, summary, error = service.train_now(config, store, db_path=args.db, save=not args.no_save,
                                                       on_event=Progress(label, args.quiet))
            _print_summary(run_id, summary, error)
            failures += error is not None
    print(f"{len(configs) - failures} of {len(configs)} runs succeeded; `python -m ftlab runs --db {args.db}` lists them")
    return 1 if failures else 0


def cmd_runs(args) -> int:
    from ftlab.store import Store

    filters = {k: getattr(args, k) for k in ("status", "dataset", "model", "method") if getattr(args, k)}
    with Store(args.db) as store:
        records = store.runs_records(**filters)
    if args.json:
        print(json.dumps(records, indent=1, default=str))
        return 0
    if not records:
        print(f"no runs in {args.db}")
        return 0
    import pandas as pd

    cols = ["id", "status", "model", "dataset", "method", "seed", "accuracy", "macro_f1", "entity_f1",
            "trainable_params", "train_samples_per_s", "peak_memory_mb", "wall_s", "error"]
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
                  "options": methods.option_help(m)} for m in methods.list_methods()], args.json)
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


def cmd_card(args) -> int:
    from ftlab import data, models

    loaded = data.load_dataset(args.dataset, text_column=args.text_column, label_column=args.label_column,
                               encoding=args.encoding)
    tokenizer = models.load_tokenizer(args.model) if args.model else None
    print(json.dumps(data.dataset_card(loaded, tokenizer, args.max_length), indent=1, default=str))
    return 0


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
    p.set_defaults(func=cmd_run)

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
    args = build_parser().parse_args(argv)
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
