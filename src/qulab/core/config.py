"""Settings read from the environment (``QULAB_*`` variables) and an optional ``.env`` file.

Each setting is declared once, as a field of its group in ``qulab.core.settings_groups``
(``settings.database.pool_size`` is ``QULAB_POOL_SIZE``); ``Settings`` holds the groups and
reads every group's variables, the environment before ``.env``. ``Settings.variables()`` lists
the variables.

Overrides are built one way: ``Settings().replace(database_url=url, pool_size=2)`` reads the
environment and changes the named settings, ``settings.replace(...)`` derives a copy. Each key
is the variable without ``QULAB_``, lower-cased; a bad value is a ConfigurationError naming its
variable in one line, as ``load_settings`` reports a bad variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from qulab.core.errors import ConfigurationError
from qulab.core.settings_groups import DEFAULT_DATABASE_URL as DEFAULT_DATABASE_URL
from qulab.core.settings_groups import (
    PREFIX,
    AppSettings,
    BrokerSettings,
    CacheSettings,
    ConsumerSettings,
    DatabaseSettings,
    RelaySettings,
    SettingsGroup,
    TracingSettings,
)
from qulab.core.urls import redact_url


class Settings(BaseSettings):
    """Everything QuLab can be configured with, by group. Unset services fall back to embedded
    ones."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        frozen=True,
    )

    database: DatabaseSettings = DatabaseSettings()
    cache: CacheSettings = CacheSettings()
    broker: BrokerSettings = BrokerSettings()
    relay: RelaySettings = RelaySettings()
    consumer: ConsumerSettings = ConsumerSettings()
    app: AppSettings = AppSettings()
    tracing: TracingSettings = TracingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _GroupVariables(settings_cls, env_settings),
            _GroupVariables(settings_cls, dotenv_settings),
        )

    @classmethod
    def variables(cls) -> dict[str, tuple[str, str]]:
        """Every ``QULAB_*`` variable and the (group, field) it sets."""
        return dict(_VARIABLES)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied, each keyed by its variable without ``QULAB_``
        (``pool_size=2`` sets ``QULAB_POOL_SIZE``); raises ConfigurationError naming the
        variable of a bad value, TypeError for a setting that does not exist."""
        by_group: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            if key not in _BY_KEY:
                raise TypeError(f"no setting {PREFIX}{key.upper()}")
            group, name = _BY_KEY[key]
            by_group.setdefault(group, {})[name] = value
        groups: dict[str, SettingsGroup] = {}
        for group, values in by_group.items():
            current: SettingsGroup = getattr(self, group)
            try:
                groups[group] = type(current).model_validate(current.model_dump() | values)
            except ValidationError as exc:
                raise _one_line(exc, within=group) from None
        return self.model_copy(update=groups)


def _groups() -> dict[str, type[SettingsGroup]]:
    groups: dict[str, type[SettingsGroup]] = {}
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, SettingsGroup)):
            raise TypeError(f"Settings.{name} is not a SettingsGroup")
        groups[name] = model
    return groups


_VARIABLES: dict[str, tuple[str, str]] = {
    variable: (group, name)
    for group, model in _groups().items()
    for name, variable in model.variables().items()
}
_BY_FIELD = {place: variable for variable, place in _VARIABLES.items()}
_BY_KEY = {variable.removeprefix(PREFIX).lower(): place for variable, place in _VARIABLES.items()}


class _GroupVariables(PydanticBaseSettingsSource):
    """Every group's fields, from the variables pydantic-settings found in the environment or in
    ``.env`` (``source``): one flat ``QULAB_*`` name per field, not one nested name per group."""

    def __init__(self, settings_cls: type[BaseSettings], source: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        if not isinstance(source, EnvSettingsSource):
            raise TypeError(f"expected the environment or .env source, got {source!r}")
        self.found: Mapping[str, str | None] = source.env_vars
        self.case_sensitive = source.case_sensitive

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads every group at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, dict[str, str]] = {}
        for variable, (group, name) in _VARIABLES.items():
            value = self.found.get(variable if self.case_sensitive else variable.lower())
            if value is not None:
                values.setdefault(group, {})[name] = value
        return values


def _one_line(exc: ValidationError, within: str | None = None) -> ConfigurationError:
    """The first problem of ``exc`` as one line naming its variable, passwords hidden."""
    first = exc.errors()[0]
    loc = ((within,) if within else ()) + tuple(str(part) for part in first["loc"])
    if len(loc) >= 2 and (loc[0], loc[1]) in _BY_FIELD:
        variable = _BY_FIELD[(loc[0], loc[1])]
    else:
        variable = PREFIX + "_".join(loc[:2]).upper() if loc else "?"
    given = first.get("input")
    shown = redact_url(given) if isinstance(given, str) else given
    return ConfigurationError(f"{variable}: {first['msg']} (got {shown!r})")


def load_settings() -> Settings:
    """Read the settings, turning a validation failure into one line naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise _one_line(exc) from None
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f".env: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
