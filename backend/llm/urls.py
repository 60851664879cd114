from django.urls import path

from backend.llm.apis import ModelAliasListApi

urlpatterns = [
    path("", ModelAliasListApi.as_view(), name="llm-models"),
]
