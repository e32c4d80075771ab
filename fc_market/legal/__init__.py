"""Pages every public service shows in its footer: accessibility, legal notice, personal data."""
