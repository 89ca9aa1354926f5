"""The AI-R formula: deterministic, documented, and pure (no database, no unit of work).

AI-R (AI-Readiness) combines what a person brings with what their occupation offers:

* **V^R, individual (idiosyncratic) readiness**, in [0, 1]::

      ability    = 1 / (1 + exp(-theta))        theta: mean ability of completed assessments
                                                 (0.5 when there are none)
      experience = 1 - exp(-years / 8)          years of experience (0 when unknown)
      education  = EDUCATION[level]             0.40 ... 0.90, 0.50 when unknown
      V^R        = 0.40 * ability + 0.35 * experience + 0.25 * education

* **H^R, systematic opportunity** of the occupation, in [0, 1]: ``OCCUPATION_HR[code]``
  (0.60 for a code not in the table).
* **Synergy**, in [0, 1]: ``V^R * H^R``: high only when both are.
* **AI-R**, in [0, 100]::

      AI-R = 100 * (alpha * V^R + (1 - alpha - beta) * H^R + beta * Synergy)

  with ``alpha = 0.45`` and ``beta = 0.20`` (so H^R weighs 0.35).
* **Confidence interval** (95 %): the standard error shrinks with evidence, the number of
  assessment items administered::

      se = 8 / sqrt(1 + items / 10)
      [ci_lower, ci_upper] = clip(AI-R -/+ 1.96 * se, 0, 100)

Every stored score records ``parameter_version`` and, in ``calculation_metadata``, the inputs
and weights it was computed from, so a score can always be recomputed and explained.
The service that loads a person's inputs and stores the result is
:mod:`qulab.platform.services.scoring`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from qulab.core.errors import InvalidInput
from qulab.platform.schemas import validate_occupation

PARAMETER_VERSION = "air-2026.1"

EDUCATION: dict[str, float] = {
    "high school": 0.40,
    "associate": 0.50,
    "bachelors": 0.65,
    "masters": 0.80,
    "phd": 0.90,
}
EDUCATION_UNKNOWN = 0.50

OCCUPATION_HR: dict[str, float] = {
    "SW_ENG": 0.82,
    "DATA_SCI": 0.88,
    "DATA_ENG": 0.85,
    "AI_RESEARCHER": 0.92,
    "ANALYST": 0.70,
    "PM": 0.64,
    "DESIGN": 0.58,
    "OPS": 0.55,
}
OCCUPATION_UNKNOWN = 0.60


@dataclass(frozen=True)
class ScoringParameters:
    alpha: float = 0.45
    beta: float = 0.20
    w_ability: float = 0.40
    w_experience: float = 0.35
    w_education: float = 0.25
    experience_scale_years: float = 8.0
    base_se: float = 8.0
    items_scale: float = 10.0
    z: float = 1.96
    version: str = PARAMETER_VERSION

    def __post_init__(self) -> None:
        if not (0 <= self.alpha <= 1 and 0 <= self.beta <= 1 and self.alpha + self.beta <= 1):
            raise InvalidInput("parameters", "alpha and beta must be in [0, 1] with a sum <= 1")
        weights = self.w_ability + self.w_experience + self.w_education
        if not math.isclose(weights, 1.0, abs_tol=1e-9):
            raise InvalidInput("parameters", "the V^R weights must sum to 1")


DEFAULT_PARAMETERS = ScoringParameters()


@dataclass(frozen=True)
class ScoringInputs:
    """What the formula reads about a person."""

    years_experience: float | None
    education_level: str | None
    abilities: tuple[float, ...] = ()
    items_administered: int = 0


@dataclass(frozen=True)
class AIRResult:
    air_score: float
    vr_score: float
    hr_score: float
    synergy_score: float
    ci_lower: float
    ci_upper: float
    parameter_version: str
    calculation_metadata: dict[str, Any]


def _check_inputs(inputs: ScoringInputs) -> None:
    years = inputs.years_experience
    if years is not None and not (0 <= years <= 80 and math.isfinite(years)):
        raise InvalidInput("years_experience", "must be between 0 and 80")
    if inputs.items_administered < 0:
        raise InvalidInput("items_administered", "must not be negative")
    if any(not math.isfinite(a) or abs(a) > 10 for a in inputs.abilities):
        raise InvalidInput("abilities", "each ability must be a finite number in [-10, 10]")


def compute_air_score(
    inputs: ScoringInputs,
    occupation_code: str,
    parameters: ScoringParameters = DEFAULT_PARAMETERS,
) -> AIRResult:
    """The formula of this module's docstring. Pure and deterministic."""
    code = validate_occupation(occupation_code)
    _check_inputs(inputs)
    p = parameters
    theta = sum(inputs.abilities) / len(inputs.abilities) if inputs.abilities else 0.0
    ability = 1.0 / (1.0 + math.exp(-theta))
    experience = 1.0 - math.exp(-(inputs.years_experience or 0.0) / p.experience_scale_years)
    level = (inputs.education_level or "").strip().lower()
    education = EDUCATION.get(level, EDUCATION_UNKNOWN)
    vr = p.w_ability * ability + p.w_experience * experience + p.w_education * education
    hr = OCCUPATION_HR.get(code.upper(), OCCUPATION_UNKNOWN)
    synergy = vr * hr
    air = 100.0 * (p.alpha * vr + (1.0 - p.alpha - p.beta) * hr + p.beta * synergy)
    se = p.base_se / math.sqrt(1.0 + inputs.items_administered / p.items_scale)
    lower, upper = max(0.0, air - p.z * se), min(100.0, air + p.z * se)
    metadata = {
        "formula": "100*(alpha*VR + (1-alpha-beta)*HR + beta*VR*HR)",
        "inputs": {
            "theta": round(theta, 6),
            "assessments": len(inputs.abilities),
            "items_administered": inputs.items_administered,
            "years_experience": inputs.years_experience,
            "education_level": inputs.education_level,
            "occupation_known": code.upper() in OCCUPATION_HR,
        },
        "components": {
            "ability": round(ability, 6),
            "experience": round(experience, 6),
            "education": education,
        },
        "parameters": asdict(p),
        "standard_error": round(se, 6),
    }
    return AIRResult(
        air_score=round(air, 2),
        vr_score=round(vr, 4),
        hr_score=round(hr, 4),
        synergy_score=round(synergy, 4),
        ci_lower=round(lower, 2),
        ci_upper=round(upper, 2),
        parameter_version=p.version,
        calculation_metadata=metadata,
    )
