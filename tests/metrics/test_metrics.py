"""ftlab.metrics: scores worked out by hand, parameter counts, peak memory, offline module loading."""

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from ftlab.metrics import (
    PeakMemory,
    classification_metrics,
    count_parameters,
    load_module,
    majority_baseline,
    module_path,
    ner_metrics,
)
from ftlab.metrics._modules import CLASSIFICATION, SEQEVAL


def _rows(result):
    return {row["label"]: (row["precision"], row["recall"], row["f1"], row["support"]) for row in result["per_class"]}


# ---------------------------------------------------------------- classification


def test_three_classes_by_hand():
    refs = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    preds = [0, 0, 1, 1, 2, 2, 2, 2, 0, 0]
    # Confusion, rows true / cols predicted:
    #   neg: 0,0,1   -> [2, 1, 0]
    #   neu: 1,2,2   -> [0, 1, 2]
    #   pos: 2,2,0,0 -> [2, 0, 2]
    # Column sums (predicted counts) 4, 2, 4; diagonal 2, 1, 2.
    # neg: P 2/4, R 2/3, F1 2*(1/2)(2/3)/(1/2+2/3) = 4/7
    # neu: P 1/2, R 1/3, F1 2*(1/2)(1/3)/(1/2+1/3) = 2/5
    # pos: P 2/4, R 2/4, F1 1/2
    result = classification_metrics(preds, refs, ["neg", "neu", "pos"])

    assert result["accuracy"] == pytest.approx(5 / 10)
    assert result["confusion"] == [[2, 1, 0], [0, 1, 2], [2, 0, 2]]
    assert [row["label"] for row in result["per_class"]] == ["neg", "neu", "pos"]
    rows = _rows(result)
    assert rows["neg"] == pytest.approx((1 / 2, 2 / 3, 4 / 7, 3))
    assert rows["neu"] == pytest.approx((1 / 2, 1 / 3, 2 / 5, 3))
    assert rows["pos"] == pytest.approx((1 / 2, 1 / 2, 1 / 2, 4))
    assert result["macro_f1"] == pytest.approx((4 / 7 + 2 / 5 + 1 / 2) / 3)
    # Plain JSON-able values: the engine ships these over a pipe.
    assert json.loads(json.dumps(result)) == result


