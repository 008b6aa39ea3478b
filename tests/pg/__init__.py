"""A throwaway PostgreSQL cluster for the test suite (see cluster.py)."""
