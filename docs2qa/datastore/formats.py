"""The training formats a dataset version is written in, from one definition of the prompt.

`chat_prompt` is the only place that decides what a tuned model is asked: the exported
formats, training and evaluation all build on it, so the model is never trained on one
prompt and queried with another (the seed project did exactly that).

Every format holds the same pairs in the same order:
    messages            [{"role": ..., "content": ...}, ...]   (trl: conversational language modeling)
    prompt_completion   prompt = messages before the answer, completion = [assistant answer]
                        (trl: conversational prompt-completion; loss on the completion only)
    alpaca              instruction / input / output / system (LLaMA-Factory's alpaca columns)
    sharegpt            conversations = [{"from": "system"|"human"|"gpt", "value": ...}]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

Message = dict[str, str]  # {"role": ..., "content": ...}

FORMATS = ("messages", "prompt_completion", "alpaca", "sharegpt")
_SHAREGPT_ROLE = {"system": "system", "user": "human", "assistant": "gpt"}


def user_message(question: str, context: str, include_context: bool) -> str:
    if include_context and context.strip():
        return f"Documentation:\n{context.strip()}\n\nQuestion: {question.strip()}"
    return question.strip()


def chat_prompt(question: str, context: str, system_prompt: str | None, include_context: bool) -> list[Message]:
    """The messages a model sees before it answers."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": user_message(question, context, include_context)})
    return messages


def fold_system_message(messages: list[Message]) -> list[Message]:
    """For chat templates without a system role (Gemma's raises on one): the system text
    goes in front of the first user message, which is how those models are prompted."""
    if not messages or messages[0]["role"] != "system":
        return messages
    system, first, *rest = messages
    return [{"role": "user", "content": f"{system['content']}\n\n{first['content']}"}, *rest]


def format_row(row: dict[str, Any], fmt: str, system_prompt: str | None, include_context: bool) -> dict[str, Any]:
    """One canonical row (question, answer, context) in format `fmt`."""
    prompt = chat_prompt(row["question"], row["context"], system_prompt, include_context)
    answer = {"role": "assistant", "content": row["answer"].strip()}
    if fmt == "messages":
        return {"messages": [*prompt, answer]}
    if fmt == "prompt_completion":
        return {"prompt": prompt, "completion": [answer]}
    if fmt == "alpaca":
        # The seed's layout: the context, when the model is meant to see it, is the input.
        return {
            "instruction": row["question"].strip(),
            "input": row["context"].strip() if include_context else "",
            "output": answer["content"],
            "system": system_prompt or "",
        }
    if fmt == "sharegpt":
        return {
            "conversations": [{"from": _SHAREGPT_ROLE[m["role"]], "value": m["content"]} for m in [*prompt, answer]]
        }
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


def to_prompt_completion(row: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Any format's row back as conversational prompt/completion: the shape that trains with
    loss on the answer only. Exact inverse of `format_row` for rows it wrote."""
    if fmt == "prompt_completion":
        return {"prompt": row["prompt"], "completion": row["completion"]}
    if fmt == "messages":
        return {"prompt": row["messages"][:-1], "completion": row["messages"][-1:]}
    if fmt == "sharegpt":
        roles = {v: k for k, v in _SHAREGPT_ROLE.items()}
        messages = [{"role": roles[m["from"]], "content": m["value"]} for m in row["conversations"]]
        return {"prompt": messages[:-1], "completion": messages[-1:]}
    if fmt == "alpaca":
        prompt = chat_prompt(row["instruction"], row["input"], row["system"] or None, bool(row["input"]))
        return {"prompt": prompt, "completion": [{"role": "assistant", "content": row["output"]}]}
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


def arrow_schema(fmt: str) -> pa.Schema:
    import pyarrow as pa

    message = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    schemas = {
        "messages": [("messages", message)],
        "prompt_completion": [("prompt", message), ("completion", message)],
        "alpaca": [
            ("instruction", pa.string()),
            ("input", pa.string()),
            ("output", pa.string()),
            ("system", pa.string()),
        ],
        "sharegpt": [("conversations", pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())])))],
    }
    return pa.schema(schemas[fmt])


def alpaca_text(example: dict[str, Any]) -> str:
    """The Stanford Alpaca prompt for one alpaca row: trl's SFTTrainer reads the alpaca
    format with `formatting_func=alpaca_text` (trl has no built-in alpaca reader)."""
    head = f"{example['system']}\n\n" if example.get("system") else ""
    if example["input"]:
        return (
            f"{head}### Instruction:\n{example['instruction']}\n\n### Input:\n{example['input']}\n\n"
            f"### Response:\n{example['output']}"
        )
    return f"{head}### Instruction:\n{example['instruction']}\n\n### Response:\n{example['output']}"
