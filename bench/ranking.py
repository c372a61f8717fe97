"""Ranking benchmark: the consensus ranker on the public development sets, beside the baselines.

    python -m bench.ranking [DIR] [--direct-only] [--no-write]   # DIR holds rank_eval.py and *.dev.jsonl

Prints rank_eval's tables at tie margin 0 and 0.05 (the bot shows one decimal) for the ranker
called directly ("consensus") and for the scores the real service stored after replaying each
question through ask → fan-out → review → rank against a fake OpenAI-compatible server that
answers each model with its stored answer ("pipeline"); then how often the two disagree, how
often the `disagree` flag rose when the top answer was wrong vs right, the figures on each half of the
questions (even and odd position: a weight chosen on one half is checked on the other) and on each
category, whether filler appended to a worse answer lifts it, and the time to rank 8 answers of
~500 words. Not run by CI: it reads data outside the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.common import REPO, write_section
from bot.settings import Settings
from bot.wiring import build_core
from core.domain import Platform, Question, WorkspaceRef
from core.ranking import ConsensusRanker
from core.resilience import CallPolicy

DEFAULT_DATA = REPO.parent / "shared" / "eval"
REPLAY = "replay"  # the OpenAI-compatible provider name the replayed models live on
SETS = ("vicuna80_human.dev.jsonl", "gsm8k_3models.dev.jsonl")
BASELINES = ("length", "tfidf", "final-number")


def load_rank_eval(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("rank_eval", folder / "rank_eval.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no rank_eval.py in {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["rank_eval"] = module
    spec.loader.exec_module(module)
    return module


def consensus_scores(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ranker = ConsensusRanker()
    return {row["id"]: ranker.score(row["question"], row["answers"]) for row in rows}


def replay_through_pipeline(data: Path) -> dict[str, dict[str, dict[str, float]]]:
    """Each question of both dev sets through the real service (ask → fan-out → review → rank),
    against a fake OpenAI-compatible server answering each model with its stored answer; returns
    the stored 0–10 scores as {set file: {question id: {model: score}}}."""
    sets = {
        name: [json.loads(line) for line in (data / name).read_text().splitlines() if line.strip()] for name in SETS
    }
    return asyncio.run(_replay(sets))


async def _replay(sets: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, dict[str, float]]]:
    from tests.fakes.llm_server import FakeLLMServer

    models = sorted({m for rows in sets.values() for row in rows for m in row["answers"]})
    server = FakeLLMServer()
    await server.start()
    env = {f"{REPLAY.upper()}_BASE_URL": f"{server.url}/v1", f"{REPLAY.upper()}_API_KEY": "replay-key"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with tempfile.TemporaryDirectory(prefix="consensus-bench-") as folder:
            config = Settings(
                _env_file=None,
                database_url=f"sqlite+aiosqlite:///{Path(folder) / 'replay.db'}",
                consensus_models=",".join(f"{REPLAY}/{m}" for m in models),
            )
            core = await build_core(config, migrate=True, policy=CallPolicy(timeout=30.0, max_retries=0))
            try:
                return {name: await _replay_set(core.service, server, rows) for name, rows in sets.items()}
            finally:
                await core.aclose()
    finally:
        await server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def _replay_set(service: Any, server: Any, rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    workspace = WorkspaceRef(Platform.TERMINAL, "ranking-replay")
    scores: dict[str, dict[str, float]] = {}
    for row in rows:  # one at a time: `answers` is keyed by model name, shared by every question
        for model, text in row["answers"].items():
            server.answers[model] = text
        asked = await service.ask(
            Question(workspace, "C1", "U1", row["question"], models=tuple(f"{REPLAY}/{m}" for m in row["answers"]))
        )
        batch = await service.wait_for_batch(asked.id, workspace)
        failed = [f"{a.model}: {a.error}" for a in batch.answers if a.score is None]
        if failed:
            raise RuntimeError(f"{row['id']}: no score for {'; '.join(failed)}")
        scores[row["id"]] = {a.model: float(a.score) for a in batch.answers if a.score is not None}
    return scores


def agreement(direct: dict[str, dict[str, float]], pipeline: dict[str, dict[str, float]]) -> str:
    """How far the pipeline's stored scores are from the direct ones."""

    def top(scores: dict[str, float] | None) -> str | None:
        return max(scores, key=lambda m: (scores[m], m)) if scores else None

    differ = [qid for qid, scores in direct.items() if pipeline.get(qid) != scores]
    top_differ = [qid for qid, scores in direct.items() if top(scores) != top(pipeline.get(qid))]
    gaps = [
        abs(scores[m] - pipeline[qid].get(m, -99.0))
        for qid, scores in direct.items()
        if qid in pipeline
        for m in scores
    ]
    line = (
        f"{len(direct) - len(differ)}/{len(direct)} questions with identical scores, "
        f"{len(top_differ)} with a different top answer, largest score gap {max(gaps, default=0.0):.1f}"
    )
    if differ:
        line += f" (first differing: {', '.join(differ[:5])})"
    return line


