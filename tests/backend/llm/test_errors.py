"""Failure shapes that are hard to provoke over the wire, classified directly."""

import aiohttp
import pytest
from botocore import exceptions as boto_exc
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from backend.llm.bedrock import classify
from backend.llm.errors import FailureKind, LLMError


def client_error(code: str, status: int) -> boto_exc.ClientError:
    return boto_exc.ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Converse"
    )


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ReadTimeoutError(None, "/", "read timed out"), FailureKind.TIMEOUT),
        (boto_exc.ReadTimeoutError(endpoint_url="http://x"), FailureKind.TIMEOUT),
        (TimeoutError(), FailureKind.TIMEOUT),
        (aiohttp.ServerTimeoutError("timeout on reading data from socket"), FailureKind.TIMEOUT),
        (ProtocolError("Connection broken: IncompleteRead"), FailureKind.UNAVAILABLE),
        (aiohttp.ClientPayloadError("Response payload is not completed"), FailureKind.UNAVAILABLE),
        (boto_exc.EndpointConnectionError(endpoint_url="http://x"), FailureKind.UNAVAILABLE),
        (boto_exc.ConnectTimeoutError(endpoint_url="http://x"), FailureKind.UNAVAILABLE),
        (boto_exc.NoCredentialsError(), FailureKind.CLIENT_ERROR),
        (client_error("SomethingNew", 429), FailureKind.THROTTLED),
        (client_error("SomethingNew", 502), FailureKind.UNAVAILABLE),
        (client_error("SomethingNew", 408), FailureKind.TIMEOUT),
        (client_error("SomethingNew", 424), FailureKind.MODEL_ERROR),
        (client_error("SomethingNew", 400), FailureKind.CLIENT_ERROR),
        (
            boto_exc.EventStreamError({"Error": {"Code": "someNewException", "Message": "m"}}, "ConverseStream"),
            FailureKind.MODEL_ERROR,
        ),
    ],
)
def test_every_transport_shape_maps_to_a_kind(exc, kind):
    assert classify(exc, model_id="m").kind is kind


def test_a_programming_error_is_not_swallowed():
    with pytest.raises(KeyError):
        classify(KeyError("bug"), model_id="m")


def test_after_content_failures_never_allow_fallback():
    error = LLMError(FailureKind.THROTTLED, after_content=True)

    assert error.allows_fallback is False
    assert error.retryable is True


def test_client_errors_are_not_retryable_and_never_fall_back():
    error = LLMError(FailureKind.CLIENT_ERROR)

    assert error.allows_fallback is False
    assert error.retryable is False
    assert error.status_code == 400
    assert error.code == "llm_client_error"
