"""ftlab against two peers on the SAME fine-tuning job: end-to-end time, training throughput,
peak memory and test accuracy.

Peers (all start from the same weights: the model is built by `ftlab.models.load_model`, a thin
`from_pretrained` / `from_config` with the head seeded by --seed; only the training loop differs):

  classic     the hand-written loop of the classic BERT fine-tuning tutorials: every input padded
              to max_length up front (TensorDataset + RandomSampler), fp32 on CPU (plain bf16
              torch.autocast on GPU unless --classic-precision fp32), torch AdamW on every
              trainable parameter, linear warmup/decay, grad-norm clipping 1.0, test accuracy at
              the end.
  hf-trainer  transformers `Trainer` (+ peft `get_peft_model` for LoRA), `DataCollatorWithPadding`
              (dynamic padding), bf16 on GPU, report_to=[], no checkpoints, no evaluation during
              training, `predict` on the test split at the end.
  ftlab       `ftlab.train.train(RunConfig(...))` with the same settings and eval_every larger
              than the run, so the engine skips its validation passes and only the final test
              evaluation runs (like the two peers).
  ftlab-compile  (only when named in --peers) the same with compile=True: torch.compile with
              dynamic shapes, compilation time included in end-to-end time.

Same for everyone: model, data (ftlab.data.load_dataset: same train subset, same test split),
epochs, batch size (no accumulation), optimizer steps, lr, warmup ratio, weight decay, seed,
max_length, eval batch (2 x batch). LoRA is r=8, alpha=16, dropout 0.1 on query/value with the
head trained in full, in every peer.

Each (peer, method) runs in a fresh subprocess (`--worker PEER`), so peak RSS is per peer on CPU;
imports (and CUDA init) happen before the clock starts. Runs are interleaved (repeat r rotates
the peer order) so that drift in a shared machine's load hits every peer alike; ratios are the
median of per-repeat ratios.

    python benchmarks/throughput.py --preset demo-cpu
    python benchmarks/throughput.py --model tiny --dataset tweets-sentiment --methods full lora \
        --max-train 256 --max-eval 128 --epochs 1 --batch-size 16 --peers classic hf-trainer ftlab

Prints one JSON line per (peer, model, method), then a ratio table (ftlab vs each peer).

    python benchmarks/throughput.py --job sft [options of benchmarks/sft_job.py]

runs the generative job instead: ftlab against TRL's SFTTrainer on train tokens/s, and ftlab's
batched generation against a per-example model.generate loop on examples/s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/throughput.py` from anywhere imports this ftlab
    sys.path.insert(0, str(ROOT))

PEERS = ("classic", "hf-trainer", "ftlab", "ftlab-compile")
DEFAULT_PEERS = ("classic", "hf-trainer", "ftlab")
PEER_METHODS = ("full", "lora")  # what the classic and hf-trainer peers implement
LORA = dict(r=8, alpha=16, dropout=0.1, target_modules=["query", "value"])
H100_BF16_PEAK = 989e12  # dense bf16 FLOP/s of an H100 SXM

# Synthetic stand-ins for the GPU throughput job (no Hub needed): a random-init bert-base and
# texts long enough that every input is exactly max_length tokens.
BERT_BASE_RANDOM = "bert-base-random"
SYNTHETIC = "synthetic-128"

PRESETS = {
    # 2 CPU cores: about 7-8 minutes for the six runs (3 peers x 2 methods), half of it the classic
    # peer (every input padded to 128). 20 optimizer steps: enough to see accuracy leave the
    # majority baseline, not to converge.
    "demo-cpu": dict(model="minilm", dataset="tweets-sentiment", methods=["full", "lora"], max_train=320,
                     max_eval=200, epochs=1, batch_size=16, device="cpu"),
    # DESIGN.md's real-text job: the whole train split, 3 epochs, batch 32.
    "minilm-gpu": dict(model="minilm", dataset="tweets-sentiment", methods=["full", "lora"], max_train=None,
                       max_eval=None, epochs=3, batch_size=32, device="cuda"),
    # DESIGN.md's throughput job: random-init bert-base, every input 128 tokens, batch 256.
    "bertbase-gpu": dict(model=BERT_BASE_RANDOM, dataset=SYNTHETIC, methods=["full", "lora"], max_train=25600,
                         max_eval=2560, epochs=1, batch_size=256, device="cuda"),
}


# ================================================================================================
# Worker side: one peer, one method, in this process.
# ================================================================================================

def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def load_data(job: dict):
    from ftlab.data import load_dataset

    data = load_dataset(job["dataset"], split_seed=job["split_seed"], max_train=job["max_train"],
                        max_eval=job["max_eval"])
    if data.task != "classification":
        raise SystemExit(f"throughput.py benchmarks classification only; {job['dataset']} is {data.task}")
    return data


def build_model(job: dict, data, tokenizer):
    """The same starting weights in every peer: ftlab's loader, then peft's LoRA for 'lora'."""
    from ftlab import models

    model = models.load_model(job["model"], "classification", data.label_names, tokenizer, seed=job["seed"])
    if job["method"] == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=LORA["r"], lora_alpha=LORA["alpha"],
                                                 lora_dropout=LORA["dropout"], target_modules=LORA["target_modules"]))
    return model


def trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def total_steps(n_train: int, job: dict) -> int:
    return math.ceil(n_train / job["batch_size"]) * job["epochs"]


def run_classic(job: dict) -> dict:
    import torch
    from torch.utils.data import DataLoader, RandomSampler, SequentialSampler, TensorDataset
    from transformers import get_linear_schedule_with_warmup

    from ftlab import models

    device, bs = job["device"], job["batch_size"]
    seed_everything(job["seed"])
    data = load_data(job)
    tokenizer = models.load_tokenizer(job["model"])

    def tensors(split):
        enc = tokenizer(list(split.texts), padding="max_length", truncation=True, max_length=job["max_length"],
                        return_tensors="pt")
        return TensorDataset(enc["input_ids"], enc["attention_mask"], torch.tensor(split.labels))

    train_set, test_set = tensors(data.train), tensors(data.test)
    model = build_model(job, data, tokenizer).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=job["lr"], weight_decay=job["weight_decay"])
    steps = total_steps(len(train_set), job)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(job["warmup_ratio"] * steps), steps)
    loader = DataLoader(train_set, sampler=RandomSampler(train_set, generator=torch.Generator().manual_seed(job["seed"])),
                        batch_size=bs)
    amp = job["precision"] == "bf16"
    mid = steps // 2

    sync(device)
    t0 = time.perf_counter()
    step, t_mid = 0, None
    for _ in range(job["epochs"]):
        model.train()
        for ids, mask, labels in loader:
            ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=amp):
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            model.zero_grad()
            step += 1
            if step == mid:
                sync(device)
                t_mid = time.perf_counter()
    sync(device)
    t1 = time.perf_counter()
    train_s = t1 - t0

    model.eval()
    correct = 0
    with torch.no_grad():
        for ids, mask, labels in DataLoader(test_set, sampler=SequentialSampler(test_set), batch_size=2 * bs):
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=amp):
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            correct += int((logits.argmax(-1).cpu() == labels).sum())
    real = int(train_set.tensors[1].sum()) * job["epochs"]
    return dict(train_s=train_s, accuracy=correct / len(test_set), n_train=len(train_set), n_test=len(test_set),
                steps=step, real_tokens=real, padded_tokens=train_set.tensors[0].numel() * job["epochs"],
                steady=_steady(steps - mid, bs, t_mid, t1), evaluates="test (end)", trainable_params=trainable(model))


def run_hf_trainer(job: dict) -> dict:
    import numpy as np
    from transformers import (
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from ftlab import models

    device, bs = job["device"], job["batch_size"]
    seed_everything(job["seed"])
    data = load_data(job)
    tokenizer = models.load_tokenizer(job["model"])

    def records(split):  # tokenized, unpadded: the collator pads each batch to its longest member
        enc = tokenizer(list(split.texts), truncation=True, max_length=job["max_length"])
        return [{"input_ids": i, "attention_mask": a, "labels": int(y)}
                for i, a, y in zip(enc["input_ids"], enc["attention_mask"], split.labels)]

    train_set, test_set = records(data.train), records(data.test)
    model = build_model(job, data, tokenizer)
    steps = total_steps(len(train_set), job)
    mid = steps // 2

    class CountingCollator(DataCollatorWithPadding):
        padded = 0

        def __call__(self, features):
            batch = super().__call__(features)
            if model.training:
                CountingCollator.padded += batch["input_ids"].numel()
            return batch

    class MidTimer(TrainerCallback):
        t_mid = None

        def on_step_end(self, args, state, control, **kw):
            if state.global_step == mid:
                sync(device)
                MidTimer.t_mid = time.perf_counter()

    cuda = device.startswith("cuda")
    args = TrainingArguments(
        output_dir=job["scratch"], per_device_train_batch_size=bs, per_device_eval_batch_size=2 * bs,
        num_train_epochs=job["epochs"], learning_rate=job["lr"], warmup_steps=job["warmup_ratio"],
        weight_decay=job["weight_decay"], lr_scheduler_type="linear", max_grad_norm=1.0,
        bf16=cuda and job["precision"] == "bf16", use_cpu=not cuda, seed=job["seed"],
        save_strategy="no", eval_strategy="no", logging_strategy="no", report_to=[], disable_tqdm=True,
        label_names=["labels"])
    trainer = Trainer(model=model, args=args, train_dataset=train_set, data_collator=CountingCollator(tokenizer),
                      callbacks=[MidTimer()])
    sync(device)
    t0 = time.perf_counter()
    trainer.train()
    sync(device)
    t1 = time.perf_counter()
    padded = CountingCollator.padded
    pred = trainer.predict(test_set)
    accuracy = float((np.asarray(pred.predictions).argmax(-1) == np.array(data.test.labels)).mean())
    real = sum(len(r["input_ids"]) for r in train_set) * job["epochs"]
    return dict(train_s=t1 - t0, accuracy=accuracy, n_train=len(train_set), n_test=len(test_set),
                steps=trainer.state.global_step, real_tokens=real, padded_tokens=padded,
                steady=_steady(steps - mid, bs, MidTimer.t_mid, t1), evaluates="test (end, trainer.predict)",
                trainable_params=trainable(model))


def run_ftlab(job: dict) -> dict:
    from ftlab.config import RunConfig
    from ftlab.train import train

    method_options = {"r": LORA["r"], "alpha": LORA["alpha"], "dropout": LORA["dropout"],
                      "target_modules": LORA["target_modules"]} if job["method"] == "lora" else {}
    config = RunConfig(model=job["model"], dataset=job["dataset"], method=job["method"], method_options=method_options,
                       max_train=job["max_train"], max_eval=job["max_eval"], epochs=job["epochs"],
                       batch_size=job["batch_size"], lr=job["lr"], warmup_ratio=job["warmup_ratio"],
                       weight_decay=job["weight_decay"], max_length=job["max_length"], seed=job["seed"],
                       split_seed=job["split_seed"], device=job["device"],
                       precision="bf16" if job["precision"] == "bf16" else "fp32", compile=job.get("compile", False),
                       eval_every=10**9)  # > total steps: no validation pass, only the final test eval
    events: list[dict] = []
    summary = train(config, events.append)
    started = next(e for e in events if e["event"] == "started")
    test = next(e for e in events if e["event"] == "eval" and e["split"] == "test")
    if any(e["event"] == "eval" and e["split"] == "validation" for e in events):
        raise RuntimeError("ftlab ran a validation pass: eval_every did not exceed the run")
    n_train, n_test = started["dataset"]["sizes"]["train"], started["dataset"]["sizes"]["test"]
    test_s = n_test / test["eval_samples_per_s"]
    train_s = test["time"] - test_s - started["time"]  # started is sent just before the first step
    samples = n_train * job["epochs"]
    real = summary["train_tokens_per_s"] / summary["train_samples_per_s"] * samples
    steps_events = [e for e in events if e["event"] == "step"]
    steps = started["total_steps"]
    mid = next((e for e in steps_events if e["step"] >= steps // 2), None)
    last = steps_events[-1]
    steady = None
    if mid is not None and last["step"] > mid["step"]:
        steady = (last["step"] - mid["step"]) * job["batch_size"] / (last["time"] - mid["time"])
    return dict(train_s=train_s, accuracy=summary["accuracy"], n_train=n_train, n_test=n_test, steps=summary["steps"],
                real_tokens=real, padded_tokens=_ftlab_padded_tokens(job, config), steady=steady,
                evaluates="test (end; validation skipped)", trainable_params=summary["trainable_params"],
                engine_train_samples_per_s=summary["train_samples_per_s"],
                engine_peak_memory_mb=summary["peak_memory_mb"], engine_wall_s=summary["wall_s"])


def _ftlab_padded_tokens(job: dict, config) -> int:
    """The tokens ftlab's batches hold, pads included: its own batching replayed with its seed.
    Called after the clock stopped. Exact while the engine draws batches only from
    length_grouped_batches(rng=random.Random(seed)), as it does now."""
    from ftlab import models
    from ftlab.train.batching import length_grouped_batches, pad_multiple

    data = load_data(job)
    tok = models.load_tokenizer(job["model"])
    lengths = [len(x) for x in tok(list(data.train.texts), truncation=True, max_length=job["max_length"])["input_ids"]]
    multiple = pad_multiple("cuda" if job["device"].startswith("cuda") else "cpu")
    rng, total = random.Random(config.seed), 0
    for _ in range(job["epochs"]):
        for idx in length_grouped_batches(lengths, job["batch_size"], rng):
            total += len(idx) * -(-max(lengths[i] for i in idx) // multiple) * multiple
    return total


def _steady(steps_after_mid: int, bs: int, t_mid, t_end):
    """Samples/s over the second half of training: past warm-up, allocator growth, first-step costs."""
    if t_mid is None or steps_after_mid <= 0 or t_end <= t_mid:
        return None
    return steps_after_mid * bs / (t_end - t_mid)


RUNNERS = {"classic": run_classic, "hf-trainer": run_hf_trainer, "ftlab": run_ftlab,
           "ftlab-compile": lambda job: run_ftlab(dict(job, compile=True))}


def imports_for(peer: str) -> None:
    """What a peer needs, imported before the clock starts (imports are not what we compare)."""
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    import ftlab.data
    import ftlab.models

    if peer == "hf-trainer":
        from transformers import Trainer  # noqa: F401
    if peer.startswith("ftlab"):
        import ftlab.train  # noqa: F401
    if peer == "classic":
        from transformers import get_linear_schedule_with_warmup  # noqa: F401
    from peft import LoraConfig, get_peft_model  # noqa: F401


def rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def run_peer(peer: str, job: dict) -> dict:
    """Run one peer on the job in this process and measure it."""
    t_imp = time.perf_counter()
    imports_for(peer)
    import torch

    import_s = time.perf_counter() - t_imp
    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    device = job["device"]
    cuda = device.startswith("cuda")
    if cuda:
        torch.zeros(1, device=device)  # CUDA context before the clock starts
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss0 = rss_mb()
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    r = RUNNERS[peer](job)
    sync(device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if cuda:
        peak, kind = torch.cuda.max_memory_allocated() / 2**20, "cuda_max_allocated"
    else:
        peak, kind = rss_mb(), "cpu_peak_rss_process"
    samples = r["n_train"] * job["epochs"]
    out = dict(peer=peer, model=job["model_label"], dataset=job["dataset_label"], method=job["method"], device=device,
               device_name=torch.cuda.get_device_name(device) if cuda else f"cpu ({os.cpu_count()} cores)",
               precision=job["precision"], epochs=job["epochs"], batch_size=job["batch_size"], lr=job["lr"],
               max_length=job["max_length"], seed=job["seed"], n_train=r["n_train"], n_test=r["n_test"],
               steps=r["steps"], evaluates=r["evaluates"], trainable_params=r["trainable_params"],
               threads=torch.get_num_threads(), wall_s=wall, train_s=r["train_s"], other_s=wall - r["train_s"],
               cpu_s=cpu,
               train_samples_per_s=samples / r["train_s"],
               steady_samples_per_s=r["steady"],
               train_tokens_per_s=r["real_tokens"] / r["train_s"] if r["real_tokens"] is not None else None,
               pad_fraction=(1 - r["real_tokens"] / r["padded_tokens"]) if r.get("padded_tokens") else None,
               peak_memory_mb=peak, memory_kind=kind,
               peak_rss_delta_mb=None if cuda else peak - rss0,  # growth over the post-import peak
               accuracy=r["accuracy"], import_s=import_s)
    if cuda:
        flops_per_token = 6 * job["non_embedding_params"]
        out["approx_mfu"] = flops_per_token * r["real_tokens"] / r["train_s"] / job["peak_flops"]
        out["approx_mfu_padded"] = (flops_per_token * r["padded_tokens"] / r["train_s"] / job["peak_flops"]
                                    if r.get("padded_tokens") else None)
    else:
        out["approx_mfu"] = None
    for k in ("engine_train_samples_per_s", "engine_peak_memory_mb", "engine_wall_s"):
        if k in r:
            out[k] = r[k]
    return out


def worker_main(peer: str, job_file: str, result_file: str) -> int:
    job = json.loads(Path(job_file).read_text())
    result = run_peer(peer, job)
    Path(result_file).write_text(json.dumps(result))
    return 0


# ================================================================================================
# Orchestrator side.
# ================================================================================================

def prepare_model(name: str, workdir: Path) -> str:
    """A built-in or a path as is; 'bert-base-random' becomes a saved random-init bert-base folder."""
    if name != BERT_BASE_RANDOM:
        return name
    folder = workdir / BERT_BASE_RANDOM
    if not (folder / "config.json").is_file():
        import torch
        from transformers import BertConfig, BertModel

        from ftlab import models

        tok = models.load_tokenizer("minilm")  # bert-base-uncased's 30,522-token vocabulary
        torch.manual_seed(0)
        cfg = BertConfig(vocab_size=len(tok), hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                         intermediate_size=3072, max_position_embeddings=512, pad_token_id=tok.pad_token_id)
        BertModel(cfg).save_pretrained(folder)  # no head: every peer seeds its own
        tok.save_pretrained(folder)
    return str(folder)


# Common single-token words of the uncased BERT vocabulary, for synthetic text.
WORDS = ("the of and to in is was for on that with as by at from his her they this had not are but which "
         "one have were all an been when their there who more would so after first new two into time some "
         "other about also over only than most made such city year people world state during school house "
         "water music game family river north south east west night light story film book road line group").split()


def prepare_dataset(name: str, workdir: Path, max_train: int | None, max_eval: int | None) -> str:
    """A spec as is; 'synthetic-128' becomes a CSV whose texts all tokenize past 128 tokens
    (so every input is truncated to exactly max_length), labelled by a keyword the model can learn."""
    if name != SYNTHETIC:
        return name
    n_train, n_eval = max_train or 25600, max_eval or 2560
    n = max(int(n_train / 0.8) + 10, n_eval * 10 + 10)  # ftlab splits 80/10/10
    path = workdir / f"{SYNTHETIC}-{n}.csv"
    if not path.is_file():
        rng = random.Random(0)
        rows = ["text,label"]
        for _ in range(n):
            label = rng.randrange(2)
            words = [rng.choice(WORDS) for _ in range(160)]
            words[rng.randrange(100)] = ("good", "bad")[label]
            rows.append(f"{' '.join(words)},{('positive', 'negative')[label]}")
        workdir.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(rows) + "\n")
    return str(path)


def non_embedding_params(model: str) -> int:
    """Parameters outside the embedding tables (what 6*N*tokens counts), of the base model."""
    from ftlab import models

    tok = models.load_tokenizer(model)
    m = models.load_model(model, "classification", ["a", "b"], tok)
    return sum(p.numel() for n, p in m.named_parameters() if "embeddings" not in n)


def resolve_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), help="A named job (overridden by explicit flags).")
    p.add_argument("--model", help="minilm, tiny, a local folder, or 'bert-base-random'.")
    p.add_argument("--dataset", help="Any ftlab classification dataset spec, or 'synthetic-128'.")
    p.add_argument("--methods", nargs="+", choices=PEER_METHODS)
    p.add_argument("--max-train", type=int)
    p.add_argument("--max-eval", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="Peak lr for every peer (default: ftlab's default for the method).")
    p.add_argument("--warmup-ratio", type=float, default=0.06)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--peers", nargs="+", choices=PEERS, default=list(DEFAULT_PEERS),
                   help="ftlab-compile: ftlab with compile=True (torch.compile, dynamic shapes); its ratio row "
                        "says what compiling buys over plain ftlab.")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--classic-precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="auto: bf16 autocast on GPU, fp32 on CPU (the other peers' precision).")
    p.add_argument("--threads", type=int, help="torch threads in each worker (default: torch's, = cores).")
    p.add_argument("--repeat", type=int, default=1, help="Interleaved repeats; the peer order rotates each time.")
    p.add_argument("--peak-flops", type=float, default=H100_BF16_PEAK, help="Peak bf16 FLOP/s for the MFU estimate.")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "ftlab-bench"),
                   help="Where synthetic assets, worker logs and results go.")
    p.add_argument("--json-out", help="Also write every single run (all repeats) to this JSON file.")
    p.add_argument("--in-process", action="store_true",
                   help="Run peers in this process, one after another (smoke tests): no per-peer peak memory, "
                        "and later peers find caches warm. Never for numbers you report.")
    p.add_argument("--timeout", type=float, default=3600, help="Seconds one worker may run.")
    p.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    p.add_argument("--job-file", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return args
    preset = PRESETS.get(args.preset, {})
    defaults = dict(model="minilm", dataset="tweets-sentiment", methods=["full", "lora"], max_train=None,
                    max_eval=None, epochs=1, batch_size=32, device="auto")
    for key, value in {**defaults, **preset}.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def make_jobs(args) -> list[dict]:
    from ftlab import methods

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model = prepare_model(args.model, workdir)
    dataset = prepare_dataset(args.dataset, workdir, args.max_train, args.max_eval)
    cuda = args.device.startswith("cuda")
    precision = "bf16" if cuda else "fp32"
    nonemb = non_embedding_params(model) if cuda else None
    jobs = []
    for method in args.methods:
        base = dict(model=model, model_label=args.model, dataset=dataset, dataset_label=args.dataset, method=method,
                    max_train=args.max_train, max_eval=args.max_eval, epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr or methods.get_method(method).default_lr, warmup_ratio=args.warmup_ratio,
                    weight_decay=args.weight_decay, max_length=args.max_length, seed=args.seed,
                    split_seed=args.split_seed, device=args.device, precision=precision,
                    non_embedding_params=nonemb, peak_flops=args.peak_flops, threads=args.threads)
        for peer in args.peers:
            job = dict(base, peer=peer)
            if peer == "classic" and args.classic_precision != "auto":
                job["precision"] = args.classic_precision
            jobs.append(job)
    return jobs


def run_worker(job: dict, rundir: Path, tag: str, timeout: float) -> dict:
    job_file, result_file, log_file = (rundir / f"{tag}.{x}" for x in ("job.json", "result.json", "log"))
    job = dict(job, scratch=str(rundir / f"{tag}.scratch"))
    job_file.write_text(json.dumps(job))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", job["peer"], "--job-file", str(job_file),
           "--result-file", str(result_file)]
    with open(log_file, "wb") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, cwd=ROOT,
                              check=False).returncode
    if code != 0 or not result_file.is_file():
        tail = log_file.read_text(errors="replace").splitlines()[-25:]
        raise RuntimeError(f"worker {tag} exited with status {code}; log {log_file}:\n" + "\n".join(tail))
    return json.loads(result_file.read_text())


NUMERIC = ("wall_s", "train_s", "other_s", "cpu_s", "train_samples_per_s", "steady_samples_per_s", "train_tokens_per_s",
           "pad_fraction", "peak_memory_mb", "peak_rss_delta_mb", "accuracy", "import_s", "approx_mfu",
           "approx_mfu_padded", "engine_train_samples_per_s", "engine_peak_memory_mb", "engine_wall_s")


def summarize(runs: list[dict]) -> dict:
    """One line per (peer, model, method): medians over repeats, and every repeat's times."""
    first = runs[0]
    out = {k: v for k, v in first.items() if k not in NUMERIC}
    for k in NUMERIC:
        values = [r[k] for r in runs if r.get(k) is not None]
        if k in first or values:
            out[k] = round(statistics.median(values), 4) if values else None
    out["repeats"] = len(runs)
    if len(runs) > 1:
        out["wall_s_runs"] = [round(r["wall_s"], 2) for r in runs]
        out["train_s_runs"] = [round(r["train_s"], 2) for r in runs]
    return out


