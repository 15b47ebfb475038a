import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest


@pytest.fixture
def usage(billing, customer_id):
    """Usage over two years, with metadata that needs quoting."""
    billing.usage.record(
        "api",
        1,
        {"endpoint": "/api/users", "note": 'a,"b"\nc ü'},
        at=datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
        idempotency_key="k-2025",
    )
    for i in range(3):
        billing.usage.record(
            "api",
            1,
            {"endpoint": "/api/x"},
            idempotency_key=f"k-{i}",
            at=datetime(2026, 1, 10, 9, i, tzinfo=UTC),
        )
    billing.usage.record(
        "storage", "2.5", at=datetime(2026, 1, 10, 10, tzinfo=UTC), idempotency_key="k-s"
    )
    return customer_id


def test_usage_csv_has_the_spec_columns(cli, usage, tmp_path):
    out = tmp_path / "usage.csv"
    result = cli("tenant", "billing", "export", "usage", "--format=csv", f"--output={out}")
    assert result.exit_code == 0
    assert result.stdout == (f"Exporting billing data to: {out}\nExport complete: {out}\n")
    assert out.read_text() == (
        "date,service_name,usage,events\n2025-12-31,api,1,1\n"
        "2026-01-10,api,3,3\n2026-01-10,storage,2.5,1\n"
    )


def test_year_filters_usage_and_invoices(cli, usage, tmp_path):
    out = tmp_path / "u.json"
    cli("tenant", "billing", "export", "usage", "--year=2025", f"--output={out}")
    assert json.loads(out.read_text()) == [
        {"date": "2025-12-31", "service_name": "api", "usage": "1", "events": 1}
    ]


def test_all_as_json_has_the_spec_shape(cli, usage, tmp_path):
    out = tmp_path / "all.json"
    assert (
        cli("tenant", "billing", "export", "--all", "--format=json", f"--output={out}").exit_code
        == 0
    )
    document = json.loads(out.read_text(encoding="utf-8"))
    assert {"customer", "subscription", "invoices", "usage"} <= set(document)
    assert document["customer"]["customer_id"] == usage
    assert document["customer"]["email"] == "john@example.com"
    assert document["subscription"]["plan_name"] == "pro"
    assert document["subscription"]["status"] == "active"
    assert len(document["usage"]) == 3


def test_raw_usage_csv_quotes_everything_a_spreadsheet_needs(cli, usage, tmp_path):
    out = tmp_path / "raw.csv"
    result = cli("tenant", "billing", "export", "usage", "--raw", "--format=csv", f"--output={out}")
    assert result.exit_code == 0, result.stderr
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5
    first = rows[0]
    assert (first["service_name"], first["quantity"], first["idempotency_key"]) == (
        "api",
        "1.000000",
        "k-2025",
    )
    assert first["recorded_at"].startswith("2025-12-31T23:59:00")
    assert json.loads(first["metadata"])["note"] == 'a,"b"\nc ü'
    assert rows[-1]["quantity"] == "2.500000"


def test_raw_usage_json_streams_every_event(cli, usage, tmp_path):
    out = tmp_path / "raw.json"
    cli("tenant", "billing", "export", "usage", "--raw", f"--output={out}")
    events = json.loads(out.read_text(encoding="utf-8"))
    assert [e["idempotency_key"] for e in events] == ["k-2025", "k-0", "k-1", "k-2", "k-s"]
    assert events[0]["metadata"]["note"] == 'a,"b"\nc ü'


def test_csv_of_everything_writes_one_file_per_type(cli, usage, tmp_path):
    out = tmp_path / "everything.csv"
    result = cli("tenant", "billing", "export", "all", "--format=csv", f"--output={out}")
    assert result.exit_code == 0
    for part in ("usage", "invoices", "subscriptions", "payments"):
        assert (tmp_path / f"everything_{part}.csv").is_file()
    header = (tmp_path / "everything_subscriptions.csv").read_text().splitlines()[0]
    assert header.startswith("subscription_id,customer_id,plan_name,status")


