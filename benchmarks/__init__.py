"""Benchmarks: the platform's cost against DuckDB's own limit and against the tools a user
would pick instead. Run ``python -m benchmarks.run`` (``make bench``); see ``RESULTS.md``.

Speed is measured only here; the test suite asserts behaviour, never time.
"""
