"""The REST API: CRUD, lists by project and group, revert and diff, owner scoping, pinned query counts."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from backend.streaming.workers import worker_id
from prototypes.models import DesignProject, Prototype, PrototypeVariant, PrototypeVersion
from tests.factories import UserFactory
from tests.helpers import assert_error
from tests.prototypes.factories import (
    PAGE,
    DesignProjectFactory,
    GroupFactory,
    PrototypeFactory,
    VariantFactory,
    VersionFactory,
)

pytestmark = pytest.mark.django_db

API = "/api/v1/prototypes"


def _tree(user):
    """A project with a group, a prototype in it, its original variant and two versions."""
    project = DesignProjectFactory(user=user)
    group = GroupFactory(project=project)
    prototype = PrototypeFactory(project=project, group=group)
    variant = VariantFactory(prototype=prototype)
    v1 = VersionFactory(variant=variant, version_number=1)
    v2 = VersionFactory(
        variant=variant,
        version_number=2,
        kind="edit",
        base_version=v1,
        html_content=PAGE.replace("Simple pricing", "Pricing"),
    )
    return project, group, prototype, variant, v1, v2


# --- CRUD -------------------------------------------------------------------------------------------


def test_a_design_project_is_created_listed_renamed_and_deleted(client, user):
    created = client.post(f"{API}/projects/", {"name": "Shop", "description": "An online shop"}, format="json")

    assert created.status_code == 201
    project_id = created.json()["id"]
    assert DesignProject.objects.get(id=project_id).user == user
    assert [p["name"] for p in client.get(f"{API}/projects/").json()["results"]] == ["Shop"]
    assert client.patch(f"{API}/projects/{project_id}/", {"name": "Store"}, format="json").json()["name"] == "Store"
    assert client.delete(f"{API}/projects/{project_id}/").status_code == 204
    assert not DesignProject.objects.exists()


def test_groups_belong_to_a_project_of_the_user(client, user):
    project = DesignProjectFactory(user=user)
    foreign = DesignProjectFactory()

    created = client.post(f"{API}/groups/", {"design_project_id": str(project.id), "name": "Checkout"}, format="json")
    refused = client.post(f"{API}/groups/", {"design_project_id": str(foreign.id), "name": "X"}, format="json")

    assert created.status_code == 201
    assert created.json()["design_project_id"] == str(project.id)
    assert_error(refused, 404, "design_project_not_found")


def test_prototypes_are_listed_by_design_project_and_by_group(client, user):
    project, group, prototype, *_ = _tree(user)
    ungrouped = PrototypeFactory(project=project)
    PrototypeFactory(project=DesignProjectFactory(user=user))

    by_project = client.get(f"{API}/projects/{project.id}/prototypes/").json()["results"]
    by_group = client.get(f"{API}/groups/{group.id}/prototypes/").json()["results"]
    filtered = client.get(f"{API}/prototypes/", {"group": str(group.id)}).json()["results"]

    assert {p["id"] for p in by_project} == {str(prototype.id), str(ungrouped.id)}
    assert [p["id"] for p in by_group] == [str(prototype.id)] == [p["id"] for p in filtered]
    assert by_group[0]["variants_count"] == 1
    assert by_group[0]["latest_version_status"] == "complete"


def test_a_prototype_moves_between_groups_of_its_own_project_only(client, user):
    project, _, prototype, *_ = _tree(user)
    other_group = GroupFactory(project=project)
    group_elsewhere = GroupFactory(project=DesignProjectFactory(user=user))

    moved = client.patch(f"{API}/prototypes/{prototype.id}/", {"group_id": str(other_group.id)}, format="json")
    refused = client.patch(f"{API}/prototypes/{prototype.id}/", {"group_id": str(group_elsewhere.id)}, format="json")

    assert moved.json()["group_id"] == str(other_group.id)
    assert_error(refused, 400, "group_project_mismatch")


def test_a_prototype_detail_lists_its_variants(client, user):
    _, _, prototype, variant, _, v2 = _tree(user)

    body = client.get(f"{API}/prototypes/{prototype.id}/").json()

    assert [v["id"] for v in body["variants"]] == [str(variant.id)]
    assert body["variants"][0]["is_original"] is True
    assert body["variants"][0]["latest_version_id"] == str(v2.id)


def test_the_original_variant_cannot_be_deleted(client, user):
    *_, variant, _, _ = _tree(user)

    response = client.delete(f"{API}/variants/{variant.id}/")

    assert response.status_code == 409
    assert PrototypeVariant.objects.filter(id=variant.id).exists()


def test_a_version_detail_has_the_page_the_diff_and_the_generation_record(client, user):
    *_, v2 = _tree(user)
    PrototypeVersion.objects.filter(id=v2.id).update(model_id="us.anthropic.claude-sonnet-4-6", output_tokens=42)

    body = client.get(f"{API}/versions/{v2.id}/").json()

    assert body["html_content"] == v2.html_content
    assert body["model_id"] == "us.anthropic.claude-sonnet-4-6"
    assert body["output_tokens"] == 42
    assert {"edit_prompt", "summary", "diff", "status", "cost", "sanitizer_notes"} <= set(body)


def test_lists_of_versions_leave_the_pages_out(client, user):
    *_, variant, _, _ = _tree(user)

    results = client.get(f"{API}/variants/{variant.id}/versions/").json()["results"]

    assert [r["version_number"] for r in results] == [2, 1]
    assert "html_content" not in results[0]


# --- revert and diff ----------------------------------------------------------------------------------


def test_revert_adds_a_version_equal_to_the_old_one_and_destroys_nothing(client, user):
    *_, variant, v1, v2 = _tree(user)

    response = client.post(f"{API}/versions/{v1.id}/revert/")

    assert response.status_code == 201
    body = response.json()
    assert body["version_number"] == 3
    assert body["kind"] == "revert"
    assert body["html_content"] == v1.html_content
    assert body["base_version_id"] == str(v1.id)
    assert '-  <h1 class="text-3xl font-bold text-gray-900">Pricing</h1>' in body["diff"]
    assert variant.versions.count() == 3
    assert PrototypeVersion.objects.get(id=v2.id).html_content == v2.html_content


def test_diff_defaults_to_the_previous_version_and_accepts_any_other(client, user):
    *_, v1, v2 = _tree(user)
    elsewhere = VersionFactory(variant=VariantFactory(prototype=PrototypeFactory(project=v1.variant.prototype.project)))

    default = client.get(f"{API}/versions/{v2.id}/diff/").json()
    against = client.get(f"{API}/versions/{v1.id}/diff/", {"against": str(v2.id)}).json()
    across = client.get(f"{API}/versions/{elsewhere.id}/diff/", {"against": str(v1.id)}).json()

    assert default["against_version_id"] == str(v1.id)
    assert default["diff"].startswith("--- v1\n+++ v2\n")
    assert '+  <h1 class="text-3xl font-bold text-gray-900">Pricing</h1>' in default["diff"]
    assert '-  <h1 class="text-3xl font-bold text-gray-900">Pricing</h1>' in against["diff"]
    assert across["diff"] == ""


def test_diff_against_a_foreign_version_is_a_404(client, user):
    *_, v2 = _tree(user)
    foreign = VersionFactory()

    response = client.get(f"{API}/versions/{v2.id}/diff/", {"against": str(foreign.id)})

    assert response.status_code == 404


# --- owner scoping ---------------------------------------------------------------------------------------

ROUTES = [
    ("get", "projects/{project}/", None),
    ("patch", "projects/{project}/", {"name": "x"}),
    ("delete", "projects/{project}/", None),
    ("get", "projects/{project}/prototypes/", None),
    ("get", "groups/{group}/", None),
    ("patch", "groups/{group}/", {"name": "x"}),
    ("delete", "groups/{group}/", None),
    ("get", "groups/{group}/prototypes/", None),
    ("get", "prototypes/{prototype}/", None),
    ("patch", "prototypes/{prototype}/", {"name": "x"}),
    ("delete", "prototypes/{prototype}/", None),
    ("post", "prototypes/{prototype}/create-variant/", {}),
    ("get", "variants/{variant}/", None),
    ("patch", "variants/{variant}/", {"name": "x"}),
    ("delete", "variants/{variant}/", None),
    ("get", "variants/{variant}/versions/", None),
    ("post", "variants/{variant}/create-version/", {"prompt": "x"}),
    ("get", "versions/{version}/", None),
    ("post", "versions/{version}/revert/", None),
    ("get", "versions/{version}/diff/", None),
    ("get", "versions/{version}/preview-url/", None),
    ("get", "versions/{version}/export/", None),
    ("get", "versions/{version}/stream/", None),
    ("post", "versions/{version}/stop/", None),
]


@pytest.mark.parametrize(("method", "route", "body"), ROUTES)
def test_another_users_ids_are_404_and_anonymous_is_401(client, method, route, body):
    project, group, prototype, variant, _, version = _tree(UserFactory())
    ids = {"project": project.id, "group": group.id, "prototype": prototype.id, "variant": variant.id}
    path = f"{API}/" + route.format(**ids, version=version.id)

    response = getattr(client, method)(path, body, format="json")
    anonymous = getattr(APIClient(), method)(path, body, format="json")

    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"].endswith("not_found")
    assert anonymous.status_code == 401
    assert Prototype.objects.filter(id=prototype.id, name=prototype.name).exists()
    assert variant.versions.count() == 2


def test_generate_into_a_foreign_project_is_a_404(client):
    foreign = DesignProjectFactory()

    response = client.post(f"{API}/generate/", {"design_project_id": str(foreign.id), "prompt": "x"}, format="json")

    assert response.status_code == 404
    assert not Prototype.objects.exists()


def test_unknown_ids_are_404(client):
    assert client.get(f"{API}/versions/{uuid.uuid4()}/").status_code == 404


def test_generate_validates_its_body_in_the_error_shape(client):
    response = client.post(f"{API}/generate/", {"prompt": ""}, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) >= {"design_project_id", "prompt"}


# --- query counts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "queries"),
    [
        ("projects/", 1),
        ("groups/", 1),
        ("prototypes/", 1),
        ("projects/{project}/prototypes/", 2),  # the project lookup, then the page
        ("variants/", 1),
        ("variants/{variant}/versions/", 2),
        ("versions/", 1),
    ],
)
def test_list_endpoints_use_a_constant_number_of_queries(client, user, django_assert_num_queries, route, queries):
    project, *_ = _tree(user)
    for _ in range(2):
        *_, variant, _, _ = _tree(user)
    for page_size in (1, 3):
        path = f"{API}/" + route.format(project=project.id, variant=variant.id) + f"?page_size={page_size}"
        with django_assert_num_queries(queries):
            response = client.get(path)
        assert response.status_code == 200
        assert len(response.json()["results"]) >= 1


@pytest.mark.django_db(transaction=True)
def test_generating_beyond_the_concurrency_limit_is_a_429(settings):
    settings.PROTOTYPE_MAX_CONCURRENT_GENERATIONS = 2
    user = UserFactory()
    client = APIClient()
    client.force_authenticate(user)
    *_, variant, _, _ = _tree(user)
    for number in (3, 4):
        # Running in a live process (this one): they hold their slots.
        VersionFactory(
            variant=variant,
            version_number=number,
            status="streaming",
            worker_id=worker_id(),
            heartbeat_at=timezone.now(),
        )

    response = client.post(
        f"{API}/generate/", {"design_project_id": str(variant.prototype.project_id), "prompt": "x"}, format="json"
    )

    assert_error(response, 429, "too_many_generations")
    assert response["Retry-After"] == "5"
    assert Prototype.objects.count() == 1
