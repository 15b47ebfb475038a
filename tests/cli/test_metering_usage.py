"""``usage``, ``usage record``, ``usage import`` and ``demo`` through the real entry point."""

import json

import pytest

USAGE = ("tenant", "billing", "usage")


def cells(output, service):
    """The cells of a service's row in the USAGE SUMMARY box."""
    for line in output.splitlines():
        parts = [p.strip() for p in line.strip("║").split("│")]
        if parts and parts[0] == service:
            return parts[1:]
    raise AssertionError(f"no row for {service} in:\n{output}")


def record(cli, *args):
    result = cli(*USAGE, "record", *args)
    assert result.exit_code == 0, result.stderr
    return result


def count(billing):
    return billing.queries.render("SELECT COUNT(*) FROM billing_usage_records")


@pytest.fixture
def used(cli, customer_id):
    record(cli, "api", "45200", "--metadata", '{"endpoint": "/users"}')
    record(cli, "storage", "2.5")
    record(cli, "bandwidth", "525")
    record(cli, "compute", "5.2")
    record(cli, "database", "152300")
    record(cli, "functions", "1800")
    return customer_id


def test_the_summary_is_laid_out_as_in_the_spec(cli, used):
    result = cli(*USAGE)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("╔") and lines[1].strip("║ ") == "USAGE SUMMARY"
    assert lines[3].startswith("║ Period: 20")
    assert [c.strip() for c in lines[5].strip("║").split("│")] == [
        "Service",
        "Usage",
        "Unit",
        "Cost",
    ]
    assert cells(result.stdout, "api") == ["45.2K", "requests", "Included"]
    assert cells(result.stdout, "storage") == ["2.5GB", "GB-hours", "Included"]
    assert cells(result.stdout, "bandwidth") == ["525.0GB", "GB", "$1.25"]
    assert cells(result.stdout, "compute") == ["5.2", "CPU-hours", "Included"]
    assert cells(result.stdout, "database") == ["152.3K", "queries", "Included"]
    assert cells(result.stdout, "functions") == ["1.8K", "invocations", "Included"]


def test_json_and_csv_carry_exact_figures(cli, used):
    data = json.loads(cli(*USAGE, "--format=json").stdout)
    assert data["plan"] == "pro"
    bandwidth = next(s for s in data["services"] if s["service"] == "bandwidth")
    assert bandwidth == {
        "service": "bandwidth",
        "usage": "525",
        "unit": "GB",
        "events": 1,
        "quota": "500",
        "overage": "25",
        "cost": "1.25",
        "included": False,
    }
    assert data["total_cost"] == "1.25"
    lines = cli(*USAGE, "--format", "csv").stdout.splitlines()
    assert lines[0] == "service,usage,unit,events,quota,overage,cost"
    assert "api,45200,requests,1,1000000,0,0.00" in lines
    detailed = cli(*USAGE, "--format=csv", "--detailed", "--service=api").stdout.splitlines()
    assert detailed[0] == "date,service_name,usage,events"
    assert detailed[1].endswith(",api,45200,1")


def test_one_service_and_the_daily_breakdown(cli, used):
    result = cli(*USAGE, "--service=api", "--detailed")
    assert result.exit_code == 0
    assert cells(result.stdout, "api") == ["45.2K", "requests", "Included"]
    assert "storage" not in result.stdout
    assert "Daily breakdown" in result.stdout


def test_other_periods(cli, used):
    last = cli(*USAGE, "--period=last-month")
    assert cells(last.stdout, "api") == ["0", "requests", "Included"]
    custom = cli(*USAGE, "--period=custom", "--start=2020-01-01", "--end=2099-12-31")
    assert "Period: 2020-01-01 to 2099-12-31" in custom.stdout
    assert cells(custom.stdout, "api")[0] == "45.2K"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("--period=custom", "--start=2026-02-30", "--end=2026-03-01"),
            "Error: Invalid start date: 2026-02-30 (expected YYYY-MM-DD)\n",
        ),
        (
            ("--period=custom", "--start=2026-03-01"),
            "Error: A custom period needs --start and --end (YYYY-MM-DD)\n",
        ),
        (
            ("--service=email",),
            "Error: Unknown service: email (expected one of: api, storage, "
            "bandwidth, compute, database, functions)\n",
        ),
    ],
)
def test_bad_report_parameters_exit_1(cli, customer_id, args, message):
    result = cli(*USAGE, *args)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", message)


def test_bad_period_or_format_is_misuse(cli, customer_id):
    assert cli(*USAGE, "--period=yesterday").exit_code == 2
    assert cli(*USAGE, "--format=xml").exit_code == 2