def ratio_rows(results: dict, methods: list[str], peers: list[str]) -> list[dict]:
    """Paired (same repeat) ratios ftlab vs each peer; the median over repeats."""
    rows = []
    for method in methods:
        f_runs = results.get(("ftlab", method))
        if not f_runs:
            continue
        for peer in peers:
            p_runs = results.get((peer, method))
            if peer == "ftlab" or not p_runs:
                continue
            pairs = list(zip(f_runs, p_runs))

            def med(fn, pairs=pairs):
                vals = [fn(f, p) for f, p in pairs]
                vals = [v for v in vals if v is not None]
                return statistics.median(vals) if vals else None

            rows.append(dict(
                method=method, vs=peer,
                end_to_end_speedup=med(lambda f, p: p["wall_s"] / f["wall_s"]),
                end_to_end_cpu_ratio=med(lambda f, p: p["cpu_s"] / f["cpu_s"]),
                train_speedup=med(lambda f, p: p["train_s"] / f["train_s"]),
                steady_samples_ratio=med(lambda f, p: f["steady_samples_per_s"] / p["steady_samples_per_s"]
                                         if f.get("steady_samples_per_s") and p.get("steady_samples_per_s") else None),
                real_tokens_per_s_ratio=med(lambda f, p: f["train_tokens_per_s"] / p["train_tokens_per_s"]),
                peak_memory_ratio=med(lambda f, p: f["peak_memory_mb"] / p["peak_memory_mb"]),
                accuracy_ftlab=statistics.median(f["accuracy"] for f in f_runs),
                accuracy_peer=statistics.median(p["accuracy"] for p in p_runs)))
    return rows


