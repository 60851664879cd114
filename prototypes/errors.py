"""The stable error codes of prototypes (a public contract: never rename one).

Prototypes raises backend's error classes with one of these codes; the shared codes are
`backend.errors.ErrorCode`.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    # Lookups: unknown, or another user's (404)
    DESIGN_PROJECT_NOT_FOUND = "design_project_not_found"
    GROUP_NOT_FOUND = "group_not_found"
    PROTOTYPE_NOT_FOUND = "prototype_not_found"
    VARIANT_NOT_FOUND = "variant_not_found"
    VERSION_NOT_FOUND = "version_not_found"
    # Writes
    GROUP_PROJECT_MISMATCH = "group_project_mismatch"
    VARIANT_PROTOTYPE_MISMATCH = "variant_prototype_mismatch"
    ORIGINAL_VARIANT = "original_variant"  # the original variant cannot be deleted (409)
    NO_COMPLETE_VERSION = "no_complete_version"  # nothing complete to start a variant or edit from (409)
    VERSION_HAS_NO_PAGE = "version_has_no_page"  # only a version with a page can be restored (409)
    # Preview links
    PREVIEW_NOT_FOUND = "preview_not_found"
    PREVIEW_EXPIRED = "preview_expired"
    # How a generation ended (a version's `error_code`, and the `code` of its stream's `error` event)
    MAX_TOKENS = "max_tokens"
    NO_PROTOTYPE_IN_ANSWER = "no_prototype_in_answer"
