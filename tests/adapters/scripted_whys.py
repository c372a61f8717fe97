"""Three scripted answers that end with the model's own ANSWER, TL;DR and WHY lines: two agree on 42,
one says 44. The end-to-end tests of every platform check that each card shows the model's own why
and, apart from it, what decided its rank; and that the consensus line names the dissent."""

from __future__ import annotations

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
