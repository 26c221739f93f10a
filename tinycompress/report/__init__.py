"""Report stage: the JSON documents a build, sim and sweep wrote -> one HTML page.

`page` renders `report.html`; `entropy` gives the zero-order entropy bound of
weight levels that the bench compares layouts against.
"""
