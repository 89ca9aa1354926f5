"""Keys of what a browser session remembers between pages (ids only; data stays in the database)."""

CREATED_USER_ID = "created_user_id"
SAMPLE_USER_IDS = "sample_user_ids"
