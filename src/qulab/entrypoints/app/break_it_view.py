"""Page 5's "Break it": a small chaos round against the configured broker and database.

The round (``qulab.lab.chaos_round``) runs on the app loop: relays and consumers as real
processes, SIGKILLed and restarted while events are written, then checked from the outside.
One round at a time per server process; the last result stays on the page for every session.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from dataclasses import dataclass, replace

import streamlit as st

from qulab.core import Settings
from qulab.entrypoints.app import runtime
from qulab.entrypoints.app.literal import literal
from qulab.lab.chaos import Progress, run_chaos
from qulab.lab.chaos_check import ChaosReport
from qulab.lab.chaos_round import chaos_round_plan, chaos_round_problem

BREAK_IT_LABEL = "Break it: run a chaos round"
POLL_SECONDS = 0.25
WAIT_LIMIT = 180.0

MEANINGS = (
    ("Events", "events", "Domain events written through the services during the round."),
    ("Lost", "lost", "Events the consumers never applied. Must be 0: the outbox loses nothing."),
    (
        "Inversions",
        "inversions",
        "Events that reached the broker before an earlier event of the same aggregate. Must "
        "be 0: per aggregate the relays publish in commit order.",
    ),
    (
        "Duplicate deliveries",
        "duplicate_deliveries",
        "Times an already applied event was delivered again (after a kill between publishing "
        "and marking, or between applying and acknowledging). Allowed: delivery is at least "
        "once.",
    ),
    (
        "Duplicate effects",
        "duplicate_effects",
        "Scores the projection counted twice. Must be 0: the inbox turns every duplicate "
        "delivery into a no-op.",
    ),
    (
        "Projection matches",
        "projection_matches",
        "Whether user_score_summary agrees with air_scores once everything settled (count, "
        "mean and latest score per user).",
    ),
)


@dataclass
class ChaosRunner:
    """The server's one chaos round: its progress and, once done, its report or error."""

    lock: threading.Lock
    future: concurrent.futures.Future[ChaosReport] | None = None
    progress: Progress | None = None

    @property
    def running(self) -> bool:
        return self.future is not None and not self.future.done()

    def start(self, settings: Settings) -> bool:
        with self.lock:
            if self.running:
                return False
            self.progress = Progress()
            plan = chaos_round_plan(settings)
            self.future = runtime.event_loop().submit(run_chaos(plan, settings, self._report))
            return True

    def _report(self, progress: Progress) -> None:
        self.progress = replace(progress)


@st.cache_resource(show_spinner=False)
def _runner() -> ChaosRunner:
    return ChaosRunner(threading.Lock())


def _progress_line(progress: Progress | None) -> str:
    if progress is None:
        return "starting"
    line = (
        f"{progress.phase}: written {progress.produced}, published {progress.published}, "
        f"applied {progress.applied}, kills {progress.kills}"
    )
    return f"{line} ({progress.note})" if progress.note else line


def _follow(runner: ChaosRunner) -> None:
    """Show the round's progress until it ends (or the wait limit: it goes on then)."""
    future = runner.future
    if future is None:
        return
    with st.status("Chaos round running…", expanded=True) as status:
        line = st.empty()
        deadline = time.monotonic() + WAIT_LIMIT
        while not future.done() and time.monotonic() < deadline:
            line.text(_progress_line(runner.progress))
            try:
                future.exception(timeout=POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                continue
        line.text(_progress_line(runner.progress))
        finished = future.done()
        status.update(
            label="Chaos round finished" if finished else "Chaos round still running",
            state="complete" if finished else "running",
            expanded=not finished,
        )


def _show_report(report: ChaosReport) -> None:
    columns = st.columns(len(MEANINGS))
    for column, (title, field, _) in zip(columns, MEANINGS, strict=True):
        value = getattr(report, field)
        column.metric(title, ("yes" if value else "no") if isinstance(value, bool) else value)
    verdict = "passed" if report.passed else "FAILED"
    summary = (
        f"Round {verdict}: {report.relays} relays, {report.consumers} consumers, "
        f"{report.kills} SIGKILLs, {report.events} events on {literal(report.broker)}, "
        f"settled {'yes' if report.settled else 'no'}, {report.seconds:g} s."
    )
    (st.success if report.passed else st.error)(summary)
    for problem in report.problems:
        st.markdown(f"- {literal(problem)}")
    st.markdown("\n".join(f"- **{title}**: {meaning}" for title, _, meaning in MEANINGS))


def _show_outcome(runner: ChaosRunner) -> None:
    future = runner.future
    if future is None or not future.done():
        return
    error = future.exception()
    if error is not None:
        st.error(f"The chaos round could not finish: {literal(f'{type(error).__name__}: {error}')}")
        return
    _show_report(future.result())


def break_it(settings: Settings) -> None:
    st.subheader("Break it")
    st.markdown(
        "Run relays and consumers as real processes in a scratch database and broker "
        "namespace, write 100 events while three of the processes are SIGKILLed at random "
        "moments and started again, then check the outcome from the outside."
    )
    problem = chaos_round_problem(settings)
    if problem is not None:
        st.info(problem, icon=":material/settings:")
        return
    runner = _runner()
    clicked = st.button(
        BREAK_IT_LABEL, key="eventing_break_it", disabled=runner.running, icon=":material/bolt:"
    )
    if clicked and not runner.start(settings):
        st.info("A chaos round is already running on this server.")
    if runner.running:
        _follow(runner)
    _show_outcome(runner)
