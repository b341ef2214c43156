"""Data layer: Alembic environment; uses the connection handed over by db.core.migrate, else alembic.ini's URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from db.core.migrate import modelled
from db.core.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            include_object=modelled,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///var/tasklens.db")
    with engine.connect() as conn:
        context.configure(
            connection=conn, target_metadata=target_metadata, render_as_batch=True, include_object=modelled
        )
        with context.begin_transaction():
            context.run_migrations()


run()
