"""`manage.py import_chat_data`: imports exports as new chats and round-trips export → import → export."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from chat.models import Chat, Message
from chat.services.export import chat_export_json
from tests.chat.factories import AttachmentFactory, ChatFactory, ProjectFactory, linear_chat, turn
from tests.chat.services.test_export import normalised
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def target():
    return UserFactory(email="target@example.com")


def _write(tmp_path, data):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(data))
    return path


def test_round_trip_through_the_command(tmp_path, target, capsys):
    source, pairs = linear_chat(turns=3, title="Round trip", system_prompt="Be exact.")
    turn(source, pairs[0], user_text="another version", activate=False)
    Message.objects.filter(pair=pairs[1], role="assistant").update(status="cancelled", stop_reason="")
    project = ProjectFactory(user=target, name="Imports")
    exported = chat_export_json(chat=source)
    exported["chat"]["project_name"] = "Imports"  # the export of the copy names the target project

    call_command(
        "import_chat_data",
        str(_write(tmp_path, exported)),
        "--user",
        "Target@example.com",
        "--project",
        str(project.id),
    )

    [copy] = Chat.objects.filter(user=target)
    assert normalised(chat_export_json(chat=copy)) == normalised(exported)
    output = capsys.readouterr()
    assert "Imported 1 chat(s), 4 turn(s), 8 message(s)." in output.out
    assert "1/1 chats" in output.err


def test_imports_a_list_of_chats_and_reports_skipped_attachments(tmp_path, target, capsys):
    first, [pair] = linear_chat(turns=1)
    AttachmentFactory(message=Message.objects.get(pair=pair, role="user"))
    second = ChatFactory()
    documents = [chat_export_json(chat=first), chat_export_json(chat=second)]

    call_command("import_chat_data", str(_write(tmp_path, documents)), "--user", target.email)

    assert Chat.objects.filter(user=target).count() == 2
    output = capsys.readouterr()
    assert "1 attachment(s) skipped" in output.out
    assert "2/2 chats" in output.err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--user", "nobody@example.com"], "No user"),
        (["--user", "target@example.com", "--project", "00000000-0000-0000-0000-000000000001"], "no project"),
    ],
)
def test_command_refuses_unknown_users_and_projects(tmp_path, target, arguments, message):
    path = _write(tmp_path, chat_export_json(chat=ChatFactory()))

    with pytest.raises(CommandError, match=message):
        call_command("import_chat_data", str(path), *arguments)


def test_command_refuses_bad_files(tmp_path, target):
    path = tmp_path / "broken.json"
    path.write_text("{not json")

    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_chat_data", str(tmp_path / "missing.json"), "--user", target.email)
    with pytest.raises(CommandError, match="not JSON"):
        call_command("import_chat_data", str(path), "--user", target.email)
    with pytest.raises(CommandError, match="not a chat export"):
        call_command("import_chat_data", str(_write(tmp_path, {"hello": 1})), "--user", target.email)
    assert not Chat.objects.filter(user=target).exists()
