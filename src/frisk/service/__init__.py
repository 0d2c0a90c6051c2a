"""The HTTP service: ``create_app`` builds it, ``DecisionEngine`` is what it decides with.

Importing this package imports nothing heavy; the app factory lives in ``frisk.service.app``.
"""
