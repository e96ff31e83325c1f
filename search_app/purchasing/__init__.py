"""Buyers' purchase projects (projets d'achat) and suppliers' answers: buyers' sign-in links and their projects
(buyers.py), publishing a project (projects.py, forms.py, timeline.py: the retro-planning picture), questions,
sealed proposals and variants, the sourcing log (participation.py, participation_forms.py)."""
