"""The TodoList service layer on the Django ORM, one migration phase's worth
of it, once with client-side and once with server-side parameter binding,
reporting what it saw as JSON lines ({"step": NAME, OBSERVATION: VALUE, ...}).
tests/clients/django.rs runs it against a direct twin database and through
the proxy and compares the two transcripts. Every id is the app's own and
deterministic, so the runs line up.

Usage: django_suite.py PORT DATABASE PHASE
"""

import datetime
import json
import sys
import threading
import uuid

import psycopg

import django_models

PHASES = ["legacy", "dual_write", "read_new", "write_new", "new_only"]
ADA = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
BOB = uuid.UUID("00000000-0000-0000-0000-0000000000b2")
# Carol's todos are upserted and archived; no other step reads them.
CAROL = uuid.UUID("00000000-0000-0000-0000-0000000000c3")
# Dan's are the orphans of the foreign-key errors; no step reads them.
DAN = uuid.UUID("00000000-0000-0000-0000-0000000000d4")
LAUNCH = uuid.UUID("00000000-0000-0000-0000-00000000c0de")
DOCS = uuid.UUID("00000000-0000-0000-0000-00000000d0c5")
NOBODY = uuid.UUID("00000000-0000-0000-0000-00000000dead")
UTC = datetime.timezone.utc
ORDER = ("-priority", "-created_at", "id")


def plain(value):
    """A value as JSON: uuids and timestamps as text, models as their fields."""
    if isinstance(value, (uuid.UUID, datetime.datetime)):
        return value.isoformat() if isinstance(value, datetime.datetime) else str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if hasattr(value, "_meta"):
        return {f.attname: plain(getattr(value, f.attname, None)) for f in value._meta.concrete_fields}
    return value


def error_fields(e):
    """Every field of the server error behind a Django exception (source location aside)."""
    cause = e if hasattr(e, "diag") else e.__cause__
    if cause is None or not hasattr(cause, "diag"):
        return {"error": {"type": type(e).__name__, "message": str(e)}}
    d = cause.diag
    return {"error": {
        "type": type(e).__name__,
        "sqlstate": d.sqlstate,
        "severity": d.severity_nonlocalized,
        "message": d.message_primary,
        "detail": d.message_detail,
        "hint": d.message_hint,
        "position": d.statement_position,
        "internal_position": d.internal_position,
        "internal_query": d.internal_query,
        "context": d.context,
        "schema": d.schema_name,
        "table": d.table_name,
        "column": d.column_name,
        "datatype": d.datatype_name,
        "constraint": d.constraint_name,
    }}


def observe(run):
    from django.db import DatabaseError

    try:
        return plain(run())
    except DatabaseError as e:
        return error_fields(e)


def report(step, **seen):
    print(json.dumps({"step": step, **seen}), flush=True)


