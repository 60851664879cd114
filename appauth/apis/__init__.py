"""The account API: one module per area (accounts and tokens, provider sign-in, two-factor sign-in, invitations)."""
