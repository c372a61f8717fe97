"""A card's view: what one answer's card says and offers, whatever the platform draws.

Every rule about a card lives here once: its state, its rank, the facts it shows (score and how
it was given, latency, tokens, cost, which key paid), the actions offered in each state, and the
question's status, ranked list and consensus line. Renderers draw these; they decide nothing.

A card says two different things about its answer: its *why* (the model's own WHY line, or a local
extract) argues for the answer; its *rank line* ("#1 · 3 of 3 agree on 42") says what decided the
rank. They never replace each other.

Text that comes from outside (labels, model names, key labels, error reasons) passes through the
renderer's `inert` function (Slack: escape; Discord: neutralise) wherever it is put into a line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from adapters.presenter.actions import CONFIRMS, Confirm, Verb
from adapters.presenter.cost import cost_line
from core.domain import NOTHING_KEPT, Answer, AnswerStatus, Batch, Ending, Merging

Inert = Callable[[str], str]
_METHOD_WORDS = {"consensus": "agreement", "agreement": "agreement", "judge": "a judge model"}


def _same(text: str) -> str:
    return text


class CardState(StrEnum):
    WAITING = "waiting"  # asked, no text yet
    WRITING = "writing"  # streamed text is arriving
    FAILED = "failed"
    DONE = "done"
    DELETED = "deleted"


class Style(StrEnum):
    PLAIN = "plain"
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Action:
    verb: Verb
    label: str
    style: Style = Style.PLAIN
    confirm: Confirm | None = None


@dataclass(frozen=True, slots=True)
class CardView:
    answer: Answer
    state: CardState
    preview: str | None  # streamed text so far, while writing
    compact: bool  # another answer is selected: this one shrinks to a line until expanded
    actions: tuple[Action, ...]

    @property
    def rank(self) -> int | None:
        """#1, #2…: shown on every ranked card that still counts."""
        done = self.state is CardState.DONE
        return self.answer.rank if done else None

    @property
    def rank_prefix(self) -> str:
        """What a card's title starts with: "#2 · " once ranked, else nothing."""
        return f"#{self.rank} · " if self.rank is not None else ""

    @property
    def is_top(self) -> bool:
        return self.rank == 1

    @property
    def why(self) -> str:
        """The answer's own why (its WHY line, or a local extract) once it is complete; empty on a
        compact card, which is one line."""
        if self.compact or self.answer.status is not AnswerStatus.COMPLETED:
            return ""
        return self.answer.reasoning or ""

    @property
    def rank_line(self) -> str:
        """What decided the rank, after the rank: "#1 · 3 of 3 agree on 42"; empty until ranked and
        on a compact card."""
        if self.compact or self.rank is None or not self.answer.rank_reason:
            return ""
        return f"#{self.rank} · {self.answer.rank_reason}"


def state_of(answer: Answer, preview: str | None = None) -> CardState:
    if answer.is_deleted:
        return CardState.DELETED
    if answer.status is AnswerStatus.FAILED:
        return CardState.FAILED
    if answer.status is AnswerStatus.COMPLETED:
        return CardState.DONE
    return CardState.WRITING if answer.status is AnswerStatus.RUNNING and preview else CardState.WAITING


def view(answer: Answer, batch: Batch | None = None, preview: str | None = None) -> CardView:
    """The card of `answer` as part of `batch` (whether something else is selected changes it);
    without a batch, the answer alone."""
    state = state_of(answer, preview)
    live = batch.live_answers if batch is not None else (answer,)
    selected = any(a.is_selected for a in live)
    compact = state is CardState.DONE and selected and not answer.is_selected and not answer.is_expanded
    others = any(a.id != answer.id and not a.is_selected for a in live)
    return CardView(
        answer,
        state,
        preview if state is CardState.WRITING else None,
        compact,
        actions_for(answer, state, others_left=others),
    )


def actions_for(answer: Answer, state: CardState, *, others_left: bool) -> tuple[Action, ...]:
    """The buttons of a card in each state. Delete others only on the selected answer, while there
    are others; Delete and Delete others always ask first."""
    delete = Action(Verb.DELETE, "Delete", Style.DANGER, CONFIRMS[Verb.DELETE])
    if state is CardState.FAILED:
        return (Action(Verb.RETRY, "Retry", Style.PRIMARY), delete)
    if state is not CardState.DONE:
        return ()
    found = [Action(Verb.COLLAPSE, "Collapse") if answer.is_expanded else Action(Verb.EXPAND, "Expand")]
    if answer.is_cut:  # what arrived is kept; the model may be asked again
        found.append(Action(Verb.RETRY, "Retry"))
    if not answer.is_selected:
        found.append(Action(Verb.SELECT, "Select", Style.PRIMARY))
    elif others_left:
        found.append(Action(Verb.DELETE_OTHERS, "Delete others", Style.DANGER, CONFIRMS[Verb.DELETE_OTHERS]))
    found.append(delete)
    return tuple(found)


# ---- facts ---------------------------------------------------------------------------------------


