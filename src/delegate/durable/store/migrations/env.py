"""Alembic environment for the run store.

:class:`delegate.durable.store.sql.SqlStore` runs the migrations itself when it opens a
store, handing its connection over in ``config.attributes["connection"]``. To write a new
revision, point Alembic at this directory and a scratch database, for instance::

    from alembic import command
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", "src/delegate/durable/store/migrations")
    cfg.set_main_option("sqlalchemy.url", "sqlite:///scratch.db")
    command.upgrade(cfg, "head")
    command.revision(cfg, "what changed", rev_id="0002", autogenerate=True)

then edit the generated file by hand until it reads well, and update ``_tables.py`` to match.
"""

from alembic import context
from sqlalchemy import create_engine

from delegate.durable.store._tables import metadata

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True,
                      target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()
