"""Database plumbing, one concern a module (import from the module, this package re-exports nothing):

- `engines`: make_engine, upgrade_to_head (Alembic);
- `sqlite`: one writer at a time (SqliteWriteLock, write_lock, holding_write_lock) and the checkpointer thread;
- `deferred`: rows and notifications written when the session commits (defer_insert, defer_notify);
- `driver`: statements run straight on the driver for hot paths (DriverStatement, insert_many, bind_processor);
- `notify`: PostgreSQL LISTEN (NotificationListener);
- `tables`: the Core table of a SQLModel table model, typed (table_of).
"""
