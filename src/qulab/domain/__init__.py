"""The domain: models, commands and read models, events, the bus, errors and the AI-R formula.

Imports nothing from the layers above (adapters, services, lab, entry points).
"""
