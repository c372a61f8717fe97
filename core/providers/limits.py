"""How many tokens each model may write (`max_tokens` / `max_completion_tokens`).

For a reasoning model the limit covers its reasoning too: OpenAI's reasoning guide asks to reserve at
least 25,000 tokens for reasoning and output when starting out, and a model that spends the whole limit
thinking sends no answer at all (yet bills every token). The limit is a cap, not a reservation: only
the tokens written are billed. Ordinary models get 4,096, room for a long answer with code in it;
the prompt asks for a concise one.

Overrides (CONSENSUS_MAX_TOKENS) are keyed like prices: "provider/model", "provider/*", or "*".
"""

from __future__ import annotations

import re
from collections.abc import Mapping

DEFAULT_LIMIT = 4_096
REASONING_LIMIT = 25_000

# Model names of reasoning models: OpenAI's o-series, gpt-5 and gpt-oss; DeepSeek-R1 and its distills;
# Qwen3 and QwQ; Magistral; anything calling itself a thinking or reasoning model.
_REASONING = re.compile(
    r"(?:^|[/:_-])(?:o\d|gpt-5|gpt-oss|gemini-(?:2\.5|3)|deepseek-reasoner|qwq|qwen3|magistral)"
    r"|(?:^|[/:_-])r1(?:$|[/:_.-])|thinking|reason",
    re.IGNORECASE,
)


def is_reasoning_model(model: str) -> bool:
    return _REASONING.search(model) is not None


class OutputLimits:
    """The output limit of each "provider/model"; an override wins over the defaults above."""

    def __init__(self, overrides: Mapping[str, int] | None = None) -> None:
        self._overrides = dict(overrides or {})

    def limit(self, provider_id: str) -> int:
        provider, _, model = provider_id.partition("/")
        for key in (provider_id, f"{provider}/*", "*"):
            if key in self._overrides:
                return self._overrides[key]
        return REASONING_LIMIT if is_reasoning_model(model) else DEFAULT_LIMIT
