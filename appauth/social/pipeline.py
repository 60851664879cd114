"""The last step of social-auth's pipeline: the provider's answer → our account.

Runs after social-core's `social_details`, `social_uid` and `auth_allowed`. What counts as a
verified address differs by provider:

- Google: the userinfo `email_verified` claim (social-core refuses the sign-in without it).
- GitHub: the primary address in `/user/emails` marked `verified` (the `user:email` scope).
- Microsoft Graph says nothing about verification: its address counts as verified only with
  `AUTH_SOCIAL_MICROSOFT_TRUST_EMAIL` (tenants that own their domains).

Linking and sign-up rules are those of `appauth.services.identities`, shared with the mobile
Google sign-in.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from appauth.services.audit import ClientInfo
from appauth.services.identities import ProviderIdentity, identity_sign_in
from appauth.social import PROVIDERS
from backend.net import client_ip, user_agent

INVITATION_SESSION_KEY = "appauth_social_invitation"


def verified_email(backend_name: str, details: dict[str, Any], response: dict[str, Any]) -> tuple[str, bool]:
    """(address, whether the provider verified it) from a provider's user data."""
    email = str(details.get("email") or "")
    if backend_name == "google-oauth2":
        return email, response.get("email_verified") is True
    if backend_name == "github":
        for entry in response.get("emails") or []:
            if isinstance(entry, dict) and entry.get("primary") and entry.get("email"):
                return str(entry["email"]), entry.get("verified") is True
        return email, False
    if backend_name == "microsoft-graph":
        return email, bool(settings.AUTH_SOCIAL_MICROSOFT_TRUST_EMAIL)
    return email, False


def sign_in(
    strategy: Any, backend: Any, uid: str, details: dict[str, Any], response: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    email, email_verified = verified_email(backend.name, details, response)
    identity = ProviderIdentity(
        provider=PROVIDERS[backend.name],
        subject=str(uid),
        email=email,
        email_verified=email_verified,
        given_name=str(details.get("first_name") or ""),
        family_name=str(details.get("last_name") or ""),
    )
    request = strategy.request
    client = ClientInfo(ip=client_ip(request), user_agent=user_agent(request))
    invitation = strategy.session_get(INVITATION_SESSION_KEY)
    user = identity_sign_in(identity=identity, client=client, invitation_code=invitation or None)
    return {"user": user}
