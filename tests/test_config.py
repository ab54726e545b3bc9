"""RunConfig: validated on construction, one-line errors naming the field, stable hash, files."""

import json

import pytest

from ftlab.config import RunConfig, field_help, parse_opts
from ftlab.errors import ConfigError, FtlabError
from ftlab.experiments import load_configs


def test_defaults_infer_task_and_method_options():
    c = RunConfig()
    assert (c.model, c.dataset, c.task, c.method) == ("minilm", "tweets-sentiment", "classification", "lora")
    assert c.method_options.r == 8
    assert RunConfig(dataset="zh-ner", method="lora").task == "ner"


@pytest.mark.parametrize("fields, needle", [
    ({"batch_sise": 8}, "batch_sise: unknown option"),
    ({"batch_size": 0}, "batch_size"),
    ({"epochs": "many"}, "epochs"),
    ({"lr": 5.0}, "lr"),
    ({"method": "lorra"}, "unknown method 'lorra'"),
    ({"method": "lora", "method_options": {"rank": 4}}, "method_options.rank: unknown option"),
    ({"method": "lora", "method_options": {"r": "big"}}, "method_options.r"),
    ({"method": "lora", "method_options": {"r": 0}}, "method_options.r"),
    ({"dataset": "zh-ner", "method": "prompt"}, "does not support task 'ner'"),
    ({"model": "tiny-llama", "method": "bitfit"}, "no bias terms"),
    ({"model": "tiny-gpt2", "method": "boft"}, "Conv1D"),
    ({"model": "./no/such/dir"}, "model directory not found"),
    ({"device": "tpu"}, "device"),
])
def test_bad_values_are_one_line_errors_naming_the_field(fields, needle):
    with pytest.raises(FtlabError) as info:
        RunConfig(**fields)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_frozen_and_hash_stable():
    a, b = RunConfig(method="lora", seed=1), RunConfig(seed=1, method="lora", method_options={"r": 8})
    assert a == b and a.hash == b.hash and len(a.hash) == 16
    assert RunConfig(seed=2).hash != a.hash
    assert hash(a) == hash(b)
    with pytest.raises(Exception):
        a.seed = 3


def test_fields_added_later_keep_stored_hashes():
    # The default config's hash from before `compile` existed: stored runs are found again by it
    # (space build reuse, the dashboard's same-config grouping). A new field must not change it.
    assert RunConfig().hash == "04e643276ebd2005"
    assert RunConfig(compile=True).hash != RunConfig().hash
    assert RunConfig(**{k: v for k, v in RunConfig().to_dict().items() if k != "compile"}) == RunConfig()


def test_replace_resets_options_on_method_change():
    c = RunConfig(method="lora", method_options={"r": 4})
    d = c.replace(method="ia3")
    assert d.method == "ia3" and not hasattr(d.method_options, "r")
    assert c.replace(seed=5).method_options.r == 4


def test_opts_typed_like_yaml():
    assert parse_opts(["r=16", "dora=true", "target_modules=[query,value]", "alpha=0.5"]) == {
        "r": 16, "dora": True, "target_modules": ["query", "value"], "alpha": 0.5}
    with pytest.raises(ConfigError):
        parse_opts(["r16"])


def test_every_field_has_help():
    assert all(text.strip() for text in field_help().values())


def test_from_yaml_and_json(tmp_path):
    (tmp_path / "a.yaml").write_text("method: ia3\nseed: 3\n")
    (tmp_path / "b.json").write_text('{"method": "lora", "method_options": {"r": 4}}')
    (tmp_path / "bad.yaml").write_text("method: [unclosed\n")
    (tmp_path / "typo.yaml").write_text("methd: lora\n")
    assert RunConfig.from_file(tmp_path / "a.yaml").seed == 3
    assert RunConfig.from_file(tmp_path / "b.json").method_options.r == 4
    with pytest.raises(ConfigError, match="not valid YAML"):
        RunConfig.from_file(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="methd: unknown option"):
        load_configs(tmp_path / "typo.yaml")



def test_ner_runs_give_the_fresh_head_its_own_rate():
    import torch

    from ftlab import models
    from ftlab.tasks.ner import HEAD_LR as NER_HEAD_LR
    from ftlab.train.engine import make_optimizer

    ner = RunConfig(model="tiny", dataset="zh-ner", method="lora")
    assert ner.head_lr == NER_HEAD_LR and ner.effective_head_lr == NER_HEAD_LR and ner.effective_lr == 5e-3
    assert RunConfig(model="tiny", dataset="zh-ner", method="lora", head_lr=1e-3).effective_head_lr == 1e-3
    cls = RunConfig(model="tiny", dataset="tweets-sentiment", method="lora")
    assert cls.head_lr is None and cls.effective_head_lr == cls.effective_lr
    assert "head_lr" not in json.dumps(cls.to_dict()) or cls.to_dict()["head_lr"] is None
    assert RunConfig(model="tiny", dataset="zh-ner", method="majority").head_lr is None  # trains nothing

    tok = models.load_tokenizer("tiny")
    model = models.load_model("tiny", "ner", ["O", "B-X", "I-X"], tok)
    opt = make_optimizer(model, 1e-4, 0.01, torch.device("cpu"), 5e-2, ("classifier",))
    head = {id(p) for p in model.classifier.parameters()}
    for group in opt.param_groups:
        assert group["lr"] == (5e-2 if all(id(p) in head for p in group["params"]) else 1e-4)
    assert sum(len(g["params"]) for g in opt.param_groups) == sum(1 for _ in model.parameters())


@pytest.mark.parametrize("value, policy", [(500, (500, 0.0)), (0, (0, 0.0)), ("500", (500, 0.0)),
                                           ("10m", (0, 600.0)), ("90s", (0, 90.0))])
def test_checkpoint_every_takes_every_form_its_help_documents(value, policy, tmp_path):
    from ftlab import cli
    from ftlab.experiments import load_configs

    config = RunConfig(model="tiny", checkpoint_every=value)
    assert config.checkpoint_policy == policy and config.checkpoint_every == str(value)
    flags = cli.build_parser().parse_args(["submit", "--model", "tiny", "--checkpoint-every", str(value)])
    assert cli.config_from_args(flags).checkpoint_policy == policy
    path = tmp_path / "run.yaml"
    path.write_text(f"model: tiny\ncheckpoint_every: {value}\n")
    (from_file,) = load_configs(str(path))
    assert from_file.checkpoint_policy == policy and from_file.hash == config.hash


def test_an_unknown_task_is_one_line_naming_the_known_ones():
    for task in ("qa", ["ner"], {"x": 1}):
        with pytest.raises(ConfigError, match="unknown task .*one of classification, ner"):
            RunConfig(model="tiny", task=task)


@pytest.mark.parametrize("value", [True, -5, "soon", "1.5"])
def test_checkpoint_every_refuses_what_its_help_does_not_document(value):
    with pytest.raises(ConfigError, match="checkpoint_every"):
        RunConfig(model="tiny", checkpoint_every=value)
