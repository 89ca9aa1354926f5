"""The AI-R formula: deterministic, documented values, validated inputs."""

from __future__ import annotations

import math

import pytest

from qulab.core.errors import InvalidInput
from qulab.platform.airscore import (
    OCCUPATION_UNKNOWN,
    PARAMETER_VERSION,
    ScoringInputs,
    ScoringParameters,
    compute_air_score,
)

ALEX = ScoringInputs(years_experience=8.0, education_level="Masters", abilities=(0.5, 1.5))


def test_same_inputs_give_the_same_score() -> None:
    assert compute_air_score(ALEX, "SW_ENG") == compute_air_score(ALEX, "SW_ENG")


def test_score_follows_the_documented_formula() -> None:
    result = compute_air_score(ALEX, "SW_ENG")
    ability = 1 / (1 + math.exp(-1.0))
    experience = 1 - math.exp(-1.0)
    vr = 0.40 * ability + 0.35 * experience + 0.25 * 0.80
    hr = 0.82
    air = 100 * (0.45 * vr + 0.35 * hr + 0.20 * vr * hr)
    se = 8.0
    assert result.vr_score == round(vr, 4)
    assert result.hr_score == hr
    assert result.synergy_score == round(vr * hr, 4)
    assert result.air_score == round(air, 2)
    assert (result.ci_lower, result.ci_upper) == (
        round(air - 1.96 * se, 2),
        round(air + 1.96 * se, 2),
    )
    assert result.parameter_version == PARAMETER_VERSION
    assert result.calculation_metadata["inputs"]["assessments"] == 2


def test_more_assessment_items_narrow_the_confidence_interval() -> None:
    few = compute_air_score(ScoringInputs(5.0, "PhD", (0.0,), 5), "DATA_SCI")
    many = compute_air_score(ScoringInputs(5.0, "PhD", (0.0,), 500), "DATA_SCI")
    assert many.ci_upper - many.ci_lower < few.ci_upper - few.ci_lower
    assert few.air_score == many.air_score


def test_unknown_occupation_uses_the_default_opportunity() -> None:
    result = compute_air_score(ScoringInputs(None, None), "ASTRONAUT")
    assert result.hr_score == OCCUPATION_UNKNOWN
    assert result.calculation_metadata["inputs"]["occupation_known"] is False


def test_score_stays_within_bounds_at_the_extremes() -> None:
    top = compute_air_score(ScoringInputs(80.0, "PhD", (10.0,), 10_000), "AI_RESEARCHER")
    bottom = compute_air_score(ScoringInputs(0.0, None, (-10.0,)), "OPS")
    for result in (top, bottom):
        assert 0 <= result.ci_lower <= result.air_score <= result.ci_upper <= 100


@pytest.mark.parametrize(
    ("inputs", "occupation", "field"),
    [
        (ScoringInputs(-1.0, None), "SW_ENG", "years_experience"),
        (ScoringInputs(1.0, None, (math.nan,)), "SW_ENG", "abilities"),
        (ScoringInputs(1.0, None, (), -3), "SW_ENG", "items_administered"),
        (ScoringInputs(1.0, None), "   ", "occupation_code"),
        (ScoringInputs(1.0, None), "X" * 21, "occupation_code"),
    ],
)
def test_bad_inputs_are_rejected_naming_the_field(
    inputs: ScoringInputs, occupation: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as error:
        compute_air_score(inputs, occupation)
    assert error.value.field == field


def test_inconsistent_parameters_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="alpha and beta"):
        ScoringParameters(alpha=0.9, beta=0.3)
    with pytest.raises(InvalidInput, match="sum to 1"):
        ScoringParameters(w_ability=0.9)
