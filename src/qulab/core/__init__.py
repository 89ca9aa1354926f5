"""QuLab's core: the generic data layer (engine and pool, unit of work and bus, outbox, consumers,
read-through cache, metrics, health, settings). It knows no application's models.
"""
