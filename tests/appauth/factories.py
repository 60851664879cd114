"""factory_boy factories for accounts (the user factory itself is tests.factories.UserFactory)."""

from __future__ import annotations

import factory

from appauth.models import SocialIdentity
from tests.factories import UserFactory


class SocialIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SocialIdentity

    user = factory.SubFactory(UserFactory)
    provider = SocialIdentity.Provider.GOOGLE
    subject = factory.Sequence(lambda n: f"google-sub-{n}")
    email = factory.SelfAttribute("user.email")
