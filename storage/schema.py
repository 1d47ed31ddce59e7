"""Every table of the application, gathered so migrations and tests see one schema.

A feature that adds tables imports its model module here.
"""

import storage.models_dashboard  # noqa: F401
from storage import models  # noqa: F401
from storage.models import Base

metadata = Base.metadata
