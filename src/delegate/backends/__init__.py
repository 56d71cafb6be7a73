"""Where a task attempt runs: the executor seam (in this process by default)."""
