"""Alembic environment of the service's tables: run on the connection the store hands over."""

from alembic import context

from service.tables import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through ServiceRecords.migrate(), which passes a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
    # The ledger's tables live in the same database under their own migrations.
    include_name=lambda name, kind, _parent: kind != "table" or name in metadata.tables,
)
with context.begin_transaction():
    context.run_migrations()
