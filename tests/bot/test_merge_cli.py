"""Merge in the terminal: `consensus ask --merge`, `consensus merge CONVERSATION` and the workspace's
merge setting, against the fake model server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.bot.inprocess import run_cli
from tests.bot.processes import cli_env
from tests.fakes.llm_server import FakeLLMServer, server_error

ANSWERS = {
    "gpt-test": "Use a mutex for ownership.",
    "claude-test": "A semaphore counts permits.",
    "llama-test": "A mutex is a binary semaphore with an owner.",
}
NAMES = {"gpt-test": "OpenAI", "claude-test": "Anthropic", "llama-test": "Ollama"}
MERGED = (
    "Answers A and C agree on ownership; Answer B is about counting.\n"
    "CONSENSUS: All three separate ownership from counting.\n"
    "TL;DR: A mutex has an owner; a semaphore counts.\n"
    "WHY: Both views fit together."
)


def env(llm_server: FakeLLMServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    llm_server.answers.update(ANSWERS)
    llm_server.answers["gpt-merge"] = MERGED
    return cli_env(
        llm_server,
        tmp_path,
        CONSENSUS_MERGER="openai/gpt-merge",
        CONSENSUS_PRICES='{"openai/*": [1, 2]}',
        **extra,
    )


def letters_in(llm_server: FakeLLMServer) -> dict[str, str]:
    """letter -> the model whose answer the merger saw under it."""
    prompt = llm_server.requests("chat", model="gpt-merge")[-1]["messages"][-1]["content"]
    shown = dict(re.findall(r"\[Quoted Answer ([A-Z])\]\n(.*?)\n\[End of Answer \1\]", prompt, re.DOTALL))
    by_text = {text: model for model, text in ANSWERS.items()}
    return {letter: by_text[text] for letter, text in shown.items()}


def the_merge(result: dict[str, Any]) -> dict[str, Any]:
    merges = [a for a in result["answers"] if a["merge"]]
    assert len(merges) == 1
    return merges[0]


async def test_ask_merge_prints_the_merged_answer_with_names(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    code, out, err = await run_cli(env(llm_server, tmp_path), "ask", "Mutex or semaphore?", "--merge", "--json")
    assert code == 0, err
    result = json.loads(out)
    merged = the_merge(result)
    seen = letters_in(llm_server)
    assert sorted(seen) == ["A", "B", "C"]
    names = {letter: NAMES[model] for letter, model in seen.items()}
    assert merged["content"].startswith(f"Answers A and C ({names['A']}, {names['C']}) agree")
    assert f"Answer B ({names['B']}) is about" in merged["content"]
    assert merged["model"] == "gpt-merge" and merged["status"] == "completed"
    assert merged["cost_usd"] > 0 and merged["key"] == "operator"
    assert sorted((m["letter"], m["model"]) for m in merged["merged_from"]) == sorted(names.items())
    assert result["consensus"] == "All three separate ownership from counting."
    prompt = str(llm_server.requests("chat", model="gpt-merge")[-1]["messages"])
    assert not any(name in prompt for name in [*NAMES, *NAMES.values()])


async def test_merge_a_stored_conversation_then_show_and_search_it(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    environment = env(llm_server, tmp_path)
    code, out, err = await run_cli(environment, "ask", "Mutex or semaphore?", "--json")
    assert code == 0, err
    asked = json.loads(out)
    assert not any(a["merge"] for a in asked["answers"])
    conversation = str(asked["conversation_id"])

    code, out, err = await run_cli(environment, "merge", conversation, "--json")
    assert code == 0, err
    assert the_merge(json.loads(out))["summary"] == "A mutex has an owner; a semaphore counts."

    code, out, err = await run_cli(environment, "show", conversation, "--json")
    assert code == 0, err
    question = json.loads(out)["questions"][0]
    assert the_merge(question)["rank"] is None
    assert question["consensus"] == "All three separate ownership from counting."

    code, out, _ = await run_cli(environment, "show", conversation)
    assert "Merged answer" in out and "Merged from A ·" in out

    code, out, _ = await run_cli(environment, "history", "--search", "counting", "--json")
    assert [c["id"] for c in json.loads(out)] == [asked["conversation_id"]]

    code, _out, err = await run_cli(environment, "merge", conversation)
    assert code == 2 and "merged answer already" in err


async def test_a_failed_merge_says_why_and_exits_1(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    environment = env(llm_server, tmp_path)
    llm_server.script("chat", [server_error("openai")], model="gpt-merge")
    code, out, err = await run_cli(environment, "ask", "Mutex or semaphore?", "--merge", "--json")
    assert code == 0, err  # the models answered; the merge failed
    failed = the_merge(json.loads(out))
    assert failed["status"] == "failed" and "OpenAI" in failed["error"]
    conversation = str(json.loads(out)["conversation_id"])
    code, out, err = await run_cli(environment, "merge", conversation)
    assert code == 2 and "merged answer already" in err  # a failed merge is retried on its card


async def test_the_workspace_can_merge_after_every_question_or_never(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    environment = env(llm_server, tmp_path)
    code, out, err = await run_cli(environment, "models", "merging", "auto")
    assert code == 0, err
    assert "merging: after every question" in out
    code, out, err = await run_cli(environment, "ask", "Mutex or semaphore?", "--json")
    assert code == 0, err
    assert the_merge(json.loads(out))["status"] == "completed"

    code, out, err = await run_cli(environment, "models", "merging", "off")
    assert code == 0 and "merging: off" in out
    code, out, err = await run_cli(environment, "ask", "Another?", "--merge", "--json")
    assert code == 0 and "Merging is turned off" in err
    assert not any(a["merge"] for a in json.loads(out)["answers"])
    code, _out, err = await run_cli(environment, "models", "merging", "request", "--merger", "openai/nope")
    assert code == 2 and "Not a configured model" in err


async def test_a_selected_merge_is_the_context_of_the_next_follow_up(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    environment = env(llm_server, tmp_path)
    code, out, err = await run_cli(environment, "ask", "Mutex or semaphore?", "--merge", "--json")
    assert code == 0, err
    result = json.loads(out)
    merged = the_merge(result)
    code, out, err = await run_cli(environment, "select", str(merged["id"]))
    assert code == 0, err
    assert "Selected Merged answer (openai/gpt-merge)" in out
    conversation = str(result["conversation_id"])
    code, out, err = await run_cli(environment, "ask", "And in Rust?", "--follow-up", conversation, "--json")
    assert code == 0, err
    turns = [m["content"] for m in llm_server.requests("chat", model="gpt-test")[-1]["messages"]]
    assert any(t.startswith("[Quoted answer merged by openai/gpt-merge") and "agree on ownership" in t for t in turns)
    assert not any(ANSWERS["gpt-test"] in t for t in turns[:-1])  # the merge, not the model's own answer
    code, _out, err = await run_cli(environment, "select", "999")
    assert code == 2 and "does not exist" in err
