"""scenetrack: shared library for the CLI, the Airflow DAGs and the tests."""

from ingestion.locations import configure as _configure_ingestion
from scenetrack.config import DBT_PROJECT_DIR, PROJECT_DIR, SEEDS_DIR

__version__ = "0.1.0"

# Ingestion (the layer below) reads no configuration of its own: it is given its locations.
_configure_ingestion(PROJECT_DIR, DBT_PROJECT_DIR, SEEDS_DIR)
