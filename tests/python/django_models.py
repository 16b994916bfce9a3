"""The TodoList app's tables as Django models over the existing schema
(managed = False: Django creates and migrates nothing), and Django set up
standalone for tests/python/django_suite.py: no project, no settings module.

Two database aliases reach the same database: `client` binds parameters on
the client side (Django's default with psycopg 3), `server` binds them on
the server (the backend's server_side_binding option: the extended protocol
with real parameters).
"""

import django
from django.conf import settings


def setup(port, database):
    def alias(server_side_binding):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": database,
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": port,
            "OPTIONS": {"server_side_binding": server_side_binding},
        }

    settings.configure(
        DATABASES={"default": alias(False), "client": alias(False), "server": alias(True)},
        INSTALLED_APPS=["django.contrib.postgres"],
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()


def define_models():
    """The models (after setup(): a model class needs configured settings)."""
    from django.contrib.postgres.fields import ArrayField
    from django.db import models
    from django.db.models.functions import Now

    class User(models.Model):
        id = models.UUIDField(primary_key=True)
        email = models.TextField(unique=True)
        name = models.TextField(null=True)
        created_at = models.DateTimeField(db_default=Now())

        class Meta:
            app_label = "todoapp"
            db_table = "users"
            managed = False

    class Project(models.Model):
        id = models.UUIDField(primary_key=True)
        user = models.ForeignKey(User, on_delete=models.CASCADE)
        name = models.TextField()
        created_at = models.DateTimeField(db_default=Now())

        class Meta:
            app_label = "todoapp"
            db_table = "projects"
            managed = False

    class Todo(models.Model):
        id = models.UUIDField(primary_key=True)
        user = models.ForeignKey(User, on_delete=models.CASCADE)
        project = models.ForeignKey(Project, null=True, on_delete=models.SET_NULL)
        parent = models.ForeignKey(
            "self", null=True, on_delete=models.CASCADE, db_column="parent_todo_id", related_name="subtasks"
        )
        title = models.CharField(max_length=500)
        description = models.TextField(null=True)
        status = models.CharField(max_length=20, default="todo")
        priority = models.IntegerField(default=0)
        due_date = models.DateTimeField(null=True)
        ai_generated = models.BooleanField(default=False)
        tags = ArrayField(models.TextField(), default=list)
        metadata = models.JSONField(null=True)
        created_at = models.DateTimeField(db_default=Now())
        updated_at = models.DateTimeField(db_default=Now())
        completed_at = models.DateTimeField(null=True)

        class Meta:
            app_label = "todoapp"
            db_table = "todos"
            managed = False

    return User, Project, Todo
