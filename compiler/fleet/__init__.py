"""Stage 6 — fleet: every profile of an invocation, every environment, onto the set of destination
clusters; one platform per cluster (see :mod:`.stage`). Kept import-light: :mod:`.charts` holds
constants that the typed profile reads."""
