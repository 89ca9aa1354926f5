"""Adapters: the database (engine, migrations, repositories, unit of work, read side), the
cache and the outbox with its publishers. They use the domain and never call a service.
"""
