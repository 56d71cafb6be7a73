"""Ready workflows built on the core: each is a set of workers plus how to run them."""
