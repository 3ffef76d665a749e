"""Cohorts (OSMF): product-aware adaptive grouping and one creative per group.

Per-user generation is expensive and per-segment creatives are blunt. Cohorts learns,
from click logs, a preference embedding for each (user, product) pair (:mod:`.model`),
clusters each product's consenting users into a few groups that respond to it alike
(:mod:`.grouping`), describes each group by percentile samples (:mod:`.profiles`), and
has the Director plan one grounded creative per (product, group) (:mod:`.plan`).
Needs the ``cohorts`` extra (torch and the packaged image model).
"""
