"""The `credit-risk` command: one entry point composing each package's commands."""

from __future__ import annotations

import typer

from features.cli import demo_data_command, import_app, status_command
from service.cli import keys_app, policy_app, serve_command
from training.cli import models_command, promote_command, rollback_command, train_command

app = typer.Typer(
    name="credit-risk",
    help="Customer credit risk, payment-delay prediction and lawful payment terms for French "
    "B2B suppliers. Start with `credit-risk demo-data` or `credit-risk import --help`.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(import_app, name="import")
app.command("demo-data")(demo_data_command)
app.command("status")(status_command)
app.command("train")(train_command)
app.command("promote")(promote_command)
app.command("rollback")(rollback_command)
app.command("models")(models_command)
app.command("serve")(serve_command)
app.add_typer(keys_app, name="keys")
app.add_typer(policy_app, name="policy")

__all__ = ["app"]
