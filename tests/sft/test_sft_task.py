"""The generative task's pieces on a tiny random decoder: templates, loss masking, answer reading,
stop strings, batched generation, the stored generations."""

import pytest
import torch

from ftlab import models
from ftlab.data import Split
from ftlab.errors import ConfigError
from ftlab.tasks import IGNORE, GenerationSettings, get_task
from ftlab.tasks import answers
from ftlab.tasks import sft

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer("tiny-llama")


@pytest.fixture(scope="module")
def model(tokenizer):
    return models.load_model("tiny-llama", "sft", [], tokenizer, seed=0).eval()


def split(pairs):
    return Split([[{"role": "user", "content": p}] for p, _ in pairs], [a for _, a in pairs])


def test_prompt_tokens_carry_ignore_and_the_answer_with_its_end_token_is_learned(tokenizer):
    enc = get_task("sft").encode(split([("is the movie good", "yes"), ("a plot", "no")]), tokenizer, 128)
    for ids, labels, prompt in zip(enc.input_ids, enc.labels, enc.prompt_ids):
        assert ids[:len(prompt)] == prompt
        assert labels[:len(prompt)] == [IGNORE] * len(prompt)
        answer = labels[len(prompt):]
        assert answer == ids[len(prompt):] and IGNORE not in answer
        assert answer[-1] == sft.end_id(tokenizer)
    assert tokenizer.decode(enc.labels[0][len(enc.prompt_ids[0]):-1]) == "yes"
    assert enc.references == ["yes", "no"] and enc.prompts == ["is the movie good", "a plot"]


def test_plain_template_without_a_chat_template_and_the_models_own_when_it_has_one(tokenizer):
    prompt, answer = sft.render(tokenizer, [{"role": "user", "content": "2+2?"}], "4")
    assert prompt == "### Instruction:\n2+2?\n\n### Response:\n" and answer == "4"
    chat = models.load_tokenizer("tiny-llama")
    chat.chat_template = CHATML
    prompt, answer = sft.render(chat, [{"role": "user", "content": "2+2?"}], "4")
    assert prompt == "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
    assert answer == "4<|im_end|>\n"


def test_max_length_cuts_training_rows_but_never_the_prompt_generation_reads(tokenizer):
    long = " ".join(["movie"] * 40)
    enc = get_task("sft").encode(split([(long, "yes"), ("short", "no")]), tokenizer, 16)
    assert len(enc.input_ids[0]) == 16 and len(enc.prompt_ids[0]) > 16
    assert sft.answered(enc) == [1]  # the first row's whole answer is cut


@pytest.mark.parametrize("text, rule, expected", [
    ("3 + 4 = 7 so\n#### 1,200.00", "number", "1200"),
    ("The answer is $45.", "number", "45"),
    ("I get -3.50 then 8", "number", "8"),
    ("no digits here", "number", ""),
    ("Positive.\nbecause", "first_line", "positive"),
    ("An apple, the PIE!", "normalized", "apple pie"),
    ("The sentiment is Negative, clearly", r"regex:(?i)\b(negative|neutral|positive)\b", "negative"),
    ("nothing to see", r"regex:(\d+)", ""),
    ("yes, it is", r"regex:(\d+)|(yes|no)", "yes"),  # the group that took part in the match
    ("from 3-4 apples", "number", "4"),  # a hyphen between words is no minus sign
    ("COVID-19 cases rose by .5 percent", "number", "0.5"),
    ("it fell to -3.50", "number", "-3.5"),
])
def test_answer_rules(text, rule, expected):
    assert answers.extract(text, rule) == expected


def test_bad_answer_rules_are_one_line_reasons():
    assert "not one of" in answers.check_rule("last")
    assert "regular expression" in answers.check_rule("regex:(")
    assert answers.check_rule("regex:(\\d+)") is None and answers.check_rule(None) is None
    assert answers.infer_rule(["so #### 4", "then #### 5"]) == "number"
    assert answers.infer_rule(["yes", "no"]) == "normalized"


def test_exact_match_and_token_f1_and_the_rows_kept():
    enc = get_task("sft").encode(split([("q1", "#### 4"), ("q2", "#### 5"), ("q3", "#### 6")]),
                                 models.load_tokenizer("tiny-llama"), 64)
    settings = GenerationSettings(max_new_tokens=8, rule="number", keep=2)
    result = sft.score(["it is 4", "#### 50", "6"], enc, settings)
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["token_f1"] == pytest.approx(2 / 3)
    assert [r["correct"] for r in result["generations"]] == [True, False]  # the first `keep` rows
    assert result["generations"][1] == {"index": 1, "prompt": "q2", "reference": "#### 5", "generation": "#### 50",
                                        "extracted": "50", "expected": "5", "correct": False}


