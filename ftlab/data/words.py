"""Tokenize NER sentences given as words, one place for training, the dataset card and predict.

SentencePiece vocabularies with a Metaspace pre-tokenizer (XLM-R's, so e5-small's) put a
word-boundary marker "▁" before every word. For text without spaces split into characters
(zh-ner) that marker is a piece of its own: 昨天 becomes ▁ 昨 ▁ 天, twice the tokens, and each
character's first sub-token, the one the tag goes on, is the same bare ▁ for every word. The
bare marker is dropped here when more of the word follows, so each character is tagged on its
own piece and a sentence costs half the positions (zh-ner at max_length 128 then cuts far
fewer entities). Vocabularies without such a piece (BERT WordPiece, byte-level BPE) are
untouched.
"""

from __future__ import annotations

MARKER = "\u2581"


def _bare_marker(tokenizer):
    ident = tokenizer.convert_tokens_to_ids(MARKER)
    return None if ident is None or ident == tokenizer.unk_token_id else ident


def tokenize_words(tokenizer, sentences: list, max_length: int | None = None, *,
                   add_special_tokens: bool = True) -> tuple[list, list]:
    """(input ids, word ids) per sentence of words; word id None marks special tokens.

    Truncation to `max_length` keeps the leading and trailing special tokens and cuts words
    from the end, after the bare markers are gone (so they take no room)."""
    enc = tokenizer([list(s) for s in sentences], is_split_into_words=True, truncation=False,
                    add_special_tokens=add_special_tokens, verbose=False)  # no "longer than max" warning: cut below
    bare = _bare_marker(tokenizer)
    all_ids, all_words = [], []
    for i in range(len(sentences)):
        ids, words = list(enc["input_ids"][i]), list(enc.word_ids(i))
        if bare is not None:
            keep = [k for k in range(len(ids))
                    if not (ids[k] == bare and words[k] is not None and k + 1 < len(ids) and words[k + 1] == words[k])]
            ids, words = [ids[k] for k in keep], [words[k] for k in keep]
        if max_length is not None and len(ids) > max_length:
            front = next((k for k, w in enumerate(words) if w is not None), len(words))
            back = next((k for k, w in enumerate(reversed(words)) if w is not None), 0)
            body = max(0, max_length - front - back)
            ids = ids[: front + body] + (ids[len(ids) - back :] if back else [])
            words = words[: front + body] + (words[len(words) - back :] if back else [])
        all_ids.append(ids)
        all_words.append(words)
    return all_ids, all_words
