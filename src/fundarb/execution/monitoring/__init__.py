"""Execution monitoring: what each execution did (records), kept, summarised and exported.

:class:`~fundarb.execution.monitoring.execution_tracker.ExecutionTracker` keeps
:class:`~fundarb.execution.monitoring.records.ExecutionRecord` values in memory, writes them
through to a store (spooling them to a local file while the store is down), and computes
statistics over time windows. The public names are importable from :mod:`fundarb.execution`.
"""
