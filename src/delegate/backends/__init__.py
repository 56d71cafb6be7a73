"""Where a task attempt runs: the executor seam (in this process by default).

:mod:`delegate.backends.base` holds the protocol and the picklable spec and result (defined in
:mod:`delegate.core.hooks`, since the scheduler builds them); :mod:`delegate.backends.local`
the in-process executor, the default.
"""
