"""Browser sign-in with Google, GitHub and Microsoft on social-auth-app-django.

`views` runs the authorization-code flow (state in the Django session), `pipeline` turns
the provider's answer into our account by the shared linking rules, and the flow ends with
a one-time code for the single-page app (never a token in a URL).
"""

# social-auth backend name → our provider name (SocialIdentity.Provider).
PROVIDERS = {"google-oauth2": "google", "github": "github", "microsoft-graph": "microsoft"}
