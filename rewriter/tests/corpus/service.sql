# Hand-written service-layer queries of the TodoList app: create with AI subtasks,
# list with filters, change status, complete, edit, delete (children cascade),
# walk a hierarchy.
== R R R R insert show
INSERT INTO todos (user_id, project_id, title, description, priority, due_date, tags)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, created_at
== R R R R insert show
INSERT INTO todos (id, user_id, parent_todo_id, title, ai_generated)
VALUES ($1, $2, NULL, $3, false), ($4, $2, $1, $5, true), ($6, $2, $1, $7, true)
RETURNING id, parent_todo_id
== R R R R insert show
INSERT INTO todos (user_id, parent_todo_id, title, ai_generated, metadata)
SELECT t.user_id, t.id, s.title, true, jsonb_build_object('model', $2::text)
FROM todos t, unnest($3::text[]) AS s(title)
WHERE t.id = $1
RETURNING *
== R R R R insert hide
INSERT INTO todos DEFAULT VALUES
== R R R R insert hide
INSERT INTO todos VALUES ($1, $2, NULL, NULL, 'full row', NULL, 'todo', 0, NULL, false, '{}', NULL, now(), now(), NULL)
== R R R R insert hide
INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
== R R R R insert show
INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id
== R R R R insert show
INSERT INTO todos (id, user_id, title, priority) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, priority = EXCLUDED.priority
RETURNING *
== R R R R insert show
INSERT INTO todos AS t (id, user_id, title) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET title = t.title || ' / ' || excluded.title, updated_at = excluded.updated_at
RETURNING t.id, t.title
== R R X X insert hide
INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3) ON CONFLICT ON CONSTRAINT todos_pkey DO NOTHING
== X X X X
INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET title = excluded.title
RETURNING id, (xmax = 0) AS inserted
== R R R R insert show
INSERT INTO todos (id, user_id, title, status, priority, due_date, tags, metadata)
VALUES (gen_random_uuid(), $1, upper($2), 'in_progress', 2 * 3, now() + interval '1 day', ARRAY['a', 'b'], '{"source": "api"}'::jsonb)
RETURNING id, title, due_date - now() AS remaining
== R R R R insert show
INSERT INTO todos (user_id, title)
SELECT user_id, title || ' (copy)' FROM todos WHERE id = $1
RETURNING id
== R R R R reported
INSERT INTO todos (id, user_id, title)
SELECT $1, $2, $3
WHERE NOT EXISTS (SELECT 1 FROM todos WHERE user_id = $2 AND title = $3)
== P R R R
SELECT id, title, status, priority, due_date
FROM todos
WHERE user_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::uuid IS NULL OR project_id = $3)
  AND ($4::timestamptz IS NULL OR due_date <= $4)
ORDER BY priority DESC, created_at DESC
LIMIT $5 OFFSET $6
== P R R R
SELECT id, title FROM todos WHERE user_id = $1 AND due_date < now() AND status <> 'done' ORDER BY due_date
== P R R R
SELECT status, count(*) AS n,
       count(*) FILTER (WHERE due_date < now()) AS overdue,
       avg(priority)::numeric(10,2) AS avg_priority
