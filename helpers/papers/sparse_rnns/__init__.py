"""Notebook 07 · sparse recurrent networks: Reber grammars (``grammars``) and graph masks (``graphs``)."""
