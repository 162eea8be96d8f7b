"""Kafka collectors: the topic tap (records) and the lag poller (group offsets, watermarks)."""
