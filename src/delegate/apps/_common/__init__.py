"""What the content workflows share: prompts as data, prose helpers, staged runs, the checks."""