class Suite:
    def __init__(self, phase, alias, offset):
        from django.db import connections

        self.User, self.Project, self.Todo = MODELS
        self.phase, self.alias, self.offset = phase, alias, offset
        self.p = PHASES.index(phase) + 1
        self.connection = connections[alias]
        self.todos = self.Todo.objects.using(alias)

    def id(self, n, p=None):
        return uuid.UUID(f"00000000-0000-4000-8{p or self.p}00-{self.offset + n:012d}")

    def atomic(self):
        from django.db import transaction

        return transaction.atomic(using=self.alias)

    def guarded(self, run):
        """Inside a transaction: observe() in a nested atomic block (a savepoint), so
        that a statement that fails does not abort the ones after it."""

        def nested():
            with self.atomic():
                return run()

        return observe(nested)

    def step(self, name, **seen):
        report(f"{self.alias}.{name}", **seen)

    def raw(self, sql, params=None):
        """A query on the raw cursor: rows and what the server said of its columns."""
        with self.connection.cursor() as cur:
            cur.execute(sql, params)
            pg = cur.cursor.pgresult
            columns = [
                {"name": d.name, "type": d.type_code, "table_oid": pg.ftable(i), "column": pg.ftablecol(i),
                 "modifier": pg.fmod(i), "size": pg.fsize(i), "format": pg.fformat(i), "null_ok": d.null_ok}
                for i, d in enumerate(cur.description or [])
            ]
            return {"rowcount": cur.rowcount, "status": cur.cursor.statusmessage, "columns": columns,
                    "rows": cur.fetchall() if cur.description else None}

    def run(self):
        self.session()
        self.create()
        self.list()
        self.changes()
        self.hierarchy()
        self.upsert()
        self.locking()
        self.cursors()
        self.batch()
        self.transaction()
        self.remove()
        self.errors()
        self.final()

    def session(self):
        self.connection.ensure_connection()
        pid = self.raw("SELECT pg_backend_pid()")["rows"][0][0]
        with self.connection.cursor() as cur:
            binding = "client" if isinstance(cur.cursor, psycopg.ClientCursor) else "server"
        if binding != self.alias:
            sys.exit(f"the {self.alias} alias binds parameters on the {binding} side ({type(cur.cursor).__name__})")
        self.step("session", backend_pid_matches=pid == self.connection.connection.info.backend_pid, binding=binding)

    def create(self):
        T = self.Todo
        with self.atomic():
            root = self.guarded(lambda: self.todos.create(
                id=self.id(1), user_id=ADA, project_id=LAUNCH, title=f"ship {self.phase}", description="the release",
                priority=5, due_date=datetime.datetime(2035, 3, 1, 9, tzinfo=UTC), tags=["work", self.phase],
                metadata={"phase": self.phase, "n": 1}))
            subtasks = self.guarded(lambda: self.todos.bulk_create([
                T(id=self.id(2 + k), user_id=ADA, project_id=LAUNCH, parent_id=self.id(1), title=f"step {k} of {self.phase}",
                  priority=k, ai_generated=True, tags=["ai"]) for k in range(3)]))
        more = [observe(lambda n=n, u=u, pr=pr, t=t, pri=pri, s=s: self.todos.create(
                    id=self.id(n), user_id=u, project_id=pr, title=t, priority=pri, status=s))
                for n, u, pr, t, pri, s in [
                    (5, ADA, DOCS, f"write docs {self.phase}", 3, "todo"),
                    (6, ADA, None, f"review {self.phase}", 3, "in_progress"),
                    (7, BOB, None, f"bob's {self.phase}", 1, "todo"),
                    (8, CAROL, None, f"old chore {self.phase}", 0, "todo")]]
        fresh = observe(lambda: self.todos.get(id=self.id(1)))
        self.step("create", root=root, subtasks=subtasks, more=more, fresh=fresh)

    def list(self):
        from django.core.paginator import Paginator

        mine = self.todos.filter(user_id=ADA).order_by(*ORDER)
        paginator = Paginator(mine.values("id", "title", "status", "priority"), 4)
        self.step(
            "list",
            count=observe(lambda: paginator.count),
            num_pages=observe(lambda: paginator.num_pages),
            page_1=observe(lambda: list(paginator.page(1).object_list)),
            page_2=observe(lambda: list(paginator.page(2).object_list)),
            last_page=observe(lambda: list(paginator.page(paginator.num_pages).object_list)),
            by_status_and_project=observe(lambda: list(
                mine.filter(status="todo", project_id=LAUNCH).values_list("id", "title"))),
            due_before=observe(lambda: list(
                mine.filter(due_date__lt=datetime.datetime(2036, 1, 1, tzinfo=UTC)).values_list("id", "due_date"))),
            by_tag=observe(lambda: list(self.todos.filter(tags__contains=[self.phase]).order_by("id").values_list("id", "tags"))),
            with_project=observe(lambda: [(t.id, t.project.name if t.project else None)
                                          for t in mine.select_related("project")[:5]]),
            metadata=observe(lambda: self.raw(
                "SELECT id, title, status, priority, due_date, tags, metadata FROM todos WHERE user_id = %s ORDER BY id LIMIT 2",
                [ADA])),
        )

    def changes(self):
        from django.utils import timezone

        self.step(
            "change_status",
            one=observe(lambda: self.todos.filter(id=self.id(5)).update(status="in_progress")),
            none=observe(lambda: self.todos.filter(id=NOBODY).update(status="in_progress")),
            several=observe(lambda: self.todos.filter(parent_id=self.id(1), priority__lt=2).update(status="in_progress")),
        )

        def complete(n, when):
            todo = self.todos.get(id=self.id(n))
            todo.status, todo.completed_at = "done", when
            todo.save(update_fields=["status", "completed_at"])
            return self.todos.filter(id=self.id(n)).values("status", "completed_at").get()

        self.step(
            "complete",
            one=observe(lambda: complete(6, timezone.now())),
            # Done long ago: the daily maintenance archives it before read_new.
            long_ago=observe(lambda: complete(8, datetime.datetime(2020, 1, 15, tzinfo=UTC))),
        )

        def edit():
            todo = self.todos.get(id=self.id(5))
            todo.title, todo.description, todo.tags = f"docs, edited {self.phase}", "longer", ["docs", "edited"]
            todo.metadata, todo.priority = {"edited": True}, 4
            todo.due_date = datetime.datetime(2035, 6, 30, 12, tzinfo=UTC)
            todo.save()  # an UPDATE of every field; Django inserts if it matched no row
            return self.todos.get(id=self.id(5))

        def save_deleted():
            ghost = self.Todo(id=self.id(50), user_id=ADA, title="saved after a delete")
            ghost.save(force_update=True)

        self.step("edit", edit=observe(edit), force_update_missing=observe(save_deleted),
                  touched=observe(lambda: self.raw("SELECT updated_at > created_at FROM todos WHERE id = %s", [self.id(5)])["rows"]))

    def hierarchy(self):
        walk = """WITH RECURSIVE tree AS (
                    SELECT id, parent_todo_id, title, 0 AS level FROM todos WHERE id = %s
                    UNION ALL
                    SELECT t.id, t.parent_todo_id, t.title, tree.level + 1 FROM todos t JOIN tree ON t.parent_todo_id = tree.id)
                  SELECT * FROM tree ORDER BY level, id"""
        self.step(
            "hierarchy",
            raw_models=observe(lambda: [(t.id, t.title, t.level) for t in self.todos.raw(walk, [self.id(1)])]),
            from_legacy_phase=observe(lambda: self.raw(walk, [self.id(1, 1)])),
            subtasks=observe(lambda: list(self.todos.get(id=self.id(1)).subtasks.order_by("id").values_list("id", flat=True))),
        )

    def upsert(self):
        def update_or_create(id_, title, priority):
            obj, created = self.todos.update_or_create(id=id_, defaults={"user_id": CAROL, "title": title, "priority": priority})
            return {"created": created, "title": obj.title, "priority": obj.priority, "status": obj.status}

        seen = {
            "create": observe(lambda: update_or_create(self.id(9), f"upserted {self.phase}", 1)),
            "update": observe(lambda: update_or_create(self.id(9), f"upserted again {self.phase}", 2)),
            "get_or_create": observe(lambda: self.todos.get_or_create(id=self.id(9), defaults={"user_id": CAROL, "title": "x"})[1]),
        }
        if self.p > 1:
            # The todo the legacy phase completed long ago (archived from read_new on).
            seen["archived"] = observe(lambda: update_or_create(self.id(8, 1), f"old chore, renamed in {self.phase}", 0))
        seen["carols_todos"] = observe(lambda: list(self.todos.filter(user_id=CAROL).order_by("id", "status")
                                                    .values_list("id", "title", "status")))
        self.step("upsert", **seen)

    def locking(self):
        from django.db import connections, transaction

        # Another connection holds a lock on the first subtask meanwhile.
        held, release = threading.Event(), threading.Event()

        def hold():
            other = f"{self.alias}_other"
            connections.databases[other] = dict(connections.databases[self.alias])
            try:
                with transaction.atomic(using=other):
                    list(self.Todo.objects.using(other).select_for_update().filter(id=self.id(2)))
                    held.set()
                    release.wait(30)
            finally:
                connections[other].close()
                held.set()

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(30)
        seen = {}
        with self.atomic():
            seen["get"] = self.guarded(lambda: self.todos.select_for_update().get(pk=self.id(3)).title)
            seen["skip_locked"] = self.guarded(lambda: list(self.todos.select_for_update(skip_locked=True)
                                                       .filter(parent_id=self.id(1)).order_by("priority", "id")
                                                       .values_list("id", flat=True)[:2]))
            seen["no_key_of_self"] = self.guarded(lambda: list(self.todos.select_for_update(no_key=True, of=("self",))
                                                          .filter(user_id=ADA).order_by(*ORDER)
                                                          .values_list("id", flat=True)[1:2]))
            seen["nowait"] = self.guarded(lambda: list(self.todos.select_for_update(nowait=True).filter(id=self.id(2))))
        release.set()
        holder.join()
        self.step("locking", **seen)

    def cursors(self):
        mine = self.todos.filter(user_id=ADA).order_by("id")
        seen = {"iterator": observe(lambda: [t.id for t in mine.iterator(chunk_size=3)])}
        with self.atomic():
            seen["iterator_in_transaction"] = self.guarded(lambda: [t for t in mine.values_list("id", "title").iterator(chunk_size=4)])
        self.step("cursor", **seen)

    def batch(self):
        T = self.Todo
        objs = [T(id=self.id(20 + k), user_id=ADA, title=f"batch {k} {self.phase}", priority=k) for k in range(5)]
        seen = {"bulk_create": observe(lambda: [o.id for o in self.todos.bulk_create(objs)])}
        for o in objs:
            o.priority += 10
        seen["bulk_update"] = observe(lambda: self.todos.bulk_update(objs, ["priority"], batch_size=2))
        seen["delete_some"] = observe(lambda: self.todos.filter(id__in=[o.id for o in objs], priority__gt=12).delete())
        seen["conflicts_ignored"] = observe(lambda: len(self.todos.bulk_create(
            [T(id=self.id(20), user_id=ADA, title="again")], ignore_conflicts=True)))
        self.step("batch", **seen)

    def transaction(self):
        from django.db import IntegrityError

        class Rollback(Exception):
            pass

        seen = {}
        try:
            with self.atomic():
                seen["insert"] = self.guarded(lambda: self.todos.create(id=self.id(30), user_id=ADA, title="rolled back").id)
                try:
                    with self.atomic():
                        self.todos.create(id=self.id(30), user_id=ADA, title="duplicate")
                except IntegrityError as e:
                    seen["savepoint"] = error_fields(e)
                seen["update"] = self.guarded(lambda: self.todos.filter(user_id=ADA, status="todo").update(title="in the transaction"))
                raise Rollback()
        except Rollback:
            pass
        seen["after"] = observe(lambda: self.todos.filter(id=self.id(30)).count()
                                + self.todos.filter(title="in the transaction").count())
        self.step("transaction", **seen)

    def remove(self):
        self.step(
            "delete",
            # Django collects the subtasks and deletes them itself.
            root=observe(lambda: self.todos.get(id=self.id(1)).delete()),
            children_left=observe(lambda: self.todos.filter(parent_id=self.id(1)).count()),
            queryset=observe(lambda: self.todos.filter(id=self.id(7)).delete()),
            none=observe(lambda: self.todos.filter(id=NOBODY).delete()),
        )

    def errors(self):
        def create(**fields):
            with self.atomic():
                return self.todos.create(**fields).id

        self.step(
            "errors",
            foreign_key_user=observe(lambda: create(id=self.id(40), user_id=NOBODY, title="orphan")),
            foreign_key_parent=observe(lambda: create(id=self.id(41), user_id=DAN, parent_id=NOBODY, title="orphan child")),
            check=observe(lambda: create(id=self.id(42), user_id=ADA, title="bad status", status="bogus")),
            not_null=observe(lambda: create(id=self.id(43), user_id=ADA, title=None)),
            unique=observe(lambda: create(id=self.id(5), user_id=ADA, title="duplicate")),
            too_long=observe(lambda: create(id=self.id(44), user_id=ADA, title="x" * 501)),
            update_check=observe(lambda: self.todos.filter(id=self.id(5)).update(status="archived")),
            does_not_exist=self._missing(),
        )

    def _missing(self):
        try:
            self.todos.get(id=NOBODY)
        except self.Todo.DoesNotExist as e:
            return {"does_not_exist": str(e)}
        return None

    def final(self):
        self.step("final", rows=observe(lambda: list(self.todos.filter(user_id__in=[ADA, BOB]).order_by("id"))))


MODELS = None


def main():
    global MODELS
    port, database, phase = sys.argv[1:4]
    django_models.setup(port, database)
    MODELS = django_models.define_models()
    Suite(phase, "client", 0).run()
    Suite(phase, "server", 100).run()


if __name__ == "__main__":
    main()
