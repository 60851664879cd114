"""Token usage and cost: the user's, a chat's, a project's (from the daily roll-up)."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.request import request_user, validated
from backend.api.schema import ERRORS
from chat.selectors import chats as selectors
from chat.selectors import usage
from chat.serializers.chats import UsageQuerySerializer, UsageReportSerializer, UserUsageReportSerializer

TAGS = ["chat usage"]
DESCRIPTION = (
    "`totals` over all time, `days` for the last `days` days (zero-filled, oldest first), `models` per model "
    "that actually answered. Costs are USD decimal strings."
)


class UserUsageApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[UsageQuerySerializer],
        responses={200: UserUsageReportSerializer, **ERRORS},
        summary="Your token usage and cost, and your monthly budget",
        description=DESCRIPTION
        + " `budget`: this calendar month's (UTC) limits and spend over every model call; `exhausted` means "
        "new answers are refused with 402 `budget_exhausted` until `resets_at`.",
    )
    def get(self, request: Request) -> Response:
        days = validated(UsageQuerySerializer, request.query_params)["days"]
        user = request_user(request)
        report = usage.usage_for_user(user=user, days=days)
        budget = usage.budget_for_user(user=user).as_dict()
        data = {"totals": report.totals, "days": report.days, "models": report.models, "budget": budget}
        return Response(UserUsageReportSerializer(data).data)


class ChatUsageApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[UsageQuerySerializer],
        responses={200: UsageReportSerializer, **ERRORS},
        summary="A chat's token usage and cost",
        description=DESCRIPTION,
    )
    def get(self, request: Request, chat_id: UUID) -> Response:
        chat = selectors.chat_get(user=request_user(request), chat_id=chat_id)
        days = validated(UsageQuerySerializer, request.query_params)["days"]
        return Response(UsageReportSerializer(usage.usage_for_chat(chat=chat, days=days)).data)


class ProjectUsageApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[UsageQuerySerializer],
        responses={200: UsageReportSerializer, **ERRORS},
        summary="A project's token usage and cost",
        description=DESCRIPTION,
    )
    def get(self, request: Request, project_id: UUID) -> Response:
        project = selectors.project_get(user=request_user(request), project_id=project_id)
        days = validated(UsageQuerySerializer, request.query_params)["days"]
        return Response(UsageReportSerializer(usage.usage_for_project(project=project, days=days)).data)
