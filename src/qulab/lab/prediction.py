"""Analyze by predicting: the learner predicts what the strategy comparison will show, the lab
runs it and grades each prediction from the measured table, never from a fixed answer key.

Three questions: which strategy serves the most stale reads, which loads the database least,
and what the chosen skew does to the hit ratio (the same workload with uniform keys, Zipf 0, is
run beside it). A tie counts every strategy in it as right. Each answer carries the figures
that decide it, so a miss is explained by the measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

from qulab.core import InvalidInput
from qulab.lab.cache_compare import CacheComparison, StrategyResult
from qulab.lab.strategies import STRATEGY_NAMES
from qulab.lab.workload import Workload

NO_STALE = "none of them"
RISE, FALL, FLAT = "rises", "falls", "stays within 2 points"
SKEW_EFFECTS = (RISE, FALL, FLAT)
FLAT_POINTS = 2.0

STALE_QUESTION = "Which strategy will serve the most stale reads?"
LOAD_QUESTION = "Which strategy will load the database least for this workload?"


def skew_question(zipf: float) -> str:
    return f"Going from uniform keys (Zipf 0) to Zipf {zipf:g}, the mean hit ratio..."


@dataclass(frozen=True)
class Prediction:
    stale: str
    least_load: str
    skew: str

    def __post_init__(self) -> None:
        if self.stale not in (*STRATEGY_NAMES, NO_STALE):
            raise InvalidInput("stale", f"unknown strategy {self.stale!r}")
        if self.least_load not in STRATEGY_NAMES:
            raise InvalidInput("least_load", f"unknown strategy {self.least_load!r}")
        if self.skew not in SKEW_EFFECTS:
            raise InvalidInput("skew", f"must be one of {', '.join(SKEW_EFFECTS)}")


@dataclass(frozen=True)
class Answer:
    question: str
    predicted: str
    measured: str
    correct: bool
    explanation: str


@dataclass(frozen=True)
class PredictionGrade:
    answers: tuple[Answer, ...]

    @property
    def right(self) -> int:
        return sum(answer.correct for answer in self.answers)

    @property
    def summary(self) -> str:
        return f"{self.right} of {len(self.answers)} predictions right."


def uniform_workload(workload: Workload) -> Workload:
    """The same workload with uniform keys: what the skew question is measured against."""
    return Workload(**(workload.as_dict() | {"zipf": 0.0, "stampede_readers": 0}))


def _by_name(comparison: CacheComparison) -> dict[str, StrategyResult]:
    return {result.strategy: result for result in comparison.results}


def _names(names: list[str], *, code: bool = True) -> str:
    quoted = [f"`{name}`" if code else name for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} reads ({100 * part / whole:.1f}%)" if whole else f"{part} reads"


def _grade_stale(predicted: str, results: dict[str, StrategyResult]) -> Answer:
    most = max(result.stale_reads for result in results.values())
    leaders = [name for name, result in results.items() if result.stale_reads == most]
    if most == 0:
        measured, correct = NO_STALE, predicted == NO_STALE
        why = "No strategy served a stale read in this run."
    else:
        measured, correct = _names(leaders, code=False), predicted in leaders
        top = results[leaders[0]]
        why = f"{_names(leaders)} served the most stale reads: {_share(most, top.reads)}."
    if not correct and predicted in results:
        mine = results[predicted]
        why += f" `{predicted}` served {_share(mine.stale_reads, mine.reads)}."
    if "ttl-only" in leaders:
        why += " A write leaves ttl-only's cached copy in place until its TTL runs out."
    return Answer(STALE_QUESTION, predicted, measured, correct, why)


def _grade_load(predicted: str, results: dict[str, StrategyResult]) -> Answer:
    least = min(result.db_loads for result in results.values())
    leaders = [name for name, result in results.items() if result.db_loads == least]
    correct = predicted in leaders
    why = f"{_names(leaders)} loaded the database least: {least} loads."
    if not correct and predicted in results:
        mine = results[predicted]
        why += (
            f" `{predicted}` loaded it {mine.db_loads} times "
            f"(hit ratio {100 * (mine.hit_ratio or 0):.1f}%)."
        )
    return Answer(LOAD_QUESTION, predicted, _names(leaders, code=False), correct, why)


def mean_hit_ratio(comparison: CacheComparison) -> float:
    ratios = [result.hit_ratio for result in comparison.results if result.hit_ratio is not None]
    return 100 * sum(ratios) / len(ratios) if ratios else 0.0


def _grade_skew(predicted: str, skewed: CacheComparison, uniform: CacheComparison) -> Answer:
    high, low = mean_hit_ratio(skewed), mean_hit_ratio(uniform)
    change = high - low
    measured = FLAT if abs(change) <= FLAT_POINTS else (RISE if change > 0 else FALL)
    zipf = skewed.workload.zipf
    why = (
        f"Mean hit ratio over the strategies: {low:.1f}% with uniform keys, {high:.1f}% at "
        f"Zipf {zipf:g} ({change:+.1f} points; within {FLAT_POINTS:g} counts as no change)."
    )
    longest = max((result.seconds for result in skewed.results), default=0.0)
    keys, ttl = skewed.workload.keys, skewed.workload.ttl
    if measured == RISE:
        why += " With skew a few hot keys take most reads, and they stay cached."
    elif measured == FLAT and ttl > longest:
        why += (
            f" All {keys} keys stay cached once read (the {ttl:g} s "
            f"TTL outlasts each {longest:.1f} s run), so misses come from first reads and from "
            "writes, which skew barely changes."
        )
    return Answer(skew_question(zipf), predicted, measured, predicted == measured, why)


def grade_prediction(
    prediction: Prediction, skewed: CacheComparison, uniform: CacheComparison
) -> PredictionGrade:
    """Each prediction against the measured tables: ``skewed`` is the run at the learner's
    workload, ``uniform`` the same workload with Zipf 0."""
    results = _by_name(skewed)
    return PredictionGrade(
        (
            _grade_stale(prediction.stale, results),
            _grade_load(prediction.least_load, results),
            _grade_skew(prediction.skew, skewed, uniform),
        )
    )
