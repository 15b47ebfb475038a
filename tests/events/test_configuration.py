"""BILLING_CLICKHOUSE_URL and BILLING_RAW_USAGE_KEEP_DAYS: read once, checked at once, never
printed."""

import pytest

from nself_billing.errors import ConfigError
from nself_billing.settings import DEFAULT_RAW_USAGE_KEEP_DAYS, Settings
from nself_billing.store.clickhouse import ClickHouseEvents


def test_without_the_variable_nothing_changes(tmp_path):
    settings = Settings.from_env({"NSELF_ROOT": str(tmp_path)})
    assert settings.clickhouse_url is None
    assert settings.raw_usage_keep_days == DEFAULT_RAW_USAGE_KEEP_DAYS == 35


@pytest.mark.parametrize(("value", "days"), [("7", 7), ("0", 0), ("forever", None), ("keep", None)])
def test_the_horizon_is_days_or_forever(tmp_path, value, days):
    env = {"NSELF_ROOT": str(tmp_path), "BILLING_RAW_USAGE_KEEP_DAYS": value}
    assert Settings.from_env(env).raw_usage_keep_days == days


def test_a_bad_horizon_is_one_error_line(tmp_path):
    env = {"NSELF_ROOT": str(tmp_path), "BILLING_RAW_USAGE_KEEP_DAYS": "a month"}
    with pytest.raises(ConfigError, match=r"^Invalid BILLING_RAW_USAGE_KEEP_DAYS: a month"):
        Settings.from_env(env)


def test_a_bad_url_is_refused_without_repeating_it(tmp_path):
    env = {"NSELF_ROOT": str(tmp_path), "BILLING_CLICKHOUSE_URL": "tcp://u:hunter2@host:9000"}
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env)
    assert "hunter2" not in str(error.value)
    assert str(error.value).startswith("Invalid BILLING_CLICKHOUSE_URL")


def test_the_url_is_a_secret(tmp_path):
    env = {"NSELF_ROOT": str(tmp_path), "BILLING_CLICKHOUSE_URL": "https://u:hunter2@ch:8443/b"}
    settings = Settings.from_env(env)
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "location", "database"),
    [
        (
            "http://u:p@ch.example:8123/billing",
            "http://ch.example:8123, database billing",
            "billing",
        ),
        ("https://u:p@ch.example/", "https://ch.example:8443, database default", "default"),
        ("chdb:///var/lib/ev?database=ev", "embedded engine at /var/lib/ev, database ev", "ev"),
        ("chdb:///var/lib/ev", "embedded engine at /var/lib/ev, database billing", "billing"),
        ("chdb://memory", "embedded engine at :memory:, database billing", "billing"),
    ],
)
def test_locations_never_show_credentials(url, location, database):
    store = ClickHouseEvents(url)
    assert (store.location, store.database) == (location, database)


def test_a_database_name_that_is_not_an_identifier_is_refused():
    with pytest.raises(ConfigError, match="Invalid ClickHouse database name"):
        ClickHouseEvents("http://ch:8123/bad-name")


def test_serve_runs_no_shipper_without_clickhouse(tmp_path):
    from nself_billing import Billing
    from nself_billing.cli.serve import events_worker

    with (
        Billing.from_env({"NSELF_ROOT": str(tmp_path)}) as billing,
        events_worker(billing) as shipping,
    ):
        assert shipping is False
