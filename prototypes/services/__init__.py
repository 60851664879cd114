"""Writes of the prototypes app: CRUD, generations of versions, edits, reverts, previews."""
