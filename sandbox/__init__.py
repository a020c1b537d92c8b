"""Faithful emulators of the hub's outside systems, served together on one loopback port.

``python -m sandbox up`` starts them; :mod:`sandbox.testing` starts them for tests and the demo;
:mod:`sandbox.seed_data` is the shared, seeded master data and order book.
"""
