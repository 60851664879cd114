"""Bedrock Runtime error vocabulary: HTTP (REST-JSON) errors and stream exceptions.

HTTP status codes come from the ``error.httpStatusCode`` traits in botocore's
``bedrock-runtime/2023-09-30/service-2.json``.  An HTTP error is sent as the
status, ``x-amzn-ErrorType: <Code>:<namespace>`` and a ``{"message": ...}``
body; botocore takes the code from the header (the part before ``:``).

Stream exceptions are the lower-camel members of ``ConverseStreamOutput``;
they travel as ``exception`` frames after the 200 has been sent.
"""

from __future__ import annotations

from typing import Any

ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"

#: Modeled HTTP error code -> (status, default message).
HTTP_ERRORS: dict[str, tuple[int, str]] = {
    "ThrottlingException": (429, "Too many requests, please wait before trying again."),
    "ModelNotReadyException": (429, "Model is not ready to serve inference requests."),
    "ServiceUnavailableException": (503, "Bedrock is unable to process your request."),
    "InternalServerException": (500, "The server encountered an internal error."),
    "ModelTimeoutException": (408, "Model has timed out in processing the request."),
    "ModelErrorException": (424, "The model returned an error."),
    "ValidationException": (400, "The input fails to satisfy the constraints."),
    "AccessDeniedException": (403, "You don't have access to the model."),
    "ResourceNotFoundException": (404, "The requested resource could not be found."),
    "ServiceQuotaExceededException": (400, "Your request exceeds the service quota."),
    "UnrecognizedClientException": (403, "The security token included in the request is invalid."),
}

#: Lower-camel stream exception member -> default message.
STREAM_EXCEPTIONS: dict[str, str] = {
    "throttlingException": "Too many tokens, please wait before trying again.",
    "modelStreamErrorException": "The model stream was interrupted.",
    "internalServerException": "The server encountered an internal error.",
    "validationException": "The input fails to satisfy the constraints.",
    "serviceUnavailableException": "Bedrock is unable to process your request.",
}

#: ``:error-code`` of the unmodeled error frame sent by ``midstream_error=error``.
UNMODELED_ERROR_CODE = "InternalFailure"
UNMODELED_ERROR_MESSAGE = "An internal failure occurred (emulated error frame)."


class ApiError(Exception):
    """A modeled Bedrock error, answered as an HTTP error response."""

    def __init__(self, code: str, message: str | None = None) -> None:
        status, default_message = HTTP_ERRORS[code]
        super().__init__(message or default_message)
        self.code = code
        self.status = status
        self.message = message or default_message

    def body(self) -> dict[str, Any]:
        """The JSON error body; ModelErrorException also names the upstream status."""
        body: dict[str, Any] = {"message": self.message}
        if self.code == "ModelErrorException":
            body["originalStatusCode"] = 500
        return body


def validation_error(message: str) -> ApiError:
    """Shorthand for the most common error."""
    return ApiError("ValidationException", message)


def stream_exception_body(exception_type: str) -> dict[str, Any]:
    """The payload of a modeled exception frame of the given member name."""
    body: dict[str, Any] = {"message": STREAM_EXCEPTIONS[exception_type]}
    if exception_type == "modelStreamErrorException":
        body["originalStatusCode"] = 500
        body["originalMessage"] = "Upstream model failure (emulated)."
    return body
