"""The separation service (``tfswa serve``): a REST API around the one Separator, with jobs persisted on disk and
queued with huey (SQLite embedded, or Redis for workers on many machines). Imports the library, never the CLI."""
