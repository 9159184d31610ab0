"""scenetrack: shared library for the CLI, the Airflow DAGs and the tests."""

__version__ = "0.1.0"
