"""Curation in Argilla (push pairs, people review, pull snapshots)."""
