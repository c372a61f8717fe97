"""Export on Slack: the question's button uploads the decision record into the conversation's thread
through files.getUploadURLExternal, the upload URL and files.completeUploadExternal; anyone in the
workspace may export, nobody from another; every failure is one private message."""

from __future__ import annotations

import json
from functools import partial

from adapters.presenter import record
from core.domain import Actor, Batch
from tests.adapters.slack.conftest import SlackEnv
from tests.fakes.slack_files import UploadedFile
from tests.fakes.slack_signing import block_action, event_callback, thread_reply

dumps = partial(json.dumps, ensure_ascii=False)
OPENAI_KEY = "sk-proj-Zq7Wx2Vb9Nm4Kl1Jh6Gf3Ds8Pa5Yt0Re" + "3f9a"


async def click_export(env: SlackEnv, batch: Batch, *, user: str = "U1", team: str = "T1", index: int = 0) -> None:
    """Export on the question's message (`index`: which parent; a follow-up's header is in the thread)."""
    payload = block_action(
        f"consensus:export:{batch.id}",
        response_url=env.api.response_url(),
        user=user,
        team=team,
        message_ts=env.thread_ts(index),
    )
    status, _ = await env.send.action(payload)
    assert status == 200


async def shared(env: SlackEnv, count: int = 1) -> list[UploadedFile]:
    await env.api.wait_until(lambda: len(env.api.shared_files("C1")) >= count)
    return env.api.shared_files("C1")


async def test_export_uploads_the_record_into_the_thread_for_anyone_in_the_workspace(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.service.set_key(Actor(env.ws, "U1"), "openai", OPENAI_KEY, "user")  # a card shows "••3f9a"
    batch = await env.ask("Ship the <!channel> release on Friday?")
    assert "••3f9a" in env.screen()
    question = dumps(env.parents()[0].blocks)
    assert f"consensus:export:{batch.id}" in question
    chosen = batch.answers[1]
    await env.click("select", chosen.id, user="UADMIN")
    await env.api.wait_until(lambda: "Selected by" in env.screen())

    await click_export(env, batch, user="U2")  # not the asker: reading is for anyone who sees the thread
    [uploaded] = await shared(env)

    [asked] = env.api.args("files.getUploadURLExternal")
    assert asked["filename"] == uploaded.name == "Ship-the-channel-release-on-Friday.md"
    assert int(asked["length"]) == len(uploaded.content or b"")
    [completed] = env.api.args("files.completeUploadExternal")
    assert completed["channel_id"] == "C1" and completed["thread_ts"] == env.thread_ts()
    assert json.loads(completed["files"]) == [{"id": uploaded.id, "title": "Decision record: " + batch.question}]
    assert uploaded.shares[0]["comment"] == "Decision record of this conversation, exported by bob."

    conversation = await env.service.get_conversation(batch.conversation_id, env.ws)
    content = (uploaded.content or b"").decode()
    assert content == record.markdown(conversation, {"U1": "alice", "UADMIN": "root"})
    assert "started by alice" in content and "Asked by alice" in content  # names, not Slack's user ids
    assert f"{record.inert(chosen.label)} ({record.inert(chosen.provider_id)})** · rank" in content
    assert "✓ selected by root" in content
    assert record.inert(batch.question) in content and "<!channel>" not in content
    for answer in batch.answers:
        assert record.inert(answer.summary or "") in content
    for secret in ("3f9a", "sk-", "xoxb-", "key", "consensus:", env.thread_ts(), "U1", "UADMIN"):
        assert secret not in content, secret
    assert not env.api.ephemeral  # nothing to say: the file is in the thread


async def test_export_on_a_follow_up_records_the_whole_conversation_in_its_thread(slack_env: SlackEnv) -> None:
    env = slack_env
    first = await env.ask("What is 2+2?")
    reply = thread_reply("And times three?", thread_ts=env.thread_ts(), ts="1700000100.000001")
    status, _ = await env.send.event(event_callback(reply, event_id="EvExport"))
    assert status == 200
    await env.api.wait_until(lambda: len(env.cards()) == 1 + 3 + 3)  # the follow-up's header and its cards
    await env.settle()
    follow_up = next(t.batch for t in env.bot.renderer.threads.values() if t.batch.id != first.id)
    header = next(m for m in env.cards() if f"consensus:export:{follow_up.id}" in dumps(m.blocks))

    payload = block_action(
        f"consensus:export:{follow_up.id}",
        response_url=env.api.response_url(),
        message_ts=header.ts,
        thread_ts=env.thread_ts(),
    )
    assert (await env.send.action(payload))[0] == 200
    [uploaded] = await shared(env)
    assert uploaded.shares[0]["thread_ts"] == env.thread_ts()
    content = (uploaded.content or b"").decode()
    assert "Question 1 of 2" in content and "Question 2 of 2" in content
    assert uploaded.name == "What-is-2-2.md"


async def test_a_forged_export_from_another_workspace_uploads_nothing(slack_env: SlackEnv) -> None:
    env = slack_env
    batch = await env.ask()
    await click_export(env, batch, team="T2")
    await env.api.wait_until(lambda: bool(env.api.ephemeral))
    assert env.api.ephemeral[-1]["text"] == "That conversation or answer no longer exists."
    assert not env.api.args("files.getUploadURLExternal") and not env.api.files


async def test_without_the_files_write_scope_the_clicker_is_told_privately(slack_env: SlackEnv) -> None:
    env = slack_env
    batch = await env.ask()
    env.api.scopes.discard("files:write")
    await click_export(env, batch, user="U2")
    await env.api.wait_until(lambda: bool(env.api.ephemeral))
    [told] = env.api.ephemeral
    assert told["user"] == "U2" and told["channel"] == "C1"
    assert told["text"] == (
        "Consensus lacks a Slack permission (files:write) for this. A workspace admin can add it by "
        "reinstalling the app from its manifest."
    )
    assert not env.api.files and not env.api.args("files.completeUploadExternal")


async def test_a_refused_upload_or_share_is_one_private_message(slack_env: SlackEnv) -> None:
    env = slack_env
    batch = await env.ask()
    env.api.upload_failures.append((500, "upload failed"))
    await click_export(env, batch)
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 1)
    assert env.api.ephemeral[0]["text"] == "Slack did not accept the file. Try again in a moment."
    assert not env.api.args("files.completeUploadExternal")

    env.api.fail_next["files.completeUploadExternal"].append((200, "not_in_channel"))
    await click_export(env, batch)
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 2)
    assert env.api.ephemeral[1]["text"].startswith("I can't post in this channel.")
    assert not env.api.shared_files("C1")

    await click_export(env, batch)  # and the next click works
    [uploaded] = await shared(env)
    assert (uploaded.content or b"").startswith(b"# Decision record: What is 2\\+2?")
