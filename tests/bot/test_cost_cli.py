"""The terminal's costs: an estimate before asking (and only it with --estimate), the question's total
after, the confirmation threshold, and the spend of today under `consensus models limits`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bot.inprocess import run_cli
from tests.bot.processes import cli_env
from tests.fakes.llm_server import FakeLLMServer

# gpt-test and claude-test priced (per million tokens); llama-test has no price
PRICES = json.dumps({"openai/gpt-test": [1000, 2000], "anthropic/claude-test": [500, 1000]})


def env(server: FakeLLMServer, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path, CONSENSUS_PRICES=PRICES)


async def test_estimate_only_asks_nothing_and_stores_nothing(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    code, out, err = await run_cli(env(llm_server, tmp_path), "ask", "What is 6 x 7?", "--estimate", "--json")
    assert code == 0, err
    estimate = json.loads(out)
    assert estimate["models"] == 3 and estimate["unknown"] == 1  # llama-test has no price
    assert estimate["usd"] > 0 and "for 3 models (1 price unknown)" in estimate["text"]
    assert llm_server.requests("chat") == [] and llm_server.requests("messages") == []
    code, out, _ = await run_cli(env(llm_server, tmp_path), "history", "--json")
    assert code == 0 and json.loads(out) == []


async def test_the_total_says_unknown_prices_and_compares_with_the_estimate(
    llm_server: FakeLLMServer, tmp_path: Path
) -> None:
    code, out, err = await run_cli(env(llm_server, tmp_path), "ask", "What is 6 x 7?", "--json")
    assert code == 0, err
    result = json.loads(out)
    paid = [a["cost_usd"] for a in result["answers"] if a["cost_usd"] is not None]
    assert len(paid) == 2
    assert result["cost"]["usd"] == sum(paid) and result["cost"]["unknown_prices"] == 1
    assert result["cost"]["text"].startswith("≥ $") and result["cost"]["text"].endswith("(1 price unknown)")
    assert result["cost"]["estimate"]["models"] == 3

    code, out, err = await run_cli(env(llm_server, tmp_path), "show", str(result["conversation_id"]))
    assert code == 0, err
    assert "Estimated ≈ $" in out and ", cost ≥ $" in out and "(1 price unknown)" in out


async def test_above_the_threshold_a_script_must_confirm(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    code, out, err = await run_cli(env(llm_server, tmp_path), "models", "limits", "--confirm-above", "0.0001")
    assert code == 0, err
    assert "confirm before asking: above $0.0001 (estimated)" in out
    assert "Spent today (UTC): $0.0000; no daily budget" in out

    code, _out, err = await run_cli(env(llm_server, tmp_path), "ask", "What is 6 x 7?")
    assert code == 2 and "above this workspace's $0.0001 threshold" in err and "pass --yes" in err
    assert llm_server.requests("chat") == []

    code, out, err = await run_cli(env(llm_server, tmp_path), "ask", "What is 6 x 7?", "--yes", "--json")
    assert code == 0, err
    spent = json.loads(out)["cost"]["usd"]
    code, out, _ = await run_cli(
        env(llm_server, tmp_path), "models", "limits", "--budget", "10", "--confirm-above", "0.5"
    )
    assert code == 0
    assert f"Spent today (UTC): ≥ ${spent:.4f} (1 price unknown) of the $10.00 daily budget" in out
    assert "confirm before asking: above $0.5000 (estimated)" in out
