"""The Celery broker script: Redis on loopback only, with a password, surviving a restart."""

from __future__ import annotations

import socket

import pytest
import redis

from scenetrack import broker
from tests.topology.sockets import addresses_on_port


@pytest.fixture
def server(tmp_path):
    srv = broker.start(tmp_path / "redis")
    try:
        yield srv
    finally:
        broker.stop(srv)


def test_listens_on_loopback_only_and_asks_for_the_password(server) -> None:
    assert addresses_on_port(server.port) == {"127.0.0.1"}
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=server.port).ping()
    assert redis.Redis.from_url(server.url).ping()
    assert (server.directory / "redis.conf").stat().st_mode & 0o077 == 0


def test_a_restart_keeps_port_password_and_queued_messages(server) -> None:
    client = redis.Redis.from_url(server.url)
    client.lpush("celery", "message-1", "message-2")
    broker.stop(server, keep=True)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    again = broker.start(server.directory)
    assert again.url == server.url
    assert redis.Redis.from_url(again.url).lrange("celery", 0, -1) == [b"message-2", b"message-1"]


def test_a_taken_port_is_refused_with_a_clear_message(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(broker.BrokerError, match=f"port {port} on 127.0.0.1 is taken"):
            broker.start(tmp_path / "r", port=port)
    broker.stop(tmp_path / "r")
