"""Conversation memory: the Redis store, conversation keys, token counting and trimming."""
