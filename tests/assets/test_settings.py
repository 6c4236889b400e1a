"""The RELAY_ASSETS* settings, read from the environment like every other."""

from __future__ import annotations

import pytest

from relay.config import Settings, SettingsError

BASE = {"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET_KEY": "k", "RELAY_ADMIN_TOKEN": "t"}


def test_defaults_copy_nothing() -> None:
    settings = Settings.from_environ(BASE)
    assert settings.assets is False
    assert not settings.assets_for("kie")
    assert settings.assets_keep_s == settings.event_ttl_s


def test_on_everywhere_but_one_provider_with_object_storage_from_the_clouds_variables() -> None:
    settings = Settings.from_environ(
        {
            **BASE,
            "RELAY_ASSETS": "on",
            "RELAY_KIE_ASSETS": "off",
            "RELAY_ASSETS_URL": "s3://media/relay/",
            "RELAY_ASSETS_TTL_S": "3600",
            "RELAY_ASSETS_RETRY_SCHEDULE_S": "1, 5",
            "AWS_ACCESS_KEY_ID": "id",
            "AWS_ENDPOINT": "https://r2.example",
            "GOOGLE_SERVICE_ACCOUNT": "/sa.json",
            "HOME": "/root",
        }
    )
    assert settings.assets_for("generic") and not settings.assets_for("kie")
    assert settings.assets_url == "s3://media/relay"
    assert settings.assets_keep_s == 3600
    assert settings.assets_retry_schedule_s == (1.0, 5.0)
    assert settings.assets_store_options == {
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_ENDPOINT": "https://r2.example",
        "GOOGLE_SERVICE_ACCOUNT": "/sa.json",
    }


def test_one_provider_on_alone() -> None:
    settings = Settings.from_environ({**BASE, "RELAY_REPLICATE_ASSETS": "on"})
    assert settings.assets_for("replicate") and not settings.assets_for("kie")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RELAY_ASSETS", "maybe", "RELAY_ASSETS must be on or off, got 'maybe'"),
        ("RELAY_ASSETS_URL", "ftp://x/y", "RELAY_ASSETS_URL must start with one of"),
        ("RELAY_ASSETS_MAX_BYTES", "0", "RELAY_ASSETS_MAX_BYTES must be positive"),
        ("RELAY_ASSETS_RETRY_SCHEDULE_S", "1,soon", "RELAY_ASSETS_RETRY_SCHEDULE_S must be comma-separated"),
        ("RELAY_ASSETS_TTL_S", "-1", "RELAY_ASSETS_TTL_S and RELAY_ASSETS_WAIT_S must not be negative"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_environ({**BASE, name: value})