def test_an_existing_file_is_never_overwritten_silently(cli, usage, tmp_path):
    out = tmp_path / "usage.csv"
    out.write_text("precious")
    result = cli("tenant", "billing", "export", "usage", "--format=csv", f"--output={out}")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: Output file exists: {out} (use --force to overwrite)\n"
    assert out.read_text() == "precious"
    assert (
        cli(
            "tenant", "billing", "export", "usage", "--format=csv", f"--output={out}", "--force"
        ).exit_code
        == 0
    )
    assert out.read_text().startswith("date,service_name,usage,events\n")
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_default_file_name_follows_the_spec(cli, usage, tmp_path):
    folder = tmp_path / "exports"
    result = cli(
        "tenant",
        "billing",
        "export",
        "usage",
        "--format=csv",
        extra_env={"BILLING_EXPORT_DIR": str(folder)},
    )
    assert result.exit_code == 0
    (written,) = folder.iterdir()
    assert written.name.startswith("nself_billing_usage_") and written.suffix == ".csv"
    stamp = written.stem.removeprefix("nself_billing_usage_")
    assert datetime.strptime(stamp, "%Y%m%d_%H%M%S")


@pytest.mark.parametrize(
    "args",
    [
        ("export", "bogus"),
        ("export", "--format=xml"),
        ("export", "--year=abc"),
        ("export", "usage", "--all"),
    ],
)
def test_bad_export_arguments_are_misuse(cli, usage, args):
    assert cli("tenant", "billing", *args).exit_code == 2


def test_library_exports(billing, usage, tmp_path):
    from nself_billing import billing_export_all, billing_export_invoices, billing_export_usage
    from nself_billing.api import use_billing

    use_billing(billing)
    try:
        path = billing_export_usage("csv", str(tmp_path / "u.csv"), "2026")
        assert Path(path).read_text().splitlines()[1:] == [
            "2026-01-10,api,3,3",
            "2026-01-10,storage,2.5,1",
        ]
        invoices = billing_export_invoices("json", str(tmp_path / "i.json"))
        assert json.loads(Path(invoices).read_text()) == []
        everything = json.loads(
            Path(billing_export_all("json", str(tmp_path / "a.json"), 2026)).read_text()
        )
        assert len(everything["usage"]) == 2
    finally:
        use_billing(None)


def test_a_customer_field_is_quoted_like_the_sql_renders_the_others():
    from nself_billing.store.export import csv_field

    assert csv_field("cus_plain") == "cus_plain"
    assert csv_field("a,b") == '"a,b"'
    assert csv_field('say "hi"') == '"say ""hi"""'
    assert csv_field("two\nlines") == '"two\nlines"'


def test_raw_csv_has_every_event_of_every_service_even_odd_ones_inserted_with_sql(
    cli, usage, billing, tmp_path
):
    from sqlalchemy import text

    with billing.context.db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO billing_usage_records (customer_id, service_name, quantity,"
                " quantity_micros, recorded_at) VALUES"
                " (:c, NULL, 1, 1000000, '2026-01-11 00:00:00'),"
                " (:c, '', 1, 1000000, '2026-01-11 00:00:00'),"
                " (:c, 'odd,name', 1, 1000000, '2026-01-11 00:00:00')"
            ),
            {"c": usage},
        )
    out = tmp_path / "raw.csv"
    result = cli(
        "tenant",
        "billing",
        "export",
        "usage",
        "--raw",
        "--format=csv",
        f"--output={out}",
        "--force",
    )
    assert result.exit_code == 0, result.stderr
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["service_name"] for row in rows) == [
        "",
        "",
        "api",
        "api",
        "api",
        "api",
        "odd,name",
        "storage",
    ]
    assert {row["customer_id"] for row in rows} == {usage}
    # within a service, in the order of recording
    api = [row["idempotency_key"] for row in rows if row["service_name"] == "api"]
    assert api == ["k-2025", "k-0", "k-1", "k-2"]


def test_a_raw_export_counts_events_not_lines_when_keys_hold_newlines(billing, usage, tmp_path):
    for i in range(3):
        billing.usage.record("api", 1, idempotency_key=f"two\nlines {i}\r\n")
    result = billing.export.export(
        "usage", output_format="csv", output=tmp_path / "raw.csv", raw=True
    )
    with (tmp_path / "raw.csv").open(encoding="utf-8", newline="") as handle:
        keys = [row["idempotency_key"] for row in csv.DictReader(handle)]
    assert result.rows == len(keys) == 8
    assert "two\nlines 2\r\n" in keys
