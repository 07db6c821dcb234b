"""Accounts: users, API keys, admin sessions, limits and usage, stored in Redis.

Plain Python over `redis.asyncio` (no litestar): the HTTP edge and the admin API call it.
Every Redis key name and value shape is in `schema.py`.
"""
