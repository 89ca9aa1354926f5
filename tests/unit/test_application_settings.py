"""An application declares settings groups of its own: read from the same environment and
``.env`` as the core's, changed with the same ``replace``, a bad value named by its variable,
and no variable claimed twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from qulab.core import ConfigurationError, Settings, SettingsGroup, load_settings


class ShopSettings(SettingsGroup):
    env_prefix = "TESTSHOP_"

    product_ttl: int = Field(600, ge=1)
    currency: str = "EUR"
    api_url: str | None = Field(None, validation_alias="TESTSHOP_PAYMENTS_URL")


@pytest.fixture(autouse=True)
def no_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in ShopSettings.variables().values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)


def test_an_applications_group_has_its_defaults_and_is_listed() -> None:
    assert Settings().group(ShopSettings) == ShopSettings(product_ttl=600, currency="EUR")
    assert Settings.variables()["TESTSHOP_PRODUCT_TTL"] == ("ShopSettings", "product_ttl")
    assert Settings.variables()["TESTSHOP_PAYMENTS_URL"] == ("ShopSettings", "api_url")


def test_the_environment_wins_over_dotenv_as_for_the_cores_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("TESTSHOP_PRODUCT_TTL=5\nTESTSHOP_CURRENCY=GBP\n")
    monkeypatch.setenv("TESTSHOP_PRODUCT_TTL", "7")
    monkeypatch.setenv("TESTSHOP_PAYMENTS_URL", "https://pay.example")
    shop = load_settings().group(ShopSettings)
    assert (shop.product_ttl, shop.currency, shop.api_url) == (7, "GBP", "https://pay.example")


def test_the_settings_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    monkeypatch.setenv("TESTSHOP_PRODUCT_TTL", "9")
    assert settings.group(ShopSettings).product_ttl == 600
    assert settings.group(ShopSettings) is settings.group(ShopSettings)


def test_replace_changes_an_applications_setting_and_keeps_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TESTSHOP_CURRENCY", "CHF")
    settings = load_settings()
    changed = settings.replace(testshop_product_ttl=30, pool_size=3)
    shop = changed.group(ShopSettings)
    assert (shop.product_ttl, shop.currency, changed.database.pool_size) == (30, "CHF", 3)
    assert settings.group(ShopSettings).product_ttl == 600  # the original is unchanged
    assert changed.replace(max_overflow=1).group(ShopSettings).product_ttl == 30


def test_a_bad_value_names_its_variable_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings().replace(testshop_product_ttl=0)
    assert str(caught.value).startswith("TESTSHOP_PRODUCT_TTL: ")
    monkeypatch.setenv("TESTSHOP_PRODUCT_TTL", "soon")
    settings = load_settings()  # read lazily: the core's settings load regardless
    with pytest.raises(ConfigurationError) as caught:
        settings.group(ShopSettings)
    message = str(caught.value)
    assert message.startswith("TESTSHOP_PRODUCT_TTL: ") and "'soon'" in message
    assert "\n" not in message


def test_a_variable_cannot_be_declared_twice() -> None:
    with pytest.raises(TypeError, match="QULAB_POOL_SIZE"):

        class Clashing(SettingsGroup):
            pool_size: int = 1


def test_replace_refuses_a_variable_no_group_declares() -> None:
    with pytest.raises(TypeError, match="QULAB_TESTSHOP_COLOUR"):
        Settings().replace(testshop_colour="red")
