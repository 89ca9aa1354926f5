"""Settings read from the environment (``QULAB_*`` variables) and an optional ``.env`` file.

Each setting is declared once, as a field of its group in ``qulab.core.settings_groups``
(``settings.database.pool_size`` is ``QULAB_POOL_SIZE``); ``Settings`` holds the core's groups
and reads every group's variables, the environment before ``.env``. An application's own group
is read from the same place on first use: ``settings.group(ShopSettings)``.
``Settings.variables()`` lists the variables of every group declared so far.

Overrides are built one way: ``Settings().replace(database_url=url, pool_size=2)`` reads the
environment and changes the named settings, ``settings.replace(...)`` derives a copy. Each key
is the variable without ``QULAB_``, lower-cased; a bad value is a ConfigurationError naming its
variable in one line, as ``load_settings`` reports a bad variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import Field, PrivateAttr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from qulab.core.errors import ConfigurationError
from qulab.core.settings_groups import (
    DECLARED,
    PREFIX,
    AppSettings,
    BrokerSettings,
    CacheSettings,
    ConsumerSettings,
    DatabaseSettings,
    LogSettings,
    RelaySettings,
    SettingsGroup,
    TracingSettings,
)
from qulab.core.settings_groups import DEFAULT_DATABASE_URL as DEFAULT_DATABASE_URL
from qulab.core.urls import redact_url

G = TypeVar("G", bound=SettingsGroup)


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
    log: LogSettings = LogSettings()
    tracing: TracingSettings = TracingSettings()
    # What the environment and .env held when the settings were read (the environment first),
    # for the groups an application declares; and the values ``replace`` gave them.
    found: Mapping[str, str] = Field(default_factory=dict, exclude=True, repr=False)
    changes: Mapping[str, Any] = Field(default_factory=dict, exclude=True, repr=False)

    _groups: dict[type[SettingsGroup], SettingsGroup] = PrivateAttr(default_factory=dict)

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
        """Every variable of every group declared so far and the (group, field) it sets: the
        core's groups by their name here (``database``), an application's by its class name."""
        return {
            variable: (_CORE_GROUPS.get(group, group.__name__), name)
            for group in dict.fromkeys(DECLARED.values())
            for name, variable in group.variables().items()
        }

    def group(self, model: type[G]) -> G:
        """The settings of ``model``'s group: one of the core's, or an application's own, read
        from the environment (or ``.env``) these settings were read from, with what ``replace``
        changed; a bad value is a ConfigurationError naming its variable."""
        core = _CORE_GROUPS.get(model)
        if core is not None:
            value = getattr(self, core)
        else:
            value = self._groups.get(model)
            if value is None:
                value = self._groups[model] = _read_group(model, self.found, self.changes)
        if not isinstance(value, model):  # pragma: no cover - the mapping above guarantees it
            raise TypeError(f"{model.__name__} is not a settings group")
        return value

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied, each keyed by its variable without ``QULAB_``
        (``pool_size=2`` sets ``QULAB_POOL_SIZE``), an application's settings included; raises
        ConfigurationError naming the variable of a bad value, TypeError for a setting that
        does not exist."""
        by_group: dict[str, dict[str, Any]] = {}
        others: dict[str, Any] = {}
        for key, value in changes.items():
            variable = _variable_of(key)
            if variable in _VARIABLES:
                group, name = _VARIABLES[variable]
                by_group.setdefault(group, {})[name] = value
            elif variable in DECLARED:
                others[variable] = value
            else:
                raise TypeError(f"no setting {variable}")
        update: dict[str, Any] = {}
        for group, values in by_group.items():
            current: SettingsGroup = getattr(self, group)
            try:
                update[group] = type(current).model_validate(current.model_dump() | values)
            except ValidationError as exc:
                raise _one_line(exc, within=group) from None
        if others:
            update["changes"] = {**self.changes, **others}
        copy = self.model_copy(update=update)
        copy._groups = {}
        for model in dict.fromkeys(DECLARED[variable] for variable in others):
            copy.group(model)  # a bad value fails here, naming its variable
        return copy


def _core_groups() -> dict[type[SettingsGroup], str]:
    groups: dict[type[SettingsGroup], str] = {}
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, SettingsGroup):
            groups[model] = name
    return groups


_CORE_GROUPS = _core_groups()
# The core's variables, to the (group, field) of ``Settings`` they set.
_VARIABLES: dict[str, tuple[str, str]] = {
    variable: (group, name)
    for model, group in _CORE_GROUPS.items()
    for name, variable in model.variables().items()
}
_BY_FIELD = {place: variable for variable, place in _VARIABLES.items()}


def _variable_of(key: str) -> str:
    """``pool_size`` → ``QULAB_POOL_SIZE``; a key naming an application's variable of another
    prefix in full (``shop_product_ttl``) is that variable."""
    upper = key.upper()
    return upper if upper in DECLARED and upper not in _VARIABLES else PREFIX + upper


def _read_group(model: type[G], found: Mapping[str, str], changes: Mapping[str, Any]) -> G:
    variables = model.variables()
    values: dict[str, Any] = {}
    for name, variable in variables.items():
        if variable in changes:
            values[name] = changes[variable]
        elif variable.lower() in found:
            values[name] = found[variable.lower()]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        given = first.get("input")
        shown = redact_url(given) if isinstance(given, str) else given
        variable = variables.get(name, model.__name__)
        raise ConfigurationError(f"{variable}: {first['msg']} (got {shown!r})") from None


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
        # Everything else, lower-cased, for the groups applications declare (read on first use).
        values["found"] = {
            name.lower(): value
            for name, value in self.found.items()
            if value is not None and name.upper() not in _VARIABLES
        }
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