def method_words(method: str | None, inert: Inert = _same) -> str:
    """How a score was given, in words: "by agreement", "by a judge model"."""
    base, _, rest = (method or "").partition(" (")
    words = _METHOD_WORDS.get(base, inert(base) or "score")
    return f"by {words}" + (f" ({inert(rest)}" if rest else "")


def score_text(answer: Answer, inert: Inert = _same) -> str:
    """ "8.5/10 by agreement"; empty while unscored."""
    if answer.score is None:
        return ""
    return f"{answer.score:.1f}/10 {method_words(answer.score_method, inert)}"


def usage_parts(answer: Answer) -> list[str]:
    """Latency, tokens and cost (never "free" when unknown; "≈" where estimated: a stopped answer's)."""
    parts: list[str] = []
    about = "≈ " if answer.is_stopped else ""
    if answer.latency_ms is not None:
        parts.append(f"{answer.latency_ms / 1000:.1f} s")
    if answer.tokens_in is not None or answer.tokens_out is not None:
        parts.append(f"{about}{answer.tokens_in or 0} in / {answer.tokens_out or 0} out tokens")
    if answer.cost_usd is not None:
        parts.append(f"{about}${answer.cost_usd:.4f}")
    elif answer.status is AnswerStatus.COMPLETED or parts:
        parts.append("cost unknown")
    return parts


def paid_by(answer: Answer, inert: Inert = _same) -> str:
    """Which key paid for the answer ("key: team ••3f9a"); empty when not known."""
    return f"key: {inert(answer.key_label)}" if answer.key_label else ""


def usage_line(answer: Answer, inert: Inert = _same) -> str:
    return " · ".join(p for p in (*usage_parts(answer), paid_by(answer, inert)) if p)


@dataclass(frozen=True, slots=True)
class EndingLine:
    """How an answer ended when that is not simply whole: an icon, a short title and the note."""

    icon: str
    title: str
    note: str


def ending_line(answer: Answer, inert: Inert = _same, person: Inert = _same) -> EndingLine | None:
    """Stopped, cut, refused, or whole but with characters replaced; None for a whole, clean answer.
    The note is ready to show: `inert` has made it safe, `person` draws who stopped it (a mention)."""
    if answer.is_stopped:
        nothing = "" if answer.content else f"; {NOTHING_KEPT}"
        return EndingLine("⏹", "Stopped", f"Stopped by {person(answer.stopped_by or 'someone')}{inert(nothing)}")
    note = answer.ending_note
    if note is None:
        return None
    note = inert(note)
    if answer.is_cut:
        return EndingLine("✂️", "Ended early", note)
    if answer.ended == Ending.REFUSED:
        return EndingLine("🚫", "Refused", note)
    return EndingLine("⚠️", "Note", note)


def tries_text(answer: Answer) -> str:
    return f"after {answer.attempts} attempts" if answer.attempts > 1 else ""


def sources_line(answer: Answer, inert: Inert = _same) -> str:
    """What a merge was written from, letters as it saw them: "Merged from A · Anthropic, B · Ollama"."""
    if not answer.merged_from:
        return ""
    return "Merged from " + ", ".join(f"{letter} · {inert(name)}" for letter, name in sorted(answer.merged_from))


# ---- the question --------------------------------------------------------------------------------


def is_ranked(batch: Batch) -> bool:
    """Every finished answer has its score: the ranking is in. A merge is never ranked."""
    done = [a for a in batch.model_answers if a.status is AnswerStatus.COMPLETED]
    return bool(done) and all(a.score is not None for a in done) and not waiting(batch)


def models_asked(batch: Batch) -> int:
    """How many models the question went to (a merge is not one of them; deleted answers count)."""
    return sum(not a.is_merge for a in batch.answers)


def waiting(batch: Batch) -> list[Answer]:
    """The models still answering (a merge being written is not one of them)."""
    return [a for a in batch.model_answers if a.status in (AnswerStatus.PENDING, AnswerStatus.RUNNING)]


def writing(batch: Batch) -> list[Answer]:
    """The answers still being written that a stop would stop (a merge included)."""
    return [
        a for a in batch.live_answers if a.status in (AnswerStatus.PENDING, AnswerStatus.RUNNING) and not a.is_stopped
    ]


MERGE_ACTION = Action(Verb.MERGE, "Merge", Style.PRIMARY)
EXPORT_ACTION = Action(Verb.EXPORT, "Export")
STOP_ACTION = Action(Verb.STOP, "Stop", Style.DANGER)
# The workspace setting, in the words every settings screen uses
MERGING_WORDS = {
    Merging.OFF: "off",
    Merging.ON_REQUEST: "on request (the Merge button)",
    Merging.AFTER_EVERY_QUESTION: "after every question",
}
MERGE_MIN_ANSWERS = 2