def test_label_that_never_occurs_is_listed_with_zeros():
    result = classification_metrics([0, 1, 1, 0], [0, 1, 2, 0], ["a", "b", "c", "never"])

    assert [row["label"] for row in result["per_class"]] == ["a", "b", "c", "never"]
    rows = _rows(result)
    assert rows["never"] == (0.0, 0.0, 0.0, 0)
    assert rows["c"] == (0.0, 0.0, 0.0, 1)  # true once, never predicted
    assert rows["b"] == pytest.approx((1 / 2, 1.0, 2 / 3, 1))
    assert result["confusion"] == [[2, 0, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    # Macro-F1 averages a, b, c (present) and leaves "never" out: (1 + 2/3 + 0) / 3, not / 4.
    assert result["macro_f1"] == pytest.approx(5 / 9)


def test_ids_outside_label_names_are_rejected():
    with pytest.raises(ValueError, match="outside"):
        classification_metrics([0, 3], [0, 1], ["a", "b"])


def test_majority_baseline():
    assert majority_baseline([2, 0, 2, 1, 2]) == pytest.approx(3 / 5)
    with pytest.raises(ValueError):
        majority_baseline([])


# ---------------------------------------------------------------- NER


def test_ner_entities_by_hand():
    refs = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"], ["O", "O", "O"]]
    preds = [["B-PER", "I-PER", "O", "B-LOC", "O", "O"], ["B-ORG", "O", "O"]]
    # True entities: PER(0-1), LOC(3-4). Predicted: PER(0-1) right, LOC(3-3) wrong boundary,
    # ORG spurious. 1 of 3 predicted is right, 1 of 2 true is found:
    # P 1/3, R 1/2, F1 2*(1/3)(1/2)/(1/3+1/2) = 2/5.
    # Tokens: I-LOC->O and O->B-ORG wrong, 7 of 9 right.
    result = ner_metrics(preds, refs)

    assert result["entity_precision"] == pytest.approx(1 / 3)
    assert result["entity_recall"] == pytest.approx(1 / 2)
    assert result["entity_f1"] == pytest.approx(2 / 5)
    assert result["token_accuracy"] == pytest.approx(7 / 9)
    assert [row["label"] for row in result["per_class"]] == ["LOC", "ORG", "PER"]
    rows = _rows(result)
    assert rows["LOC"] == (0.0, 0.0, 0.0, 1)
    assert rows["ORG"] == (0.0, 0.0, 0.0, 0)
    assert rows["PER"] == (1.0, 1.0, 1.0, 1)
    for name in ("LOC", "ORG", "PER", "micro avg"):
        assert name in result["report"]
    for tag in ("B-LOC", "I-LOC", "B-ORG", "B-PER", "I-PER", "O"):
        assert tag in result["token_report"]
    assert json.loads(json.dumps(result)) == result


def test_ner_default_mode_is_conlleval_style():
    # conlleval counts an I- tag with no B- before it as the start of an entity; IOB2-strict would not.
    result = ner_metrics([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]])
    assert result["entity_f1"] == 1.0
    assert result["token_accuracy"] == pytest.approx(2 / 3)


def test_ner_reports_match_seqeval_and_sklearn():
    # Our module counts entities once and feeds seqeval's own averaging and table code; the text
    # must stay exactly what seqeval.classification_report prints.
    from seqeval.metrics import classification_report as entity_report
    from seqeval.metrics import f1_score, precision_score, recall_score
    from sklearn.metrics import classification_report as token_report

    rng = random.Random(0)
    tags = ["O"] * 5 + ["B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    refs = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(200)]
    preds = [[t if rng.random() < 0.7 else rng.choice(tags) for t in sentence] for sentence in refs]
    result = ner_metrics(preds, refs)

    assert result["report"] == entity_report(refs, preds, digits=4, zero_division=0)
    assert result["entity_precision"] == pytest.approx(precision_score(refs, preds))
    assert result["entity_recall"] == pytest.approx(recall_score(refs, preds))
    assert result["entity_f1"] == pytest.approx(f1_score(refs, preds))
    flat_refs = [t for s in refs for t in s]
    flat_preds = [t for s in preds for t in s]
    assert result["token_report"] == token_report(flat_refs, flat_preds, digits=4, zero_division=0)


def test_ner_without_entities_scores_zero():
    # seqeval's own text report raises on this input (max() of an empty list of names).
    result = ner_metrics([["O", "O"]], [["O", "O"]])
    assert (result["entity_precision"], result["entity_recall"], result["entity_f1"]) == (0.0, 0.0, 0.0)
    assert result["per_class"] == []
    assert result["token_accuracy"] == 1.0
    assert "no entities" in result["report"]


def test_ner_length_mismatch_is_rejected():
    with pytest.raises(ValueError, match="length"):
        ner_metrics([["O", "B-PER"]], [["O"]])


# ---------------------------------------------------------------- parameters


def _tiny_model():
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 4)  # 40
            self.body = nn.Linear(4, 4)  # 16 + 4, frozen below
            self.out = nn.Linear(4, 10, bias=False)
            self.out.weight = self.embed.weight  # tied: one tensor under two names
            self.classifier = nn.Linear(4, 3)  # 12 + 3, the head
            self.myclassifier = nn.Linear(4, 2)  # 8 + 2, trainable but NOT the head

    model = Tiny()
    for p in model.body.parameters():
        p.requires_grad_(False)
    return model


def test_count_parameters_frozen_tied_and_head():
    counts = count_parameters(_tiny_model(), ("classifier",))
    assert counts == {
        "total_params": 40 + 20 + 15 + 10,
        "trainable_params": 40 + 15 + 10,
        "head_params": 15,
        "trainable_non_head_params": 40 + 10,
    }


def test_count_parameters_shared_storage_counted_once():
    model = _tiny_model()
    # A second Parameter object over the same storage (not the same object) is still one weight.
    model.out.weight = nn.Parameter(model.embed.weight.data)
    assert count_parameters(model, ("classifier",))["total_params"] == 40 + 20 + 15 + 10


def test_count_parameters_peft_modules_to_save_naming():
    # The names peft 0.21 gives a LoRA model with modules_to_save=["classifier"]:
    #   base_model.model.body.lora_A.default.weight                 (trainable)
    #   base_model.model.classifier.original_module.weight          (frozen copy)
    #   base_model.model.classifier.modules_to_save.default.weight  (trainable)
    frozen_body = nn.Linear(4, 4)  # 20
    original = nn.Linear(4, 3)  # 15
    for p in [*frozen_body.parameters(), *original.parameters()]:
        p.requires_grad_(False)
    body = nn.ModuleDict({"base_layer": frozen_body, "lora_A": nn.ModuleDict({"default": nn.Linear(4, 2, bias=False)})})
    classifier = nn.ModuleDict({"original_module": original, "modules_to_save": nn.ModuleDict({"default": nn.Linear(4, 3)})})
    model = nn.ModuleDict({"base_model": nn.ModuleDict({"model": nn.ModuleDict({"body": body, "classifier": classifier})})})
    names = dict(model.named_parameters())
    assert "base_model.model.classifier.modules_to_save.default.weight" in names

    counts = count_parameters(model, ("classifier",))
    assert counts == {
        "total_params": 20 + 8 + 15 + 15,
        "trainable_params": 8 + 15,
        "head_params": 15,
        "trainable_non_head_params": 8,
    }
    # A dotted prefix matches whole components only.
    assert count_parameters(model, ("modules_to_save.default",))["head_params"] == 15
    assert count_parameters(model, ("classifi",))["head_params"] == 0


# ---------------------------------------------------------------- memory


def _current_rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_peak_memory_cpu_sees_a_200mb_allocation():
    with PeakMemory("cpu") as peak:
        before = peak.read()
        assert before["memory_kind"] == "cpu_peak_rss"
        assert before["peak_memory_mb"] > 0
        block = torch.ones(200 * 2**20 // 4, dtype=torch.float32)  # ones: pages really touched
        after = peak.read()
    del block
    assert after["peak_memory_mb"] >= before["peak_memory_mb"] + 190


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_peak_memory_cpu_is_per_run_in_one_process():
    """A second run in the same process does not inherit the first run's higher peak."""
    with PeakMemory("cpu") as first:
        block = torch.ones(300 * 2**20 // 4, dtype=torch.float32)
        del block
        big = first.read()["peak_memory_mb"]
    with PeakMemory("cpu") as second:
        small = second.read()["peak_memory_mb"]
    assert second.read()["memory_kind"] == "cpu_peak_rss"
    assert big - small >= 250
    assert small == pytest.approx(_current_rss_mb(), abs=50)


def test_peak_memory_falls_back_to_the_process_peak_where_it_cannot_reset(monkeypatch):
    from ftlab.metrics import _resources

    monkeypatch.setattr(_resources, "reset_peak_rss", lambda: False)
    read = PeakMemory("cpu").start().read()
    assert read["memory_kind"] == "cpu_process_peak_rss" and read["peak_memory_mb"] > 0


def test_peak_memory_cuda_resets_at_start_and_reads_max_allocated(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device: calls.append(("reset", device)))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 512 * 2**20)
    peak = PeakMemory("cuda:0").start()
    assert calls == [("reset", torch.device("cuda:0"))]
    assert peak.read() == {"peak_memory_mb": 512.0, "memory_kind": "cuda_max_allocated"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_peak_memory_cuda_real():
    peak = PeakMemory("cuda").start()
    block = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    assert peak.read()["peak_memory_mb"] >= 256
    del block


# ---------------------------------------------------------------- evaluate modules


def test_modules_load_offline_fast_without_network(tmp_path):
    # A fresh process with the Hub NOT marked offline, sockets that raise if touched, and an empty
    # modules cache, so that evaluate really copies and imports the scripts.
    script = textwrap.dedent(
        f"""
        import json, socket, time

        def no_network(*args, **kwargs):
            raise RuntimeError("network used: %r" % (args,))

        socket.socket.connect = no_network
        socket.create_connection = no_network
        socket.getaddrinfo = no_network

        import evaluate  # slow (~5-9 s: it imports transformers.pipelines), not what we time
        start = time.perf_counter()
        classification = evaluate.load({module_path(CLASSIFICATION)!r}, keep_in_memory=True)
        seqeval = evaluate.load({module_path(SEQEVAL)!r}, keep_in_memory=True)
        seconds = time.perf_counter() - start
        acc = classification.compute(predictions=[0, 1], references=[0, 0], label_names=["a", "b"])["accuracy"]
        f1 = seqeval.compute(predictions=[["B-PER"]], references=[["B-PER"]])["entity_f1"]
        print(json.dumps({{"seconds": seconds, "accuracy": acc, "entity_f1": f1}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE", "HF_DATASETS_OFFLINE"))}
    env["HF_MODULES_CACHE"] = str(tmp_path / "modules")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["seconds"] < 5, out
    assert (out["accuracy"], out["entity_f1"]) == (0.5, 1.0)
    assert list((tmp_path / "modules").rglob("ftlab_seqeval.py")), "evaluate copies the script into its cache"


def test_loaded_modules_are_cached():
    assert load_module(CLASSIFICATION) is load_module(CLASSIFICATION)
    assert Path(module_path(SEQEVAL)).is_absolute()


@pytest.mark.parametrize("name", [CLASSIFICATION, SEQEVAL])
def test_module_scripts_declare_importable_libraries(name):
    # evaluate reads each import line with a regex and imports what it finds; a line like
    # "import a, b" would make it look for a library called "a,". Guard the shipped scripts.
    import importlib

    from evaluate.loading import get_imports

    libraries = [lib for kind, lib, _, _ in get_imports(str(Path(module_path(name)) / f"{name}.py")) if kind == "library"]
    assert libraries
    for lib in libraries:
        importlib.import_module(lib)
