"""DRF glue shared by every app: the exception handler, pagination, Django's error views."""
