"""Scores for a batch of answers: local consensus by default, a judge model where configured."""

from __future__ import annotations

from core.ranking.consensus import ConsensusRanker
from core.ranking.judge import JudgeRanker
from core.ranking.values import Ranker, Ranking, Score

__all__ = ["ConsensusRanker", "JudgeRanker", "Ranker", "Ranking", "Score", "rank_fn"]

_CONSENSUS = ConsensusRanker()


def rank_fn(question: str, answers: dict[str, str]) -> dict[str, float]:
    """The bot's one-decimal consensus scores, for `rank_eval.py --ranker-fn core.ranking:rank_fn`."""
    ranking = _CONSENSUS.score(question, answers)
    return {key: score.value for key, score in ranking.scores.items()}
