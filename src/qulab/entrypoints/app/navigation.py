"""The lab's pages, in order. Each page is a module under ``sections/`` with a ``render()``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SECTIONS_DIR = Path(__file__).parent / "sections"


@dataclass(frozen=True)
class PageSpec:
    module: str
    title: str
    icon: str
    url_path: str
    default: bool = False

    @property
    def path(self) -> Path:
        return SECTIONS_DIR / f"{self.module}.py"


INTRODUCTION = PageSpec(
    "introduction", "Introduction", ":material/school:", "introduction", default=True
)
DATA_MODELS = PageSpec("data_models", "1. Data Models", ":material/schema:", "data-models")
CONNECTIVITY = PageSpec(
    "connectivity", "2. DB Connectivity & Pooling", ":material/lan:", "connectivity"
)

REPOSITORY = PageSpec(
    "repository", "3. Repository Pattern & N+1", ":material/account_tree:", "repository"
)
CACHING = PageSpec("caching", "4. Caching with Redis", ":material/bolt:", "caching")
EVENTING = PageSpec("eventing", "5. Eventing (Outbox Pattern)", ":material/outbox:", "eventing")
DESIGN = PageSpec("design", "Create: design an event table", ":material/design_services:", "design")
SCALING = PageSpec("scaling", "6. Scaling out", ":material/dns:", "scaling")

PAGES: tuple[PageSpec, ...] = (
    INTRODUCTION,
    DATA_MODELS,
    CONNECTIVITY,
    REPOSITORY,
    CACHING,
    EVENTING,
    DESIGN,
    SCALING,
)
