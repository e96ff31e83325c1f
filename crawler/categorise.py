"""Map a directory's category names that vivier.normalise does not know ("Gestion de la relation citoyen") to
taxonomy themes, by their words and their meaning (vivier.themes' scoring, the model's thresholds).

Profiles that declare no category at all are not guessed here: the index guesses their theme from the vectors it
computes anyway (vivier.themes), and marks it as guessed. A directory has few distinct category names, so each
name is encoded once per crawl.
"""

from __future__ import annotations

from vivier import themes


class ThemeMatcher:
    """Themes for category names. The encoder is loaded on first use only."""

    def __init__(self, encoder):
        self.encoder = encoder
        self._guesser: themes.ThemeGuesser | None = None
        self._names: dict[str, str | None] = {}

    @property
    def guesser(self) -> themes.ThemeGuesser:
        if self._guesser is None:
            self._guesser = themes.ThemeGuesser(self.encoder.encode(themes.theme_texts(), threads=1),
                                                themes.guess_thresholds_for(self.encoder.model_name))
        return self._guesser

    def best(self, name: str) -> str | None:
        """The theme a category name designates, or None when no theme is clearly ahead (once per name)."""
        if not name or not name.strip():
            return None
        if name not in self._names:
            self._names[name] = self.guesser.guess(name, self.encoder.encode([name], threads=1))
        return self._names[name]
