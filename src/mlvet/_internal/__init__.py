"""Private helpers shared by two or more areas; nothing here is public API."""
