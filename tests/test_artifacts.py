"""ftlab.train.artifacts: entity spans as the playground shows them."""

from ftlab.tasks.ner import entities


def test_entities_follow_the_spans_the_scorer_counts():
    words = ["Ann", "Lee", "met", "Bob", "in", "New", "York", "Inc"]
    tags = ["B-PER", "I-PER", "O", "I-PER", "O", "B-LOC", "I-LOC", "I-ORG"]
    assert entities(words, tags, " ") == [
        {"type": "PER", "start": 0, "end": 2, "text": "Ann Lee"},
        {"type": "PER", "start": 3, "end": 4, "text": "Bob"},  # an I- without a B- starts an entity
        {"type": "LOC", "start": 5, "end": 7, "text": "New York"},
        {"type": "ORG", "start": 7, "end": 8, "text": "Inc"},  # a change of type starts another
    ]
    assert entities(list("江泽民在北京"), ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"], "") == [
        {"type": "PER", "start": 0, "end": 3, "text": "江泽民"},
        {"type": "LOC", "start": 4, "end": 6, "text": "北京"},
    ]
    assert entities(["a", "b"], ["O", "O"], " ") == []
