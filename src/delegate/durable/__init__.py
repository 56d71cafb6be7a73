"""Durable runs: the journal (record, replay, resume), the codec and the run store."""
