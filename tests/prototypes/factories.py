"""factory_boy factories for the prototypes models."""

from __future__ import annotations

import factory

from prototypes.models import DesignProject, Group, Prototype, PrototypeVariant, PrototypeVersion
from tests.factories import UserFactory

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Pricing</title>
</head>
<body class="bg-white">
  <h1 class="text-3xl font-bold text-gray-900">Simple pricing</h1>
  <button class="rounded bg-blue-600 px-4 py-2 text-white">Start trial</button>
</body>
</html>"""

__all__ = [
    "PAGE",
    "DesignProjectFactory",
    "GroupFactory",
    "PrototypeFactory",
    "VariantFactory",
    "VersionFactory",
]


class DesignProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DesignProject

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Project {n}")


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    project = factory.SubFactory(DesignProjectFactory)
    name = factory.Sequence(lambda n: f"Group {n}")


class PrototypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prototype

    project = factory.SubFactory(DesignProjectFactory)
    name = factory.Sequence(lambda n: f"Prototype {n}")
    initial_prompt = "A pricing page"


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PrototypeVariant

    prototype = factory.SubFactory(PrototypeFactory)
    name = "Original"
    is_original = True


class VersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PrototypeVersion

    variant = factory.SubFactory(VariantFactory)
    version_number = factory.Sequence(lambda n: n + 1)
    kind = PrototypeVersion.Kind.GENERATE
    status = PrototypeVersion.Status.COMPLETE
    html_content = PAGE
