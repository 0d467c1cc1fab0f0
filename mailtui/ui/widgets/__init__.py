"""Widgets: the Line API list, the message list and the filter bar."""
