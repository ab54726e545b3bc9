"""The job queue: jobs persist in DuckDB, a scheduler runs them on device slots.

    store.py (jobs table)  <-  scheduler.py (the single writer)  ->  backends.py (local / Ray)
                                     ^                                   |
                                inbox.py (other processes)          worker.py (one job)

May import: ftlab.store (the scheduler only: one writing process per database), ftlab.config,
ftlab.provenance, ftlab.errors, ftlab.tracking (the scheduler mirrors what it records to
experiment trackers), and ftlab.train inside the worker process. Never the service or
the UI; workers never open DuckDB and report through events instead.
"""