def question_actions(batch: Batch) -> tuple[Action, ...]:
    """The buttons on the question's message: Stop, while anything is being written; once every
    model has answered: Merge, while at least two answers are kept and none is merged yet, unless
    the workspace turned merging off; and Export, the conversation's decision record, for anyone
    who can see the thread."""
    if writing(batch):
        return (STOP_ACTION,)
    if waiting(batch):  # stopped, and its writer is storing what arrived
        return ()
    done = [a for a in batch.model_answers if a.status is AnswerStatus.COMPLETED]
    if batch.merging is Merging.OFF or batch.merge is not None or len(done) < MERGE_MIN_ANSWERS:
        return (EXPORT_ACTION,)
    return (MERGE_ACTION, EXPORT_ACTION)


@dataclass(frozen=True, slots=True)
class Offer:
    """A private message with one button, offered to the person who clicked."""

    text: str
    action: Action


def offer_after(verb: Verb, change: Answer | Batch) -> Offer | None:
    """What to offer the clicker next: after Select while other models still write, to stop them."""
    if verb is not Verb.SELECT or not isinstance(change, Batch) or not writing(change):
        return None
    others = ", ".join(a.label for a in writing(change))
    return Offer(
        f"Still writing: {others}. Stop them? What they wrote so far is kept.",
        Action(Verb.STOP, "Stop the others", Style.DANGER),
    )


def merge_status(batch: Batch, inert: Inert = _same) -> str:
    """ "merging with OpenAI…", "merged by OpenAI", "merge failed"; empty without a live merge."""
    merged = batch.merge
    if merged is None:
        return ""
    if merged.status is AnswerStatus.FAILED:
        return "merge failed"
    if merged.status is AnswerStatus.COMPLETED:
        return f"merged by {inert(merged.model)}"
    return f"merging with {inert(merged.model)}…"


def status_line(batch: Batch, inert: Inert = _same) -> str:
    """ "3/3 answered · ranked by agreement", "2/3 answered · Claude failed", "1/3 answered · waiting for…"."""
    live = batch.model_answers
    done = [a for a in live if a.status is AnswerStatus.COMPLETED]
    failed = [a for a in live if a.status is AnswerStatus.FAILED and not a.is_stopped]
    stopped = [a for a in live if a.is_stopped]
    parts = [f"{len(done)}/{len(live)} answered"]
    if failed:
        parts.append(", ".join(inert(a.label) for a in failed) + " failed")
    if stopped:
        parts.append(", ".join(inert(a.label) for a in stopped) + " stopped")
    if waiting(batch):
        parts.append("waiting for " + ", ".join(inert(a.label) for a in waiting(batch)))
    elif is_ranked(batch):
        method = next((a.score_method for a in done if a.score_method), None)
        parts.append(f"ranked {method_words(method, inert)}")
    if merge_status(batch, inert):
        parts.append(merge_status(batch, inert))
    selected = next((a for a in batch.live_answers if a.is_selected), None)
    if selected:
        parts.append(f"selected: {inert(selected.label)}")
    deleted = len(batch.answers) - len(batch.live_answers)
    if deleted:
        parts.append(f"{deleted} deleted")
    parts.append(cost_line(batch))
    return " · ".join(p for p in parts if p)


DISAGREE_FLAG = "⚠️ The models disagree."


def consensus_line(batch: Batch) -> str:
    """The question's consensus line once ranked ("3 of 4 answer 42; Ollama answers 44."), after a
    flag where the results differ; empty before. The flag comes only from the results the answers
    give, never from their vocabulary."""
    if not is_ranked(batch) or not batch.consensus:
        return ""
    return f"{DISAGREE_FLAG} {batch.consensus}" if batch.disagree else batch.consensus


def ranked(batch: Batch) -> list[Answer]:
    """The live answers best first (the ranked ones by rank, then the failed), once ranked."""
    if not is_ranked(batch):
        return []
    live = [a for a in batch.model_answers if a.status in (AnswerStatus.COMPLETED, AnswerStatus.FAILED)]
    return sorted(live, key=lambda a: (a.status is not AnswerStatus.COMPLETED, a.rank or 10**6, a.id))


def ranking_line(
    batch: Batch, links: Mapping[int, str], markup: Callable[[str, str], str], inert: Inert = _same
) -> str:
    """ "#1 Local 9.0 · #2 Anthropic 7.1 · OpenAI failed"; an entry whose card has a link in `links`
    (answer id -> URL) is drawn by `markup(text, url)`. Empty until ranked."""
    entries: list[str] = []
    for answer in ranked(batch):
        if answer.status is AnswerStatus.FAILED:
            text = f"{inert(answer.label)} {'stopped' if answer.is_stopped else 'failed'}"
        else:
            rank = f"#{answer.rank} " if answer.rank is not None else ""
            score = f" {answer.score:.1f}" if answer.score is not None else ""
            text = f"{rank}{inert(answer.label)}{score}"
        url = links.get(answer.id)
        entries.append(markup(text, url) if url else text)
    return " · ".join(entries)


def best_first(answers: Sequence[Answer]) -> list[Answer]:
    """Live answers before deleted ones; finished before failed; then by score."""
    return sorted(
        answers,
        key=lambda a: (
            a.is_deleted,
            a.status is not AnswerStatus.COMPLETED,
            -(a.score if a.score is not None else -1),
            a.id,
        ),
    )