def report(
    re_: ModuleType, path: Path, margins: tuple[float, ...], pipeline: dict[str, dict[str, float]] | None
) -> dict[str, Any]:
    rows = re_.load_rows([path])
    info = re_.describe(rows)
    rankings = consensus_scores(rows)
    ours = {qid: {k: s.value for k, s in r.scores.items()} for qid, r in rankings.items()}
    base = re_.make_baselines(rows, 0)
    scored = {name: re_.run_ranker(rows, base[name]) for name in BASELINES}
    scored["consensus"] = ours
    if pipeline is not None:
        scored["pipeline"] = pipeline
    for margin in margins:
        results = {name: re_.evaluate(rows, s, margin, 1000, 0)[0] for name, s in scored.items()}
        print(f"\n--- tie margin {margin}")
        re_.print_report(path.name, info, results, None)
    if pipeline is not None:
        print(f"pipeline vs direct: {agreement(ours, pipeline)}")
    return {"rows": rows, "rankings": rankings, "best": {r["id"]: re_.best_set(r) for r in rows}}


def _figures(re_: ModuleType, rows: list[dict[str, Any]], scores: dict[str, dict[str, float]]) -> str:
    """Top-1 on sets with a known best answer; agreement without / with ties on vote sets (one decimal)."""
    result = re_.evaluate(rows, scores, 0.05, 0, 0)[0]
    if "agree_with_ties" not in result:
        return f"{100 * result['top1']['value']:.1f}"
    return f"{100 * result['agree_without_ties']['value']:.1f}/{100 * result['agree_with_ties']['value']:.1f}"


def breakdown(re_: ModuleType, data: dict[str, Any]) -> list[str]:
    """The consensus figures (length baseline in brackets) on each half of the questions (even and odd
    position in the file: a weight chosen on one half is checked on the other) and on each category."""
    rows = data["rows"]
    ours = {qid: {k: s.value for k, s in r.scores.items()} for qid, r in data["rankings"].items()}
    length = re_.run_ranker(rows, re_.make_baselines(rows, 0)["length"])
    groups: dict[str, list[dict[str, Any]]] = {"even": rows[0::2], "odd": rows[1::2]}
    categories = sorted({row.get("category", "") for row in rows})
    if len(categories) > 1:
        groups.update({c: [row for row in rows if row.get("category", "") == c] for c in categories})
    return [
        f"{name} ({len(part)} q): {_figures(re_, part, ours)} [{_figures(re_, part, length)}]"
        for name, part in groups.items()
    ]


def disagree_rates(data: dict[str, Any]) -> str:
    tally = {True: [0, 0], False: [0, 0]}  # top wrong? -> [flag raised, questions]
    for row in data["rows"]:
        ranking = data["rankings"][row["id"]]
        top = max(ranking.scores.values(), key=lambda s: s.value).value
        tops = [k for k, s in ranking.scores.items() if s.value == top]
        wrong = not set(tops) & data["best"][row["id"]]
        tally[wrong][0] += ranking.disagree
        tally[wrong][1] += 1
    parts = []
    for wrong, (raised, n) in sorted(tally.items()):
        label = "top answer wrong" if wrong else "top answer right"
        parts.append(f"{label}: raised {raised}/{n} ({100 * raised / max(n, 1):.0f}%)")
    return "; ".join(parts)


# Ordinary words that say nothing about any question: appended to an answer, they must not lift it.
FILLER = (
    "I approached this carefully and double-checked every step of my reasoning.",
    "I considered several angles before settling on this response, and each point follows from the last.",
    "Every part of this answer was reviewed for accuracy, clarity and completeness.",
    "This reflects a thorough, balanced and honest look at the whole matter.",
    "I took care to keep the explanation easy to follow from start to finish.",
)


