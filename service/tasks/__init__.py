"""Task logic shared by the HTTP entry points; no HTTP here."""
