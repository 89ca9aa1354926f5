"""``qulab user``: create, show, list, update and delete users."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from qulab.entrypoints.cli._common import (
    DryRun,
    Yes,
    ask,
    needs_consent,
    open_cache,
    open_db,
    out,
    print_json,
    print_record,
    print_table,
    run,
)

if TYPE_CHECKING:
    from qulab.core.cache import CacheResult
    from qulab.platform import ScoreRead, UserPage, UserRead

app = typer.Typer(help="Manage users.", no_args_is_help=True)

JSON = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Occupation = Annotated[str | None, typer.Option("--occupation", help="Occupation code (<= 20).")]
Education = Annotated[str | None, typer.Option("--education", help="Education level (<= 50).")]
Years = Annotated[float | None, typer.Option("--years", help="Years of experience (0-80).")]


def _fields(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@app.command()
def create(
    email: Annotated[str, typer.Option("--email", help="Email address (unique).")],
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    occupation: Occupation = None,
    education: Education = None,
    years: Years = None,
    json: JSON = False,
) -> None:
    """Create a user and print the new id."""
    from qulab.platform import UserCreate, create_user, parse, uow_factory

    async def _go() -> UserRead:
        async with open_db() as db:
            command = parse(
                UserCreate,
                **_fields(
                    email=email,
                    name=name,
                    occupation_code=occupation,
                    education_level=education,
                    years_experience=years,
                ),
            )
            return await create_user(command, uow_factory(db))

    user = run(_go)
    if json:
        print_json(user)
    else:
        out.print(user.id)


@app.command()
def show(
    user_id: Annotated[str, typer.Argument(metavar="ID", help="The user's id (UUID).")],
    json: JSON = False,
) -> None:
    """Show one user and their latest score, read through the cache (says HIT or MISS)."""
    from qulab.core import NotFound
    from qulab.platform import CachedUserRepository

    async def _go() -> tuple[CacheResult[UserRead], CacheResult[ScoreRead]]:
        async with open_cache() as cache, open_db(cache=cache) as db, db.session() as session:
            repo = CachedUserRepository(session, cache)
            user = await repo.fetch_user(user_id)
            if user.value is None:
                raise NotFound("user", user_id)
            return user, await repo.fetch_latest_score(user_id)

    user, latest = run(_go)
    assert user.value is not None
    if json:
        print_json(
            {
                "user": user.value,
                "latest_score": latest.value,
                "cache": {"user": _served(user), "latest_score": _served(latest)},
            }
        )
        return
    record = user.value.model_dump()
    record["latest_air_score"] = latest.value.air_score if latest.value else None
    print_record(f"user {user.value.id}", record)
    out.print(f"user: {_describe(user)} · latest score: {_describe(latest)}")


def _served(result: CacheResult[Any]) -> dict[str, Any]:
    return {"outcome": str(result.outcome), "ms": round(result.seconds * 1000, 3)}


def _describe(result: CacheResult[Any]) -> str:
    note = " (cache unavailable, read from the database)" if result.outcome == "BYPASS" else ""
    return f"cache {result.outcome} in {result.seconds * 1000:.2f} ms{note}"


@app.command("list")
def list_users(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many users.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="How many to skip.")] = 0,
    json: JSON = False,
) -> None:
    """List users, oldest first, and how many there are in all."""
    from qulab.platform import list_users_page

    async def _go() -> UserPage:
        async with open_db() as db:
            return await list_users_page(db, limit=limit, offset=offset)

    page = run(_go)
    if json:
        print_json(page.__dict__)
        return
    rows = [user.model_dump() for user in page.users]
    columns = ["id", "email", "name", "occupation_code", "created_at"]
    print_table(
        f"{page.total} users", rows, columns, optional=["name", "occupation_code", "created_at"]
    )
    if not page.complete:
        out.print(f"showing {len(page.users)} of {page.total} (use --limit/--offset)")


@app.command()
def update(
    user_id: Annotated[str, typer.Argument(metavar="ID", help="The user's id (UUID).")],
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    occupation: Occupation = None,
    education: Education = None,
    years: Years = None,
    json: JSON = False,
) -> None:
    """Change some of a user's fields."""
    changes = _fields(
        name=name, occupation_code=occupation, education_level=education, years_experience=years
    )
    if not changes:
        raise typer.BadParameter("give at least one of --name, --occupation, --education, --years")
    from qulab.platform import UpdateUser, parse, uow_factory, update_user

    async def _go() -> UserRead:
        async with open_db() as db:
            command = parse(UpdateUser, user_id=user_id, **changes)
            return await update_user(command, uow_factory(db))

    user = run(_go)
    if json:
        print_json(user)
    else:
        out.print(f"updated {user.id}: " + ", ".join(f"{k}={v}" for k, v in changes.items()))


@app.command()
def delete(
    user_id: Annotated[str, typer.Argument(metavar="ID", help="The user's id (UUID).")],
    yes: Yes = False,
    dry_run: DryRun = False,
    json: JSON = False,
) -> None:
    """Delete a user with their assessments and scores. Asks first on a terminal; --yes
    otherwise. --dry-run says which user and how many rows and events."""
    needs_consent("user delete", yes=yes, dry_run=dry_run)
    from qulab.platform import (
        DeleteUser,
        User,
        count_removal,
        delete_user,
        get_user,
        parse,
        uow_factory,
    )

    async def _go() -> dict[str, Any]:
        async with open_db() as db:
            command = parse(DeleteUser, user_id=user_id)
            user = await get_user(db, command.user_id)
            removal = await count_removal(db, User.id == user.id, per_user=True)
            plan = (
                f"deletes user {user.id} ({user.email}) with {removal.assessments} "
                f"assessment(s) and {removal.scores} score(s), and records "
                f"{removal.events} user.deleted event"
            )
            record = {"id": user.id, "email": user.email, **vars(removal), "summary": plan}
            if dry_run:
                return {"dry_run": True, **record}
            ask(plan, yes=yes)
            await delete_user(command, uow_factory(db))
            return {"deleted": user.id, **record}

    result = run(_go)
    if json:
        print_json(result)
    elif dry_run:
        out.print(f"dry run, nothing changed: {result['summary']}")
    else:
        out.print(f"deleted {result['deleted']}")
