"""Thin routes: parse, ask the library, shape the answer."""

from __future__ import annotations

from frisk.service.routes import decisions, labels, models, monitoring, ops, reviews, score, uploads

__all__ = ["decisions", "labels", "models", "monitoring", "ops", "reviews", "score", "uploads"]
