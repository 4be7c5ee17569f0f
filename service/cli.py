"""`serve`, `keys` and `policy`: run the scoring service, manage its API keys, check a terms
policy before it is used (wired into `credit-risk`)."""

from __future__ import annotations

import os
import socket
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from features.cli import parse_day
from service.keys import ROLES, ApiKeys, InvalidKeyRequest

if TYPE_CHECKING:
    from service.settings import ServiceSettings
    from service.terms import TermsPolicy
    from service.terms.rules import GradeTerms

__all__ = ["keys_app", "policy_app", "serve_command"]

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

DEMO_KEY_NAME = "demo"
DEMO_KEY_FILE = "demo-api-key.txt"


def serve_command(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes", min=1)] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            help="log every request on standard output (the /metrics endpoint counts them "
            "either way; the log costs each request a little)"
        ),
    ] = False,
) -> None:
    """Serve the API; settings come from CREDIT_RISK_* variables (or .env)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # One OpenMP thread per worker: a request scores a few rows, and LightGBM's spinning
    # threads compete with the other workers for the cores (scale with --workers instead).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    typer.echo(f"credit-risk on {url}  (web page: {url}/  API documentation: {url}/docs)")
    # A factory, so each worker builds its own app (and loads its own model) after forking.
    config = uvicorn.Config(
        WORKER_APP, factory=True, host=host, port=port, workers=workers, access_log=access_log
    )
    if workers == 1:
        uvicorn.Server(config).run()
        return
    # The supervisor holds the address, bound but never listening (so it takes no connection):
    # a process that does not share the port cannot take it, and an address in use fails now.
    try:
        reserved = reuse_port_socket(host, port)
    except OSError as error:
        console.print(f"[red]error:[/red] cannot listen on {shown}:{port}: {error.strerror}")
        raise typer.Exit(1) from None
    with reserved:
        Multiprocess(config, sockets=WorkerListeners(host, port)).run()


WORKER_APP = "service.worker:app_from_env"


class WorkerListeners(list[socket.socket]):
    """The sockets uvicorn's supervisor hands every worker: a listener of the worker's own.

    uvicorn shares one listening socket between its workers, and a worker's event loop accepts
    every pending connection in one wake-up: under a burst of new connections, one worker
    took 24 of 32 and the other 10, and its clients waited twice as long. Here each worker
    binds a socket of its own to the same address with SO_REUSEPORT, and the kernel spreads new
    connections evenly over the workers that listen (a worker still loading its model does not
    listen yet, so it gets none).

    Empty in the supervisor; the list a worker unpacks (workers are spawned, and receive their
    arguments pickled) holds its new socket, bound and marked as TCP.
    """

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[object, tuple[str, int]]:
        return _own_listener, (self.host, self.port)


def _own_listener(host: str, port: int) -> list[socket.socket]:
    return [reuse_port_socket(host, port)]


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT, not yet listening.

    It names its protocol: asyncio sets TCP_NODELAY only on connections of a socket that does,
    and without it every answer after the first on a kept-alive connection waits about 40 ms
    for the client's delayed acknowledgement (Nagle's algorithm).
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    bound = socket.socket(family, kind, proto)
    try:
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        bound.bind(address)
    except OSError:
        bound.close()
        raise
    return bound


keys_app = typer.Typer(
    help="API keys of the service. Each key has roles: sales (score, read profiles), erp (score, "
    "send invoices and payments), analyst (model, terms policy, decision log). Keys are stored "
    "hashed: a key is shown once, when created.",
    no_args_is_help=True,
)


def _settings() -> ServiceSettings:
    # Imported here, as the store is by `_keys`: `serve` starts the workers without them (the
    # supervisor process would otherwise spend a second importing pandas before the first).
    from service.settings import ServiceSettings

    return ServiceSettings()


DatabaseOption = Annotated[
    str | None,
    typer.Option(help="Database URL (default: CREDIT_RISK_DATABASE_URL, or the data folder's)."),
]


def _keys(database_url: str | None) -> ApiKeys:
    from features.ledger import create_ledger_engine
    from service.records import migrate_service_tables

    settings = _settings()
    engine = create_ledger_engine(database_url or settings.ledger_url)
    migrate_service_tables(engine)
    return ApiKeys(engine)


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Option(help="Who or what uses the key (e.g. 'erp-sage', 'alice').")],
    role: Annotated[
        list[str],
        typer.Option("--role", help=f"A role of the key; repeat for several: {', '.join(ROLES)}."),
    ],
    database_url: DatabaseOption = None,
) -> None:
    """Create a key and print it (only now: it cannot be shown again)."""
    try:
        key, token = _keys(database_url).create(name, role)
    except InvalidKeyRequest as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    console.print(f"created key {key.key_id} '{key.name}' with roles {', '.join(key.roles)}")
    console.print("store it now; it is not shown again:")
    out.print(token, highlight=False)


@keys_app.command("list")
def list_keys(
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """The keys: id, name, roles, created and revoked dates (never the secrets)."""
    table = Table("id", "name", "roles", "created", "revoked")
    for key in _keys(database_url).listed(include_revoked=all_keys):
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else ""
        table.add_row(
            key.key_id, key.name, ", ".join(key.roles),
            key.created_at.strftime("%Y-%m-%d %H:%M"), revoked,
        )  # fmt: skip
    out.print(table)


@keys_app.command("revoke")
def revoke_key(
    key: Annotated[str, typer.Argument(help="The key's id, or a name (revokes all its keys).")],
    database_url: DatabaseOption = None,
) -> None:
    """Revoke a key: the service refuses it (401) from the next request on."""
    try:
        revoked = _keys(database_url).revoke(key)
    except InvalidKeyRequest as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    for found in revoked:
        console.print(f"revoked key {found.key_id} '{found.name}'")


@keys_app.command("demo")
def demo_key(database_url: DatabaseOption = None) -> None:
    """Make sure a demo key with every role exists, and print it (kept in the data folder).

    For a local demo only: the token is saved in clear in <data folder>/demo-api-key.txt so
    that it can be shown again. Never use it on shared data."""
    settings = _settings()
    saved = Path(settings.data_dir) / DEMO_KEY_FILE
    keys = _keys(database_url)
    token = saved.read_text(encoding="utf-8").strip() if saved.exists() else ""
    if keys.authenticate(token) is None:
        _, token = keys.create(DEMO_KEY_NAME, list(ROLES))
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(token + "\n", encoding="utf-8")
        saved.chmod(0o600)
    console.print(f"demo API key (roles {', '.join(ROLES)}; header X-API-Key), in {saved}:")
    out.print(token, highlight=False)


policy_app = typer.Typer(
    help="The terms policy: a TOML file an analyst edits (deadlines, deposits, credit limits, "
    "dunning plans per grade and amount, late-payment rates per half-year). Start from the "
    "shipped one with `init`, check it with `check`, then serve it with "
    "CREDIT_RISK_POLICY_PATH=<file>.",
    no_args_is_help=True,
)


@policy_app.command("check")
def check_policy(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="The policy file (default: CREDIT_RISK_POLICY_PATH, or the shipped policy).",
            dir_okay=False,
        ),
    ] = None,
    on: Annotated[
        str | None,
        typer.Option(help="Check the rates for this day, YYYY-MM-DD (default: today)."),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(help="Exit with code 2 when there are warnings (e.g. rates due soon)."),
    ] = False,
) -> None:
    """Validate a policy as the service would load it, and show what it gives each grade.

    A policy the service would refuse is listed problem by problem, each with its key path
    (exit code 1). A valid one is shown as tables: the late-payment rates per half-year, then
    the terms of each grade and amount band. Warnings follow: the half-year in force without
    rates (recommendations are then flagged for review), or the next one without rates when
    it starts within a month."""
    from service.terms import InvalidPolicy, default_policy, load_policy
    from service.terms.rates_due import missing_rates

    day = parse_day(on, "--on")
    source = path or _settings().policy_path
    try:
        policy = load_policy(source) if source is not None else default_policy()
    except InvalidPolicy as error:
        console.print(f"[red]refused:[/red] {error.source} ({len(error.problems)} problem(s))")
        for problem in error.problems:
            console.print(f"  - {problem}", highlight=False, markup=False)
        console.print("mend each key above and check again; the service refuses the whole file.")
        raise typer.Exit(1) from None
    out.print(f"terms policy {policy.source}: valid", highlight=False)
    out.print(f"version {policy.version}: {policy.description}", highlight=False)
    out.print(_rates_table(policy, day))
    out.print(_terms_table(policy))
    for line in _dunning_lines(policy):
        out.print(line, highlight=False)
    warnings = missing_rates(policy, day)
    for warning in warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning.message())}", highlight=False)
    if warnings and strict:
        raise typer.Exit(2)


@policy_app.command("init")
def init_policy(
    path: Annotated[Path, typer.Argument(help="Where to write the policy (a .toml file).")],
    force: Annotated[bool, typer.Option(help="Overwrite the file if it exists.")] = False,
) -> None:
    """Write the shipped policy to a file, to edit as your own (its comments explain each key)."""
    from service.terms.policy import default_policy_text

    if path.exists() and not force:
        console.print(f"[red]error:[/red] {path} exists; pass --force to overwrite it")
        raise typer.Exit(2)
    try:
        path.write_text(default_policy_text(), encoding="utf-8")
    except OSError as error:
        console.print(f"[red]error:[/red] cannot write {path}: {error.strerror}")
        raise typer.Exit(2) from None
    console.print(
        f"wrote {path}: edit it, check it with `credit-risk policy check {path}`, then serve it "
        f"with CREDIT_RISK_POLICY_PATH={path}"
    )


def _rates_table(policy: TermsPolicy, day: date) -> Table:
    from service.terms.law import half_year_of

    table = Table(
        "half-year", "ECB rate", "legal rate", "floor", "penalty rate", "rule",
        title="Late-payment interest (L441-10 II)",
        caption=f"floor: 3 x the legal rate for professionals; * in force on {day}",
    )  # fmt: skip
    in_force = half_year_of(day)
    for key in policy.half_years():
        rates = policy.interest_rates[key]
        rate = rates.penalty()
        table.add_row(
            f"{key} *" if key == in_force else key,
            f"{rates.ecb_rate} %", f"{rates.legal_rate_professionals} %",
            f"{rate.floor_percent} %", f"{rate.percent} %", _RATE_RULES[rate.rule],
        )  # fmt: skip
    return table


_RATE_RULES = {"ecb_plus_10": "ECB + 10 points", "legal_floor": "the floor",
               "contractual": "contractual"}  # fmt: skip


def _terms_table(policy: TermsPolicy) -> Table:
    table = Table(
        "grade", "from EUR", "deadline", "deposit", "prepay", "settle first", "payment",
        "credit limit",
        title="Terms by grade and order amount (before sector caps and the customer's exposure)",
    )  # fmt: skip
    for grade, from_amount, terms in _bands(policy):
        table.add_row(
            grade, f"{from_amount:,.0f}",
            terms.deadline.describe().replace(" from the invoice date", ""),
            f"{terms.deposit_percent:g} %", "yes" if terms.prepayment else "no",
            terms.settle_before_new_order.replace("_", " "), terms.payment_method.replace("_", " "),
            _credit_limit(terms),
        )  # fmt: skip
    return table


def _credit_limit(terms: GradeTerms) -> str:
    limit = terms.credit_limit
    if limit.cap == 0 or limit.monthly_multiple == 0:
        return "none"
    return f"{limit.monthly_multiple:g} x a month, at most {limit.cap:,.0f}"


def _dunning_lines(policy: TermsPolicy) -> list[str]:
    """Each grade's and band's dunning steps, days from the due date."""
    lines = ["Dunning plans (days from the due date):"]
    for grade, from_amount, terms in _bands(policy):
        steps = ", ".join(
            f"{step.day_offset:+d} {step.channel.replace('_', ' ')}" for step in terms.dunning
        )
        lines.append(f"  {grade} from {from_amount:,.0f} EUR: {steps or 'none'}")
    return lines


def _bands(policy: TermsPolicy) -> list[tuple[str, float, GradeTerms]]:
    return [
        (grade, from_amount, terms)
        for grade, grade_policy in policy.grades.items()
        for from_amount, terms in ((0.0, grade_policy.base), *grade_policy.bands)
    ]
