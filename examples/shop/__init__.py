"""A small shop on QuLab's core: products and orders, a cached product view, and a sales
projection kept by a consumer.

Read it in this order (``docs/adopting.md`` walks through it): ``models`` and ``migrations/``,
``events``, ``repositories`` and ``uow``, ``views`` (the cached read model), ``services``,
``projection`` (the consumer), ``application`` (the one declaration ``bootstrap`` assembles).
It uses only the public names of ``qulab.core``.
"""
