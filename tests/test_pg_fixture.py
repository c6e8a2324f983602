"""The throwaway PostgreSQL fixtures (tests/pg.py) give real, separate, empty databases."""

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import tests.pg as pg


def test_session_database_is_postgresql(postgres_url: str) -> None:
    url = make_url(postgres_url)
    assert url.drivername == "postgresql+psycopg"
    assert url.username == pg.PG_USER
    assert url.database == pg.PG_DATABASE
    assert url.host is None  # Unix socket only: host and port come as query parameters
    assert set(url.query) == {"host", "port"}
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select current_database()")).scalar_one() == pg.PG_DATABASE
            # nothing listens on TCP
            assert conn.execute(text("show listen_addresses")).scalar_one() == ""
    finally:
        engine.dispose()


def test_fresh_databases_are_postgresql_distinct_and_empty(
    fresh_postgres_url: str, postgres_cluster: pg.PostgresCluster
) -> None:
    other_name = "t_other_for_isolation_check"
    postgres_cluster.create_database(other_name)
    other_url = postgres_cluster.url(other_name)
    first = create_engine(fresh_postgres_url)
    second = create_engine(other_url)
    try:
        assert make_url(fresh_postgres_url).database != other_name
        with first.begin() as conn:
            version = conn.execute(text("select version()")).scalar_one()
            assert version.startswith("PostgreSQL"), version
            assert inspect(conn).get_table_names() == []
            conn.execute(text("create table only_here (id integer primary key)"))
            assert inspect(conn).get_table_names() == ["only_here"]
        with second.connect() as conn:
            assert conn.execute(text("select version()")).scalar_one().startswith("PostgreSQL")
            assert inspect(conn).get_table_names() == []
    finally:
        first.dispose()
        second.dispose()
        postgres_cluster.drop_database(other_name)


def test_each_test_gets_its_own_empty_database(fresh_postgres_url: str) -> None:
    engine = create_engine(fresh_postgres_url)
    try:
        with engine.connect() as conn:
            # the table made by the previous test lives in a database already dropped
            assert inspect(conn).get_table_names() == []
            names = conn.execute(text("select datname from pg_database")).scalars().all()
            assert make_url(fresh_postgres_url).database in names
    finally:
        engine.dispose()
