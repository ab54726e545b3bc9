"""The inputs a person gets wrong, as command-line flags with a word the one-line error must
contain: the CLI tests send them through `train` and `submit`, the browser test through the
Launch tab's Queue button. `{d}` is the folder `bad_files` fills. Offline (HF_HUB_OFFLINE=1)."""

import json


def bad_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text("text,label\n")
    (tmp_path / "cols.csv").write_text("review,stars\ngood,5\nbad,1\n")
    (tmp_path / "one_class.csv").write_text("text,label\n" + "".join(f"t{i},pos\n" for i in range(20)))
    (tmp_path / "bad.conll").write_text("alice B-PER\nsmith\n\n")
    (tmp_path / "badtag.conll").write_text("alice PERSON\n\n")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 40)  # a binary file renamed .csv
    # generative data (task sft): prompts without answers, in each shape
    lines = lambda rows: "".join(json.dumps(r) + "\n" for r in rows)  # noqa: E731
    (tmp_path / "no_answer.jsonl").write_text(lines({"prompt": f"q{i}", "notes": "x"} for i in range(12)))
    (tmp_path / "empty_answers.jsonl").write_text(lines({"prompt": f"q{i}", "completion": " "} for i in range(12)))
    (tmp_path / "no_assistant.jsonl").write_text(lines({"messages": [{"role": "user", "content": f"q{i}"}]}
                                                       for i in range(12)))
    (tmp_path / "long_prompts.jsonl").write_text(lines({"prompt": "the movie " * 30, "completion": "yes"}
                                                       for i in range(12)))
    return tmp_path


BAD_INPUTS = [
    (["--dataset", "{d}/missing.csv"], "not found"),
    (["--dataset", "{d}/empty.csv"], "empty"),
    (["--dataset", "{d}/header_only.csv"], "no rows"),
    (["--dataset", "{d}/cols.csv"], "column"),
    (["--dataset", "{d}/cols.csv", "--text-column", "review", "--label-column", "nope"], "nope"),
    (["--dataset", "{d}/one_class.csv"], "class"),
    (["--dataset", "{d}/bad.conll"], "line 2"),
    (["--dataset", "{d}/badtag.conll"], "PERSON"),
    (["--dataset", "no-such-set"], "no-such-set"),
    (["--model", "./no/such/model"], "not found"),
    (["--method", "lorra"], "unknown method"),
    (["--method", "lora", "--opt", "rank=4"], "rank"),
    (["--method", "lora", "--opt", "r=-1"], "method_options.r"),
    (["--method", "lora", "--opt", "r=big"], "method_options.r"),
    (["--batch-size", "0"], "batch_size"),
    (["--epochs", "soon"], "epochs"),
    (["--dataset", "{d}/binary.csv"], "binary.csv is not a text file"),
    (["--model", "{d}"], "config.json"),
    (["--model", "bert-base-uncasd"], "Hub is unreachable"),  # offline (set below): refused at once
    (["--dataset", "{d}/no_answer.jsonl", "--model", "tiny-llama", "--method", "lora", "--task", "sft"],
     "no answer column"),
    (["--dataset", "{d}/empty_answers.jsonl", "--model", "tiny-llama", "--method", "lora"], "every answer"),
    (["--dataset", "{d}/no_assistant.jsonl", "--model", "tiny-llama", "--method", "lora"], "no assistant turn"),
    (["--dataset", "{d}/long_prompts.jsonl", "--model", "tiny-llama", "--method", "lora", "--max-length", "16"],
     "cuts the whole answer"),
    (["--dataset", "{d}/long_prompts.jsonl", "--method", "lora"], "needs a decoder"),  # the tiny BERT
]
