"""``mlstage users create|list|disable|enable|set-role``: people who sign in to the server."""

from __future__ import annotations

from typing import Annotated

import typer

from mlstage.cli._console import console, fmt_time, print_json, text

app = typer.Typer(help="Create, list and disable users of the server.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Name = Annotated[str, typer.Argument(metavar="NAME", help="The user's name.")]
RoleOption = Annotated[
    str,
    typer.Option(
        "--role", metavar="ROLE", help="viewer, contributor, maintainer or admin (default project)."
    ),
]


@app.command("create")
def create_user(
    name: Name,
    role: RoleOption = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="No password: the user signs in with tokens only.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a user with a role; the password (12+ characters) is asked for, or read from stdin."""
    from mlstage.cli._governance import actor, governance_store, read_password

    password = None if no_password else read_password(password_stdin)
    user = governance_store().create_user(name, role, password, actor=actor())
    if as_json:
        print_json(user.model_dump(mode="json"))
        return
    console().print(text(f"Created user {user.name!r} with role {user.role}."))


@app.command("list")
def list_users(as_json: JsonOption = False) -> None:
    """List users with their role and state (never a password hash)."""
    from rich.table import Table

    from mlstage.cli._governance import governance_store

    users = governance_store().list_users()
    if as_json:
        print_json([u.model_dump(mode="json") for u in users])
        return
    if not users:
        console().print("No users yet: `mlstage users create NAME --role admin`.")
        return
    table = Table(header_style="bold")
    for column in ("name", "role", "state", "password", "created"):
        table.add_column(column)
    for user in users:
        state = text("disabled", "red") if user.disabled else text("active", "green")
        password = text("set" if user.has_password else "none")
        table.add_row(
            text(user.name), text(user.role), state, password, text(fmt_time(user.created_at))
        )
    console().print(table)


@app.command("disable")
def disable_user(name: Name) -> None:
    """Disable a user: sessions end and tokens stop working at once."""
    from mlstage.cli._governance import actor, governance_store

    governance_store().update_user(name, disabled=True, actor=actor())
    console().print(text(f"Disabled user {name!r}: their tokens and sessions no longer work."))


@app.command("enable")
def enable_user(name: Name) -> None:
    """Enable a disabled user again (their unexpired, unrevoked tokens work again)."""
    from mlstage.cli._governance import actor, governance_store

    governance_store().update_user(name, disabled=False, actor=actor())
    console().print(text(f"Enabled user {name!r}."))


@app.command("set-role")
def set_role(name: Name, role: RoleOption) -> None:
    """Change a user's role on the default project; their tokens are capped by it at once."""
    from mlstage.cli._governance import actor, governance_store

    user = governance_store().update_user(name, role=role, actor=actor())
    console().print(text(f"User {user.name!r} now has role {user.role}."))


@app.command("grant")
def grant(
    name: Name,
    project: Annotated[str, typer.Option("--project", help="The project the role is for.")],
    role: Annotated[
        str | None,
        typer.Option("--role", metavar="ROLE", help="viewer, contributor, maintainer or admin."),
    ] = None,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Take the user's role in the project away.")
    ] = False,
) -> None:
    """Give a user a role in a project (or take it away); their sessions end at once."""
    from mlstage.cli._governance import actor, governance_store
    from mlstage.errors import InvalidInput

    if revoke == (role is not None):
        raise InvalidInput("give exactly one of --role ROLE or --revoke")
    governance_store().grant(name, project, None if revoke else role, actor=actor())
    if revoke:
        console().print(text(f"User {name!r} has no role in project {project!r} any more."))
    else:
        console().print(text(f"User {name!r} now has role {role} in project {project!r}."))