def format_table(rows: list[dict]) -> str:
    def fmt(v, spec="{:.2f}x"):
        return "-" if v is None else spec.format(v)

    lines = [("| method | ftlab vs | end-to-end speedup | end-to-end CPU-s ratio | train speedup | steady samples/s "
              "| real tokens/s | peak memory | accuracy ftlab / peer |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['vs']} | {fmt(r['end_to_end_speedup'])} | {fmt(r['end_to_end_cpu_ratio'])} | "
                     f"{fmt(r['train_speedup'])} | {fmt(r['steady_samples_ratio'])} | "
                     f"{fmt(r['real_tokens_per_s_ratio'])} | {fmt(r['peak_memory_ratio'])} | "
                     f"{r['accuracy_ftlab']:.4f} / {r['accuracy_peer']:.4f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["--job", "sft"]:  # generative fine-tuning against TRL: benchmarks/sft_job.py
        import sft_job

        return sft_job.main(argv[2:])
    args = resolve_args(argv)
    if args.worker:
        return worker_main(args.worker, args.job_file, args.result_file)
    jobs = make_jobs(args)
    rundir = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    print(f"# {len(jobs)} jobs x {args.repeat} repeat(s) on {args.device}; logs in {rundir}", file=sys.stderr, flush=True)
    results: dict[tuple[str, str], list[dict]] = {}
    t_all = time.perf_counter()
    for rep in range(args.repeat):
        for method in args.methods:
            group = [j for j in jobs if j["method"] == method]
            shift = rep % len(group)
            for job in group[shift:] + group[:shift]:  # rotate the order: no peer always runs first
                tag = f"r{rep}-{method}-{job['peer']}"
                if args.in_process:
                    with contextlib.redirect_stdout(sys.stderr):  # Trainer prints its metrics
                        res = run_peer(job["peer"], dict(job, scratch=str(rundir / f"{tag}.scratch")))
                    res["memory_kind"] += " (in-process: shared by every peer)"
                else:
                    res = run_worker(job, rundir, tag, args.timeout)
                res["repeat"] = rep
                results.setdefault((job["peer"], method), []).append(res)
                print(f"# {tag}: wall {res['wall_s']:.1f}s train {res['train_s']:.1f}s "
                      f"{res['train_samples_per_s']:.1f} samples/s acc {res['accuracy']:.4f} "
                      f"peak {res['peak_memory_mb']:.0f} MB", file=sys.stderr, flush=True)
    for method in args.methods:
        for peer in args.peers:
            print(json.dumps(summarize(results[(peer, method)])), flush=True)
    rows = ratio_rows(results, args.methods, args.peers)
    if rows:
        print()
        print(f"ftlab vs peers ({args.model}, {args.dataset}, {args.device}; ratios >1x favour ftlab except peak memory, "
              f"where <1x does; median of {args.repeat} paired repeat(s)):")
        print(format_table(rows))
    print(f"# total {time.perf_counter() - t_all:.0f}s", file=sys.stderr)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"args": vars(args), "runs": [r for rs in results.values() for r in rs],
                                                   "ratios": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
