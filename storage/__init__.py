"""The schema, its migrations and every query. Nothing else writes SQL."""
