"""Staff read conversations and feedback (no changes), see feedback statistics and export CSV."""

from __future__ import annotations

import csv
import io

import pytest

from sitehelp.models import HelpFeedback
from tests.factories import UserFactory
from tests.sitehelp.factories import make_feedback, make_message, make_visitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def test_the_feedback_list_shows_statistics(staff_client):
    session = make_visitor().session
    make_feedback(make_message(session), rating=1)
    make_feedback(make_message(session), rating=1)
    make_feedback(make_message(session), rating=-1, comment="unclear")

    response = staff_client.get("/admin/sitehelp/helpfeedback/")

    assert response.status_code == 200
    stats = response.context["feedback_statistics"]
    assert (stats["total"], stats["helpful"], stats["unhelpful"], stats["commented"]) == (3, 2, 1, 1)
    assert "67% helpful" in response.content.decode()


def test_feedback_exports_as_csv_without_formula_injection(staff_client):
    feedback = make_feedback(make_message(make_visitor().session), rating=-1, comment='=HYPERLINK("x")')

    response = staff_client.post(
        "/admin/sitehelp/helpfeedback/", {"action": "export_csv", "_selected_action": [str(feedback.id)]}
    )

    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["created_at", "rating", "comment"]
    assert rows[1][1:3] == ["-1", '\'=HYPERLINK("x")']


@pytest.mark.parametrize("model", ["helpsession", "helpmessage", "helpfeedback"])
def test_the_admin_is_read_only(staff_client, model):
    make_feedback(make_message(make_visitor().session))

    changelist = staff_client.get(f"/admin/sitehelp/{model}/")
    add = staff_client.get(f"/admin/sitehelp/{model}/add/")

    assert changelist.status_code == 200
    assert add.status_code == 403
    assert HelpFeedback.objects.count() == 1


def test_staff_edit_the_translations_in_rosetta(staff_client):
    # Rosetta counts apps outside the settings package as third-party ones.
    listed = staff_client.get("/rosetta/files/third-party/")
    staff_client.logout()
    anonymous = staff_client.get("/rosetta/files/third-party/")

    assert listed.status_code == 200
    assert "sitehelp/locale/de/LC_MESSAGES/django.po" in listed.content.decode()
    assert anonymous.status_code == 302
