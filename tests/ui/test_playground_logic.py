"""The Playground tab's logic (ftlab/ui/logic/playground.py): predictions as labels and highlighted entities."""

from ftlab.ui.logic import playground as playground_logic


def test_highlight_segments_merge_entities_and_plain_text():
    tokens = ["Alice", "Smith", "went", "to", "New", "York", "today"]
    # the spans of the tags B-PER I-PER O O B-LOC I-LOC O (the Predictor puts them in each NER prediction)
    entities = [{"type": "PER", "start": 0, "end": 2}, {"type": "LOC", "start": 4, "end": 6}]
    assert playground_logic.highlight_segments(tokens, entities) == [("Alice Smith", "PER"), (" went to ", None),
                                                                     ("New York", "LOC"), (" today", None)]
    # Chinese: characters, no joiner; two adjacent entities stay apart
    chinese = [{"type": "PER", "start": 0, "end": 3}, {"type": "LOC", "start": 4, "end": 6}]
    assert playground_logic.highlight_segments(list("江泽民在北京"), chinese, "") == \
        [("江泽民", "PER"), ("在", None), ("北京", "LOC")]
    two = [{"type": "PER", "start": 0, "end": 1}, {"type": "PER", "start": 1, "end": 2}]  # B-PER B-PER
    assert playground_logic.highlight_segments(["a", "b"], two) == [("a", "PER"), (" ", None), ("b", "PER")]


def test_prediction_view_for_both_tasks():
    view = playground_logic.prediction_view("classification", {"label": "pos", "probs": {"neg": 0.25, "pos": 0.75}})
    assert view == {"label": {"neg": 0.25, "pos": 0.75}, "highlight": None, "text": "pos (75.0%)"}
    ner = playground_logic.prediction_view("ner", {"tokens": ["Bob", "runs"], "tags": ["B-PER", "O"],
                                                   "entities": [{"type": "PER", "start": 0, "end": 1, "text": "Bob"}]},
                                           "Bob runs")
    assert ner["label"] is None and ner["highlight"] == [("Bob", "PER"), (" runs", None)] and ner["text"] == "Bob (PER)"


def test_probability_bars_keep_the_labels_order_and_name_each_once():
    bars = playground_logic.probability_bars({"negative": 0.1, "neutral": 0.2, "positive": 0.7}, "positive")
    assert bars.index("negative") < bars.index("neutral") < bars.index("positive")  # not sorted by probability
    assert bars.count("positive") == 1 and "70.0%" in bars and "width:70.0%" in bars
    assert bars.count("font-weight:700") == 1 and bars.index("neutral") < bars.index("font-weight:700") < bars.index("positive")
    assert "&lt;b&gt;" in playground_logic.probability_bars({"<b>": 1.0})  # label text is escaped