def test_record_with_an_id_counts_once(cli, billing, customer_id):
    first = record(cli, "api", "3", "--id", "req-1", "--at", "2026-01-20T10:00:00Z")
    assert first.stdout == "Recorded: api 3 (id req-1)\n"
    again = record(cli, "api", "3", "--id", "req-1")
    assert again.stdout == "Already recorded: api (id req-1); nothing changed\n"
    assert count(billing) == "1"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("email", "1"),
            "Error: Unknown service: email (expected one of: api, storage, bandwidth,"
            " compute, database, functions)\n",
        ),
        (("api", "-1"), "Error: Invalid quantity: -1 (must be zero or more)\n"),
        (("api", "ten"), "Error: Invalid quantity: ten (not a number)\n"),
        (
            ("api", "1", "--metadata", "{oops"),
            "Error: Invalid metadata JSON: Expecting property name enclosed in double quotes at "
            "position 1\n",
        ),
        (("api", "1", "--metadata", "[1]"), "Error: Invalid metadata: must be a JSON object\n"),
        (
            ("api", "1", "--at", "yesterday"),
            "Error: Invalid timestamp: 'yesterday'"
            " (expected ISO 8601, e.g. 2026-01-15T12:00:00Z)\n",
        ),
    ],
)
def test_bad_records_exit_1_and_write_nothing(cli, billing, customer_id, args, message):
    result = cli(*USAGE, "record", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", message)
    assert count(billing) == "0"


def test_recording_for_an_unknown_customer_exits_1(cli, billing, customer_id):
    result = cli("tenant", "billing", "--customer", "cus_nobody", "usage", "record", "api", "1")
    assert (result.exit_code, result.stderr) == (1, "Error: Customer not found: cus_nobody\n")
    assert count(billing) == "0"


def test_import_reports_bad_lines_and_keeps_the_good_ones(cli, billing, customer_id, root):
    source = root / "events.jsonl"
    source.write_text(
        "\n".join(
            [
                '{"service": "api", "quantity": 1, "id": "a1"}',
                '{"service": "api", "quantity": 2, "id": "a1"}',
                '{"service": "nope", "quantity": 1}',
                '{"service": "api", "quantity": -1}',
                "not json",
                "",
                '{"service": "storage", "quantity": 0.5, "timestamp": "2026-01-20T08:00:00Z",'
                ' "metadata": {"bucket": "b"}, "id": "s1"}',
                '{"service": "api", "quantity": 1, "customer_id": "cus_nobody"}',
                '{"service": "api", "quantity": 1, "metadata": "{bad"}',
            ]
        )
        + "\n"
    )
    result = cli(*USAGE, "import", str(source))
    assert result.exit_code == 1
    assert result.stdout == (f"Imported {source}: 2 accepted, 1 duplicate, 5 rejected\n")
    assert result.stderr.splitlines() == [
        "Rejected line 3: Unknown service: nope (expected one of: api, storage, bandwidth,"
        " compute, database, functions)",
        "Rejected line 4: Invalid quantity: -1 (must be zero or more)",
        "Rejected line 5: Invalid JSON: Expecting value at column 1",
        "Rejected line 8: Customer not found: cus_nobody",
        "Rejected line 9: Invalid metadata JSON: Expecting property name enclosed in double"
        " quotes at position 1",
        "Error: 5 of 8 lines rejected (the others were imported)",
    ]
    assert count(billing) == "2"
    again = cli(*USAGE, "import", str(source))
    assert again.stdout.startswith(f"Imported {source}: 0 accepted, 3 duplicate, 5 rejected")


def test_import_csv_with_a_header(cli, billing, customer_id, root):
    source = root / "events.csv"
    source.write_text(
        "service,quantity,id,timestamp,metadata\n"
        "api,10,c1,2026-01-16T00:00:00Z,\n"
        'compute,0.25,c2,2026-01-16,"{""instance"": ""t3""}"\n'
        "bandwidth,abc,c3,,\n"
    )
    result = cli(*USAGE, "import", str(source), "--batch-size", "1")
    assert result.stdout == f"Imported {source}: 2 accepted, 0 duplicate, 1 rejected\n"
    assert result.stderr.splitlines()[0] == (
        "Rejected line 4: Invalid quantity: abc (not a number)"
    )
    assert count(billing) == "2"
    clean = root / "clean.csv"
    clean.write_text("service,quantity\napi,1\napi,2\n")
    ok = cli(*USAGE, "import", str(clean))
    assert (ok.exit_code, ok.stdout) == (
        0,
        f"Imported {clean}: 2 accepted, 0 duplicate, 0 rejected\n",
    )


def test_import_with_a_bad_csv_header_or_missing_file_exits_1(cli, customer_id, root):
    source = root / "bad.csv"
    source.write_text("service,amount\napi,1\n")
    result = cli(*USAGE, "import", str(source))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Invalid CSV header (missing quantity; unknown amount)")
    missing = cli(*USAGE, "import", str(root / "nope.jsonl"))
    assert missing.exit_code == 1
    assert missing.stderr.startswith("Error: Cannot read ")


def test_demo_runs_twice_and_shows_the_summary(cli, billing):
    first = cli("tenant", "billing", "demo")
    assert first.exit_code == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("Demo customer cus_demo (pro) created in ")
    recorded = int(lines[1].split()[1].replace(",", ""))
    assert recorded > 5000
    assert "USAGE SUMMARY" in first.stdout
    second = cli("tenant", "billing", "demo")
    assert second.exit_code == 0, second.stderr
    assert second.stdout.splitlines()[1].startswith("Recorded 0 synthetic usage events")
    assert second.stdout.splitlines()[2:] == first.stdout.splitlines()[2:]
    assert int(count(billing)) == recorded


@pytest.mark.parametrize("end", ["9999-12-31", "1969-12-31"])
def test_dates_beyond_the_calendar_are_refused_with_one_line(cli, customer_id, end):
    result = cli(
        "tenant",
        "billing",
        "usage",
        "--period",
        "custom",
        "--start",
        "1969-01-01" if end.startswith("1969") else "2026-01-01",
        "--end",
        end,
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Invalid ") and "years 1970 to 9998" in result.stderr
