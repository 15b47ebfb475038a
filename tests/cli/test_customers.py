import json


def test_no_customer_is_a_clear_error(cli):
    result = cli("tenant", "billing", "customer", "show")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        "Error: No customer ID found\n",
    )


def test_create_then_show_and_its_alias(cli, clock):
    created = cli(
        "tenant",
        "billing",
        "customer",
        "create",
        "--email",
        "john@example.com",
        "--name",
        "John Doe",
        "--id",
        "cus_ABCDEFGHIJKLMN",
    )
    assert (created.exit_code, created.stdout) == (0, "Customer created: cus_ABCDEFGHIJKLMN\n")
    for command in ("show", "info"):
        result = cli("tenant", "billing", "customer", command)
        assert result.exit_code == 0
        lines = result.stdout.splitlines()
        assert lines[:3] == [
            "Customer ID: cus_ABCDEFGHIJKLMN",
            "Name: John Doe",
            "Email: john@example.com",
        ]
        assert lines[-1].startswith("Created: 20")


def test_create_on_a_plan_starts_a_subscription(cli):
    result = cli(
        "tenant",
        "billing",
        "customer",
        "create",
        "--email",
        "a@example.com",
        "--name",
        "A",
        "--plan",
        "starter",
    )
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].startswith("Subscription started: sub_")
    assert result.stdout.splitlines()[1].endswith("(starter, active)")
    shown = cli("tenant", "billing", "subscription", "show").stdout.splitlines()
    assert shown[0] == "Current Subscription"
    assert shown[2:4] == ["Plan: starter", "Status: active"]


def test_create_on_an_unknown_plan_creates_nothing(cli):
    result = cli(
        "tenant",
        "billing",
        "customer",
        "create",
        "--email",
        "a@example.com",
        "--name",
        "A",
        "--plan",
        "gold",
    )
    assert (result.exit_code, result.stderr) == (1, "Error: Plan not found: gold\n")
    assert cli("tenant", "billing", "customer", "show").stderr == "Error: No customer ID found\n"


def test_update_without_options_is_an_error(cli, customer_id):
    result = cli("tenant", "billing", "customer", "update")
    assert result.exit_code == 1
    assert result.stderr == "Error: No parameters provided (use --email, --name or --phone)\n"


def test_update_changes_only_the_given_fields(cli, customer_id):
    result = cli(
        "tenant",
        "billing",
        "customer",
        "update",
        "--name=Jane Smith",
        "--email=jane@example.com",
        "--phone=+1-555-0123",
    )
    assert (result.exit_code, result.stdout) == (0, f"Customer updated: {customer_id}\n")
    shown = json.loads(cli("tenant", "billing", "customer", "show", "--format=json").stdout)[0]
    assert (shown["name"], shown["email"], shown["phone"]) == (
        "Jane Smith",
        "jane@example.com",
        "+1-555-0123",
    )


def test_invalid_email_is_rejected(cli, customer_id):
    result = cli("tenant", "billing", "customer", "update", "--email=not-an-email")
    assert (result.exit_code, result.stderr) == (1, "Error: Invalid email: not-an-email\n")


def test_customer_id_comes_from_dotenv(cli, billing, root):
    billing.customers.create(email="a@example.com", name="A", customer_id="cus_A")
    billing.customers.create(email="b@example.com", name="B", customer_id="cus_B")
    several = cli("tenant", "billing", "customer", "show")
    assert several.exit_code == 1
    assert several.stderr == (
        "Error: No customer ID found: several customers exist (cus_A, cus_B); pass --customer ID"
        " or set NSELF_CUSTOMER_ID (see: nself tenant billing customer list)\n"
    )
    (root / ".env").write_text("NSELF_CUSTOMER_ID=cus_B\n")
    assert cli("tenant", "billing", "customer", "show").stdout.startswith("Customer ID: cus_B\n")
    chosen = cli("tenant", "billing", "--customer", "cus_A", "customer", "show")
    assert chosen.stdout.startswith("Customer ID: cus_A\n")


def test_environment_wins_over_dotenv(cli, billing, root):
    billing.customers.create(email="a@example.com", name="A", customer_id="cus_A")
    billing.customers.create(email="b@example.com", name="B", customer_id="cus_B")
    (root / ".env").write_text("NSELF_CUSTOMER_ID=cus_B\n")
    result = cli("tenant", "billing", "customer", "show", extra_env={"NSELF_CUSTOMER_ID": "cus_A"})
    assert result.stdout.startswith("Customer ID: cus_A\n")


def test_unknown_current_customer_is_not_found(cli, root):
    (root / ".env").write_text("NSELF_CUSTOMER_ID=cus_missing\n")
    result = cli("tenant", "billing", "customer", "show")
    assert (result.exit_code, result.stderr) == (1, "Error: Customer not found: cus_missing\n")


def test_customer_list_in_every_format(cli, billing):
    assert cli("tenant", "billing", "customer", "list").stdout == (
        "No customers (create one: nself tenant billing customer create)\n"
    )
    billing.customers.create(email="a@example.com", name="A", customer_id="cus_A")
    billing.subscriptions.start("cus_A", "pro")
    billing.customers.create(email="b@example.com", name="B", customer_id="cus_B")
    table = cli("tenant", "billing", "customer", "list").stdout.splitlines()
    assert [line.split("│")[0].strip("║ ") for line in table[3:5]] == ["cus_A", "cus_B"]
    assert "│ pro  │ active │" in table[3] and "│ -    │ -      │" in table[4]
    records = json.loads(cli("tenant", "billing", "customer", "list", "--format=json").stdout)
    assert [(r["customer_id"], r["plan"], r["status"]) for r in records] == [
        ("cus_A", "pro", "active"),
        ("cus_B", None, None),
    ]
    csv_lines = cli("tenant", "billing", "customer", "list", "--format=csv").stdout.splitlines()
    assert csv_lines[0] == "customer_id,name,email,phone,project_name,created_at,plan,status"
    assert csv_lines[1].startswith("cus_A,A,a@example.com,,,") and csv_lines[1].endswith(
        ",pro,active"
    )