def _position(scores: dict[str, float], key: str) -> int:
    """1 for the top answer; answers scored equal share a position."""
    return 1 + sum(1 for value in scores.values() if value > scores[key])


def filler_probe(data: dict[str, Any]) -> str:
    """Filler appended to each answer that is not a best one, one sentence and all five: how often its
    rank rose (fewer answers scored above it), and how often its score did."""
    ranker = ConsensusRanker()
    probes = raised_rank = raised_score = 0
    questions_raised: set[str] = set()
    for row in data["rows"]:
        base = {k: s.value for k, s in data["rankings"][row["id"]].scores.items()}
        for key in sorted(set(row["answers"]) - data["best"][row["id"]]):
            for n in (1, len(FILLER)):
                padded = {**row["answers"], key: row["answers"][key].rstrip() + "\n\n" + " ".join(FILLER[:n])}
                after = {k: s.value for k, s in ranker.score(row["question"], padded).scores.items()}
                probes += 1
                raised_score += after[key] > base[key]
                if _position(after, key) < _position(base, key):
                    raised_rank += 1
                    questions_raised.add(row["id"])
    return (
        f"{len(data['rows'])} questions, {probes} probes: rank raised in {raised_rank} "
        f"({len(questions_raised)} questions), score raised in {raised_score}"
    )


def timing(rows: list[dict[str, Any]], answers: int = 8, words: int = 500, runs: int = 50) -> str:
    """8 answers of ~500 words built from real answers, ranked `runs` times on one core."""
    texts = [t for row in rows for t in row["answers"].values()]
    batch: dict[str, str] = {}
    for i in range(answers):
        chunk: list[str] = []
        j = i
        while len(" ".join(chunk).split()) < words:
            chunk.append(texts[j % len(texts)])
            j += answers
        batch[f"m{i}"] = " ".join(" ".join(chunk).split()[:words])
    ranker = ConsensusRanker()
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        ranker.score(rows[0]["question"], batch)
        took.append(1000 * (time.perf_counter() - start))
    return f"median {statistics.median(took):.1f} ms, max {max(took):.1f} ms over {runs} runs"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "data",
        type=Path,
        nargs="?",
        default=DEFAULT_DATA,
        help="folder with rank_eval.py and the dev sets (default ../shared/eval from the repository)",
    )
    ap.add_argument("--data", dest="data_option", type=Path, help=argparse.SUPPRESS)  # the older spelling
    ap.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.05])
    ap.add_argument("--direct-only", action="store_true", help="skip the replay through the service")
    ap.add_argument("--quick", action="store_true", help="accepted for `python -m bench --quick`; same run")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = ap.parse_args(argv)
    data: Path = args.data_option or args.data
    if not (data / "rank_eval.py").exists():
        print(f"skipped: no rank_eval.py in {data} (pass the eval folder as the argument)")
        return 0
    re_ = load_rank_eval(data)
    start = time.perf_counter()
    pipeline = None if args.direct_only else replay_through_pipeline(data)
    replay_s = time.perf_counter() - start
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        results = {
            name: report(re_, data / name, tuple(args.margins), (pipeline or {}).get(name) if pipeline else None)
            for name in SETS
        }
        print("\n== disagree flag (direct)")
        for name, result in results.items():
            print(f"{name}: {disagree_rates(result)}")
        print("\n== halves and categories (direct, one decimal): top-1, or agree w/o ties / with ties [length]")
        for name, result in results.items():
            print(name)
            for line in breakdown(re_, result):
                print(f"  {line}")
        print("\n== filler probe: ordinary-word filler appended to each answer that is not a best one")
        for name, result in results.items():
            print(f"{name}: {filler_probe(result)}")
        print("\n== timing, 8 answers x 500 words, ConsensusRanker.score on one core")
        print(timing(results[SETS[0]]["rows"]))
        if pipeline is not None:
            questions = sum(len(v) for v in pipeline.values())
            print(f"\n== pipeline replay: {questions} questions through the service in {replay_s:.1f} s")
    print(out.getvalue())
    if not args.no_write:
        body = (
            "'consensus' is `ConsensusRanker.score` called directly; 'pipeline' is the score the service "
            "stored after ask → fan-out (fake OpenAI-compatible server replaying the stored answers) → "
            "review → rank. Brackets: 95% bootstrap intervals.\n\n```text" + out.getvalue().rstrip() + "\n```"
        )
        write_section("Ranking: dev sets, direct and through the pipeline", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
