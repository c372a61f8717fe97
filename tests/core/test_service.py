"""The conversation service on SQLite and PostgreSQL: asking, the four clicks, context, history."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.wiring import Core
from core.domain import Actor, Answer, AnswerStatus, Batch, BatchStatus, Platform, Question, WorkspaceRef
from core.errors import DuplicateDeliveryError, InvalidQuestionError, NotFoundError, PermissionDeniedError
from core.store.tables import Conversation, Message
from tests.conftest import MakeCore
from tests.fakes.llm_server import FakeLLMServer, Ok, server_error

TEAM = WorkspaceRef(Platform.SLACK, "T1")
OTHER_TEAM = WorkspaceRef(Platform.SLACK, "T2")
ASKER = Actor(TEAM, "U-asker")
STRANGER = Actor(TEAM, "U-stranger")
ADMIN = Actor(TEAM, "U-admin", is_admin=True)


def question(
    text: str = "What is the capital of France?", user: str = "U-asker", models: tuple[str, ...] | None = None
) -> Question:
    return Question(TEAM, "C1", user, text, thread="1700000000.000100", models=models)


@pytest.fixture
async def core(database_url: str, make_core: MakeCore) -> Core:
    # database_url first: it must outlive the core, which make_core closes at teardown.
    return await make_core(database_url=database_url)


async def asked(core: Core, text: str = "What is the capital of France?") -> Batch:
    batch = await core.service.ask(question(text))
    return await core.service.wait_for_batch(batch.id, TEAM)


async def test_ask_stores_a_running_answer_per_model_then_completes(core: Core) -> None:
    batch = await core.service.ask(question())
    assert batch.status == BatchStatus.RUNNING  # claimed as it is stored: its model requests are on their way
    assert [a.status for a in batch.answers] == [AnswerStatus.RUNNING] * 3
    assert [a.provider_id for a in batch.answers] == ["openai/gpt-test", "anthropic/claude-test", "ollama/llama-test"]
    done = await core.service.wait_for_batch(batch.id, TEAM)
    assert done.status == BatchStatus.COMPLETED
    assert all(a.status == AnswerStatus.COMPLETED and a.summary for a in done.answers)
    assert sorted(a.rank for a in done.answers if a.rank is not None) == [1, 2, 3]
    assert all(a.score is not None and 0 <= a.score <= 10 for a in done.answers)


async def test_one_failing_model_gives_a_partial_batch(core: Core, llm_server: FakeLLMServer) -> None:
    llm_server.script("chat", [server_error("openai")] * 3, model="gpt-test")
    done = await asked(core)
    assert done.status == BatchStatus.PARTIAL
    failed = [a for a in done.answers if a.status == AnswerStatus.FAILED]
    assert [a.provider_id for a in failed] == ["openai/gpt-test"]
    assert failed[0].error and "OpenAI" in failed[0].error
    assert all(a.rank for a in done.answers if a.status == AnswerStatus.COMPLETED)


@pytest.mark.parametrize("text", ["", "   \n\t", "\x00\x07"])
async def test_empty_question_is_refused_and_nothing_stored(core: Core, text: str) -> None:
    with pytest.raises(InvalidQuestionError, match="empty"):
        await core.service.ask(question(text))
    assert await core.service.history(TEAM) == []


async def test_question_over_the_limit_names_the_limit(core: Core) -> None:
    with pytest.raises(InvalidQuestionError, match="8,000"):
        await core.service.ask(question("x" * 8001))
    assert await core.service.history(TEAM) == []
    ok = await core.service.ask(question("y" * 8000))  # exactly at the limit is fine
    assert len(ok.question) == 8000


async def test_control_characters_are_removed_and_the_rest_kept_exactly(core: Core) -> None:
    batch = await core.service.ask(question("Line one\x00\x1b[31m\n\tindented <!channel> *bold* é 🙂\u202e"))
    assert batch.question == "Line one[31m\n\tindented <!channel> *bold* é 🙂"


async def test_expand_and_collapse_anyone_in_the_workspace(core: Core) -> None:
    done = await asked(core)
    answer = done.answers[0]
    assert (await core.service.expand(answer.id, STRANGER)).is_expanded
    assert not (await core.service.collapse(answer.id, STRANGER)).is_expanded


async def test_select_moves_the_mark_and_collapses_the_others(core: Core) -> None:
    done = await asked(core)
    first, second, third = done.answers
    await core.service.expand(second.id, ASKER)
    await core.service.expand(third.id, ASKER)
    batch = await core.service.select(first.id, ASKER)
    by_id = {a.id: a for a in batch.answers}
    assert by_id[first.id].is_selected and by_id[first.id].selected_by == "U-asker"
    assert not by_id[second.id].is_expanded and not by_id[third.id].is_expanded
    batch = await core.service.select(second.id, ADMIN)
    assert [a.id for a in batch.answers if a.is_selected] == [second.id]


async def test_clicks_by_someone_else_are_refused_and_change_nothing(core: Core) -> None:
    done = await asked(core)
    target = done.answers[0].id
    for verb in ("select", "delete", "delete_others"):
        with pytest.raises(PermissionDeniedError):
            await getattr(core.service, verb)(target, STRANGER)
    after = await core.service.get_batch(done.id, TEAM)
    assert not any(a.is_selected or a.is_deleted for a in after.answers)


async def test_ids_from_another_workspace_are_not_found(core: Core) -> None:
    done = await asked(core)
    intruder = Actor(OTHER_TEAM, "U-asker", is_admin=True)
    await core.service.ask(Question(OTHER_TEAM, "C9", "U-x", "hello"))
    for verb in ("expand", "select", "delete", "delete_others", "retry"):
        with pytest.raises(NotFoundError):
            await getattr(core.service, verb)(done.answers[0].id, intruder)
    with pytest.raises(NotFoundError):
        await core.service.get_batch(done.id, OTHER_TEAM)
    with pytest.raises(NotFoundError):
        await core.service.follow_up(done.conversation_id, Question(OTHER_TEAM, "C1", "U-x", "more"))
    assert [s.title for s in await core.service.history(OTHER_TEAM)] == ["hello"]


async def test_delete_and_delete_others(core: Core) -> None:
    done = await asked(core)
    first, second, third = done.answers
    batch = await core.service.delete(third.id, ASKER)
    assert [a.is_deleted for a in batch.answers] == [False, False, True]
    await core.service.select(first.id, ASKER)
    batch = await core.service.delete_others(first.id, ASKER)
    assert [(a.is_selected, a.is_deleted) for a in batch.answers] == [(True, False), (False, True), (False, True)]
    with pytest.raises(NotFoundError):
        await core.service.select(second.id, ASKER)


async def test_retry_runs_only_the_failed_model_again(core: Core, llm_server: FakeLLMServer) -> None:
    llm_server.script("chat", [server_error("openai")] * 3, model="gpt-test")
    done = await asked(core)
    failed = next(a for a in done.answers if a.status == AnswerStatus.FAILED)
    calls_before = len(llm_server.calls)
    with pytest.raises(PermissionDeniedError):
        await core.service.retry(failed.id, STRANGER)
    await core.service.retry(failed.id, ASKER)
    again = await core.service.wait_for_batch(done.id, TEAM)
    assert again.status == BatchStatus.COMPLETED
    assert len(llm_server.calls) == calls_before + 1  # the other models were not asked again
    with pytest.raises(InvalidQuestionError):
        await core.service.retry(failed.id, ASKER)  # no longer failed


async def test_retry_while_the_other_models_still_answer(core: Core, llm_server: FakeLLMServer) -> None:
    """A retry clicked before the batch ends runs too, and the batch is ranked once, with it."""
    gate = asyncio.Event()
    llm_server.script("chat", [server_error("openai")] * 3, model="gpt-test")
    llm_server.script("messages", [Ok(gate=gate)])
    batch = await core.service.ask(question())
    failed = await wait_until_failed(core, batch.id)
    await core.service.retry(failed.id, ASKER)  # Claude is still answering
    gate.set()
    done = await core.service.wait_for_batch(batch.id, TEAM)
    assert done.status == BatchStatus.COMPLETED
    assert all(a.status == AnswerStatus.COMPLETED and a.score is not None for a in done.answers)


async def wait_until_failed(core: Core, batch_id: int) -> Answer:
    for _ in range(200):
        batch = await core.service.get_batch(batch_id, TEAM)
        failed = [a for a in batch.answers if a.status == AnswerStatus.FAILED]
        if failed:
            return failed[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no answer failed")


def assistant_turns(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "assistant"]


async def test_follow_up_context_is_the_selected_answer(core: Core, llm_server: FakeLLMServer) -> None:
    llm_server.answers.update(
        {"gpt-test": "Paris is the capital.", "claude-test": "It is Lyon, surely.", "llama-test": "Marseille."}
    )
    done = await asked(core)
    chosen = next(a for a in done.answers if a.provider_id == "anthropic/claude-test")
    await core.service.select(chosen.id, ASKER)
    follow = await core.service.follow_up(done.conversation_id, question("And its population?"))
    await core.service.wait_for_batch(follow.id, TEAM)
    body = llm_server.requests("chat", model="gpt-test")[-1]
    turns = assistant_turns(body)
    assert len(turns) == 1 and "It is Lyon, surely." in turns[0] and "quoted" in turns[0].lower()
    assert [m["content"] for m in body["messages"] if m["role"] == "user"] == [
        "What is the capital of France?",
        "And its population?",
    ]


async def test_follow_up_context_without_selection_is_the_top_ranked_live_answer(
    core: Core, llm_server: FakeLLMServer
) -> None:
    done = await asked(core)
    ranked = sorted(done.answers, key=lambda a: a.rank or 99)
    await core.service.delete(ranked[0].id, ASKER)  # the best one is deleted: the next one goes back
    follow = await core.service.follow_up(done.conversation_id, question("Why?"))
    await core.service.wait_for_batch(follow.id, TEAM)
    turns = assistant_turns(llm_server.requests("messages", model="claude-test")[-1])
    assert len(turns) == 1
    assert ranked[1].content and ranked[1].content in turns[0]
    assert ranked[0].provider_id not in turns[0]


async def test_a_deleted_answer_never_goes_back_even_when_it_was_the_only_one(
    core: Core, llm_server: FakeLLMServer
) -> None:
    core_models = ("openai/gpt-test",)
    batch = await core.service.ask(question("Secret plan?", models=core_models))
    done = await core.service.wait_for_batch(batch.id, TEAM)
    llm_server.answers["gpt-test"] = "unused"
    await core.service.delete(done.answers[0].id, ASKER)
    follow = await core.service.follow_up(done.conversation_id, question("Go on", models=core_models))
    await core.service.wait_for_batch(follow.id, TEAM)
    body = llm_server.requests("chat", model="gpt-test")[-1]
    assert all("Secret plan?" != t for t in assistant_turns(body))
    assert assistant_turns(body) == ["[No answer was kept.]"]


async def test_history_newest_first_paged_and_searchable(core: Core) -> None:
    for text in ("How do tides work?", "Best sourdough hydration?", "Why is the sky blue?"):
        await asked(core, text)
    titles = [s.title for s in await core.service.history(TEAM)]
    assert titles == ["Why is the sky blue?", "Best sourdough hydration?", "How do tides work?"]
    assert [s.title for s in await core.service.history(TEAM, limit=1, offset=1)] == ["Best sourdough hydration?"]
    found = await core.service.history(TEAM, "sourdo")  # the last word matches as a prefix
    assert [s.title for s in found] == ["Best sourdough hydration?"]
    assert found[0].snippet and "sourdough" in found[0].snippet.lower()
    assert found[0].models == 3
    assert await core.service.history(TEAM, 'sky" OR "tides') == []  # query syntax is inert: all words must match
    assert [s.title for s in await core.service.history(TEAM, 'sky")')] == ["Why is the sky blue?"]
    assert await core.service.history(TEAM, "***") == []


async def test_search_finds_answers_too_and_forgets_deleted_ones(core: Core, llm_server: FakeLLMServer) -> None:
    llm_server.answers["gpt-test"] = "The photosynthesis pathway explained."
    done = await asked(core, "Explain plants")
    assert [s.title for s in await core.service.history(TEAM, "photosynthesis")] == ["Explain plants"]
    await core.service.delete(next(a.id for a in done.answers if a.provider_id == "openai/gpt-test"), ASKER)
    assert await core.service.history(TEAM, "photosynthesis") == []


async def test_a_conversation_reads_back_whole_in_order_with_the_marks(core: Core) -> None:
    first = await asked(core, "What is the capital of France?")
    kept, _other, gone = first.answers
    await core.service.select(kept.id, ASKER)
    await core.service.delete(gone.id, ASKER)
    follow = await core.service.follow_up(first.conversation_id, question("And its population?", user="U-admin"))
    await core.service.wait_for_batch(follow.id, TEAM)
    await core.service.ask(question("An unrelated question"))  # another conversation stays out

    read = await core.service.get_conversation(first.conversation_id, TEAM)
    assert (read.id, read.title, read.created_by) == (
        first.conversation_id,
        "What is the capital of France?",
        "U-asker",
    )
    assert [(b.question, b.asker) for b in read.batches] == [
        ("What is the capital of France?", "U-asker"),
        ("And its population?", "U-admin"),
    ]
    assert [b.id for b in read.batches] == [first.id, follow.id]
    marks = {a.id: (a.is_selected, a.selected_by, a.is_deleted) for a in read.batches[0].answers}
    assert marks[kept.id] == (True, "U-asker", False)
    assert marks[gone.id] == (False, None, True)  # still there, marked
    assert len(read.batches[1].answers) == 3
    assert all(a.status == AnswerStatus.COMPLETED and a.summary for a in read.batches[1].answers)


async def test_a_conversation_of_another_workspace_or_unknown_is_not_found(core: Core) -> None:
    done = await asked(core)
    for conversation_id, workspace in ((done.conversation_id, OTHER_TEAM), (done.conversation_id + 1, TEAM)):
        with pytest.raises(NotFoundError):
            await core.service.get_conversation(conversation_id, workspace)
    await core.service.ask(Question(OTHER_TEAM, "C9", "U-x", "hello"))  # the other workspace now exists
    with pytest.raises(NotFoundError, match="does not exist in this workspace"):
        await core.service.get_conversation(done.conversation_id, OTHER_TEAM)


async def test_thread_lookup_and_idempotent_events(core: Core) -> None:
    done = await asked(core)
    assert await core.service.find_conversation(TEAM, "C1", "1700000000.000100") == done.conversation_id
    assert await core.service.find_conversation(OTHER_TEAM, "C1", "1700000000.000100") is None
    assert await core.service.claim_event(TEAM, "Ev1") is True
    assert await core.service.claim_event(TEAM, "Ev1") is False
    assert await core.service.claim_event(OTHER_TEAM, "Ev1") is True


async def test_a_delivery_repeated_asks_once_even_when_both_arrive_at_once(core: Core) -> None:
    """Slack and Discord may deliver one command twice (a retry, a replay): the platform's id of the
    delivery is stored with the question, so the repeat stores nothing, on any replica."""
    import dataclasses

    first = dataclasses.replace(question(), delivery="trigger-1")
    results = await asyncio.gather(*(core.service.ask(first) for _ in range(5)), return_exceptions=True)
    asked_once = [r for r in results if isinstance(r, Batch)]
    assert len(asked_once) == 1
    assert all(isinstance(r, DuplicateDeliveryError) for r in results if r not in asked_once)
    with pytest.raises(DuplicateDeliveryError):
        await core.service.follow_up(asked_once[0].conversation_id, first)  # the same delivery, whatever it asks
    await core.service.wait_idle()
    assert [c.questions for c in await core.service.history(TEAM)] == [1]
    other = await core.service.ask(dataclasses.replace(first, delivery="trigger-2"))  # a new command is asked
    assert other.conversation_id != asked_once[0].conversation_id
    elsewhere = dataclasses.replace(first, workspace=OTHER_TEAM)  # ids are the platform's, per workspace
    assert (await core.service.ask(elsewhere)).workspace == OTHER_TEAM


async def test_a_refused_question_does_not_use_up_its_delivery(core: Core) -> None:
    import dataclasses

    empty = dataclasses.replace(question(""), delivery="trigger-3")
    with pytest.raises(InvalidQuestionError):
        await core.service.ask(empty)
    asked_now = await core.service.ask(dataclasses.replace(empty, text="Now with words"))
    assert asked_now.question == "Now with words"


async def test_message_refs_survive_in_the_store(core: Core) -> None:
    from core.domain import MessageRef

    done = await asked(core)
    first, second = done.answers[0].id, done.answers[1].id
    await core.service.cards_posted(
        TEAM, [("answer", first, MessageRef("C1", "1.1")), ("answer", second, MessageRef("C1", "2.1"))]
    )
    await core.service.cards_posted(TEAM, [("answer", first, MessageRef("C1", "1.2"))])
    assert await core.service.message_for(TEAM, "answer", first) == MessageRef("C1", "1.2")
    assert await core.service.message_for(TEAM, "answer", second) == MessageRef("C1", "2.1")
    assert await core.service.message_for(OTHER_TEAM, "answer", done.answers[0].id) is None


async def test_cards_posted_stores_the_new_thread_with_the_messages(core: Core) -> None:
    from core.domain import MessageRef

    done = await asked(core)
    await core.service.cards_posted(
        TEAM, [("batch", done.id, MessageRef(done.channel, "9.1"))], conversation_id=done.conversation_id, thread="9.1"
    )
    assert await core.service.find_conversation(TEAM, done.channel, "9.1") == done.conversation_id
    assert await core.service.message_for(TEAM, "batch", done.id) == MessageRef(done.channel, "9.1")


async def test_concurrent_selects_leave_exactly_one_selected(core: Core) -> None:
    import asyncio

    done = await asked(core)
    ids = [a.id for a in done.answers]
    results = await asyncio.gather(*(core.service.select(ids[i % 3], ASKER) for i in range(50)), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)]
    final = await core.service.get_batch(done.id, TEAM)
    assert sum(a.is_selected for a in final.answers) == 1


async def test_concurrent_follow_ups_are_all_stored(core: Core) -> None:
    import asyncio

    from sqlalchemy import func, select

    done = await asked(core)
    batches = await asyncio.gather(
        *(core.service.follow_up(done.conversation_id, question(f"follow {i}")) for i in range(20))
    )
    assert len({b.message_id for b in batches}) == 20
    await core.service.wait_idle()
    async with core.store.read() as repo:
        count = await repo.session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == done.conversation_id)
        )
        conversations = await repo.session.scalar(select(func.count()).select_from(Conversation))
    assert count == 21 and conversations == 1
