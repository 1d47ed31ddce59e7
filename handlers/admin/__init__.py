"""Cohort administration: cohorts, delegations, members and their accounts."""
