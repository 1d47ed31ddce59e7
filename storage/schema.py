"""Every table of the application, gathered so migrations and tests see one schema.

A feature that adds tables imports its model module here.
"""

from storage import (  # noqa: F401
    models,
    models_bridge,
    models_calendar,
    models_dashboard,
    models_matrix,
    models_notes,
    models_polls,
    models_slack,
)
from storage.models import Base

metadata = Base.metadata
