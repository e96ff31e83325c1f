"""Operators' back-office, /moderation: the queue of submitted profiles, claims and hidden profiles
(moderation.py), buyers' verification (buyers.py), purchasing centrals and referencings (centrals.py,
forms.py). Nothing here is for search engines or caches."""
