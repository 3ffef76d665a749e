"""Measurement: does personalization add anything over not doing it?

Randomized holdouts (:mod:`.holdout`) split users between the personalized creative, the
generic one and no ad at all; :mod:`.lift` turns their outcomes into lifts with intervals,
:mod:`.uplift` learns who responds, :mod:`.ope` scores a serving policy from logs another
policy wrote, :mod:`.privacy` guards what leaves the building and :mod:`.report` writes it
all down. Statistics need the ``measure`` extra (scipy, matplotlib, pyarrow, opendp).
"""

from __future__ import annotations
