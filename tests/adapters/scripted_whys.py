"""Three scripted answers that end with the model's own ANSWER, TL;DR and WHY lines: two agree on 42,
one says 44. The end-to-end tests of every platform check that each card shows the model's own why
and, apart from it, what decided its rank; and that the consensus line names the dissent."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes.llm_server import FakeLLMServer

QUESTION = "A farmer has 12 cows and buys 30 more. How many cows does the farmer have now?"
WHYS = {
    "gpt-test": "Twelve cows plus thirty bought makes forty-two.",
    "claude-test": "Adding the thirty new cows to the twelve already there.",
    "llama-test": "I counted the two calves born this week as well.",
}
_BODIES = {
    "gpt-test": "The farmer starts with 12 cows and buys 30 more: 12 + 30 = 42.\nANSWER: 42",
    "claude-test": "12 + 30 = 42 cows in all.\nANSWER: 42",
    "llama-test": "12 + 30 = 42, and two calves were born, so 44.\nANSWER: 44",
}
SUMMARIES = {"gpt-test": "42 cows.", "claude-test": "42.", "llama-test": "44 cows."}
CONSENSUS = "2 of 3 answer 42; Ollama answers 44."
AGREE = "agree on 42"  # in the rank's reason of each of the two that agree
DISSENT = "answers 44; 2 of 3 agree on 42"  # in the rank's reason of the one that does not


def script(llm: FakeLLMServer) -> None:
    for model, body in _BODIES.items():
        llm.answers[model] = f"{body}\nTL;DR: {SUMMARIES[model]}\nWHY: {WHYS[model]}"


def judge_reply(body: dict[str, Any]) -> str:
    """A reviewer's reply to the judge prompt: 9 for the answers that reach 42, 3 for the other; and
    a consensus sentence naming the answers by their letters, as the judge is asked to."""
    prompt = body["messages"][-1]["content"]
    blocks = dict(re.findall(r"=== Answer ([A-Z]+) ===\n(.*?)(?=\n\n=== )", prompt, re.DOTALL))
    right = sorted(letter for letter, text in blocks.items() if "ANSWER: 42" in text)
    wrong = sorted(letter for letter in blocks if letter not in right)
    verdict: dict[str, Any] = {
        letter: {
            "score": 9 if letter in right else 3,
            "why": f"Answer {letter} {'adds' if letter in right else 'guesses'}.",
        }
        for letter in blocks
    }
    verdict["consensus"] = f"Answers {' and '.join(right)} give 42; Answer {wrong[0]} adds two calves to reach 44."
    return json.dumps(verdict)


REVIEWED = (  # the reviewer's line once its letters are the models' names, in either order of the two
    "OpenAI and Anthropic give 42; Ollama adds two calves to reach 44.",
    "Anthropic and OpenAI give 42; Ollama adds two calves to reach 44.",
)
