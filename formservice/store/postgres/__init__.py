"""formservice/store/postgres: the engine for several workers and machines (psycopg 3, async)."""
