"""alembic's environment for the audit trail: migrations run only on the connection the store hands
over (``config.attributes["connection"]``, inside the store's own transaction and lock), never
from a URL in a config file (see :func:`review.workbench.database.upgrade`)."""

from alembic import context

from review.workbench.database import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit(
        "the audit trail's migrations run when the workbench opens its database "
        "(review serve --db ...); there is no standalone alembic configuration"
    )
context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