FROM todos WHERE user_id = $1 GROUP BY status ORDER BY status
== P R R R
SELECT date_trunc('day', completed_at) AS day, count(*)
FROM todos
WHERE user_id = $1 AND status = 'done' AND completed_at >= now() - interval '30 days'
GROUP BY 1 ORDER BY 1
== P R R R
WITH RECURSIVE tree AS (
  SELECT id, parent_todo_id, title, 0 AS level FROM todos WHERE id = $1
  UNION ALL
  SELECT t.id, t.parent_todo_id, t.title, tree.level + 1
  FROM todos t JOIN tree ON t.parent_todo_id = tree.id
)
SELECT * FROM tree ORDER BY level, title
== P R R R
WITH RECURSIVE ancestors AS (
  SELECT id, parent_todo_id, title FROM todos WHERE id = $1
  UNION ALL
  SELECT p.id, p.parent_todo_id, p.title FROM todos p JOIN ancestors a ON p.id = a.parent_todo_id
)
SELECT id, title FROM ancestors
== P R R R
SELECT p.id, p.title, count(c.id) AS subtasks, count(c.id) FILTER (WHERE c.status = 'done') AS subtasks_done
FROM todos p LEFT JOIN todos c ON c.parent_todo_id = p.id
WHERE p.user_id = $1 AND p.parent_todo_id IS NULL
GROUP BY p.id, p.title
== P R R R
SELECT DISTINCT ON (project_id) project_id, id, title FROM todos WHERE user_id = $1 ORDER BY project_id, priority DESC
== P R R R
SELECT * FROM todos WHERE id = ANY($1::uuid[])
== P R R R
SELECT * FROM todos WHERE metadata @> '{"source": "ai"}' AND user_id = $1
== P R R R
SELECT u.email, count(t.id) AS open_todos
FROM users u LEFT JOIN todos t ON t.user_id = u.id AND t.status <> 'done'
GROUP BY u.email ORDER BY open_todos DESC
== P R R R
SELECT * FROM users u WHERE EXISTS (SELECT 1 FROM todos t WHERE t.user_id = u.id AND t.status = 'todo')
== P R R R
SELECT t.*, f.filename FROM todos t LEFT JOIN files f ON f.todo_id = t.id WHERE t.id = $1
== P R R R
SELECT id, title FROM todos WHERE user_id = $1 AND status = 'done'
UNION ALL
SELECT id, title FROM todos WHERE user_id = $1 AND priority > 5
== P R R R
SELECT t.id, t.title, lag(t.title) OVER (ORDER BY t.created_at) AS previous FROM todos AS t WHERE t.user_id = $1
== P R R R
SELECT x.* FROM users u CROSS JOIN LATERAL (SELECT id, title FROM todos WHERE user_id = u.id ORDER BY priority DESC LIMIT 3) x
== P R R R
SELECT id FROM todos WHERE parent_todo_id = $1 ORDER BY created_at
== P R R R
SELECT t.id, p.name FROM todos t JOIN projects p ON p.id = t.project_id WHERE t.user_id = $1 FOR UPDATE OF p
== R R R R update hide
UPDATE todos SET status = $1 WHERE id = $2 AND user_id = $3
== R R R R update show
UPDATE todos SET status = 'done', completed_at = now() WHERE id = $1 AND user_id = $2 RETURNING *
== R R R R update hide
UPDATE todos SET status = 'done', completed_at = now() WHERE parent_todo_id = $1 AND status <> 'done'
== R R R R update show
UPDATE todos
SET title = $1, description = $2, priority = $3, due_date = $4, tags = $5, metadata = $6
WHERE id = $7 AND user_id = $8
RETURNING id, title, updated_at
== R R R R update hide
UPDATE todos SET (status, completed_at) = ('done', now()) WHERE id = $1
== R R R R update hide
UPDATE todos SET (title, description) = (SELECT title, description FROM todos WHERE id = $1) WHERE id = $2
== R R X X update hide
UPDATE todos SET (title, updated_at) = ($1, now()) WHERE id = $2
== R R R R update hide
UPDATE todos SET priority = v.p FROM (VALUES ($1::uuid, $2::int), ($3::uuid, $4::int)) AS v(id, p) WHERE todos.id = v.id
== R R R R update show
UPDATE todos t SET project_id = p.id FROM projects p WHERE p.name = $1 AND p.user_id = t.user_id AND t.id = $2 RETURNING t.id, t.project_id
== X X X X
UPDATE todos SET status = 'done' FROM projects p WHERE todos.project_id = p.id AND p.id = $1 RETURNING p.name
== X X X X
UPDATE todos SET title = 'x' FROM projects p WHERE todos.project_id = p.id RETURNING *
== R R R R update hide
UPDATE todos SET parent_todo_id = $1 WHERE id = $2
== R R R R update hide
UPDATE todos SET tags = array_append(tags, $1) WHERE id = $2 AND NOT ($1 = ANY(tags))
== R R R R update show
UPDATE todos SET metadata = coalesce(metadata, '{}'::jsonb) || $1::jsonb WHERE id = $2 RETURNING metadata
== R R R R update hide
UPDATE todos SET priority = priority + 1 WHERE parent_todo_id IN (SELECT id FROM todos WHERE title = $1)
== R R R R update hide
UPDATE todos SET title = 'renamed', updated_at = '2000-01-01' WHERE id = $1
== R R R R update hide
UPDATE todos SET ai_generated = due_date IS DISTINCT FROM now(), priority = 0 WHERE id = $1
== R R R R update hide
UPDATE todos SET priority = priority + 1
== X X X X
UPDATE todos SET title = 'x' WHERE id = $1 RETURNING ctid
== R R R R delete hide
DELETE FROM todos WHERE id = $1 AND user_id = $2
== R R R R delete show
DELETE FROM todos WHERE parent_todo_id = $1 RETURNING id, title
== R R R R delete show
DELETE FROM todos t USING projects p WHERE t.project_id = p.id AND p.name = $1 RETURNING t.id
== R R R R delete hide
DELETE FROM todos USING projects p WHERE todos.project_id = p.id AND p.user_id = $1
== R R R R delete hide
DELETE FROM todos WHERE status = 'done' AND completed_at < now() - interval '1 year'
== R R R R delete hide
DELETE FROM todos
== R R R R
WITH done AS (
  UPDATE todos SET status = 'done', completed_at = now() WHERE id = $1 RETURNING id, parent_todo_id
)
SELECT count(*) FROM todos WHERE parent_todo_id IN (SELECT id FROM done)
== R R R R
WITH gone AS (DELETE FROM todos WHERE user_id = $1 AND status = 'done' RETURNING id) SELECT count(*) FROM gone
== R R R R
WITH gone AS (DELETE FROM todos WHERE id = $1) SELECT 1
== R R R R
WITH x AS (INSERT INTO todos (user_id, title) VALUES ($1, $2) RETURNING id)
INSERT INTO files (todo_id, user_id, filename) SELECT id, $1, $3 FROM x
== R R R R
WITH a AS (UPDATE todos SET priority = 1 WHERE id = $1 RETURNING id),
     b AS (UPDATE todos SET priority = 2 WHERE id = $2 RETURNING id)
SELECT * FROM a UNION ALL SELECT * FROM b
== R R R R update hide
WITH p AS (SELECT id FROM projects WHERE name = $1) UPDATE todos SET project_id = p.id FROM p WHERE todos.id = $2
== R R R R insert hide
WITH src AS (SELECT $1::uuid AS uid) INSERT INTO todos (user_id, title) SELECT uid, 'from cte' FROM src
== P R R R
INSERT INTO files (todo_id, user_id, filename) SELECT id, user_id, $1 FROM todos WHERE id = $2
== P R R R
UPDATE projects SET name = name || ' (' || (SELECT count(*) FROM todos WHERE project_id = projects.id) || ')' WHERE user_id = $1
== P R R R
DELETE FROM files WHERE todo_id IN (SELECT id FROM todos WHERE status = 'done')
== X X X X
MERGE INTO todos t USING (SELECT $1::uuid AS id, $2::text AS title) s ON t.id = s.id
WHEN MATCHED THEN UPDATE SET title = s.title
WHEN NOT MATCHED THEN INSERT (id, user_id, title) VALUES (s.id, $3, s.title)
