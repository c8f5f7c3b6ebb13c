"""``mlstage tokens create|list|revoke``: API tokens, shown once, stored as hashes."""

from __future__ import annotations

from typing import Annotated

import typer

from mlstage.cli._console import console, fmt_time, print_json, text

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command("create")
def create_token(
    user: Annotated[str, typer.Option("--user", metavar="NAME", help="Whose token it is.")],
    expires: Annotated[
        str, typer.Option("--expires", metavar="DURATION", help="Lifetime: 12h, 30d, 2w (≤ 366d).")
    ] = "30d",
    scope: Annotated[
        str,
        typer.Option(
            "--scope", metavar="SCOPE", help="read, write or admin; at most the user's role."
        ),
    ] = "read",
    description: Annotated[str, typer.Option(help="What the token is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a token and print its secret, once: send it as Authorization: Bearer <token>."""
    from mlstage.cli._governance import actor, governance_store
    from mlstage.governance.tokens import parse_lifetime

    created = governance_store().create_token(
        user, scope, parse_lifetime(expires), description, actor=actor()
    )
    if as_json:
        print_json(created.model_dump(mode="json"))
        return
    info = created.token
    out = console()
    out.print(
        text(
            f"Created token {info.token_id} for {info.user!r} (scope {info.scope}, "
            f"expires {fmt_time(info.expires_at)}). It is shown only now:"
        )
    )
    print(created.secret)  # plain, so it can be copied or piped
    out.print(
        text("Use it with MLSTAGE_TRACKING_TOKEN=<token>; revoke with `mlstage tokens revoke`.")
    )


@app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option("--user", metavar="NAME", help="Only theirs.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List tokens (ids, owners, scopes, expiry, revocation; never a secret)."""
    from rich.table import Table

    from mlstage.cli._governance import governance_store

    found = governance_store().list_tokens(user)
    if as_json:
        print_json([t.model_dump(mode="json") for t in found])
        return
    if not found:
        console().print("No tokens: `mlstage tokens create --user NAME`.")
        return
    table = Table(header_style="bold")
    for column in ("id", "user", "scope", "created", "expires", "revoked", "description"):
        table.add_column(column)
    for token in found:
        table.add_row(
            text(token.token_id),
            text(token.user),
            text(token.scope),
            text(fmt_time(token.created_at)),
            text(fmt_time(token.expires_at)),
            text(fmt_time(token.revoked_at), "red"),
            text(token.description),
        )
    console().print(table)


@app.command("revoke")
def revoke_token(
    token_id: Annotated[
        str, typer.Argument(metavar="TOKEN_ID", help="The id `tokens list` shows.")
    ],
) -> None:
    """Revoke a token: servers refuse it within seconds."""
    from mlstage.cli._governance import actor, governance_store

    governance_store().revoke_token(token_id, actor=actor())
    console().print(text(f"Revoked token {token_id}."))
