"""factory_boy factories for accounts."""

from __future__ import annotations

import factory

from appauth.models import AppUser, SocialIdentity

DEFAULT_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppUser
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.Sequence(lambda n: f"user_{n:012x}")
    first_name = "Ada"
    last_name = "Lovelace"
    email_verified = True
    password = factory.django.Password(DEFAULT_PASSWORD)


class SocialIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SocialIdentity

    user = factory.SubFactory(UserFactory)
    provider = SocialIdentity.Provider.GOOGLE
    subject = factory.Sequence(lambda n: f"google-sub-{n}")
    email = factory.SelfAttribute("user.email")
