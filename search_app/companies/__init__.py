"""Companies and their own profiles: propose one, claim one, ask for a private editing link, edit, ask for removal
(editing.py, /fournisseurs/...), with their forms (forms.py). Every change waits for an operator's approval."""
