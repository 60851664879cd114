"""social-auth's Django strategy, with backends resolved from settings on every call.

- `authenticate` runs the backend's pipeline directly instead of going through Django's
  `authenticate()`, so provider backends stay out of AUTHENTICATION_BACKENDS (password
  sign-in only ever reaches ModelBackend).
- social-core caches the loaded backends for the life of the process; reading
  SOCIAL_AUTH_AUTHENTICATION_BACKENDS each time keeps "enabled only when its keys are set" true
  when settings change (tests, reconfiguration).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from social_core.exceptions import AuthConfigurationError
from social_core.utils import module_member
from social_django.strategy import DjangoStrategy


def enabled_backends() -> dict[str, type[Any]]:
    """Backend name → class, for each configured provider."""
    classes = [module_member(path) for path in settings.SOCIAL_AUTH_AUTHENTICATION_BACKENDS]
    return {backend_class.name: backend_class for backend_class in classes}


# social-core's own exception code for an unknown backend (internal to the flow, never an API error code).
SOCIAL_CORE_BACKEND_MISSING = "backend_missing"


class AppStrategy(DjangoStrategy):
    def get_backends(self) -> list[str]:
        return list(settings.SOCIAL_AUTH_AUTHENTICATION_BACKENDS)

    def get_backend_class(self, name: str) -> type[Any]:
        backend_class = enabled_backends().get(name)
        if backend_class is None:
            raise AuthConfigurationError(None, name, code=SOCIAL_CORE_BACKEND_MISSING, parameter="backend")
        return backend_class

    def authenticate(self, backend: Any, **kwargs: Any) -> Any:
        kwargs["strategy"] = self
        kwargs["storage"] = self.storage
        kwargs["backend"] = backend
        kwargs.pop("request", None)
        # As Django's authenticate() would call it: the request first (social-django expects it).
        return backend.authenticate(self.request, **kwargs)
