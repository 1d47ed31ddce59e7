"""Turning neutral markup and replies into what each platform shows."""
