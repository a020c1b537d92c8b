from decimal import Decimal
from pathlib import Path

import pytest

from hub.settings import DEFAULT_FILE, SettingsError, load_settings


def test_project_settings_file_is_valid():
    s = load_settings(DEFAULT_FILE, environ={})
    assert s.crm.enabled == ["zoho_crm", "fxiaoke"]
    assert s.plants.default in s.plants.codes
    assert s.tax.rates["CN"] == Decimal("0.13")
    assert s.output_dir.is_absolute()


def test_env_overrides_one_key_and_lists():
    env = {"HUB__TOLERANCES__PRICE_PCT": "3.5", "HUB__CRM__ENABLED": "zoho_crm", "HUB__TAX__RATES__CN": "0.09"}
    s = load_settings(DEFAULT_FILE, environ=env)
    assert s.tolerances.price_pct == Decimal("3.5")
    assert s.crm.enabled == ["zoho_crm"]
    assert s.tax.rates["CN"] == Decimal("0.09")
    assert s.tax.rates["DE"] == Decimal("0.19")  # untouched neighbours survive


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"HUB__TOLERANCES__PRICE_PCT": "abc"}, "tolerances.price_pct"),
        ({"HUB__CRM__ENABLED": "Sales Force"}, "crm.enabled"),  # registered? connectors.crm.enabled
        ({"HUB__HUB__LANGUAGE": "fr"}, "hub.language"),
        ({"HUB__HUB__TIMEZONE": "Mars/Olympus"}, "hub.timezone"),
        ({"HUB__PLANTS__DEFAULT": "9999"}, "plants.default"),
        ({"HUB__GATES__MAX_QUARANTINE_PCT": "120"}, "gates.max_quarantine_pct"),
        ({"HUB__TOLERANCES__TYPO": "1"}, "tolerances.typo"),
    ],
)
def test_invalid_value_names_the_key_and_the_env_var(env, named):
    with pytest.raises(SettingsError) as err:
        load_settings(DEFAULT_FILE, environ=env)
    message = str(err.value)
    assert named in message
    assert next(iter(env)) in message


def test_broken_file_is_reported(tmp_path: Path):
    bad = tmp_path / "hub.toml"
    bad.write_text("[hub\nlanguage = 'zh'")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad, environ={})
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})
