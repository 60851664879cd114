# ruff: noqa: E501 - gold code stays on one line per statement, as a model would write it
"""The evaluation set: questions over the fixture data (`adminassistant.eval.fixtures`), each
with gold code. A model's answer is scored by running both and comparing result multisets."""

from __future__ import annotations

QUESTIONS: list[tuple[str, str]] = [
    # Users: counts
    ("How many registrations today?", "result = AppUser.objects.filter(date_joined__date=today()).count()"),
    ("How many users are there in total?", "result = AppUser.objects.count()"),
    ("How many staff users are there?", "result = AppUser.objects.filter(is_staff=True).count()"),
    ("How many users are inactive?", "result = AppUser.objects.filter(is_active=False).count()"),
    ("How many superusers do we have?", "result = AppUser.objects.filter(is_superuser=True).count()"),
    ("How many users have verified their email?", "result = AppUser.objects.filter(email_verified=True).count()"),
    (
        "How many users signed up in the last 7 days?",
        "result = AppUser.objects.filter(date_joined__gte=now() - timedelta(days=7)).count()",
    ),
    (
        "How many users signed up in the last 30 days?",
        "result = AppUser.objects.filter(date_joined__gte=now() - timedelta(days=30)).count()",
    ),
    (
        "How many users registered before the last 30 days?",
        "result = AppUser.objects.filter(date_joined__lt=now() - timedelta(days=30)).count()",
    ),
    ("How many users have never logged in?", "result = AppUser.objects.filter(last_login__isnull=True).count()"),
    (
        "How many users have a 6-digit username?",
        'result = AppUser.objects.filter(username__regex=r"^[0-9]{6}$").count()',
    ),
    (
        "List the ids of users with a 6-digit username",
        'result = AppUser.objects.filter(username__regex=r"^[0-9]{6}$").values_list("id", flat=True)',
    ),
    (
        "How many users have an avatar?",
        'result = AppUser.objects.exclude(avatar="").exclude(avatar__isnull=True).count()',
    ),
    (
        "How many users have no avatar?",
        'result = AppUser.objects.filter(Q(avatar="") | Q(avatar__isnull=True)).count()',
    ),
    (
        "What share of users have an avatar, in percent, with and without?",
        'total = AppUser.objects.count()\nwith_avatar = AppUser.objects.exclude(avatar="").exclude(avatar__isnull=True).count()\n'
        'result = {"with_avatar": with_avatar * 100.0 / total, "without_avatar": (total - with_avatar) * 100.0 / total}',
    ),
    ("How many users are named Ada?", 'result = AppUser.objects.filter(first_name="Ada").count()'),
    ("How many users have the last name Hopper?", 'result = AppUser.objects.filter(last_name="Hopper").count()'),
    (
        "How many users have an email at example.com?",
        'result = AppUser.objects.filter(email__iendswith="@example.com").count()',
    ),
    (
        "How many users have a username starting with member?",
        'result = AppUser.objects.filter(username__startswith="member").count()',
    ),
    # Users: lists and groups
    (
        "List the usernames of staff users",
        'result = AppUser.objects.filter(is_staff=True).values_list("username", flat=True)',
    ),
    (
        "List the emails of inactive users",
        'result = AppUser.objects.filter(is_active=False).values_list("email", flat=True)',
    ),
    (
        "Who registered today? Show usernames and join times",
        'result = AppUser.objects.filter(date_joined__date=today()).values("username", "date_joined")',
    ),
    (
        "Show the 5 most recently registered usernames",
        'result = AppUser.objects.order_by("-date_joined").values_list("username", flat=True)[:5]',
    ),
    (
        "Show the 3 earliest registered users' emails",
        'result = AppUser.objects.order_by("date_joined").values_list("email", flat=True)[:3]',
    ),
    (
        "How many users per first name?",
        'result = AppUser.objects.values("first_name").annotate(n=Count("id")).order_by("first_name")',
    ),
    (
        "How many users per last name?",
        'result = AppUser.objects.values("last_name").annotate(n=Count("id")).order_by("last_name")',
    ),
    (
        "Registrations per day",
        'result = AppUser.objects.annotate(day=TruncDate("date_joined")).values("day").annotate(n=Count("id")).order_by("day")',
    ),
    (
        "Registrations per month",
        'result = AppUser.objects.annotate(month=TruncMonth("date_joined")).values("month")'
        '.annotate(n=Count("id")).order_by("month")',
    ),
    (
        "How many users are in the Editors group?",
        'result = AppUser.objects.filter(groups__name="Editors").count()',
    ),
    (
        "How many users are in the Support group?",
        'result = AppUser.objects.filter(groups__name="Support").count()',
    ),
    (
        "How many members does each group have?",
        'result = AuthGroup.objects.annotate(n=Count("user")).values("name", "n").order_by("name")',
    ),
    ("How many groups are there?", "result = AuthGroup.objects.count()"),
    (
        "How many users are in no group at all?",
        "result = AppUser.objects.filter(groups__isnull=True).count()",
    ),
    (
        "How many users are both staff and active?",
        "result = AppUser.objects.filter(is_staff=True, is_active=True).count()",
    ),
    (
        "Verified versus unverified email counts",
        'result = AppUser.objects.values("email_verified").annotate(n=Count("id")).order_by("email_verified")',
    ),
    # Model calls (the LLM ledger)
    ("How many model calls are recorded?", "result = LLMCall.objects.count()"),
    ("How many model calls failed?", 'result = LLMCall.objects.filter(status="error").count()'),
    (
        "How many model calls were made per purpose?",
        'result = LLMCall.objects.values("purpose").annotate(n=Count("id")).order_by("purpose")',
    ),
    (
        "How many calls per model?",
        'result = LLMCall.objects.values("model_id").annotate(n=Count("id")).order_by("model_id")',
    ),
    ("What is the total cost of all model calls?", 'result = LLMCall.objects.aggregate(total=Sum("cost"))["total"]'),
    (
        "Total input and output tokens",
        'result = LLMCall.objects.aggregate(input=Sum("input_tokens"), output=Sum("output_tokens"))',
    ),
    (
        "What is the average latency of model calls in ms?",
        'result = LLMCall.objects.aggregate(a=Avg("latency_ms"))["a"]',
    ),
    ("What is the slowest model call's latency?", 'result = LLMCall.objects.aggregate(m=Max("latency_ms"))["m"]'),
    (
        "Cost per purpose",
        'result = LLMCall.objects.values("purpose").annotate(cost=Sum("cost")).order_by("purpose")',
    ),
    (
        "Model calls per day",
        'result = LLMCall.objects.annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("id")).order_by("day")',
    ),
    (
        "How many model calls in the last 7 days?",
        "result = LLMCall.objects.filter(created_at__gte=now() - timedelta(days=7)).count()",
    ),
    (
        "How many model calls used the fast alias?",
        'result = LLMCall.objects.filter(alias="fast").count()',
    ),
    (
        "Which 5 users made the most model calls? Show email and count",
        'result = LLMCall.objects.values("user__email").annotate(n=Count("id")).order_by("-n", "user__email")[:5]',
    ),
    (
        "How many model calls did staff users make?",
        "result = LLMCall.objects.filter(user__is_staff=True).count()",
    ),
    (
        "How many distinct users made model calls?",
        'result = LLMCall.objects.aggregate(n=Count("user", distinct=True))["n"]',
    ),
    (
        "How many chat calls had more than 500 input tokens?",
        'result = LLMCall.objects.filter(purpose="chat", input_tokens__gt=500).count()',
    ),
    (
        "Average output tokens per model",
        'result = LLMCall.objects.values("model_id").annotate(avg=Avg("output_tokens")).order_by("model_id")',
    ),
    (
        "Failed calls per purpose",
        'result = LLMCall.objects.filter(status="error").values("purpose").annotate(n=Count("id")).order_by("purpose")',
    ),
    (
        "Are there any model calls costing more than 0.015?",
        "result = LLMCall.objects.filter(cost__gt=0.015).exists()",
    ),
    ("How many permissions exist?", "result = Permission.objects.count()"),
]
