"""The category tree and population groups, read once per process and kept in memory."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import text

from mapservice.extensions import db


@dataclass(frozen=True)
class Term:
    """A category or population with its labels."""

    code: str
    parent: str | None
    label_en: str
    label_es: str

    def label(self, locale: str) -> str:
        """The label in ``locale`` (Spanish unless English is asked for)."""
        return self.label_en if locale == "en" else self.label_es


@dataclass(frozen=True)
class Vocabulary:
    """Everything the pages and the API need to know about codes."""

    categories: dict[str, Term]
    populations: dict[str, Term]

    @property
    def category_codes(self) -> frozenset[str]:
        """Every category code."""
        return frozenset(self.categories)

    @property
    def population_codes(self) -> frozenset[str]:
        """Every population code."""
        return frozenset(self.populations)

    def top_categories(self) -> list[Term]:
        """The roots of the tree, in file order."""
        return [t for t in self.categories.values() if t.parent is None]

    def children(self, code: str) -> list[Term]:
        """Direct children of a category, in file order."""
        return [t for t in self.categories.values() if t.parent == code]


def load_vocabulary_from_db() -> Vocabulary:
    """Read the vocabulary from the database (ordered as in the seed files)."""
    cats = db.session.execute(
        text("SELECT code, parent_code, label_en, label_es FROM category ORDER BY position, code")
    ).all()
    pops = db.session.execute(
        text("SELECT code, NULL, label_en, label_es FROM population ORDER BY position, code")
    ).all()
    return Vocabulary(
        categories={r[0]: Term(*r) for r in cats},
        populations={r[0]: Term(*r) for r in pops},
    )


def vocabulary() -> Vocabulary:
    """The vocabulary of the current app, loaded on first use (seeded data rarely changes)."""
    cached = current_app.extensions.get("mapservice.vocabulary")
    if cached is None or not cached.categories:
        cached = load_vocabulary_from_db()
        current_app.extensions["mapservice.vocabulary"] = cached
    return cached
