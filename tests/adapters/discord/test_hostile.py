"""Property: hostile questions and model answers (mentions, markdown, masked links, control
characters, long Unicode) go through the real bot and the fakes without pinging anyone, without
a control character reaching Discord, and without crashing.

Hypothesis runs in a worker thread; each example runs on the test's event loop, against one bot
and one set of fakes that all examples share (a fresh bot per example would cost seconds).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from core.errors import InvalidQuestionError
from core.service import clean_question
from core.text import remove_control_characters
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import CALLBACK, ask_in_channel, button, card_of, click, eventually, settle, slash
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer
from tests.invisible import SAMPLES, invisible

EXAMPLES = 25
HOSTILE = [
    "@everyone",
    "@here",
    "@EveryOne",
    "@\u200beveryone",
    "<@123456789012345678>",
    "<@!123456789012345678>",
    "<@&223456789012345678>",
    "<#323456789012345678>",
    "[https://bank.example](https://evil.example)",
    '[click](<https://evil.example> "t")',
    "[[a](https://x.example)](https://y.example)",
    "**bold**",
    "__under__",
    "`code`",
    "```\n@here\n```",
    "||spoiler||",
    "> quote",
    "# Heading\n",
    "-# small\n",
    "~~strike~~",
    "\\",
    "\x00",
    "\x1b[31m",
    "\x07",
    "\r\n",
    "\u202e",
    "\u2066",
    "\u200f",
    "\x85",
    "\ufeff",
    "😀",
    "👨‍👩‍👧",
    "\U0001d54f",
    "ﷺ",
    "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫơ̌",
    *SAMPLES,  # invisible characters
    "\x85- item",
    "\x1c\x1d* item",
]
pieces = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=30)), max_size=14).map("".join)
long_unicode = st.text(st.characters(min_codepoint=0x80, exclude_categories=("Cs",)), min_size=1500, max_size=6000)
questions = st.one_of(pieces, pieces.map(lambda t: t * 40), st.text(min_size=1, max_size=2500))
answers = st.one_of(pieces, long_unicode, st.tuples(pieces, pieces).map(lambda t: f"{t[0]}\nTL;DR: {t[1]}"))

PING = re.compile(r"@(everyone|here)", re.IGNORECASE)
TAG = re.compile(r"<(@[!&]?|#)(\d+)>")
SENDS = ("POST", "PATCH", "PUT")
DEFUSED = "\t\n\u200b"  # a zero-width space is ours: it defuses @everyone and <@id>


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


OWN_LINK = re.compile(r"\]\(https://discord\.com/channels/\d+/\d+/\d+\)")


def check_call(fake: FakeDiscord, call: Any, asker: str) -> None:
    ctype = call.headers.get("Content-Type", "")
    data, files = p.multipart(ctype, call.body) if ctype.startswith("multipart/") else (call.json() or {}, {})
    inner = data.get("data", data) if "type" in data and call.name.endswith("/callback") else data
    if isinstance(inner, dict) and (inner.get("content") or inner.get("embeds")):
        assert inner.get("allowed_mentions") == {"parse": []}, (call.name, inner)
    texts = strings(data) + [b.decode("utf-8", "replace") for b in files.values()]
    for text in texts:
        assert not PING.search(text), (call.name, text[:300])
        assert not invisible(text, allowed=DEFUSED), (call.name, ascii(text[:300]))
        assert {m.group(2) for m in TAG.finditer(text) if m.group(1) in ("@", "@!")} <= {asker}, text[:300]
        assert not re.search(r"<(@&|#)\d+>", text), (call.name, text[:300])
        ours = OWN_LINK.sub("", text)  # the ranking's links to our own cards
        assert not re.search(r"\]\(\s*<?https?://", ours), (call.name, text[:300])  # no masked link


def expected(question: str) -> str:
    if not question.strip():
        return "usage"
    try:
        clean_question(question)
    except InvalidQuestionError:
        return "refused"
    return "cards"


async def test_hostile_questions_and_answers_never_ping_and_never_crash(
    fake_discord: FakeDiscord,
    world: p.World,
    start_bot: StartBot,
    make_service,
    llm_server: FakeLLMServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    loop = asyncio.get_running_loop()
    runs: list[str] = []
    caplog.set_level(logging.ERROR)

    async def one(question: str, gpt: str, claude: str) -> None:
        llm_server.answers["gpt-test"], llm_server.answers["claude-test"] = gpt, claude
        start, callbacks = len(fake_discord.calls), len(fake_discord.named(CALLBACK))
        outcome = expected(question)
        if outcome == "cards":
            thread, _ = await ask_in_channel(fake_discord, world, bot, service, question)
            card = card_of(fake_discord, thread, "gpt-test")
            if remove_control_characters(gpt).strip():
                await click(fake_discord, world, card, button(card, "expand"))
                await eventually(lambda: "collapse" in json.dumps(card["components"]), what="expanded")
            else:  # an answer with no text is a failed card, never an empty success
                assert button(card, "retry")
            await settle(bot, service)
        else:
            await slash(fake_discord, world, "consensus", question=question)
            reply = (await fake_discord.wait_for(CALLBACK, callbacks + 1))[-1].json()
            assert reply["type"] == 4 and reply["data"]["flags"] == 64
        for call in fake_discord.calls[start:]:
            if call.method in SENDS and call.body and "/commands" not in call.path:
                check_call(fake_discord, call, world.asker["id"])
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text[-2000:]
        runs.append(outcome)

    # No shrinking: each example drives the whole bot, so shrinking a failure takes many minutes;
    # a failure prints its example (and the seed to replay it) as drawn.
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(question=questions, gpt=answers, claude=answers)
    @example(question=" ".join(HOSTILE), gpt="\n".join(HOSTILE) * 30, claude=f"TL;DR: {''.join(HOSTILE)}")
    def prop(question: str, gpt: str, claude: str) -> None:
        asyncio.run_coroutine_threadsafe(one(question, gpt, claude), loop).result(timeout=120)

    await asyncio.to_thread(prop)
    print(
        f"\nhostile input: {len(runs)} examples ({runs.count('cards')} answered, "
        f"{len(runs) - runs.count('cards')} refused privately)"
    )
    assert len(runs) >= EXAMPLES + 1 and runs.count("cards") > 0
