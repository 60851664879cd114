"""Tiny views used only to drive the error handlers through real requests."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend import errors


class EchoSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=10)
    count = serializers.IntegerField(min_value=0)


class EchoApi(APIView):
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class ConflictApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raise errors.RateLimited("Slow down.", retry_after=7)


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug with a secret: password=hunter2")


class CrashApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raise RuntimeError("a bug inside a DRF view")


urlpatterns = [
    path("api/v1/echo/", EchoApi.as_view()),
    path("api/v1/limited/", ConflictApi.as_view()),
    path("api/v1/crash/", crash),
    path("api/v1/crash-drf/", CrashApi.as_view()),
    path("admin-like/crash/", crash),
    path("", include("aiassistant.urls")),
]

handler400 = "backend.api.views.bad_request"
handler403 = "backend.api.views.permission_denied"
handler404 = "backend.api.views.page_not_found"
handler500 = "backend.api.views.server_error"
