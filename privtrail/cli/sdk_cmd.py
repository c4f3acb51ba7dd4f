"""``privtrail emit`` and ``privtrail pseudonym``: the SDK from the command line.

``emit`` sends JSON Lines events through the same client code a service uses (same
validation, same queue, same spool), for scripts and services in other languages.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from privtrail.errors import ContractError
from privtrail.sdk.client import AuditClient
from privtrail.sdk.errors import SdkConfigError, SpoolFullError, UnknownTermError
from privtrail.sdk.pseudonym import Pseudonymiser, parse_key
from privtrail.sdk.settings import ENV, SdkSettings

EXIT_REFUSED = 1
EXIT_NOT_ACKNOWLEDGED = 3
CLI_SERVICE = "privtrail-cli"


@click.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--bootstrap", help=f"Kafka bootstrap servers [env {ENV['bootstrap']}]")
@click.option("--service", help=f"Client name for metrics and spool [env {ENV['service']}]")
@click.option("--topic", help=f"Topic [env {ENV['topic']}]")
@click.option("--spool-dir", type=click.Path(path_type=Path), help=f"[env {ENV['spool_dir']}]")
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(path_type=Path, exists=True),
    help=f"Policy for vocabulary checks [env {ENV['policy_path']}; default bundled]",
)
@click.option(
    "--pseudonymise",
    is_flag=True,
    help="subject_id holds raw identifiers: pseudonymise them (needs the key)",
)
@click.option(
    "--on-invalid",
    type=click.Choice(["raise", "warn"]),
    help="Unknown vocabulary terms: refuse the line (raise) or send with a warning",
)
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    help="Seconds to wait for the broker to acknowledge everything",
)
def emit(
    file: TextIO,
    bootstrap: str | None,
    service: str | None,
    topic: str | None,
    spool_dir: Path | None,
    policy_path: Path | None,
    pseudonymise: bool,
    on_invalid: str | None,
    timeout: float,
) -> None:
    """Send the JSON-form events of FILE (JSON Lines, '-' for stdin) to Kafka.

    Lines that break the contract or the vocabulary are refused and listed on stderr with
    their line numbers; the others are sent. Exit status: 0 all sent and acknowledged,
    1 some lines refused, 3 some events not yet acknowledged (they wait in the spool and go
    out with the next run that uses the same spool directory).
    """
    settings = SdkSettings.from_env(
        bootstrap=bootstrap,
        service=service or os.environ.get(ENV["service"]) or CLI_SERVICE,
        topic=topic,
        spool_dir=spool_dir,
        policy_path=policy_path,
        on_invalid=on_invalid,
    )
    # Without --pseudonymise the file's subject_ids are pseudonyms already: the client never
    # pseudonymises, so no key is needed and the (unused) dev pseudonymiser fills the slot.
    pseudonymiser = settings.pseudonymiser() if pseudonymise else Pseudonymiser.dev()
    client = AuditClient.from_settings(settings, pseudonymiser=pseudonymiser)
    sent, refused = _emit_lines(client, file, pseudonymise)
    acknowledged = client.close(timeout)
    click.echo(f"sent {sent}, refused {refused}")
    if refused:
        sys.exit(EXIT_REFUSED)
    if not acknowledged:
        click.echo(
            f"warning: not every event was acknowledged yet; the rest is in the spool "
            f"{client.spool_dir} and goes out with the next run",
            err=True,
        )
        sys.exit(EXIT_NOT_ACKNOWLEDGED)


def _emit_lines(client: AuditClient, file: TextIO, pseudonymise: bool) -> tuple[int, int]:
    sent = refused = 0
    for number, line in enumerate(file, start=1):
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
            if not isinstance(data, dict):
                raise ContractError("", "an event must be a JSON object")
            client.emit_json(data, pseudonymise=pseudonymise)
        except json.JSONDecodeError as exc:
            refused += 1
            click.echo(f"line {number}: not valid JSON: {exc.msg}", err=True)
        except (ContractError, UnknownTermError) as exc:
            refused += 1
            click.echo(f"line {number}: {exc}", err=True)
        except SpoolFullError as exc:
            client.close(0)
            raise click.ClickException(f"line {number}: {exc}; lines from here not sent") from exc
        else:
            sent += 1
    return sent, refused


@click.command()
@click.argument("subject")
@click.option(
    "--key-env",
    default=ENV["pseudonym_key"],
    show_default=True,
    help="Environment variable holding the key (hex or base64)",
)
@click.option(
    "--key-id-env",
    default=ENV["pseudonym_key_id"],
    show_default=True,
    help="Environment variable holding the key id (printed with -v)",
)
@click.option("-v", "--verbose", is_flag=True, help="Also print the key id")
def pseudonym(subject: str, key_env: str, key_id_env: str, verbose: bool) -> None:
    """Print the pseudonym the SDK records for SUBJECT ('-' reads it from stdin, which keeps
    the identifier out of shell history). Needs the key, so only a key holder can link."""
    raw = os.environ.get(key_env)
    if not raw:
        raise SdkConfigError(key_env, "not set: the pseudonym key is needed to recompute")
    if subject == "-":
        subject = sys.stdin.readline().rstrip("\r\n")
    key_id = os.environ.get(key_id_env) or "unknown"
    made = Pseudonymiser(key=parse_key(raw, setting=key_env), key_id=key_id)
    value = made.pseudonym(subject)
    click.echo(f"{value} {key_id}" if verbose else value)
