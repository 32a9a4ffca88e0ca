"""Parse answer documents into per-Frage chunks."""
