"""Evaluations across the content workflows (the recommender's own is in ``recommend.eval``)."""
