"""Knowledge checks: a few questions per lab page, graded here, progress kept in the database.

A question is built from what the learner measured on its page when there is something to build
from (``measured``: plain numbers the app reads from the page's results), and from fixed text
otherwise; its id stays the same either way, so progress counts one question once. ``answer``
grades a choice and records the attempt through the unit of work; ``progress`` sums it up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from qulab.core import UnitOfWork, UnitOfWorkFactory
from qulab.lab.nplusone import SELECTIN_BATCH, eager_queries
from qulab.lab.progress import ProgressRepository
from qulab.lab.wording import counted

LOCAL_LEARNER = "local"
"""The learner key when nobody is signed in: progress belongs to this installation."""

Measured = Mapping[str, float]

ON_SQLITE = "config.sqlite"
"""A ``measured`` key set to 1 when the lab runs on SQLite: some answers depend on it."""
ON_RABBITMQ = "config.rabbitmq"
"""A ``measured`` key set to 1 when the broker is RabbitMQ."""

PAGES: tuple[str, ...] = (
    "introduction",
    "data_models",
    "connectivity",
    "repository",
    "caching",
    "eventing",
    "design",
    "scaling",
)


@dataclass(frozen=True)
class Question:
    """One question as shown: the options in display order and the right one among them."""

    id: str
    page: str
    prompt: str
    options: tuple[str, ...]
    answer: str
    explanation: str
    measured: bool = False

    def __post_init__(self) -> None:
        if self.answer not in self.options:
            raise ValueError(f"question {self.id}: the answer is not among the options")
        if len(set(self.options)) != len(self.options):
            raise ValueError(f"question {self.id}: two options read the same")


@dataclass(frozen=True)
class Grade:
    question_id: str
    correct: bool
    explanation: str
    attempts: int


@dataclass(frozen=True)
class PageProgress:
    page: str
    correct: int
    total: int


@dataclass(frozen=True)
class Progress:
    learner: str
    pages: tuple[PageProgress, ...]

    @property
    def correct(self) -> int:
        return sum(page.correct for page in self.pages)

    @property
    def total(self) -> int:
        return sum(page.total for page in self.pages)

    def page(self, name: str) -> PageProgress:
        for page in self.pages:
            if page.page == name:
                return page
        raise KeyError(name)


Builder = Callable[[Measured], Question]


def _distinct(answer: str, *others: str) -> tuple[str, ...]:
    """``answer`` and the others, duplicates dropped, in a stable order (sorted by text)."""
    options = {answer, *others}
    return tuple(sorted(options, key=lambda text: (len(text), text)))


def _fixed(
    qid: str, page: str, prompt: str, answer: str, wrong: Sequence[str], explanation: str
) -> Builder:
    def build(measured: Measured) -> Question:
        return Question(qid, page, prompt, _distinct(answer, *wrong), answer, explanation)

    return build


def _count(n: float) -> str:
    return f"{int(n)}"


def _on(measured: Measured, key: str) -> bool:
    return bool(measured.get(key, 0))


EAGER_RULE = (
    f"selectinload reads the users, then their scores with one SELECT … WHERE user_id IN (…) "
    f"per {SELECTIN_BATCH} users' keys: 1 + ⌈N / {SELECTIN_BATCH}⌉ statements, two up to "
    f"N = {SELECTIN_BATCH}."
)


# --- Measured questions ---------------------------------------------------------------------


def _nplusone_growth(measured: Measured) -> Question:
    qid, page = "repository.per_row_growth", "repository"
    users = int(measured.get("nplusone.users", 0))
    statements = int(measured.get("nplusone.per_row_statements", 0))
    if users > 0 and statements > 0:
        target = 4 * users
        answer = statements - users + target
        prompt = (
            f"Your per-row run loaded N = {counted(users, 'user')} with "
            f"{counted(statements, 'statement')}. How many "
            f"statements would the per-row strategy run for N = {target}?"
        )
        options = _distinct(_count(answer), _count(statements * 4), _count(statements), "2")
        explanation = (
            f"Per-row loading runs one statement for the users and one more per user: "
            f"{statements - users} + N. At N = {target} that is {answer}; the eager strategy runs "
            f"{eager_queries(target)} (users, then one IN query per {SELECTIN_BATCH} users)."
        )
        return Question(qid, page, prompt, options, _count(answer), explanation, measured=True)
    return Question(
        qid,
        page,
        "Loading N users and then each user's scores one query at a time runs how many statements?",
        _distinct("1 + N", "2", "N", "N²"),
        "1 + N",
        "One query for the users plus one per user: that is the N+1 problem. Eager loading "
        f"(selectinload) needs two up to N = {SELECTIN_BATCH}, then one more per "
        f"{SELECTIN_BATCH} users.",
    )


def _eager_constant(measured: Measured) -> Question:
    qid, page = "repository.eager_constant", "repository"
    users = int(measured.get("nplusone.users", 0))
    eager = int(measured.get("nplusone.eager_statements", 0))
    if users > 0 and eager > 0:
        target = users * 10
        prompt = (
            f"Your eager run loaded N = {counted(users, 'user')} with "
            f"{counted(eager, 'statement')}. How many would it "
            f"run for N = {target}?"
        )
        answer = _count(eager - eager_queries(users) + eager_queries(target))
        options = _distinct(
            answer, _count(eager), _count(eager * 10), _count(target + 1), _count(eager + 10)
        )
        explanation = f"{EAGER_RULE} At N = {target} that is {answer}."
        return Question(qid, page, prompt, options, answer, explanation, measured=True)
    return Question(
        qid,
        page,
        "How does the statement count of selectinload change as N grows?",
        _distinct(
            f"One more per {SELECTIN_BATCH} users",
            "It stays at two whatever N is",
            "It grows by one per user",
            "It doubles",
        ),
        f"One more per {SELECTIN_BATCH} users",
        EAGER_RULE,
    )


def _null_pool_connects(measured: Measured) -> Question:
    qid, page = "connectivity.null_pool_connects", "connectivity"
    requests = int(measured.get("pooling.requests", 0))
    pooled = int(measured.get("pooling.pooled_connects", -1))
    null = int(measured.get("pooling.null_connects", -1))
    if requests > 0 and pooled >= 0 and null >= 0:
        prompt = (
            f"Your pooled run served {counted(requests, 'request')} and opened "
            f"{counted(pooled, 'new connection')}. "
            "How many did the same load open without a pool (NullPool)?"
        )
        answer = _count(null)
        options = _distinct(answer, _count(pooled), _count(1), _count(requests * 2))
        explanation = (
            f"Without a pool every checkout opens a new connection and closes it afterwards: "
            f"{null} connects for {requests} requests. The pool reuses its {pooled}."
        )
        return Question(qid, page, prompt, options, answer, explanation, measured=True)
    return Question(
        qid,
        page,
        "Without a pool (NullPool), how many database connections do 100 sequential requests open?",
        _distinct("100", "1", "5", "0"),
        "100",
        "NullPool opens a fresh connection for every checkout and closes it on release; a pool "
        "keeps connections open and hands them out again.",
    )


def _hit_ratio(measured: Measured) -> Question:
    qid, page = "caching.hit_ratio", "caching"
    fetches = int(measured.get("cache.fetches", 0))
    hits = int(measured.get("cache.hits", 0))
    if fetches > 0:
        ratio = hits / fetches
        answer = f"{ratio:.0%}"
        prompt = (
            f"You made {fetches} cached {'fetch' if fetches == 1 else 'fetches'} on this page "
            f"and {hits} of them {'was a hit' if hits == 1 else 'were hits'}. What is your hit "
            "ratio H?"
        )
        options = _distinct(
            answer,
            f"{(fetches - hits) / fetches:.0%}",
            f"{min(1.0, ratio + 0.25):.0%}",
            f"{max(0.0, ratio - 0.25):.0%}",
        )
        explanation = (
            f"H = hits / total requests = {hits} / {fetches} = {answer}. Each miss paid for a "
            "database read on top of the cache lookup."
        )
        return Question(qid, page, prompt, options, answer, explanation, measured=True)
    return Question(
        qid,
        page,
        "Out of 10 reads, 8 were answered from the cache. What is the hit ratio H?",
        _distinct("80%", "20%", "8%", "125%"),
        "80%",
        "H = cache hits / total requests = 8 / 10.",
    )


def _dead_letter(measured: Measured) -> Question:
    options = _distinct(
        "It ends as failed after a bound of retries",
        "It blocks every later event",
        "It is deleted",
        "It is retried forever",
    )
    if _on(measured, ON_RABBITMQ):
        return Question(
            "eventing.dead_letter",
            "eventing",
            "Your broker is RabbitMQ. No queue is bound to the exchange for an event's type, so "
            "every publish comes back unroutable (NO_ROUTE). What becomes of the event?",
            options,
            "It ends as failed after a bound of retries",
            "The relay publishes with mandatory set, so RabbitMQ returns a message no queue "
            "takes: the event stays pending with last_error 'unroutable', is retried with "
            "backoff and ends as failed (dead letter) after the bound. Bind a queue (the lab's "
            "consumer does) before publishing.",
        )
    return Question(
        "eventing.dead_letter",
        "eventing",
        "An event keeps failing to publish. What becomes of it?",
        options,
        "It ends as failed after a bound of retries",
        "Retries back off; after the bound the event is marked failed (dead letter) without "
        "holding back other aggregates.",
    )


def _no_lock(measured: Measured) -> Question:
    options = _distinct(
        "Events published twice",
        "Events lost",
        "A deadlock every time",
        "Nothing: the relays take turns",
    )
    if _on(measured, ON_SQLITE):
        return Question(
            "design.no_lock",
            "design",
            "On your database (SQLite), two relays claim the same pending rows without any row "
            "lock. What do you see?",
            options,
            "Nothing: the relays take turns",
            "SQLite has one write lock for the whole file and each relay takes it when its "
            "transaction begins, so the second relay claims only after the first marked its "
            "batch published. On PostgreSQL the same claim publishes events twice.",
        )
    return Question(
        "design.no_lock",
        "design",
        "On PostgreSQL, two relays claim the same pending rows without any row lock. What do "
        "you see?",
        options,
        "Events published twice",
        "Both read the same rows before either marks them published, so both publish them: "
        "at-least-once turns into often-twice.",
    )


# --- The bank -------------------------------------------------------------------------------

BANK: Mapping[str, tuple[Builder, ...]] = {
    "introduction": (
        _fixed(
            "introduction.one_to_many",
            "introduction",
            "In QuLab's models, what kind of relationship links User to AIRScore?",
            "One-to-many",
            ("One-to-one", "Many-to-many", "None: scores are stored on the user row"),
            "users.id is referenced by air_scores.user_id: one user has many scores, each score "
            "belongs to one user (User.scores / AIRScore.user).",
        ),
        _fixed(
            "introduction.many_to_many",
            "introduction",
            "What does a many-to-many relationship need in a relational database?",
            "An association table with two foreign keys",
            (
                "A foreign key on one side",
                "A unique constraint on the foreign key",
                "A JSON column",
            ),
            "Each row of the association table pairs one row of each side; the pair is its "
            "primary key.",
        ),
        _fixed(
            "introduction.stream_type",
            "introduction",
            "With a Redis broker (QULAB_BROKER_URL=redis://…), which Redis data structure holds "
            "the outbox's published events?",
            "Stream",
            ("String", "Hash", "Set"),
            "A stream is an append-only log with ids and consumer groups: readers can resume and "
            "acknowledge; the relay appends with XADD.",
        ),
        _fixed(
            "introduction.cache_type",
            "introduction",
            "Which Redis data structure does QuLab use for one cached read model (user:{id})?",
            "String",
            ("List", "Sorted set", "Stream"),
            "A cached read model is one JSON value read and replaced whole, with a TTL: a string "
            "(GET/SET with EX).",
        ),
    ),
    "data_models": (
        _fixed(
            "data_models.foreign_key",
            "data_models",
            "Which column makes the one-to-many between users and assessments?",
            "assessments.user_id",
            ("users.assessment_id", "assessments.id", "users.id alone"),
            "The many side holds the foreign key: assessments.user_id references users.id.",
        ),
        _fixed(
            "data_models.raise_on_sql",
            "data_models",
            "What happens when code touches user.scores that was not loaded eagerly?",
            "It raises instead of running SQL",
            ("It runs one lazy query", "It returns an empty list", "It loads every user"),
            "The relationships are declared lazy='raise_on_sql', so an accidental lazy load "
            "fails loudly instead of quietly adding a query per row.",
        ),
        _fixed(
            "data_models.cascade",
            "data_models",
            "Deleting a user: what removes their assessments and scores?",
            "ON DELETE CASCADE in the database",
            ("A loop in the repository", "A nightly job", "Nothing: they stay"),
            "The foreign keys are ON DELETE CASCADE and the relationships passive_deletes=True, "
            "so deleting a user is one statement.",
        ),
        _fixed(
            "data_models.migrations",
            "data_models",
            "What changes the schema of an existing QuLab database?",
            "An Alembic migration",
            ("Base.metadata.create_all", "Editing the model only", "The cache"),
            "Alembic revisions are applied in order (qulab db upgrade); create_all would not "
            "alter a table that already exists.",
        ),
    ),
    "connectivity": (
        _null_pool_connects,
        _fixed(
            "connectivity.pool_limit",
            "connectivity",
            "With pool_size = 5 and max_overflow = 10, how many connections can be checked out "
            "at once?",
            "15",
            ("5", "10", "Unlimited"),
            "pool_size connections are kept; up to max_overflow more are opened under load. The "
            "next checkout waits up to pool_timeout.",
        ),
        _fixed(
            "connectivity.exhausted",
            "connectivity",
            "Every connection is checked out and held. What does the next checkout do?",
            "Waits up to pool_timeout, then fails",
            ("Opens one more connection", "Fails at once", "Waits forever"),
            "The pool queues the checkout; if nothing is returned within pool_timeout it raises "
            "a timeout, which QuLab reports as the database being unavailable.",
        ),
        _fixed(
            "connectivity.one_loop",
            "connectivity",
            "Why does the app run all async work on one event-loop thread?",
            "Engines and clients belong to the loop that created them",
            (
                "Threads are faster than processes",
                "SQLite needs it",
                "Streamlit forbids asyncio",
            ),
            "A pooled asyncpg connection or Redis client cannot be used from another loop; one "
            "loop per process keeps the pool usable across clicks.",
        ),
    ),
    "repository": (
        _nplusone_growth,
        _eager_constant,
        _fixed(
            "repository.commit_owner",
            "repository",
            "Who commits the transaction?",
            "The unit of work",
            ("Each repository method", "The database driver", "The cache"),
            "Repositories flush; the unit of work commits once for the whole use case (and "
            "rolls back on any error).",
        ),
        _fixed(
            "repository.selectinload",
            "repository",
            f"Which loader option loads the scores of up to {SELECTIN_BATCH} users in one extra "
            "query?",
            "selectinload",
            ("lazyload", "noload", "raiseload"),
            f"selectinload collects the parents' keys and issues one SELECT … IN for the "
            f"children per {SELECTIN_BATCH} keys.",
        ),
    ),
    "caching": (
        _hit_ratio,
        _fixed(
            "caching.invalidate_when",
            "caching",
            "When does QuLab drop a user's cached entries after an update?",
            "After the transaction commits",
            ("Before the update", "Inside the transaction", "Only when the TTL expires"),
            "Invalidation runs after a successful commit (and the relay repeats it), so a reader "
            "cannot cache a value older than the last commit.",
        ),
        _fixed(
            "caching.stored_as",
            "caching",
            "What does the cache store?",
            "JSON of a frozen read model",
            ("A pickled ORM instance", "The SQL text", "A database row id only"),
            "Read models are encoded as JSON; a corrupt or foreign entry is a miss, never a crash.",
        ),
        _fixed(
            "caching.miss_cost",
            "caching",
            "On a read-through cache, what does a miss cost?",
            "A cache lookup plus a database read",
            ("A database read only", "Nothing", "Two cache lookups"),
            "T_avg = H·T_cache + (1 - H)·(T_cache + T_database): a miss looks in the cache first.",
        ),
    ),
    "eventing": (
        _fixed(
            "eventing.same_transaction",
            "eventing",
            "Where is an outbox event written?",
            "In the same transaction as the business change",
            (
                "Straight to the broker",
                "In a second transaction after commit",
                "In the cache",
            ),
            "Event row and change commit together or not at all; the relay publishes later.",
        ),
        _fixed(
            "eventing.delivery",
            "eventing",
            "What delivery guarantee does the relay give?",
            "At least once",
            ("At most once", "Exactly once", "Best effort"),
            "A crash between publish and mark-published publishes again; consumers drop "
            "duplicates by event id (their inbox).",
        ),
        _fixed(
            "eventing.skip_locked",
            "eventing",
            "What lets several relays claim pending events on PostgreSQL without blocking?",
            "FOR UPDATE SKIP LOCKED",
            ("LOCK TABLE", "SERIALIZABLE isolation", "An advisory lock per row"),
            "Each relay locks the rows it claims and skips those another relay holds.",
        ),
        _dead_letter,
        _fixed(
            "eventing.row_per_event",
            "eventing",
            "Which relay writes an UPDATE of a domain_events row for every event it publishes?",
            "The polling relay",
            ("The log-tailing (WAL) relay", "Both relays", "Neither relay"),
            "The polling relay claims pending rows and marks each one published (a new row "
            "version per event, purged later). The WAL relay receives the inserts from the slot, "
            "deletes the batch's rows in one statement and confirms the slot's position: it "
            "updates none.",
        ),
    ),
    "design": (
        _fixed(
            "design.partial_index",
            "design",
            "Which index keeps a relay's claim off a sequential scan as the table grows?",
            "A partial index on pending events, in claim order",
            (
                "An index on the payload",
                "No index: the table is small",
                "A unique index on the event type",
            ),
            "Published rows pile up; an index WHERE status = 'pending' stays as small as the "
            "backlog, and the claim reads it in order and stops at its batch size.",
        ),
        _no_lock,
        _fixed(
            "design.for_update",
            "design",
            "On PostgreSQL, a claim uses FOR UPDATE without SKIP LOCKED and another relay holds "
            "the rows. What happens?",
            "It waits until the other relay's transaction ends",
            (
                "It skips those rows",
                "It publishes them anyway",
                "It fails with a unique-key error",
            ),
            "Plain FOR UPDATE blocks behind the holder; a relay killed with its transaction "
            "open stalls every other relay until the server ends it.",
        ),
        _fixed(
            "design.order",
            "design",
            "Why should the claim order by a sequence rather than by a random id?",
            "So events of one aggregate are published in the order they were written",
            (
                "Random ids are slower to compare",
                "SKIP LOCKED needs a sequence",
                "The broker rejects random ids",
            ),
            "A random order lets a later event of an aggregate overtake an earlier one: "
            "consumers then see an update before the create.",
        ),
    ),
    "scaling": (
        _fixed(
            "scaling.stale_without_token",
            "scaling",
            "Replay is paused on the standby. You rename a user; then another request, which "
            "carries no token, reads that user. What does it see?",
            "The old name, read on the standby",
            (
                "The new name, read on the standby",
                "The new name, read on the primary",
                "An error: the standby is behind",
            ),
            "A read that tolerates lag goes to a healthy standby, and this one has received the "
            "rename but not applied it: the read is stale, with no error to tell.",
        ),
        _fixed(
            "scaling.token_read",
            "scaling",
            "The same read, given the rename's consistency token. What does it see?",
            "The new name, read on the primary",
            (
                "The old name, read on the standby",
                "The new name, read on the standby",
                "Nothing until replay resumes",
            ),
            "No standby has replayed the token's position: QuLab asks the furthest again for up "
            "to QULAB_REPLICA_WAIT_MS, then the primary serves the read.",
        ),
        _fixed(
            "scaling.guarded_cache",
            "scaling",
            "With the standby behind, a user is renamed (the commit invalidates their cached "
            "entry) and 8 requests then read the user through the cache. How many get the old "
            "name?",
            "0",
            ("1", "8", "Some, until the TTL expires"),
            "The invalidation records the commit's WAL position on the entry's generation, and "
            "a fill is served only by a server that has replayed it (here the primary). Without "
            "that guard the first fill reads the standby and caches the old name for everyone "
            "until the TTL.",
        ),
    ),
}


def questions(page: str, measured: Measured | None = None) -> list[Question]:
    """The questions of ``page``, built from ``measured`` where the page measured something."""
    if page not in BANK:
        raise KeyError(f"no knowledge checks for page {page!r}")
    return [build(measured or {}) for build in BANK[page]]


def question(page: str, question_id: str, measured: Measured | None = None) -> Question:
    for candidate in questions(page, measured):
        if candidate.id == question_id:
            return candidate
    raise KeyError(f"no question {question_id!r} on page {page!r}")


def grade(asked: Question, choice: str) -> bool:
    return choice == asked.answer


async def answer(
    uow: UnitOfWorkFactory[UnitOfWork], asked: Question, choice: str, learner: str = LOCAL_LEARNER
) -> Grade:
    """Grade ``choice`` and record the attempt; a question once right stays right."""
    correct = grade(asked, choice)
    async with uow() as unit:
        row = await ProgressRepository(unit.session).record(learner, asked.page, asked.id, correct)
        attempts = row.attempts
        await unit.commit()
    return Grade(asked.id, correct, asked.explanation, attempts)


async def progress(uow: UnitOfWorkFactory[UnitOfWork], learner: str = LOCAL_LEARNER) -> Progress:
    """Right answers per page against the number of questions (unknown rows are ignored)."""
    async with uow() as unit:
        rows = [
            (r.page, r.question_id, r.correct)
            for r in await ProgressRepository(unit.session).list(learner)
        ]
    known = {page: {build({}).id for build in BANK[page]} for page in PAGES}
    right: dict[str, set[str]] = {page: set() for page in PAGES}
    for page, question_id, correct in rows:
        if correct and question_id in known.get(page, set()):
            right[page].add(question_id)
    return Progress(
        learner,
        tuple(PageProgress(page, len(right[page]), len(BANK[page])) for page in PAGES),
    )


async def answered(
    uow: UnitOfWorkFactory[UnitOfWork], learner: str = LOCAL_LEARNER
) -> dict[str, bool]:
    """question id -> answered correctly, for every question ``learner`` has attempted."""
    async with uow() as unit:
        return {
            row.question_id: row.correct
            for row in await ProgressRepository(unit.session).list(learner)
        }


async def clear_progress(uow: UnitOfWorkFactory[UnitOfWork], learner: str = LOCAL_LEARNER) -> int:
    async with uow() as unit:
        removed = await ProgressRepository(unit.session).clear(learner)
        await unit.commit()
    return removed
