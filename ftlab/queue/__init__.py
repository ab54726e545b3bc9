"""The job queue: jobs persist in DuckDB, a scheduler runs them on device slots.

    store.py (jobs table)  <-  scheduler.py (the single writer)  ->  backends.py (local / Ray)
                                     ^                                   |
                                inbox.py (other processes)          worker.py (one job)
"""
