"""Category schemes of hash lists. They are data (``schemes.json``), not code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from tipwatch.errors import ConfigError

__all__ = ["CategoryScheme", "get_scheme", "list_schemes"]


@dataclass(frozen=True, slots=True)
class CategoryScheme:
    key: str
    name: str
    categories: dict[str, str]

    def label(self, code: str | None) -> str | None:
        """The label of a category code, or ``None`` when the code is empty."""
        if code is None or code == "":
            return None
        if not self.categories:
            return None
        try:
            return self.categories[code]
        except KeyError:
            known = ", ".join(self.categories)
            raise ConfigError(
                f"category {code!r} is not in the {self.name} scheme (known: {known})"
            ) from None


@cache
def _load() -> dict[str, CategoryScheme]:
    text = (resources.files("tipwatch.matching") / "schemes.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return {
        key: CategoryScheme(key, value["name"], dict(value["categories"]))
        for key, value in data.items()
    }


def list_schemes() -> list[CategoryScheme]:
    return list(_load().values())


def get_scheme(key: str) -> CategoryScheme:
    schemes = _load()
    try:
        return schemes[key]
    except KeyError:
        raise ConfigError(f"unknown category scheme {key!r}; known: {', '.join(schemes)}") from None
