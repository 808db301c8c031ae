"""Synthetic multitrack corpus: composed songs rendered per stem, written in MUSDB18-HQ layout."""
