"""Many open streams share a bounded number of database connections."""

from __future__ import annotations

import threading

from django.db import connection

from chat.models import Message
from tests.sse import stream_events


def database_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def test_forty_concurrent_streams_use_a_bounded_number_of_connections(live, alice, settings):
    settings.CHAT_MAX_CONCURRENT_GENERATIONS = 100
    settings.CHAT_MESSAGE_RATE = "1000/m"
    _, token = alice
    streams = 40
    started = threading.Barrier(streams + 1)
    results: list[list] = []
    peak = [0]

    def one() -> None:
        started.wait()
        results.append(
            stream_events(
                live,
                "POST",
                "/api/v1/chat/messages/",
                token,
                json_body={"content": "[[emu:tokens=40]] [[emu:delay_ms=25]] together"},
            )
        )

    threads = [threading.Thread(target=one) for _ in range(streams)]
    for thread in threads:
        thread.start()
    started.wait()
    while any(thread.is_alive() for thread in threads):
        if connection.vendor == "postgresql":
            peak[0] = max(peak[0], database_connections())
        threads[0].join(0.1)
    for thread in threads:
        thread.join()

    assert len(results) == streams
    assert all(events[-1].event == "message_stop" for events in results)
    assert Message.objects.filter(role="assistant", status="complete").count() == streams
    if connection.vendor == "postgresql":
        # This test's connection, the server thread's, the database threads'; not one per stream.
        assert peak[0] <= settings.DB_THREADS + 4
