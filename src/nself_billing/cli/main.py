"""The command tree and the one place errors become exit codes.

``nself tenant billing <group> <cmd>`` is canonical; ``nself billing ...`` runs the same commands
after one deprecation line on stderr. Exit codes follow the spec: 0 success, 1 error (a
``BillingError``: invalid parameters, not found, API or database error), 2 misuse (click's usage
errors: unknown command or option, missing argument).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from typing import Any

import click

from ..errors import BillingError
from .aliases import AliasedGroup
from .state import CliState

#: modules under cli/ that each export COMMANDS, a list of click commands of the billing group
COMMAND_MODULES = (
    "catalog",
    "customer",
    "subscription",
    "invoice",
    "payment",
    "cycle",
    "usage",
    "demo",
    "quota",
    "webhook",
    "sync",
    "apikey",
    "notify",
    "serve",
    "admin",
    "export",
)

DEBUG_KEY = "nself_billing.debug"
DEPRECATION = "Warning: 'nself billing' is deprecated; use 'nself tenant billing' instead."


def _debug_wanted(ctx: click.Context) -> bool:
    if ctx.meta.get(DEBUG_KEY):
        return True
    return os.environ.get("NSELF_LOG_LEVEL", "").lower() == "debug"


class RootGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BillingError as error:
            if _debug_wanted(ctx):
                traceback.print_exc()
            _log_error(ctx, error.message, type(error).__name__)
            raise click.ClickException(error.message) from None
        except (
            click.exceptions.ClickException,
            click.exceptions.Exit,
            click.exceptions.Abort,
            KeyboardInterrupt,
            SystemExit,
        ):
            raise
        except BrokenPipeError:
            sys.stderr.close()
            raise SystemExit(1) from None
        except Exception as error:  # the last line of defence: never a bare traceback
            if _debug_wanted(ctx):
                traceback.print_exc()
            detail = str(error).strip().splitlines()
            text = f"{type(error).__name__}: {detail[0]}" if detail else type(error).__name__
            _log_error(ctx, f"Internal error: {text}", type(error).__name__)
            raise click.ClickException(
                f"Internal error: {text} (run with --debug for details)"
            ) from None


def _log_error(ctx: click.Context, message: str, kind: str) -> None:
    """Every error of a command is a line of the billing log (once the log is open: an error
    before the configuration could be read has no log to go to)."""
    import logging

    log = logging.getLogger("nself_billing")
    if not log.handlers:
        return
    from ..actor import ACTOR

    log.error(
        message,
        extra={
            "fields": {
                "event": "error",
                "actor": ACTOR.get(),
                "error": kind,
                "message": message,
            }
        },
    )


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nself-billing", prog_name="nself")
def cli() -> None:
    """nself: billing, metering and quotas for self-hosted backends."""


@cli.group()
def tenant() -> None:
    """Multi-tenant administration."""


@click.group(cls=AliasedGroup)
@click.option(
    "--customer",
    "customer_id",
    metavar="ID",
    help="Act on this customer (default: NSELF_CUSTOMER_ID, or the only customer).",
)
@click.option("--debug", is_flag=True, help="Show a traceback on errors.")
@click.pass_context
def billing(ctx: click.Context, customer_id: str | None, debug: bool) -> None:
    """Usage metering, quotas and subscription billing."""
    if ctx.parent is not None and ctx.parent.info_name != "tenant":
        click.echo(DEPRECATION, err=True)
    ctx.meta[DEBUG_KEY] = debug
    from ..actor import ACTOR

    ACTOR.set(f"cli:{_user()}")
    state = CliState(customer_id=customer_id, debug=debug)
    ctx.obj = state
    ctx.call_on_close(state.close)


for _module_name in COMMAND_MODULES:
    if importlib.util.find_spec(f"{__package__}.{_module_name}") is None:
        continue  # a command module not present in this build
    _module = importlib.import_module(f"{__package__}.{_module_name}")
    for _command in _module.COMMANDS:
        billing.add_command(_command)
    for _group_name, _subcommands in getattr(_module, "SUBCOMMANDS", {}).items():
        _group = billing.commands[_group_name]
        assert isinstance(_group, click.Group)
        for _command in _subcommands:
            _group.add_command(_command)

tenant.add_command(billing)
cli.add_command(billing)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def main() -> None:
    cli.main(prog_name="nself")
