"""factory_boy factories and test data for accounts (the user factory itself is tests.factories.UserFactory)."""

from __future__ import annotations

import factory

from appauth import services
from appauth.models import SocialIdentity
from tests.factories import UserFactory

# The client (IP and user agent) that services are called on behalf of.
CLIENT = services.ClientInfo(ip="203.0.113.7", user_agent="pytest-agent/1.0")


class SocialIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SocialIdentity

    user = factory.SubFactory(UserFactory)
    provider = SocialIdentity.Provider.GOOGLE
    subject = factory.Sequence(lambda n: f"google-sub-{n}")
    email = factory.SelfAttribute("user.email")
