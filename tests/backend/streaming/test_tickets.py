"""Stream tickets: signed, bound to one user and one generation, short-lived, single-use."""

from __future__ import annotations

import uuid

import pytest
from django.core import signing

from backend import errors
from backend.streaming.tickets import ticket_issue, ticket_redeem

RECORD = uuid.uuid4()


def test_a_ticket_names_its_user_once():
    ticket = ticket_issue(user_id=7, scope="chat", record_id=RECORD)

    assert ticket_redeem(ticket=ticket, scope="chat", record_id=RECORD) == "7"
    with pytest.raises(errors.NotAuthenticated):
        ticket_redeem(ticket=ticket, scope="chat", record_id=RECORD)


@pytest.mark.parametrize(
    ("scope", "record_id"), [("prototypes", RECORD), ("chat", uuid.uuid4())], ids=["other app", "other record"]
)
def test_a_ticket_opens_nothing_else(scope, record_id):
    ticket = ticket_issue(user_id=7, scope="chat", record_id=RECORD)

    with pytest.raises(errors.NotAuthenticated):
        ticket_redeem(ticket=ticket, scope=scope, record_id=record_id)


def test_an_expired_or_forged_ticket_is_refused(settings):
    ticket = ticket_issue(user_id=7, scope="chat", record_id=RECORD)
    settings.STREAM_TICKET_SECONDS = -1
    forged = signing.dumps({"u": "1", "s": "chat", "r": str(RECORD), "n": "x"}, salt="another salt")

    for bad in (ticket, forged, "not-a-ticket"):
        with pytest.raises(errors.NotAuthenticated) as refused:
            ticket_redeem(ticket=bad, scope="chat", record_id=RECORD)
        assert refused.value.code == "invalid_ticket"
