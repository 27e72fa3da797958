"""The drift report (SPEC §6): what each gateway reports for a window, compared with our books.

`compare` holds the rules (pure), `report` gathers both sides, stores the run and flags the
payments it concerns, `gauges` reads the last run for `/metrics`.
"""
