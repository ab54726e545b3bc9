"""Prompt/answer data for generative fine-tuning, from the shapes people keep it in.

Every shape becomes (conversation, answer): the conversation a list of {"role", "content"} turns
ending on a user turn, the answer the assistant's reply that is trained and scored.

- chat: a `messages` (or `conversations`) column of turns, role/content (OpenAI) or from/value
  (ShareGPT: human/gpt/system); the last assistant turn is the answer, the turns before it the prompt.
- alpaca: `instruction`, optional `input`, `output`.
- prompt/answer columns: `prompt`, `question`, `query`, ... and `completion`, `response`,
  `answer`, `output`, ... (GSM8K's question/answer, MetaMathQA's query/response), or the columns
  `text_column` and `label_column` name.

Every problem is one line that names the fix: no answer column, empty answers, a chat without an
assistant turn.
"""

from __future__ import annotations

from ftlab.errors import DataError, field

CHAT_COLUMNS = ("messages", "conversations", "conversation", "chat")
PROMPT_COLUMNS = ("prompt", "question", "query", "instruction", "input", "text")
ANSWER_COLUMNS = ("completion", "response", "answer", "output", "target", "chosen")
ROLES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "bot": "assistant",
         "model": "assistant", "system": "system"}


def looks_instructional(columns) -> bool:
    """Columns of prompt/answer data (so a file without `task` is read for generation)."""
    cols = {str(c).lower() for c in columns}
    if cols & set(CHAT_COLUMNS):
        return True
    if {"instruction", "output"} <= cols:
        return True
    return bool(cols & {"prompt", "question", "query"}) and bool(cols & {"completion", "response", "answer"})


def _column(columns, given, defaults, what, name) -> str | None:
    if given:
        if given not in columns:
            raise DataError(f"{name} has no column {given!r} (columns: {', '.join(map(str, columns))}); "
                            f"check {field('text_column' if what == 'prompt' else 'label_column')}.")
        return given
    lower = {str(c).lower(): c for c in columns}
    return next((lower[d] for d in defaults if d in lower), None)


def _turns(value, row_number: int, name: str) -> list[dict]:
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except ValueError:
            raise DataError(f"row {row_number} of {name}: the chat column is text, not a list of turns; write it "
                            "as [{\"role\": \"user\", \"content\": ...}, {\"role\": \"assistant\", ...}].") from None
    if hasattr(value, "tolist"):  # a numpy array from Parquet
        value = value.tolist()
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise DataError(f"row {row_number} of {name}: the chat column must be a list of turns like "
                        "{\"role\": \"user\", \"content\": ...}.")
    turns = []
    for t in value:
        role = ROLES.get(str(t.get("role", t.get("from", ""))).lower())
        content = t.get("content", t.get("value"))
        if role is None or not isinstance(content, str):
            raise DataError(f"row {row_number} of {name}: a turn needs a role (user, assistant, system; or "
                            f"ShareGPT's from: human, gpt) and text content, got {str(t)[:80]}.")
        turns.append({"role": role, "content": content})
    return turns


def to_pairs(records: list[dict], name: str, *, prompt_column=None, answer_column=None):
    """(conversations, answers, skipped by reason) from table rows (dicts) of any shape above."""
    if not records:
        raise DataError(f"{name} has no rows; add prompt/answer examples.")
    columns = list(records[0].keys())
    chat = None if prompt_column or answer_column else _column(columns, None, CHAT_COLUMNS, "chat", name)
    prompts, answers, skipped = [], [], {"no_answer": 0, "no_prompt": 0}
    if chat is not None:
        for n, row in enumerate(records, 1):
            turns = _turns(row.get(chat), n, name)
            last = max((i for i, t in enumerate(turns) if t["role"] == "assistant"), default=None)
            if last is None:
                raise DataError(f"row {n} of {name} has no assistant turn: every conversation needs the reply "
                                "to train on as its last assistant turn.")
            prompt = [t for t in turns[:last] if t["content"].strip() or t["role"] != "user"]
            if not any(t["role"] == "user" for t in prompt):
                skipped["no_prompt"] += 1
                continue
            if not turns[last]["content"].strip():
                skipped["no_answer"] += 1
                continue
            prompts.append(prompt)
            answers.append(turns[last]["content"].strip())
        if not answers:
            raise DataError(f"every assistant reply in column {chat!r} of {name} is empty; fill in the answers.")
        return prompts, answers, skipped

    lower = {str(c).lower(): c for c in columns}
    alpaca = not prompt_column and not answer_column and {"instruction", "output"} <= set(lower)
    pcol = lower["instruction"] if alpaca else _column(columns, prompt_column, PROMPT_COLUMNS, "prompt", name)
    acol = lower["output"] if alpaca else _column(columns, answer_column, ANSWER_COLUMNS, "answer", name)
    context = lower.get("input") if alpaca else None
    if acol is None:
        raise DataError(f"{name} has no answer column (looked for {', '.join(ANSWER_COLUMNS)}; columns: "
                        f"{', '.join(map(str, columns))}); name it with {field('label_column')}.")
    if pcol is None or pcol == acol:
        raise DataError(f"{name} has no prompt column (looked for {', '.join(PROMPT_COLUMNS)}; columns: "
                        f"{', '.join(map(str, columns))}); name it with {field('text_column')}.")
    for row in records:
        prompt = _text(row.get(pcol))
        if context is not None and _text(row.get(context)):
            prompt = f"{prompt}\n\n{_text(row.get(context))}"
        answer = _text(row.get(acol))
        if not prompt:
            skipped["no_prompt"] += 1
        elif not answer:
            skipped["no_answer"] += 1
        else:
            prompts.append([{"role": "user", "content": prompt}])
            answers.append(answer)
    if not answers:
        raise DataError(f"every answer in column {acol!r} of {name} is empty; fill in the answers or name "
                        f"another column with {field('label_column')}.")
    return prompts, answers, skipped


def _text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()
