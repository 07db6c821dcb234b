"""Strategies: the ways a generation request can be answered, behind one interface
(`base.Strategy`), chosen per request by `choose`. Nothing here knows litestar or HTTP."""
