"""Notebook 08 · geometric sparsification: path integration (``navigation``), moduli penalties (``geometric``)."""
