from pathlib import Path

import pytest

from nself_billing import ConfigError
from nself_billing.settings import Settings


def test_embedded_defaults_live_under_nself_root(tmp_path):
    settings = Settings.from_env({"NSELF_ROOT": str(tmp_path)})
    assert settings.sqlite_path == tmp_path / ".nself/billing/billing.db"
    assert settings.export_dir == tmp_path / ".nself/billing/exports"
    assert settings.cache_dir == tmp_path / ".nself/billing/cache"
    assert settings.log_file == tmp_path / ".nself/billing/billing.log"
    assert (settings.provider, settings.database_url, settings.log_level) == ("local", None, "info")


def test_nself_root_defaults_to_the_current_directory(tmp_path):
    assert Settings.from_env({}, cwd=tmp_path).nself_root == tmp_path


def test_spec_database_variables_build_a_postgresql_url(tmp_path):
    settings = Settings.from_env(
        {
            "NSELF_ROOT": str(tmp_path),
            "BILLING_DB_HOST": "db.internal",
            "BILLING_DB_PORT": "6543",
            "BILLING_DB_NAME": "nself",
            "BILLING_DB_USER": "billing",
            "BILLING_DB_PASSWORD": "p@ss/w:rd",
        }
    )
    assert settings.database_url.reveal() == (
        "postgresql+psycopg://billing:p%40ss%2Fw%3Ard@db.internal:6543/nself"
    )
    assert "p@ss" not in repr(settings)


def test_a_database_url_wins_and_is_normalised(tmp_path):
    settings = Settings.from_env(
        {
            "NSELF_ROOT": str(tmp_path),
            "BILLING_DB_HOST": "ignored",
            "BILLING_DATABASE_URL": "postgres://u@h/db",
        }
    )
    assert settings.database_url.reveal() == "postgresql+psycopg://u@h/db"


def test_environment_then_dotenv_then_defaults(tmp_path):
    (tmp_path / ".env").write_text(
        "PROJECT_NAME=from-dotenv\nNSELF_CUSTOMER_ID=cus_dotenv\n"
        "BILLING_EXPORT_DIR=${NSELF_ROOT}/out\n"
    )
    settings = Settings.from_env({"NSELF_ROOT": str(tmp_path), "PROJECT_NAME": "from-env"})
    assert settings.project_name == "from-env"
    assert settings.customer_id == "cus_dotenv"
    assert settings.export_dir == Path(f"{tmp_path}/out")


def test_a_stripe_key_selects_the_stripe_provider_and_stays_secret(tmp_path):
    settings = Settings.from_env(
        {"NSELF_ROOT": str(tmp_path), "STRIPE_SECRET_KEY": "sk_test_" + "x" * 24}
    )
    assert settings.provider == "stripe"
    assert "sk_test" not in repr(settings) and "sk_test" not in str(settings.stripe_secret_key)
    forced = Settings.from_env(
        {"NSELF_ROOT": str(tmp_path), "BILLING_PROVIDER": "local", "STRIPE_SECRET_KEY": "sk_test_x"}
    )
    assert forced.provider == "local"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"BILLING_DB_HOST": "h", "BILLING_DB_PORT": "abc"}, "Invalid BILLING_DB_PORT: abc"),
        (
            {"BILLING_PROVIDER": "paypal"},
            "Invalid BILLING_PROVIDER: paypal (expected local or stripe)",
        ),
        (
            {"BILLING_DB_NAME": "prod"},
            "BILLING_DB_NAME is set but BILLING_DB_HOST is not: set BILLING_DB_HOST to use "
            "PostgreSQL, or unset it to use the embedded SQLite",
        ),
        (
            {"BILLING_DB_USER": "u", "BILLING_DB_PASSWORD": "p"},
            "BILLING_DB_USER, BILLING_DB_PASSWORD are set but BILLING_DB_HOST is not",
        ),
        (
            {"BILLING_DATABASE_URL": "mysql://u:secret@h/db"},
            "Unsupported database in BILLING_DATABASE_URL: mysql:// (use postgresql://",
        ),
        (
            {"BILLING_DATABASE_URL": "h/db"},
            "Unsupported database in BILLING_DATABASE_URL: no scheme",
        ),
    ],
)
def test_invalid_configuration_is_a_config_error(tmp_path, env, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({"NSELF_ROOT": str(tmp_path), **env})


def test_an_unsupported_database_is_one_error_line_and_never_shows_the_password(cli):
    result = cli(
        "tenant",
        "billing",
        "usage",
        extra_env={"BILLING_DATABASE_URL": "mysql://root:hunter2@db/billing"},
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Unsupported database in BILLING_DATABASE_URL: mysql://")
    assert len(result.stderr.splitlines()) == 1 and "hunter2" not in result.stderr


def test_a_dotenv_that_is_not_text_is_a_config_error(tmp_path):
    (tmp_path / ".env").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="Malformed .env"):
        Settings.from_env({"NSELF_ROOT": str(tmp_path)})


def test_smtp_settings_are_read_and_checked(tmp_path):
    base = {"NSELF_ROOT": str(tmp_path), "SMTP_HOST": "mail.example.com"}
    smtp = Settings.from_env({**base, "SMTP_FROM": "billing@example.com"}).smtp
    assert smtp is not None
    assert (smtp.port, smtp.security, smtp.user) == (587, "starttls", None)
    implicit = Settings.from_env({**base, "SMTP_FROM": "b@example.com", "SMTP_SECURITY": "tls"})
    assert implicit.smtp is not None and implicit.smtp.port == 465
    secret = Settings.from_env(
        {**base, "SMTP_FROM": "b@example.com", "SMTP_PASSWORD": "hunter2"}
    ).smtp
    assert secret is not None and "hunter2" not in repr(secret)
    with pytest.raises(ConfigError, match="SMTP_FROM must be set"):
        Settings.from_env(base)
    with pytest.raises(ConfigError, match="Invalid SMTP_SECURITY: ssl"):
        Settings.from_env({**base, "SMTP_FROM": "b@example.com", "SMTP_SECURITY": "ssl"})
    with pytest.raises(ConfigError, match="Invalid BILLING_NOTIFY_TIMEOUT: -1"):
        Settings.from_env({"NSELF_ROOT": str(tmp_path), "BILLING_NOTIFY_TIMEOUT": "-1"})
    assert Settings.from_env({"NSELF_ROOT": str(tmp_path)}).smtp is None


def test_one_reading_of_yes_and_no() -> None:
    """Environment flags and the function API's flags read yes/no the same way."""
    from nself_billing.errors import ConfigError, InvalidInput
    from nself_billing.settings import parse_flag

    for word in ("1", "true", "TRUE", "yes", "on", True):
        assert parse_flag(word, "x") is True
    for word in ("0", "false", "no", "off", "", None, False):
        assert parse_flag(word, "x") is False
    with pytest.raises(InvalidInput, match="Invalid detailed: maybe"):
        parse_flag("maybe", "detailed")
    with pytest.raises(ConfigError):
        parse_flag("maybe", "BILLING_METRICS_PUBLIC", ConfigError)
