# psql-style scripts and operator statements, names in every spelling,
# comments and literals, utility statements and refusals.
== P R R R
select count(*) from todos;
== P R R R
select * from todos limit 10;
== P R R R
SELECT * FROM TODOS WHERE STATUS = 'todo'
== P R R R
SELECT * FROM ToDoS
== P R R R
SELECT * FROM "todos" WHERE id = $1
== P R R R
SELECT * FROM public.todos WHERE id = $1
== P R R R
SELECT * FROM "public"."todos" t WHERE t.id = $1
== P R R R
SELECT count(*) FROM PUBLIC.TODOS
== P P P P
SELECT * FROM "Todos"
== P P P P
SELECT * FROM todos_active WHERE user_id = $1
== P P P P
SELECT * FROM todos_archived WHERE archived_at > now() - interval '1 month'
== P P P P
SELECT * FROM my_todos
== P P P P
SELECT * FROM archive.todos
== P P P P
SELECT 'todos' AS name
== P P P P
SELECT E'it\'s in todos' AS s
== P P P P
SELECT $$ SELECT * FROM todos $$ AS body
== P P P P
SELECT $fn$ DELETE FROM todos $fn$
== P P P P
SELECT 1 -- FROM todos
== P P P P
/* UPDATE todos SET x = 1 /* nested todos */ still comment */ SELECT 2
== P P P P
-- list todos
SELECT now()
== P P P P
SELECT pg_total_relation_size('todos')
== P P P P
SELECT 'todos'::regclass
== P P P P
SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname OPERATOR(pg_catalog.~) '^(todos)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3
== P P P P
SELECT 1 AS todos
== P P P P
SELECT u.id AS todos FROM users u
== P P P P
SET search_path = public
== P P P P
SET statement_timeout = '5s'
== P P P P
SHOW server_version
== P P P P
SELECT 1
== P P P P
SELEC 1
== P P P P
TRUNCATE files
== P P P P
VACUUM ANALYZE users
== P P P P
CREATE INDEX CONCURRENTLY idx_files_todo ON files (todo_id)
== P P P P
EXECUTE list_todos('00000000-0000-0000-0000-000000000000')
== P P P P
DEALLOCATE ALL
== P P P P
LISTEN switchyard_phase
== P R R R
EXPLAIN SELECT * FROM todos WHERE status = 'todo'
== P R R R
EXPLAIN (COSTS OFF) SELECT id FROM todos WHERE user_id = $1 AND status <> 'done'
== P P P P
EXPLAIN UPDATE todos SET status = 'done' WHERE id = $1
== X X X X
EXPLAIN ANALYZE UPDATE todos SET status = 'done' WHERE id = $1
== X X X X
EXPLAIN (ANALYZE, BUFFERS) DELETE FROM todos WHERE id = $1
== P X X X
COPY todos TO STDOUT WITH (FORMAT csv, HEADER)
== X X X X
COPY todos FROM STDIN WITH (FORMAT csv)
== X X X X
COPY todos (id, user_id, title) FROM '/tmp/todos.csv' WITH (FORMAT csv)
== P R R R
COPY (SELECT id, title FROM todos WHERE status = 'done') TO STDOUT
== X X X X
TRUNCATE todos
== X X X X
TRUNCATE TABLE todos, files CASCADE
== X X X X
ALTER TABLE todos ADD COLUMN archived boolean
== X X X X
ALTER TABLE todos DISABLE TRIGGER todos_set_updated_at
== X X X X
CREATE INDEX idx_todos_status ON todos (status)
== X X X X
DROP TABLE todos
== X X X X
LOCK TABLE todos IN SHARE MODE
== X X X X
COMMENT ON TABLE todos IS 'legacy'
== X X X X
GRANT SELECT ON todos TO reporting
== X X X X
CREATE VIEW open_todos AS SELECT * FROM todos WHERE status <> 'done'
== X X X X
CREATE TABLE todos_backup AS SELECT * FROM todos
== X X X X
VACUUM ANALYZE todos
== X X X X
ANALYZE todos
== X X X X
PREPARE list_todos (uuid) AS SELECT * FROM todos WHERE user_id = $1
== P R R R
DECLARE c CURSOR FOR SELECT * FROM todos
== P R R R
DECLARE "_django_curs_140_sync_1" NO SCROLL CURSOR WITH HOLD FOR SELECT "todos"."id", "todos"."title" FROM "todos" ORDER BY "todos"."id" ASC
== P R R R
declare c binary scroll cursor without hold for select t.id from todos t where t.user_id = $1
== P P R R
DECLARE c CURSOR FOR SELECT * FROM todos WHERE status = 'todo' ORDER BY priority DESC LIMIT 5 FOR UPDATE SKIP LOCKED
# PostgreSQL itself refuses a holdable cursor with a lock clause, before running anything.
== P P P P
DECLARE c CURSOR WITH HOLD FOR SELECT * FROM todos FOR UPDATE
# PostgreSQL refuses a cursor over a write before running anything.
== P P P P
DECLARE c CURSOR FOR WITH d AS (DELETE FROM todos RETURNING id) SELECT * FROM d
== P P P P
FETCH FORWARD 2000 FROM "_django_curs_140_sync_1"
== P P P P
FETCH 10 FROM todos
== P P P P
MOVE BACKWARD ALL IN todos
== P P P P
CLOSE todos
== X X X X
CREATE TRIGGER t AFTER INSERT ON todos FOR EACH ROW EXECUTE FUNCTION set_updated_at()
== X X X X
SELECT * FROM todos WHERE
== X X X X
SELEC * FROM todos
== X X X X
UPDATE todos SET title = 'unterminated
== X X X X
BEGIN; UPDATE todos SET status = 'done' WHERE id = '6d2c4a4e-0000-4000-8000-000000000001'; COMMIT
== X X X X
SELECT 1; SELECT * FROM todos
== X X X X
WITH todos AS (SELECT 1 AS id) SELECT * FROM todos
== P R R R
SELECT * FROM todos WHERE title = 'todos' -- todos
== P R R R
SELECT t1.id, t2.id AS child FROM todos t1 JOIN todos t2 ON t2.parent_todo_id = t1.id
== P R R R
SELECT * FROM (SELECT * FROM todos) sub WHERE sub.priority > 3
== P R R R
SELECT (SELECT max(priority) FROM todos) AS top
== P R R R
VALUES ((SELECT count(*) FROM todos))
== P R R R
SELECT id FROM todos INTERSECT SELECT todo_id FROM files
== P R R R
SELECT * FROM todos WHERE id IN (SELECT todo_id FROM files WHERE size_bytes > 1000000)
== P R R R
SELECT t.title FROM projects p, todos t WHERE t.project_id = p.id
== P R R R
SELECT * FROM todos NATURAL JOIN (SELECT id AS project_id, name FROM projects) p
== P R R R
SELECT json_agg(t) FROM todos t WHERE t.user_id = $1
== P R R R
SELECT * FROM todos ORDER BY random() LIMIT 1
== P R R R
SELECT * FROM todos WHERE id = $1 AND gen_random_uuid() IS NOT NULL
== P P R R
SELECT * FROM todos WHERE id = $1 FOR UPDATE NOWAIT
== P P R R
SELECT * FROM todos t WHERE t.id = $1 FOR NO KEY UPDATE OF t
== P P R R
SELECT "todos"."id", "todos"."title" FROM "todos" WHERE "todos"."id" = $1 LIMIT 21 FOR UPDATE
== P P R R
SELECT id FROM todos WHERE user_id = $1 ORDER BY priority DESC, id LIMIT $2 OFFSET $3 FOR KEY SHARE NOWAIT
== P P R R
SELECT t.id, t.title AS name FROM todos AS t WHERE t.status <> 'done' ORDER BY name FETCH FIRST 3 ROWS ONLY FOR SHARE OF t SKIP LOCKED
== P P R R
SELECT id FROM todos ORDER BY created_at FOR NO KEY UPDATE LIMIT 1
== P P X X
SELECT t.id FROM todos t JOIN projects p ON p.id = t.project_id ORDER BY t.id LIMIT 1 FOR UPDATE
== P R R R
SELECT 1 FROM users u WHERE u.id = $1 AND NOT EXISTS (SELECT 1 FROM todos WHERE user_id = u.id) FOR UPDATE OF u
== R R R R delete hide
delete from todos where id = $1;
== R R R R update hide
update TODOS set STATUS = 'done' where ID = $1
== R R R R reported
insert into public.todos (user_id, title) values ($1, 'qualified')
== R R R R update hide
UPDATE "todos" SET title = $1 WHERE id = $2 -- trailing comment
== P R R R
SELECT * FROM ONLY todos WHERE id = $1
== R R R R update hide
UPDATE ONLY todos SET title = $1 WHERE id = $2
== P X X X
SELECT * FROM todos TABLESAMPLE SYSTEM (10)
== P R R R
SELECT row_to_json(todos) FROM todos WHERE id = $1
== X X X X
TABLE todos
