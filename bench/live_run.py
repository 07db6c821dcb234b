"""The loop of `atlas bench live`: every (problem, setting) once, in order, then the report.

Problems go one at a time (the machines here have 2 cores), each through every setting
before the next problem, so an interrupted run still compares the settings on the
problems it reached. Each answer is graded before the next request; the oracle of plain
sampling (`--oracle K`) comes last for each problem, its K requests one after another.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
from tqdm import tqdm

from bench.live_client import (
    CLIENT_TIMEOUT_S,
    MODEL_ALONE,
    Setting,
    chat_url,
    oracle_setting,
    served_models,
    settings_for,
)
from bench.live_data import MBPP_FIRST_USABLE, MBPP_SIZE, Problem
from bench.live_grade import Grader
from bench.live_report import RunInfo, Summary, summarise, table, write_report
from bench.live_results import Results
from bench.live_send import Sender
from sandbox import Sandbox, SandboxConfig

HUMANEVAL_SIZE = 164
EMBEDDED = "embedded default (`atlas serve`, no config)"


@dataclass(frozen=True, slots=True)
class RunSpec:
    dataset: str
    problems: list[Problem]
    settings: list[Setting]
    path: Path
    resume: bool
    model: str | None
    api_key: str | None
    max_tokens: int
    doc: Path
    gateway: str  # the --base-url, or EMBEDDED

    @classmethod
    def from_args(cls, args: argparse.Namespace, problems: list[Problem], path: Path) -> RunSpec:
        return cls(
            dataset=args.dataset,
            problems=problems,
            settings=settings_for(args.k, args.repair, _oracle(args)),
            path=path,
            resume=args.resume,
            model=args.model,
            api_key=args.api_key,
            max_tokens=args.max_tokens,
            doc=args.doc,
            gateway=args.base_url or EMBEDDED,
        )


def _oracle(args: argparse.Namespace) -> Setting | None:
    return oracle_setting(args.oracle, args.oracle_temperature) if args.oracle else None


@dataclass(frozen=True, slots=True)
class Outcome:
    model: str
    results: Results
    summaries: list[Summary]

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.summaries)


def open_results(spec: RunSpec) -> Results:
    return Results.load(spec.path) if spec.resume else Results(spec.path)


def pending(spec: RunSpec, results: Results) -> list[tuple[Problem, Setting]]:
    """(problem, setting) pairs still to send, problem by problem."""
    jobs = [(p, s) for p in spec.problems for s in spec.settings]
    return [(p, s) for p, s in jobs if not results.done(s, p)]


def recorded(spec: RunSpec, results: Results) -> Outcome:
    """The outcome of a run with nothing left to send (a finished run resumed)."""
    models = sorted({row.model for row in results.rows.values()})
    return Outcome(spec.model or ", ".join(models), results, summaries(spec, results))


async def run(spec: RunSpec, results: Results, url: str) -> Outcome:
    """Send, grade and record everything not yet in the results file."""
    sandbox = await Sandbox.create(SandboxConfig(max_concurrency=1))
    headers = {"authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
    try:
        if not sandbox.available:
            raise RuntimeError(f"the sandbox is unavailable: {sandbox.availability.reason}")
        async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S, headers=headers) as client:
            model = spec.model or await _first_model(client, url)
            await _send_all(spec, client, url, model, results, Grader(sandbox))
    finally:
        results.close()
        await sandbox.close()
    return Outcome(model, results, summaries(spec, results))


async def _first_model(client: httpx.AsyncClient, url: str) -> str:
    models = await served_models(client, url)
    if not models:
        raise RuntimeError(f"{url}/v1/models lists no model")
    return models[0]


async def _send_all(
    spec: RunSpec,
    client: httpx.AsyncClient,
    url: str,
    model: str,
    results: Results,
    grader: Grader,
) -> None:
    jobs = pending(spec, results)
    total = len(spec.problems) * len(spec.settings)
    sender = Sender(client, chat_url(url), model, spec.max_tokens, grader)
    with tqdm(total=total, initial=total - len(jobs), unit="setting") as bar:
        for problem, setting in jobs:
            bar.set_postfix_str(f"{problem.task_id} {setting.label}")
            results.add(await sender.row(problem, setting, results.get(setting, problem)))
            bar.update(1)


def summaries(spec: RunSpec, results: Results) -> list[Summary]:
    alone = results.of(MODEL_ALONE, spec.problems)
    return [summarise(s, results.of(s, spec.problems), alone) for s in spec.settings]


def run_info(spec: RunSpec, model: str) -> RunInfo:
    total = HUMANEVAL_SIZE if spec.dataset == "humaneval" else MBPP_SIZE - MBPP_FIRST_USABLE
    return RunInfo(
        dataset=spec.dataset,
        start=spec.problems[0].index,
        stop=spec.problems[-1].index + 1,
        total=total,
        model=model,
        gateway=spec.gateway,
        date=time.strftime("%Y-%m-%d"),
        cpus=os.cpu_count() or 1,
        max_tokens=spec.max_tokens,
    )


def report(spec: RunSpec, outcome: Outcome) -> str:
    """Write <results>.summary.json, the docs table and the PNG; return the table."""
    info = run_info(spec, outcome.model)
    summary = {"run": info, "settings": outcome.summaries}
    spec.path.with_suffix(".summary.json").write_bytes(
        msgspec.json.format(msgspec.json.encode(summary)) + b"\n"
    )
    image = write_report(info, outcome.summaries, spec.doc)
    return f"{table(outcome.summaries)}\n\nresults: {spec.path}\ndocs: {spec.doc}, {image}"