def test_batched_left_padded_generation_is_the_per_example_greedy_text(model, tokenizer):
    prompts = [tokenizer(t, add_special_tokens=False)["input_ids"]
               for t in ("the movie", "a plot with a long ending at night", "music")]
    off = torch.autocast("cpu", enabled=False)
    settings = GenerationSettings(max_new_tokens=6, rule="normalized", batch_size=3)
    batched = sft.generate_ids(model, tokenizer, prompts, settings, torch.device("cpu"), off)
    one_by_one = [sft.generate_ids(model, tokenizer, [p], settings, torch.device("cpu"), off)[0] for p in prompts]
    assert batched == one_by_one
    assert all(batched)  # a random model writes something, never the end token first


def test_stop_strings_cut_the_generation(model, tokenizer):
    prompt = [tokenizer("the movie", add_special_tokens=False)["input_ids"]]
    off = torch.autocast("cpu", enabled=False)
    free = sft.generate_ids(model, tokenizer, prompt, GenerationSettings(8, "normalized"), torch.device("cpu"), off)[0]
    word = free.split()[1]
    stopped = sft.generate_ids(model, tokenizer, prompt, GenerationSettings(8, "normalized", stop=(word,)),
                               torch.device("cpu"), off)[0]
    assert word not in stopped and free.startswith(stopped)
    assert sft.cut_at_stop("4\nQuestion: next", ("\nQuestion:",)) == "4"


def test_few_shot_examples_go_before_every_prompt_as_earlier_turns():
    s = split([("q", "a")])
    shot = sft.with_examples(s, [([{"role": "user", "content": "2+2?"}], "4")])
    assert shot.texts[0] == [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
                             {"role": "user", "content": "q"}]
    assert shot.labels == ["a"] and s.texts[0] == [{"role": "user", "content": "q"}]


def test_an_encoder_cannot_run_the_generative_task(qa_jsonl):
    from ftlab.config import RunConfig

    with pytest.raises(ConfigError, match="needs a decoder"):
        RunConfig(model="tiny", dataset=str(qa_jsonl), method="lora")
    with pytest.raises(ConfigError, match="does not support task 'sft'"):
        RunConfig(model="tiny-llama", dataset=str(qa_jsonl), method="head")
    with pytest.raises(ConfigError, match="regular expression"):
        RunConfig(model="tiny-llama", dataset=str(qa_jsonl), method="lora", answer="regex:(")


def test_a_packed_row_computes_what_its_examples_compute_alone(model, tokenizer):
    """Packing: each example keeps its positions and attends only to itself, so the loss of a packed
    batch is the token-weighted loss of its examples run one by one."""
    from ftlab.train.batching import collate, pack

    pairs = [("the movie good", "yes"), ("a plot", "no"), ("music scene night city", "no"), ("good day", "yes")]
    enc = get_task("sft").encode(split(pairs), tokenizer, 64)
    packed = pack(enc, 32)
    assert len(packed) < len(enc) and sorted(n for row in packed.segments for n in row) == sorted(enc.lengths())
    assert all(sum(row) <= 32 for row in packed.segments)
    batch = collate(packed, list(range(len(packed))), tokenizer.pad_token_id, "sft", 1)
    assert int(batch.pop("_examples")) == 4 and int(batch.pop("_tokens")) == sum(enc.lengths())
    with torch.no_grad():
        together = model(**batch).loss
        alone = [(model(**collate(enc, [i], tokenizer.pad_token_id, "sft", 1)).loss,
                  sum(t != IGNORE for t in enc.labels[i][1:])) for i in range(len(enc))]
    weighted = sum(loss * n for loss, n in alone) / sum(n for _, n in alone)
    assert together == pytest.approx(float(weighted), rel=1e-4)
    with pytest.raises(ConfigError, match="only generative tasks"):
        from ftlab.config import RunConfig

        RunConfig(model="tiny", dataset="tweets-sentiment", packing=True)


def test_a_shared_prompt_start_is_computed_once_and_changes_no_answer(model, tokenizer):
    """Prompts that share their start (a system prompt, an instruction) reuse its keys and values;
    every answer is what one plain model.generate per prompt writes."""
    common = tokenizer("the movie plot scene story music ending time people day night city the a film actor",
                       add_special_tokens=False)["input_ids"] * 2
    rests = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in ("good", "a plot with night", "music")]
    prompts = [common + r for r in rests]
    assert sft.shared_prefix(model, prompts) == len(common)
    off = torch.autocast("cpu", enabled=False)
    settings = GenerationSettings(max_new_tokens=5, rule="normalized", batch_size=3)
    batched = sft.generate_ids(model, tokenizer, prompts, settings, torch.device("cpu"), off)
    end = sft.end_id(tokenizer)
    plain = []
    for p in prompts:
        x = torch.tensor([p])
        new = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=5, do_sample=False,
                             eos_token_id=[end, model.generation_config.eos_token_id],
                             pad_token_id=tokenizer.pad_token_id)[0, len(p):].tolist()
        cut = min((new.index(e) for e in (end, model.generation_config.eos_token_id) if e in new), default=len(new))
        plain.append(tokenizer.decode(new[:cut], skip_special_tokens=True).strip())
    assert batched == plain and all(batched)
    assert sft.shared_prefix(model, [common[:10] + r for r in rests]) == 0  # too short to bother
