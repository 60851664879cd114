"""OpenAPI documentation of event streams: `text/event-stream` with each event's name and payload.

drf-spectacular documents a custom media type when a response is keyed `(status, media_type)`.
An event stream is documented as one of its frames, each `{event, id, data}` with the event's
name as a one-value enum and its payload as a component, so generated clients get a type per
event. `stream_responses("Chat", start=..., ...)` builds the response entry for one app.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, inline_serializer
from rest_framework import serializers

EVENT_STREAM = "text/event-stream"


class StreamUsageSerializer(serializers.Serializer):
    """The tokens a generation was billed (`usage` of the terminal events)."""

    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()


def _payload(name: str, fields: dict[str, serializers.Field]) -> type[serializers.Serializer]:
    return type(name, (serializers.Serializer,), dict(fields))


def _frame(prefix: str, event: str, payload: type[serializers.Serializer], description: str) -> serializers.Serializer:
    camel = "".join(part.title() for part in event.split("_"))
    frame = type(
        f"{prefix}{camel}Event",
        (serializers.Serializer,),
        {
            # A one-value enum; its component is named in SPECTACULAR_SETTINGS (STREAM_EVENT_NAMES).
            "event": serializers.ChoiceField(choices=[event], help_text=description),
            "id": serializers.IntegerField(
                required=False,
                help_text="The event's sequence number (absent on the message_start that opens a resumed stream).",
            ),
            "data": payload(),
        },
    )
    return frame()


def stream_responses(
    prefix: str,
    *,
    start: dict[str, serializers.Field],
    stop: dict[str, serializers.Field] | None = None,
    delta: dict[str, serializers.Field] | None = None,
    extra_events: dict[str, tuple[dict[str, serializers.Field], str]] | None = None,
) -> dict[Any, OpenApiResponse]:
    """The `responses` entry of a streaming endpoint: status 200, `text/event-stream`.

    `start`, `stop` and `delta` are the app's fields of `message_start`, of both terminal
    events and of `delta`; `extra_events` maps more event names to (fields, description).
    """
    usage = {"model": serializers.CharField(), "usage": StreamUsageSerializer()}
    frames = [
        _frame(
            prefix,
            "message_start",
            _payload(f"{prefix}MessageStart", {**start, "model": serializers.CharField()}),
            "First event: the ids of what is generated and the model answering.",
        ),
        _frame(
            prefix,
            "delta",
            _payload(f"{prefix}Delta", {"text": serializers.CharField(), **(delta or {})}),
            "Text to append.",
        ),
        _frame(
            prefix,
            "snapshot",
            _payload(f"{prefix}Snapshot", {"text": serializers.CharField()}),
            "The whole text so far: replace the text you have with it (sent when a resume cannot give "
            "the exact missing events).",
        ),
        *(
            _frame(prefix, name, _payload(f"{prefix}{name.title().replace('_', '')}", fields), description)
            for name, (fields, description) in (extra_events or {}).items()
        ),
        _frame(
            prefix,
            "budget_warning",
            _payload(
                f"{prefix}BudgetWarning",
                {
                    "limit_tokens": serializers.IntegerField(allow_null=True),
                    "limit_usd": serializers.CharField(allow_null=True, help_text="USD decimal string, or null."),
                    "spent_tokens": serializers.IntegerField(),
                    "spent_usd": serializers.CharField(help_text="USD decimal string."),
                    "resets_at": serializers.DateTimeField(),
                    "percent": serializers.IntegerField(help_text="The larger share of a limit spent, in percent."),
                },
            ),
            "Right before the terminal event of an answer that took the user past 80 % "
            "(USER_BUDGET_WARNING_RATIO) of a monthly budget limit; at most once per answer.",
        ),
        _frame(
            prefix,
            "message_stop",
            _payload(
                f"{prefix}MessageStop",
                {"stop_reason": serializers.CharField(), **usage, **(stop or {})},
            ),
            "Terminal: the answer ended (stop_reason `cancelled` after a stop). Usage is what was billed.",
        ),
        _frame(
            prefix,
            "error",
            _payload(
                f"{prefix}Error",
                {
                    "code": serializers.CharField(),
                    "message": serializers.CharField(),
                    "retryable": serializers.BooleanField(),
                    **usage,
                    **(stop or {}),
                },
            ),
            "Terminal: the answer failed; the partial text is kept. Usage is what was billed.",
        ),
    ]
    return {
        (200, EVENT_STREAM): OpenApiResponse(
            response=PolymorphicProxySerializer(
                component_name=f"{prefix}StreamEvent", serializers=frames, resource_type_field_name=None, many=False
            ),
            description=(
                "`text/event-stream`: one SSE event per frame (`id:`, `event:`, `data:` JSON), `: ping` "
                "comments while idle. Exactly one terminal event (`message_stop` or `error`) ends the stream. "
                "See docs/streaming.md."
            ),
        )
    }


def resume_parameters() -> list[OpenApiParameter]:
    """The parameters of a resume endpoint (`GET …/stream/`)."""
    return [
        OpenApiParameter(
            "Last-Event-ID", int, OpenApiParameter.HEADER, description="Resume after this event sequence number."
        ),
        OpenApiParameter(
            "last_event_id",
            int,
            OpenApiParameter.QUERY,
            description="As Last-Event-ID, for clients that cannot set it.",
        ),
        OpenApiParameter(
            "ticket",
            str,
            OpenApiParameter.QUERY,
            description="A stream ticket (`…/stream-ticket/`) instead of the Authorization header, for EventSource.",
        ),
    ]


def stop_responses(prefix: str) -> dict[int, Any]:
    """200 with the final status and text when the generation ended here; 202 while another process stops it."""
    return {
        200: inline_serializer(
            f"{prefix}Stopped", {"status": serializers.CharField(), "text": serializers.CharField()}
        ),
        202: inline_serializer(f"{prefix}Stopping", {"status": serializers.CharField()}),
    }


class StreamTicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Opens one stream: `…/stream/?ticket=<ticket>`.")
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid.")
