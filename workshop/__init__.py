"""Presenters' tooling: `python -m workshop.doctor` (`make doctor`, is this laptop ready?) and
`python -m workshop.slides` (`make slides`, offline reveal.js decks of every lesson); for a class on one server,
`python -m workshop.hub` and `jupyterhub/` (JupyterHub with nbgrader's exchange, docs/instructors.md route D),
whose `nbgrader collect` is `workshop.exchange.OwnersOnlyCollect`.
Depends on `utils`, never the reverse."""
