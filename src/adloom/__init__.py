"""adloom: generative, personalized advertising.

The loop is the layout: ``director`` plans, ``producer`` renders, ``verifier`` checks,
and ``pipeline`` wires them together over the typed model in ``domain``.
"""

__version__ = "0.1.0"
