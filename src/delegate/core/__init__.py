"""The engine: plans, workers, the scheduler, planning, review and the events of a run.

Standard library and pydantic only, plus :mod:`delegate.errors` and :mod:`delegate.llm.base`.
"""
