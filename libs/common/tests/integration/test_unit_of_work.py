"""The shared unit of work: an owner commits under the write lock, taken after the connection; a joined unit of
work stages into its owner's transaction and refuses to commit it."""

import pytest
from sqlalchemy import text

from kota_common.db.engines import make_engine
from kota_common.db.sqlite import SqliteWriteLock
from kota_common.unit_of_work import JoinedTransaction, SqlUnitOfWork

pytestmark = pytest.mark.integration


class Notes(SqlUnitOfWork):
    """Writes each queued note at stage(); records what it saw while staging."""

    def _open(self, session):
        self.queued: list[str] = []
        self.seen_while_staging: dict = {}
        self.announced: list = []

    def stage(self):
        lock = SqliteWriteLock.for_database(self.session.get_bind().url.database)
        self.seen_while_staging = {"connected": self.session.in_transaction(), "locked": lock._threads.locked()}
        for note in self.queued:
            self.session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": note})
        done, self.queued = self.queued, []
        return done

    def after_commit(self, changed):
        self.announced += changed


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'uow.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (body TEXT)"))
    yield engine
    engine.dispose()


def notes(engine) -> list[str]:
    with engine.connect() as conn:
        return [body for (body,) in conn.execute(text("SELECT body FROM notes"))]


def test_an_owner_commits_holding_the_write_lock_taken_after_its_connection(engine):
    with Notes(engine) as uow:
        uow.queued.append("banjir")
        uow.complete()
    assert uow.seen_while_staging == {"connected": True, "locked": True}
    assert notes(engine) == ["banjir"]
    assert uow.announced == ["banjir"]


def test_leaving_without_completing_writes_nothing(engine):
    with Notes(engine) as uow:
        uow.queued.append("sampah")
        uow.session.execute(text("INSERT INTO notes (body) VALUES ('half')"))
    assert notes(engine) == []


def test_a_joined_unit_of_work_stages_into_its_owners_transaction_and_cannot_commit_it(engine):
    with Notes(engine) as owner:
        joined = Notes(session=owner.session)
        joined.queued.append("lampu")
        joined.complete()
        assert joined.changed == ["lampu"]
        with pytest.raises(JoinedTransaction):
            joined.commit()
        assert notes(engine) == []  # staged, not committed
        owner.commit()
    assert notes(engine) == ["lampu"]
    assert joined.announced == []  # the owner announces what its commit made durable


def test_a_unit_of_work_takes_an_engine_or_a_session_not_both(engine):
    with pytest.raises(TypeError):
        SqlUnitOfWork()
