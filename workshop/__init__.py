"""Presenters' tooling: `python -m workshop.doctor` (`make doctor`, is this laptop ready?) and
`python -m workshop.slides` (`make slides`, offline reveal.js decks of every lesson). Depends on `utils`, never the
reverse."""
