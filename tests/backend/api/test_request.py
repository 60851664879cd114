"""`validated_query`: a plain query serializer's result, computed once per distinct query string."""

from __future__ import annotations

from unittest import mock

import pytest
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from backend.api import request as api_request


class _Query(serializers.Serializer):
    before = serializers.IntegerField(min_value=0, required=False)
    page_size = serializers.IntegerField(min_value=1, max_value=200, default=50)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


@pytest.fixture(autouse=True)
def _fresh():
    api_request._validated_query.cache_clear()


def test_the_result_equals_validated_and_is_computed_once_per_query_string():
    params = QueryDict("before=4&tags=a&tags=b")
    with mock.patch.object(api_request, "validated", wraps=api_request.validated) as runs:
        first = api_request.validated_query(_Query, params)
        second = api_request.validated_query(_Query, QueryDict("before=4&tags=a&tags=b"))
        other = api_request.validated_query(_Query, QueryDict("before=5"))
    assert (
        first == second == api_request.validated(_Query, params) == {"before": 4, "page_size": 50, "tags": ["a", "b"]}
    )
    assert other["before"] == 5
    assert runs.call_count == 2
    first["page_size"] = 1  # each caller gets its own dict
    assert api_request.validated_query(_Query, params)["page_size"] == 50


def test_an_invalid_query_raises_every_time():
    for _ in range(2):
        with pytest.raises(ValidationError):
            api_request.validated_query(_Query, QueryDict("page_size=0"))
    assert api_request._validated_query.cache_info().currsize == 0


def test_a_long_query_string_is_validated_without_being_remembered():
    long = QueryDict("tags=" + "x" * 600)
    assert api_request.validated_query(_Query, long)["tags"] == ["x" * 600]
    assert api_request._validated_query.cache_info().currsize == 0
