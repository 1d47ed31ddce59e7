"""Launchers for the real peers (Synapse, PostgreSQL) used by the tests and the local demo."""
