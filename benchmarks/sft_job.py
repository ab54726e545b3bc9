"""The SFT job of benchmarks/throughput.py: ftlab's generative fine-tuning against TRL's SFTTrainer,
and ftlab's batched generation against a per-example `model.generate` loop.

Training, same for both (`python benchmarks/throughput.py --job sft`):
  model and data   the embedded SmolLM2-135M-Instruct, the first --max-train examples of a
                   built-in generative set (ftlab.data: same train subset), each prompt written with
                   the model's chat template; loss on the answer and its end-of-turn token only
                   (TRL: prompt/completion text with completion_only_loss, eos appended; ftlab: the
                   prompt's labels IGNORE)
  optimisation     LoRA r=8, alpha 16, dropout 0.1 on q_proj/v_proj; AdamW at --lr, linear decay
                   after 6% warm-up, weight decay 0.01, clipping 1.0, --batch-size, --steps optimizer
                   steps, no packing, no evaluation or checkpoint during training, fp32 on CPU
  measured         train tokens/s = the tokens of the training batches that are not padding over
                   the training time (TRL: num_input_tokens_seen "non_padding" over train_runtime;
                   ftlab: the engine's train_tokens_per_s, which leaves its test evaluation out),
                   and the loss of the last quarter of the steps (equal within noise)

Evaluation: the trained ftlab run's model generates for --eval examples of the test split (greedy,
--max-new-tokens, the end-of-turn token stops): ftlab's batched, left-padded generation
(ftlab.tasks.sft.generate_ids, the evaluation path) against one `model.generate` per example; the
answers must agree, the ratio is examples/s. Each path is warmed up once, then they take turns for
--repeats rounds and each reports its median.

Each peer runs in its own process (`--worker`), one after another, never two at once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LORA = dict(r=8, alpha=16, dropout=0.1, target_modules=["q_proj", "v_proj"])
PEERS = ("trl", "ftlab", "generate-loop")


def job_config(job: dict):
    from ftlab.config import RunConfig

    return RunConfig(model=job["model"], dataset=job["dataset"], method="lora", method_options=LORA,
                     max_train=job["max_train"], max_eval=job["eval"], max_steps=job["steps"],
                     batch_size=job["batch_size"], lr=job["lr"], warmup_ratio=0.06, weight_decay=0.01,
                     max_length=job["max_length"], seed=job["seed"], device="cpu", precision="fp32",
                     eval_every=10 ** 9, max_new_tokens=job["max_new_tokens"])


def run_trl(job: dict) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from ftlab import models
    from ftlab.train.artifacts import run_data

    config = job_config(job)
    data = run_data(config)
    tokenizer = models.load_tokenizer(job["model"])
    model = models.load_model(job["model"], "sft", [], tokenizer, seed=job["seed"])
    # The prompt as the chat template writes it (ftlab's own rendering, the same text) and the answer
    # as plain completion text: TRL then appends the end of turn (eos), exactly the tokens ftlab
    # trains on. (A conversational completion would add the newline after the end of turn as a
    # scored token that is always right, and lower the loss TRL reports per token.)
    from ftlab.tasks.sft import render

    records = Dataset.from_list([{"prompt": render(tokenizer, messages)[0], "completion": answer}
                                 for messages, answer in zip(data.train.texts, data.train.labels)])
    losses = []

    class Losses(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append((state.global_step, logs["loss"]))

    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(output_dir=out, per_device_train_batch_size=job["batch_size"], max_steps=job["steps"],
                         learning_rate=job["lr"], lr_scheduler_type="linear", warmup_steps=int(0.06 * job["steps"]),
                         weight_decay=0.01,
                         max_grad_norm=1.0, logging_steps=1, save_strategy="no", eval_strategy="no", report_to=[],
                         max_length=job["max_length"], packing=False, completion_only_loss=True, seed=job["seed"],
                         dataset_kwargs={"add_special_tokens": False},
                         include_num_input_tokens_seen="non_padding", use_cpu=True, dataloader_num_workers=0,
                         disable_tqdm=True)
        trainer = SFTTrainer(model=model, args=args, train_dataset=records, processing_class=tokenizer,
                             peft_config=LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                                                    target_modules=LORA["target_modules"], task_type="CAUSAL_LM"),
                             callbacks=[Losses()])
        torch.manual_seed(job["seed"])
        result = trainer.train()
    tokens = trainer.state.num_input_tokens_seen
    return dict(train_s=result.metrics["train_runtime"], tokens=int(tokens),
                train_tokens_per_s=tokens / result.metrics["train_runtime"], losses=losses)


def run_ftlab(job: dict) -> dict:
    from ftlab.train import train

    events = []
    summary = train(job_config(job), events.append, artifact_dir=job["artifacts"])
    losses = [(e["step"], e["loss"]) for e in events if e["event"] == "step"]
    return dict(train_tokens_per_s=summary["train_tokens_per_s"], accuracy=summary["accuracy"],
                eval_samples_per_s=summary["eval_samples_per_s"], losses=losses)


def run_generation(job: dict) -> dict:
    """ftlab's batched generation and a per-example loop on the trained ftlab run's model."""
    import torch

    from ftlab.tasks import GenerationSettings, get_task
    from ftlab.tasks.sft import end_id, generate_ids
    from ftlab.train import artifacts

    predictor = artifacts.load(job["artifacts"])
    model, tokenizer = predictor.model, predictor.tokenizer
    data = artifacts.run_data(predictor.config)
    prompts = get_task("sft").encode(data.test, tokenizer, job["max_length"]).prompt_ids[:job["eval"]]
    off = torch.autocast("cpu", enabled=False)
    settings = GenerationSettings(max_new_tokens=job["max_new_tokens"], rule="normalized",
                                  batch_size=2 * job["batch_size"])
    end = end_id(tokenizer)

    def batched() -> list:
        return generate_ids(model, tokenizer, prompts, settings, torch.device("cpu"), off)

    def looped() -> list:
        out = []
        with torch.inference_mode():
            for ids in prompts:
                x = torch.tensor([ids])
                new = model.generate(input_ids=x, attention_mask=torch.ones_like(x),
                                     max_new_tokens=job["max_new_tokens"], do_sample=False, eos_token_id=end,
                                     pad_token_id=tokenizer.pad_token_id)[0, len(ids):].tolist()
                out.append(tokenizer.decode(new[:new.index(end)] if end in new else new,
                                            skip_special_tokens=True).strip())
        return out

    # Both warm up once (the first calls pick kernels and fill allocator caches), then take turns,
    # --repeats rounds: a slower moment of a shared machine lands on both, and each reports its median.
    answers = {"batched": batched(), "looped": looped()}
    rates: dict = {"batched": [], "looped": []}
    for _ in range(job["repeats"]):
        for name, fn in (("batched", batched), ("looped", looped)):
            t0 = time.perf_counter()
            answers[name] = fn()
            rates[name].append(len(prompts) / (time.perf_counter() - t0))
    return dict(examples=len(prompts), batched_per_s=statistics.median(rates["batched"]),
                loop_per_s=statistics.median(rates["looped"]), rounds=rates,
                agree=sum(a == b for a, b in zip(answers["batched"], answers["looped"])) / len(prompts))


RUNNERS = {"trl": run_trl, "ftlab": run_ftlab, "generate-loop": run_generation}


def worker(peer: str, job_file: str, out_file: str) -> int:
    job = json.loads(Path(job_file).read_text())
    import torch

    torch.set_num_threads(job["threads"])
    Path(out_file).write_text(json.dumps(RUNNERS[peer](job)))
    return 0


def late_loss(losses: list, share: float = 0.25) -> float:
    """Mean loss of the last `share` of the steps."""
    last = max(step for step, _ in losses)
    tail = [loss for step, loss in losses if step > last * (1 - share)]
    return statistics.fmean(tail)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2")
    p.add_argument("--dataset", default="tweets-instruct")
    p.add_argument("--max-train", type=int, default=256)
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--eval", type=int, default=48, help="test examples the generation comparison writes answers for")
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3, help="timed rounds of each generation path, taken in turns")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    p.add_argument("--job-file", help=argparse.SUPPRESS)
    p.add_argument("--out-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.job_file, args.out_file)
    work = Path(tempfile.mkdtemp(prefix="ftlab-sft-bench-"))
    job = {k: getattr(args, k) for k in ("model", "dataset", "max_train", "steps", "batch_size", "lr", "max_length",
                                         "eval", "max_new_tokens", "repeats", "seed", "threads")}
    job["artifacts"] = str(work / "ftlab-run")
    (work / "job.json").write_text(json.dumps(job))
    results = {}
    for peer in ("trl", "ftlab", "generate-loop"):  # generation uses the ftlab run's weights
        out = work / f"{peer}.json"
        done = subprocess.run([sys.executable, __file__, "--worker", peer, "--job-file", str(work / "job.json"),
                               "--out-file", str(out)], cwd=ROOT)
        if done.returncode:
            print(f"{peer} failed (exit {done.returncode})", file=sys.stderr)
            return done.returncode
        results[peer] = json.loads(out.read_text())
        print(json.dumps({"peer": peer, **{k: v for k, v in results[peer].items() if k != "losses"}}), flush=True)
    trl, ours, gen = results["trl"], results["ftlab"], results["generate-loop"]
    print(f"\nSFT job: {args.model}, {args.dataset} ({args.max_train} examples), LoRA r=8 on q/v, batch "
          f"{args.batch_size}, {args.steps} steps, completion-only loss, fp32, {args.threads} CPU threads")
    print("| measure | ftlab | peer | ratio |\n|---|---:|---:|---:|")
    print(f"| train tokens/s (vs TRL SFTTrainer) | {ours['train_tokens_per_s']:,.0f} | "
          f"{trl['train_tokens_per_s']:,.0f} | {ours['train_tokens_per_s'] / trl['train_tokens_per_s']:.2f}x |")
    print(f"| loss, last quarter of the steps (vs TRL) | {late_loss(ours['losses']):.3f} | "
          f"{late_loss(trl['losses']):.3f} | |")
    paired = sorted(b / lp for b, lp in zip(gen["rounds"]["batched"], gen["rounds"]["looped"]))
    print(f"| evaluation examples/s (vs a model.generate per example; median of {len(paired)} rounds) | "
          f"{gen['batched_per_s']:.2f} | {gen['loop_per_s']:.2f} | {gen['batched_per_s'] / gen['loop_per_s']:.2f}x "
          f"(rounds {paired[0]:.2f}-{paired[-1]:.2f}x) |")
    print(f"| answers that agree, batched vs per example | {gen['agree']:.0%} of {gen['examples']} | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
