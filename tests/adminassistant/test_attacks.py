"""Every escape attempt is refused by the validator (or, where the model must be known, by the
interpreter's hop-by-hop lookup check) before any query runs, and the refusal names its rule."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from adminassistant import manifest
from adminassistant.executor.runner import execute
from adminassistant.executor.validator import Refused, validate
from tests.adminassistant.helpers import DB, make_staff

ATTACKS = [
    # imports, builtins, dunders, frames
    ("import os\nresult = 1", "node_not_allowed"),
    ("from os import system\nresult = 1", "node_not_allowed"),
    ("result = __import__('os').system('id')", "method_not_allowed"),
    ("result = __import__('os')", "call_not_allowed"),
    ("result = __builtins__", "private_name"),
    ("result = ().__class__.__bases__[0].__subclasses__()", "private_attribute"),
    ("result = AppUser.objects.all().__class__", "private_attribute"),
    ("result = AppUser._meta.app_config.module", "attribute_not_allowed"),
    ("result = AppUser._meta", "private_attribute"),
    ("result = Count.__init__.__globals__", "private_attribute"),
    ("result = now.__globals__['settings']", "private_attribute"),
    ("result = getattr(AppUser, 'objects')", "call_not_allowed"),
    ("result = eval('1')", "call_not_allowed"),
    ("result = exec('x = 1')", "call_not_allowed"),
    ("result = open('/etc/passwd')", "call_not_allowed"),
    ("result = compile('1', 'x', 'eval')", "call_not_allowed"),
    ("result = globals()", "call_not_allowed"),
    ("result = vars(AppUser)", "call_not_allowed"),
    ("result = type(AppUser)", "call_not_allowed"),
    ("result = print", "name_not_allowed"),
    ("result = settings", "name_not_allowed"),
    ("result = (lambda: 1)()", "call_not_allowed"),
    ("f = lambda: 1\nresult = 1", "node_not_allowed"),
    ("result = [u for u in AppUser.objects.all()]", "node_not_allowed"),
    ("result = {u: 1 for u in [1]}", "node_not_allowed"),
    ("result = sum(x for x in [1])", "call_not_allowed"),
    ("result = (x := 1)", "node_not_allowed"),
    ("def f():\n    return 1\nresult = 1", "node_not_allowed"),
    ("class A:\n    pass\nresult = 1", "node_not_allowed"),
    ("for x in [1]:\n    pass\nresult = 1", "node_not_allowed"),
    ("while True:\n    pass", "node_not_allowed"),
    ("try:\n    result = 1\nexcept Exception:\n    result = 2", "node_not_allowed"),
    ("with open('x') as f:\n    result = 1", "node_not_allowed"),
    ("result = f'{AppUser}'", "node_not_allowed"),
    ("result = '{0.__class__}'.format(1)", "method_not_allowed"),
    ("result = Q(*[Q(id=1)])", "node_not_allowed"),
    ("async def f():\n    pass\nresult = 1", "node_not_allowed"),
    ("del AppUser\nresult = 1", "node_not_allowed"),
    ("global x\nresult = 1", "node_not_allowed"),
    ("assert False\nresult = 1", "node_not_allowed"),
    # attribute chains off the allowlist; raw SQL; writes
    ("result = AppUser.objects.model", "attribute_not_allowed"),
    ("result = AppUser.objects.all().query", "raw_sql"),
    ("result = AppUser.objects.all().query.get_compiler('default').connection", "raw_sql"),
    ("result = AppUser.objects.raw('SELECT 1')", "raw_sql"),
    ("result = AppUser.objects.extra(where=['1=1'])", "raw_sql"),
    ("result = AppUser.objects.using('default').count()", "raw_sql"),
    ("result = AppUser.objects.db_manager('default').count()", "raw_sql"),
    ("result = AppUser.objects.update(is_staff=True)", "write_method"),
    ("result = AppUser.objects.filter(id=1).delete()", "write_method"),
    ("result = AppUser.objects.create(username='x')", "write_method"),
    ("result = AppUser.objects.get_or_create(username='x')", "write_method"),
    ("result = AppUser.objects.bulk_create([])", "write_method"),
    ("result = AppUser.objects.bulk_update([], ['x'])", "write_method"),
    ("result = AppUser.objects.select_for_update().count()", "write_method"),
    ("result = AppUser.objects.first().save()", "write_method"),
    ("result = AppUser.objects.get(id=1)", "method_not_allowed"),
    ("result = AppUser.objects.in_bulk()", "method_not_allowed"),
    ("result = AppUser.objects.iterator()", "method_not_allowed"),
    ("result = AppUser.objects.first().password", "attribute_not_allowed"),
    ("result = AppUser.objects.filter(id=RawSQL('1', []))", "call_not_allowed"),
    ("result = RawSQL", "name_not_allowed"),
    ("result = Session.objects.count()", "name_not_allowed"),
    ("result = AuthToken.objects.count()", "name_not_allowed"),
    ("result = AssistantSettings.objects.count()", "name_not_allowed"),
    ("result = QueryLog.objects.count()", "name_not_allowed"),
    ("result = LogEntry.objects.count()", "name_not_allowed"),
    ("result = AuthEvent.objects.count()", "name_not_allowed"),
    ("result = AppUser.objects\nAppUser = 1", "assign_target"),
    ("now = 1\nresult = now", "assign_target"),
    ("result = x = 1", "assign_target"),
    ("result = now().tzinfo", "attribute_not_allowed"),
    ("result = date.today()", "method_not_allowed"),
    ("result = AppUser.objects.filter(**{'password__startswith': 'p'})", "dynamic_keywords"),
    ("result = dict(**{'a': 1})", "call_not_allowed"),
    ("result = {**{'a': 1}}", "dynamic_keywords"),
    ("result = AppUser.objects.values('__class__')", "private_name"),
    ("result = AppUser.objects.values('_state')", "private_name"),
    # lookups through denylisted fields (filters are oracles too) and relations
    ("result = AppUser.objects.filter(password__startswith='pbkdf2').count()", "denied_field"),
    ("result = AppUser.objects.filter(Q(password__startswith='p')).count()", "denied_field"),
    ("result = AppUser.objects.exclude(password='').count()", "denied_field"),
    ("result = AppUser.objects.order_by('password')", "denied_field"),
    ("result = AppUser.objects.order_by('-password').values('id')", "denied_field"),
    ("result = AppUser.objects.values('password')", "denied_field"),
    ("result = AppUser.objects.values_list('auth_token__digest')", "denied_field"),
    ("result = AppUser.objects.annotate(p=F('password'))", "denied_field"),
    ("result = AppUser.objects.aggregate(n=Max('password'))", "denied_field"),
    ("result = LLMCall.objects.filter(user__password__contains='a').count()", "denied_field"),
    ("result = AppUser.objects.filter(session_generation=1).count()", "denied_field"),
    ("result = AppUser.objects.filter(auth_token__token_key='x').count()", "denied_field"),
    ("result = AppUser.objects.filter(socialidentity__api_key='x').count()", "denied_field"),
    # sizes: huge literals, power, deep nesting, long code
    ("result = 10 ** 100", "node_not_allowed"),
    ("result = 'x' * 1000000000", "literal_too_large"),
    ("result = 123456789012345678901234567890", "literal_too_large"),
    ("result = '" + "x" * 600 + "'", "literal_too_large"),
    ("result = [" + ",".join(["1"] * 1200) + "]", "literal_too_large"),
    ("result = " + "-" * 60 + "1", "too_deep"),
    ("result = " + "[" * 60 + "]" * 60, "too_deep"),
    ("result = b'bytes'", "literal_not_allowed"),
    ("result = AppUser.objects.all()[::2]", "subscript_not_allowed"),
    ("i = 1\nresult = AppUser.objects.all()[i]", "subscript_not_allowed"),
    ("x = 1", "result_missing"),
    ("result = (", "syntax"),
]


@pytest.mark.parametrize(("code", "rule"), ATTACKS, ids=[f"{i:03d}-{rule}" for i, (_, rule) in enumerate(ATTACKS)])
def test_the_validator_refuses(code, rule):
    with pytest.raises(Refused) as caught:
        validate(code, model_names=set(manifest.full().models))
    assert caught.value.rule == rule, str(caught.value)


def test_code_longer_than_the_cap_is_refused(settings):
    settings.ADMIN_ASSISTANT_MAX_CODE_CHARS = 50
    with pytest.raises(Refused) as caught:
        validate("result = AppUser.objects.filter(username='a').count()  # long", model_names={"AppUser"})
    assert caught.value.rule == "code_too_long"


def test_the_manifest_never_names_a_secret():
    text = manifest.full().text()
    for secret in ("password", "session_data", "digest", "token_key", "api_key", "session_generation"):
        assert secret not in text
    for model in ("Session(", "AuthToken(", "QueryLog(", "AssistantSettings(", "LogEntry(", "AuthEvent("):
        assert model not in text
    assert "AppUser(appauth.AppUser): " in text and "username:str" in text


# --- Refusals that need the model: the interpreter checks every hop before building the query ---

INTERPRETER_ATTACKS = [
    ("result = AppUser.objects.filter(authevent__kind='login').count()", {"unknown_field"}),
    ("result = AppUser.objects.filter(Q(groups__nonexistent=1)).count()", {"unknown_field"}),
    ("result = AppUser.objects.filter(username__unaccent__x='a').count()", {"unknown_lookup"}),
    ("result = AppUser.objects.filter(email__regex=AppUser).count()", {"value_not_allowed"}),
    ("result = AppUser.objects.annotate(x=Q(id=1))", {"lookup_arguments"}),
    ("result = timedelta(days=100000000)", {"helper_arguments"}),
    ("result = AppUser.objects.filter(id__in=[AppUser]).count()", {"value_not_allowed"}),
    ("result = '%s' % AppUser", {"operand_not_allowed"}),
    ("result = AppUser.objects.filter(Q(('password', 'x'))).count()", {"denied_field"}),
]


@DB
@pytest.mark.usefixtures("on_default_alias")
@pytest.mark.parametrize(("code", "rules"), INTERPRETER_ATTACKS)
def test_the_interpreter_refuses_before_any_query(code, rules, full_manifest):
    with CaptureQueriesContext(connection) as queries:
        out = execute(code, manifest=full_manifest)
    assert not [q for q in queries.captured_queries if "appauth_appuser" in q["sql"]]
    assert out.error_code == "refused", out.error_message
    assert out.refusal_rule in rules, out.error_message


@DB
@pytest.mark.usefixtures("on_default_alias", "seeded")
@pytest.mark.parametrize(
    "code",
    [
        'result = AppUser.objects.values("id").values()',
        'result = AppUser.objects.values_list("id").values_list()',
        'result = AppUser.objects.values("id").values().first()',
        "result = AppUser.objects.all()[0]",
        "result = AppUser.objects.first()",
        "result = AppUser.objects.all()",
        "result = {'users': AppUser.objects.all()[:2]}",
    ],
)
def test_no_way_of_reading_rows_returns_a_denied_column(code, full_manifest):
    with CaptureQueriesContext(connection) as queries:
        out = execute(code, manifest=full_manifest)
    assert out.ok, out.error_message
    assert "password" not in str(out.result)
    assert "session_generation" not in str(out.result)
    assert not [q for q in queries.captured_queries if '"password"' in q["sql"]]


@DB
@pytest.mark.usefixtures("on_default_alias")
def test_an_operator_exclusion_hides_a_model_and_a_field(settings, superuser):
    settings.ADMIN_ASSISTANT_EXCLUDE = ["llm.LLMCall", "appauth.AppUser.last_login_ip"]
    manifest.rebuild()
    try:
        narrowed = manifest.for_user(superuser)
        assert "LLMCall" not in narrowed.models
        assert "last_login_ip" not in narrowed.models["AppUser"].fields
        out = execute("result = AppUser.objects.filter(last_login_ip='1.2.3.4').count()", manifest=narrowed)
        assert out.refusal_rule == "denied_field"
    finally:
        settings.ADMIN_ASSISTANT_EXCLUDE = []
        manifest.rebuild()


def test_the_manifest_is_rebuilt_after_migrations():
    before = manifest.full()
    manifest.on_post_migrate(sender=None)
    assert manifest.full() is not before
    assert set(manifest.full().models) == set(before.models)


@DB
@pytest.mark.usefixtures("on_default_alias")
def test_a_staff_user_without_view_permission_cannot_reach_the_model():
    from django.contrib.auth.models import Permission

    staff = make_staff("viewer@example.com", superuser=False)
    staff.user_permissions.add(Permission.objects.get(codename="view_llmcall"))
    narrowed = manifest.for_user(type(staff).objects.get(pk=staff.pk))
    assert set(narrowed.models) == {"LLMCall"}
    assert "user" not in narrowed.models["LLMCall"].fields  # the relation to a model they may not view
    out = execute("result = AppUser.objects.count()", manifest=narrowed)
    assert out.refusal_rule == "name_not_allowed"
    out = execute("result = LLMCall.objects.values('user__email')", manifest=narrowed)
    assert out.refusal_rule == "unknown_field"
    out = execute("result = LLMCall.objects.count()", manifest=narrowed)
    assert out.ok and out.result["rows"] == [[0]]


def test_a_non_staff_or_inactive_user_has_an_empty_manifest(db):
    inactive = make_staff("gone@example.com", is_active=False)
    assert manifest.for_user(inactive).models == {}
    regular = make_staff("regular@example.com", superuser=False, is_superuser=False)
    regular.is_staff = False
    assert manifest.for_user(regular).models == {}
