"""With Slack a round trip away: nothing the models or the ranking need waits for a Web API call."""

from __future__ import annotations

import json

from tests.adapters.slack.conftest import SlackEnv


async def test_models_are_asked_and_the_workspace_link_looked_up_before_any_card_is_posted(
    slack_env: SlackEnv,
) -> None:
    env = slack_env
    await env.ask("Which port does SSH use?")  # the model clients are built by this first question
    env.api.call_latency = 0.2  # every Web API call: the models answer before the cards are posted
    first_call = len(env.api.calls)

    # from a workspace new to the bot: its URL (for the ranking's links) is not known yet
    status, _ = await env.command("What is 2+2?", team="T2")
    assert status == 200
    await env.api.wait_until(lambda: len(env.parents()) == 2 and len(env.cards(1)) == 3)
    await env.settle()
    calls = env.api.calls[first_call:]
    posts = [c.t for c in calls if c.name == "chat.postMessage"]
    assert len(posts) == 4  # the question, then a card per model
    asked = [c.t for c in env.llm.calls if b"What is 2+2?" in c.body]
    assert len(asked) == 3 and max(asked) < posts[1]  # before the first card, whatever Slack is doing
    [lookup] = [c.t for c in calls if c.name == "auth.test"]
    assert lookup < posts[1]  # started with the question, not when the ranking needed it
    # what the models said before their cards existed is on the cards, ranked, with links from the question
    assert all("/10 by agreement" in json.dumps(card.blocks) for card in env.cards(1))
    assert "3/3 answered · ranked by agreement" in json.dumps(env.parents()[1].blocks, ensure_ascii=False)
    assert "consensus-test.slack.com/archives/" in json.dumps(env.parents()[1].blocks, ensure_ascii=False)
